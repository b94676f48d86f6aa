#include "kernels/sdpa.h"

#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/core/paths.h"

namespace kvsim::kernels {

std::vector<hw::RawSample> parse_sample_lines(std::istream& in, const std::string& name,
                                              std::vector<std::string>* skipped) {
  std::vector<hw::RawSample> out;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      throw Error(Place{name, line_no}, fmt::format("expected a JSON object, found '{}'", line));
    }
    if (j.contains("skip")) {
      if (skipped) skipped->push_back(j["skip"].is_string() ? j["skip"].get<std::string>() : j["skip"].dump());
      continue;
    }
    try {
      hw::RawSample s;
      s.suite = j.at("suite").get<std::string>();
      s.series = j.at("series").get<std::string>();
      for (const auto& [k, v] : j.at("params").items()) s.params[k] = v.get<double>();
      s.value = j.at("value").get<double>();
      s.unit = j.at("unit").get<std::string>();
      out.push_back(std::move(s));
    } catch (const nlohmann::json::exception& e) {
      throw Error(Place{name, line_no}, fmt::format("not a sample: {}", e.what()));
    }
  }
  return out;
}

std::vector<hw::RawSample> run_sdpa_prefill(const SuiteOptions& options, std::string* why) {
  const std::filesystem::path script = std::filesystem::path(data_root()) / "kernels" / "scripts" / "sdpa_prefill.py";
  if (!std::filesystem::exists(script)) {
    *why = fmt::format("{} not found", script.string());
    return {};
  }
  const std::string command = fmt::format("python3 '{}' --device {}{} 2>/dev/null", script.string(), options.device,
                                          options.quick ? " --quick" : "");
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) {
    *why = "cannot start python3";
    return {};
  }
  std::string output;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe.get())) output.append(buffer, n);
  const int status = pclose(pipe.release());
  if (status != 0) {
    *why = fmt::format("'{}' exited with status {}", command, status);
    return {};
  }
  std::istringstream in(output);
  std::vector<std::string> skipped;
  auto samples = parse_sample_lines(in, script.string(), &skipped);
  if (samples.empty()) *why = skipped.empty() ? "no samples" : skipped.front();
  return samples;
}

}  // namespace kvsim::kernels
