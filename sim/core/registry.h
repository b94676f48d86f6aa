// A registry of named implementations of one interface (Ramulator 2 style): each entry has a name, a one-line
// description and a factory. Entries are added explicitly by a register_builtin_*() call, never by static
// initialisers. An unknown name is an error that lists the valid names and the nearest one.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "sim/core/error.h"

namespace kvsim {

template <class Interface, class... Args>
class Registry {
 public:
  using Factory = std::function<std::unique_ptr<Interface>(Args...)>;
  struct Entry {
    std::string name;
    std::string description;
    Factory make;
  };

  explicit Registry(std::string what) : what_(std::move(what)) {}

  void add(std::string name, std::string description, Factory make) {
    for (const auto& e : entries_) {
      if (e.name == name) throw Error(fmt::format("{} '{}' registered twice", what_, name));
    }
    entries_.push_back(Entry{std::move(name), std::move(description), std::move(make)});
  }

  bool contains(const std::string& name) const { return lookup(name) != nullptr; }

  // The entry for `name`; an unknown name throws at `where`.
  const Entry& find(const std::string& name, const Place& where = {}) const {
    if (const Entry* e = lookup(name)) return *e;
    throw Error(where,
                fmt::format("unknown {} '{}'{}; valid: {}", what_, name, did_you_mean(name, names()), join(names())));
  }

  std::unique_ptr<Interface> make(const std::string& name, Args... args) const {
    return find(name).make(std::forward<Args>(args)...);
  }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& e : entries_) out.push_back(e.name);
    return out;
  }
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  const Entry* lookup(const std::string& name) const {
    for (const auto& e : entries_) {
      if (e.name == name) return &e;
    }
    return nullptr;
  }

  std::string what_;
  std::vector<Entry> entries_;
};

}  // namespace kvsim
