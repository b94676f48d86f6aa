// Every trace format kvsim reads: a small fixture each, the real files of ../shared/data, round trips through the
// writers, and bad rows (missing column, text in a number, negative length, time going back) stopping with their
// line or, with skip_bad_lines, skipped and counted.
#include <filesystem>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/traces/test_util.h"
#include "traces/jsonl_trace_source.h"
#include "traces/simple_csv.h"
#include "traces/trace_reader.h"
#include "traces/trace_stats.h"
#include "traces/workload.h"

namespace kvsim::traces {
namespace {

using testing::collect;
using testing::error_of;
using testing::parse_text;
using testing::text_stream;

const std::string kFixtures = std::string(KVSIM_TEST_SOURCE_DIR) + "/tests/traces/fixtures/";
const std::string kData = std::string(KVSIM_TEST_SHARED_DATA_DIR) + "/";

std::vector<Request> read_text(const std::string& text, const std::string& format = "auto") {
  return collect(*open_trace(text_stream(text), "t.txt", format));
}
std::string read_error(const std::string& text, const std::string& format = "auto") {
  return error_of([&] { read_text(text, format); });
}

TEST(BurstGpt, ReadsItsPublishedColumnsAndCountsFailedResponses) {
  auto r = open_trace(kFixtures + "burstgpt.csv");
  EXPECT_EQ(r->format(), "burstgpt");
  const auto reqs = collect(*r);
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].arrival_ns, 5 * kNsPerS);
  EXPECT_EQ(reqs[1].prompt_tokens, 1087);
  EXPECT_EQ(reqs[1].output_tokens, 1);  // a failed request (0 response tokens) is read as 1 and counted
  EXPECT_EQ(r->clamped_output_rows(), 1);
  EXPECT_EQ(reqs[2].arrival_ns, 118 * kNsPerS);
  EXPECT_EQ(reqs[2].output_tokens, 276);
}

TEST(Mooncake, ReadsMillisecondsLengthsAndPrefixHashes) {
  auto r = open_trace(kFixtures + "mooncake.jsonl");
  EXPECT_EQ(r->format(), "mooncake");
  const auto reqs = collect(*r);
  ASSERT_EQ(reqs.size(), 3u);  // the blank line is skipped
  EXPECT_EQ(reqs[1].arrival_ns, 1500 * kNsPerMs);
  EXPECT_EQ(reqs[2].arrival_ns, 1'500'500'000);
  EXPECT_EQ(reqs[0].block_hashes, (std::vector<uint64_t>{0, 1, 2}));
  EXPECT_EQ(reqs[0].hash_block_tokens, kMooncakeBlockTokens);
  EXPECT_EQ(reqs[2].output_tokens, 1);
  EXPECT_EQ(r->clamped_output_rows(), 1);
}

TEST(AzureCsv, Reads2024TimestampsWithUtcOffsets) {
  const auto reqs = collect(*open_trace(kFixtures + "azure2024.csv"));
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].arrival_ns, 0);
  EXPECT_EQ(reqs[1].arrival_ns, kNsPerS);  // 02:00:01.00993+02:00 is 00:00:01.00993 UTC
  EXPECT_EQ(reqs[2].arrival_ns, 2 * kNsPerS - 9'930'000);
}

TEST(LengthStats, ReadsVidurColumnsAllArrivingAtZero) {
  auto r = open_trace(kFixtures + "lengths.csv");
  EXPECT_EQ(r->format(), "lengths");
  const auto reqs = collect(*r);
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[1].prompt_tokens, 2000);
  EXPECT_EQ(reqs[1].output_tokens, 20);
  for (const Request& q : reqs) EXPECT_EQ(q.arrival_ns, 0);
}

TEST(SimpleCsv, OptionalSessionAndPrefixColumnsRoundTrip) {
  const auto spec = parse_text(
      "workload: {requests: 300, arrival: {process: gamma, rate: 3, cv: 2}, prompt_tokens: {dist: uniform, min: 1, "
      "max: 900}, output_tokens: {dist: lognormal, mean: 80, stddev: 40}, sessions: {turns: 3, system_prompt_tokens: "
      "50, system_prompts: 2}}");
  std::ostringstream csv, jsonl;
  write_simple_csv(*make_request_source(spec, RngStreams(4)), csv, true);
  write_simple_jsonl(*make_request_source(spec, RngStreams(4)), jsonl);
  const auto want = collect(*make_request_source(spec, RngStreams(4)));
  for (const std::string& text : {csv.str(), jsonl.str()}) {
    const auto got = read_text(text);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(got[i].arrival_ns, want[i].arrival_ns) << i;
      EXPECT_EQ(got[i].prompt_tokens, want[i].prompt_tokens) << i;
      EXPECT_EQ(got[i].output_tokens, want[i].output_tokens) << i;
      EXPECT_EQ(got[i].session_id, want[i].session_id) << i;
      EXPECT_EQ(got[i].prefix_id, want[i].prefix_id) << i;
      EXPECT_EQ(got[i].shared_prefix_tokens, want[i].shared_prefix_tokens) << i;
    }
  }
  EXPECT_EQ(open_trace(text_stream(jsonl.str()), "t.jsonl")->format(), "jsonl");
}

TEST(SimpleCsv, ColumnsMayComeInAnyOrder) {
  const auto reqs = read_text("prompt_tokens,session_id,arrival_s,output_tokens\n10,3,0.5,2\n");
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].arrival_ns, kNsPerS / 2);
  EXPECT_EQ(reqs[0].session_id, 3u);
}

// The malformed rows the issue names, in each family of formats: the error names the file, the line and the column.
TEST(BadRows, NameTheLineAndColumn) {
  const std::string simple = "arrival_s,prompt_tokens,output_tokens\n0,10,2\n";
  EXPECT_EQ(read_error(simple + "1,10\n"),
            "t.txt:3: expected 3 columns (arrival_s,prompt_tokens,output_tokens), found 2");
  EXPECT_EQ(read_error(simple + "1,ten,2\n"), "t.txt:3: prompt_tokens: expected a non-negative integer, found 'ten'");
  EXPECT_EQ(read_error(simple + "1,10,-2\n"), "t.txt:3: output_tokens: expected a non-negative integer, found '-2'");
  EXPECT_EQ(read_error(simple + "1,10,2\n0.5,1,1\n"),
            "t.txt:4: arrival_s: time goes backwards: '0.5' is 0.5 s before line 3");
  const std::string burst = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n";
  EXPECT_EQ(read_error(burst + "1,ChatGPT,x,2,3,API log\n"),
            "t.txt:2: Request tokens: expected a non-negative integer, found 'x'");
  const std::string m = R"({"timestamp": 5, "input_length": 10, "output_length": 2})"
                        "\n";
  EXPECT_EQ(read_error(m + R"({"timestamp": 6, "input_length": 10})"
                           "\n"),
            "t.txt:2: output_length: missing");
  EXPECT_EQ(read_error(m + R"({"timestamp": 6, "input_length": "10", "output_length": 1})"
                           "\n"),
            "t.txt:2: input_length: expected a non-negative integer, found \"10\"");
  EXPECT_EQ(read_error(m + R"({"timestamp": 6, "input_length": -1, "output_length": 1})"
                           "\n"),
            "t.txt:2: input_length: expected a non-negative integer, found -1");
  EXPECT_EQ(read_error(m + R"({"timestamp": 4, "input_length": 1, "output_length": 1})"
                           "\n"),
            "t.txt:2: timestamp: time goes backwards: '4' is 0.001 s before line 1");
  EXPECT_EQ(read_error(m + "{not json\n"), "t.txt:2: expected one JSON object per line, found '{not json'");
  EXPECT_EQ(read_error(m + R"({"timestamp": 6, "input_length": 1, "output_length": 1, "hashes": []})"
                           "\n")
                .rfind("t.txt:2: hashes: unknown key in a mooncake trace", 0),
            0u);
  EXPECT_EQ(read_error("arrival_s,prompt_tokens,output_tokens\n0,5,1,7\n"),
            "t.txt:2: expected 3 columns (arrival_s,prompt_tokens,output_tokens), found 4");
  EXPECT_EQ(read_error("arrival_s,prompt_tokens,output_tokens,prefix_tokens\n0,5,1,3\n"),
            "t.txt:2: prefix_tokens: a shared prefix needs a prefix_id > 0");
  EXPECT_EQ(read_error(m, "jsonl").rfind("t.txt:1: expected a jsonl trace", 0), 0u);
}

TEST(BadRows, SkipBadLinesSkipsAndCountsThem) {
  const std::string text = "arrival_s,prompt_tokens,output_tokens\n2,10,2\n3,x,2\n3,10\n3,10,-1\n1.5,4,4\n4,7,7\n";
  auto r = open_trace(text_stream(text), "t.csv", TraceOptions{"auto", true});
  const auto reqs = collect(*r);
  ASSERT_EQ(reqs.size(), 2u);  // lines 2 and 7: 3-5 are malformed and 6 goes back in time
  EXPECT_EQ(reqs[1].arrival_ns, 4 * kNsPerS);
  EXPECT_EQ(reqs[1].id, 1u);
  EXPECT_EQ(r->skipped_rows(), 4);
  EXPECT_EQ(r->first_skipped(), "t.csv:3: prompt_tokens: expected a non-negative integer, found 'x'");
  EXPECT_NE(r->describe().find("4 bad rows skipped"), std::string::npos);
  // Through a workload: skip_bad_lines is a workload key.
  EXPECT_TRUE(parse_text("workload: {trace: t.csv, skip_bad_lines: true}").skip_bad_lines);
}

TEST(RealTraces, AzureCodeAndConversationCounts) {
  for (const auto& [file, count] : {std::pair{"azure-llm-2023/AzureLLMInferenceTrace_conv.csv", 19366},
                                    std::pair{"azure-llm-2023/AzureLLMInferenceTrace_code.csv", 8819}}) {
    if (!std::filesystem::exists(kData + file)) GTEST_SKIP() << "shared data absent: " << kData + file;
    auto r = open_trace(kData + file);
    EXPECT_EQ(r->format(), "azure");
    EXPECT_EQ(compute_trace_stats(*r).requests, count) << file;
  }
}

TEST(RealTraces, MooncakeConversationHasItsPublishedCountAndMeanInput) {
  const std::string file = kData + "mooncake-fast25/conversation_trace.jsonl";
  if (!std::filesystem::exists(file)) GTEST_SKIP() << "shared data absent: " << file;
  auto r = open_trace(file);
  const TraceStats s = compute_trace_stats(*r);
  EXPECT_EQ(s.requests, 12031);
  EXPECT_NEAR(s.prompt.mean(), 12035, 1.0);  // its README: mean input 12,035
  EXPECT_NEAR(s.output.mean(), 343, 1.0);    // mean output 343
  EXPECT_EQ(s.hashed, 12031);
  EXPECT_NEAR(s.duration_s(), 3537, 1.0);  // one hour
}

TEST(RealTraces, VidurArxivLengths) {
  const std::string file = kData + "vidur-lengths/arxiv_summarization_stats_llama2_tokenizer_filtered_v2.csv";
  if (!std::filesystem::exists(file)) GTEST_SKIP() << "shared data absent: " << file;
  auto r = open_trace(file);
  EXPECT_EQ(r->format(), "lengths");
  const TraceStats s = compute_trace_stats(*r);
  EXPECT_EQ(s.requests, 28257);
  EXPECT_GT(s.prompt.mean(), 2000);  // prefill-heavy: the long documents
  EXPECT_LT(s.output.mean(), 400);
}

// The histogram's percentiles are within its 1/128 bucket width of the exact ones.
TEST(TraceStats, PercentilesAreWithinTheBucketWidth) {
  LengthHistogram h;
  std::vector<int64_t> all;
  Rng rng(3);
  for (int i = 0; i < 50000; ++i) {
    const auto v = static_cast<int64_t>(rng.lognormal(7.5, 1.2)) + 1;
    h.add(v);
    all.push_back(v);
  }
  std::sort(all.begin(), all.end());
  for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9}) {
    const int64_t exact = all[static_cast<size_t>(std::ceil(p / 100 * all.size())) - 1];
    EXPECT_GE(h.percentile(p), exact) << p;
    EXPECT_LE(static_cast<double>(h.percentile(p)), exact * (1 + 1.0 / 128) + 1) << p;
  }
  EXPECT_EQ(h.percentile(100), all.back());
  EXPECT_EQ(h.min(), all.front());
}

}  // namespace
}  // namespace kvsim::traces
