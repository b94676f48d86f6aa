// A million-line trace streams in constant memory: the live heap bytes (counted by tests/counting_new.h) do not grow
// with the lines read.
#include <streambuf>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/counting_new.h"
#include "traces/trace_reader.h"

namespace kvsim::traces {
namespace {

// Lines made on the fly: the file is never in memory.
class Generated : public std::streambuf {
 public:
  Generated(std::string header, int64_t lines, bool jsonl) : lines_(lines), jsonl_(jsonl) { line_ = std::move(header); }

 protected:
  int_type underflow() override {
    if (pos_ >= line_.size()) {
      if (made_ >= lines_) return traits_type::eof();
      const int64_t i = made_++;
      line_ = jsonl_ ? fmt::format(
                           R"({{"timestamp": {}, "input_length": {}, "output_length": {}, "hash_ids": [{}, {}, {}]}})"
                           "\n",
                           i, 100 + i % 5000, 1 + i % 300, i % 7, i, i + 1)
                     : fmt::format("{}.{:03},{},{}\n", i / 1000, i % 1000, 100 + i % 5000, 1 + i % 300);
      pos_ = 0;
    }
    setg(line_.data(), line_.data() + pos_, line_.data() + line_.size());
    pos_ = line_.size();
    return traits_type::to_int_type(*gptr());
  }

 private:
  std::string line_;
  size_t pos_ = 0;
  int64_t lines_, made_ = 0;
  bool jsonl_;
};

struct Owned : std::istream {
  explicit Owned(std::unique_ptr<Generated> b) : std::istream(b.get()), buf(std::move(b)) {}
  std::unique_ptr<Generated> buf;
};

void expect_constant_memory(const std::string& header, bool jsonl) {
  constexpr int64_t kLines = 1'000'000;
  auto in = std::make_unique<Owned>(std::make_unique<Generated>(header, kLines, jsonl));
  auto source = open_trace(std::move(in), jsonl ? "million.jsonl" : "million.csv");
  int64_t read = 0, live_early = 0, prompt_sum = 0;
  while (auto r = source->next()) {
    prompt_sum += r->prompt_tokens;
    if (++read == 1000) {
      live_early = testing::g_heap_live_bytes.load();
      testing::g_heap_peak_bytes = live_early;
    }
  }
  EXPECT_EQ(read, kLines);
  EXPECT_GT(prompt_sum, 0);
  // From line 1,000 to line 1,000,000 the live heap neither grows nor peaks above a few lines' worth.
  EXPECT_LE(testing::g_heap_live_bytes.load() - live_early, 1024) << "live bytes grew with the lines read";
  EXPECT_LE(testing::g_heap_peak_bytes.load() - live_early, 16 * 1024) << "a peak beyond a few lines' buffers";
}

TEST(StreamMemory, MillionLineCsvTraceStreamsInConstantMemory) {
  expect_constant_memory("arrival_s,prompt_tokens,output_tokens\n", false);
}

TEST(StreamMemory, MillionLineMooncakeTraceStreamsInConstantMemory) { expect_constant_memory("", true); }

}  // namespace
}  // namespace kvsim::traces
