#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/traces/test_util.h"
#include "traces/azure_csv.h"
#include "traces/simple_csv.h"
#include "traces/trace_reader.h"
#include "traces/workload.h"

namespace kvsim::traces {
namespace {

using testing::collect;
using testing::error_of;
using testing::text_stream;

std::vector<Request> read_text(const std::string& text, const std::string& format = "auto") {
  auto r = open_trace(text_stream(text), "t.csv", format);
  return collect(*r);
}

std::string read_error(const std::string& text, const std::string& format = "auto") {
  return error_of([&] { read_text(text, format); });
}

const std::string kConv = std::string(KVSIM_TEST_SHARED_DATA_DIR) + "/azure-llm-2023/AzureLLMInferenceTrace_conv.csv";

TEST(SimpleCsv, WriteThenReadIsExactToTheNanosecond) {
  const std::string y =
      "workload: {requests: 5000, arrival: {rate: 50}, prompt_tokens: {dist: lognormal, mean: 800, stddev: 900},"
      " output_tokens: {dist: uniform, min: 1, max: 2000}}";
  auto gen = make_request_source(testing::parse_text(y), RngStreams(5));
  const auto expected = collect(*make_request_source(testing::parse_text(y), RngStreams(5)));
  std::ostringstream out;
  write_simple_csv(*gen, out);
  const auto got = read_text(out.str(), "simple");
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].id, expected[i].id);
    EXPECT_EQ(got[i].arrival_ns, expected[i].arrival_ns);
    EXPECT_EQ(got[i].prompt_tokens, expected[i].prompt_tokens);
    EXPECT_EQ(got[i].output_tokens, expected[i].output_tokens);
  }
}

TEST(SimpleCsv, WritesNineDecimals) {
  const std::string text = "arrival_s,prompt_tokens,output_tokens\n0,1,1\n1.5,2,3\n12.000000001,4,5\n";
  auto r = open_trace(text_stream(text), "t.csv");
  std::ostringstream out;
  write_simple_csv(*r, out);
  EXPECT_EQ(out.str(), "arrival_s,prompt_tokens,output_tokens\n0.000000000,1,1\n1.500000000,2,3\n12.000000001,4,5\n");
}

TEST(SimpleCsv, AcceptsCrlfBomBlankLinesAndSpaces) {
  const auto reqs = read_text(
      "\xEF\xBB\xBF"
      "arrival_s, prompt_tokens, output_tokens\r\n0.25 ,3,4\r\n\r\n1e1,5, 6");
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].arrival_ns, 250'000'000);
  EXPECT_EQ(reqs[1].arrival_ns, 10 * kNsPerS);
  EXPECT_EQ(reqs[1].output_tokens, 6);
}

TEST(SimpleCsv, BadNumberNamesLineAndColumn) {
  const std::string h = "arrival_s,prompt_tokens,output_tokens\n";
  EXPECT_EQ(read_error(h + "0,1,1\n1,abc,1\n"), "t.csv:3: prompt_tokens: expected a non-negative integer, found 'abc'");
  EXPECT_EQ(read_error(h + "0,1,-4\n"), "t.csv:2: output_tokens: expected a non-negative integer, found '-4'");
  EXPECT_EQ(read_error(h + "x,1,1\n"), "t.csv:2: arrival_s: expected a non-negative number of seconds, found 'x'");
  EXPECT_EQ(read_error(h + "-1,1,1\n"), "t.csv:2: arrival_s: expected a non-negative number of seconds, found '-1'");
  EXPECT_EQ(read_error(h + "0,1\n"), "t.csv:2: expected 3 columns (arrival_s,prompt_tokens,output_tokens), found 2");
}

TEST(SimpleCsv, BackwardsTimestampNamesTheLine) {
  EXPECT_EQ(read_error("arrival_s,prompt_tokens,output_tokens\n1,1,1\n2,1,1\n\n1.5,1,1\n"),
            "t.csv:5: arrival_s: time goes backwards: '1.5' is 0.5 s before line 3");
  // Equal times are fine.
  EXPECT_EQ(read_text("arrival_s,prompt_tokens,output_tokens\n1,1,1\n1,1,1\n").size(), 2u);
}

TEST(SharedPrefix, BadPrefixColumnsNameTheRowInCsvAndJsonl) {
  const std::string h = "arrival_s,prompt_tokens,output_tokens,prefix_id,prefix_tokens\n";
  EXPECT_EQ(read_error(h + "0,5,1,0,3\n"), "t.csv:2: prefix_tokens: a shared prefix needs a prefix_id > 0");
  EXPECT_EQ(read_error(h + "0,5,1,7,9\n"),
            "t.csv:2: prefix_tokens: the shared prefix (9 tokens) is longer than the prompt (5)");
  EXPECT_EQ(read_error(h + "0,5,1,7,0\n"), "t.csv:2: prefix_id: a prefix_id needs prefix_tokens > 0");
  const std::string j = R"({"arrival_s": 0, "prompt_tokens": 5, "output_tokens": 1, )";
  EXPECT_EQ(read_error(j + R"("prefix_id": 7, "prefix_tokens": 9})"
                           "\n"),
            "t.csv:1: prefix_tokens: the shared prefix (9 tokens) is longer than the prompt (5)");
  EXPECT_EQ(read_error(j + R"("prefix_id": 7})"
                           "\n"),
            "t.csv:1: prefix_id: a prefix_id needs prefix_tokens > 0");
  EXPECT_EQ(read_text(h + "0,5,1,7,3\n").at(0).shared_prefix_tokens, 3);
}

TEST(TraceHeader, BlankLinesBeforeTheFirstLineCountInErrorPlaces) {
  EXPECT_EQ(read_error("\n\narrival_s,prompt_tokens,output_tokens\n0,1,1\n1,abc,1\n"),
            "t.csv:5: prompt_tokens: expected a non-negative integer, found 'abc'");
  EXPECT_EQ(read_error("\n \n{\"timestamp\": 5, \"input_length\": 10, \"output_length\": 2}\n"
                       "{\"timestamp\": 4, \"input_length\": 1, \"output_length\": 1}\n"),
            "t.csv:4: timestamp: time goes backwards: '4' is 0.001 s before line 3");
  EXPECT_EQ(read_error("\nno,such,header\n").rfind("t.csv:2: unknown trace header", 0), 0u);
}

TEST(SimpleCsv, ZeroTokensAreReadAsOneAndCounted) {
  auto r = open_trace(text_stream("arrival_s,prompt_tokens,output_tokens\n0,0,5\n1,5,0\n2,3,0\n"), "t.csv");
  const auto reqs = collect(*r);
  EXPECT_EQ(reqs[0].prompt_tokens, 1);
  EXPECT_EQ(reqs[1].output_tokens, 1);
  EXPECT_EQ(r->clamped_prompt_rows(), 1);
  EXPECT_EQ(r->clamped_output_rows(), 2);
  EXPECT_EQ(r->describe(), "trace t.csv (simple), 1 rows with 0 prompt and 2 with 0 output tokens read as 1");
}

TEST(TraceHeader, WrongOrMissingHeaderSaysWhatIsExpected) {
  EXPECT_EQ(read_error("time,prompt,output\n0,1,1\n"),
            "t.csv:1: unknown trace header 'time,prompt,output': expected 'arrival_s,prompt_tokens,output_tokens' "
            "(simple), 'TIMESTAMP,ContextTokens,GeneratedTokens' (azure), 'Timestamp,Model,Request tokens,Response "
            "tokens,Total tokens,Log Type' (burstgpt), 'num_prefill_tokens,num_decode_tokens' (lengths), or JSON lines "
            "(jsonl, mooncake)");
  EXPECT_EQ(read_error("arrival_s,prompt_tokens,output_tokens\n0,1,1\n", "azure"),
            "t.csv:1: expected the azure trace header 'TIMESTAMP,ContextTokens,GeneratedTokens', found "
            "'arrival_s,prompt_tokens,output_tokens'");
  EXPECT_EQ(read_error("0,1,1\n", "simple"),
            "t.csv:1: expected the simple trace header 'arrival_s,prompt_tokens,output_tokens' (optional columns: "
            "session_id, prefix_id, prefix_tokens), found '0,1,1'");
  EXPECT_EQ(read_error(""), "t.csv: empty file: expected a header line or a JSON object");
  EXPECT_EQ(read_error("arrival_s,prompt_tokens,output_tokens\n", "csv"),
            "unknown trace format 'csv': expected one of auto, simple, jsonl, azure, burstgpt, mooncake, lengths");
  EXPECT_EQ(error_of([] { open_trace("/no/such/file.csv"); }), "/no/such/file.csv: cannot open file: No such file or directory");
}

TEST(CivilDays, KnownDates) {
  EXPECT_EQ(days_from_civil(1970, 1, 1), 0);
  EXPECT_EQ(days_from_civil(1969, 12, 31), -1);
  EXPECT_EQ(days_from_civil(2000, 2, 29), 11016);
  EXPECT_EQ(days_from_civil(2000, 3, 1), 11017);
  EXPECT_EQ(days_from_civil(2023, 11, 16), 19677);
  EXPECT_EQ(days_from_civil(1, 1, 1), -719162);
  EXPECT_EQ(days_from_civil(9999, 12, 31), 2932896);
  // Consecutive days over 800 years (two 400-year cycles, 1900 and 2100 not leap, 2000 leap).
  int64_t expected = days_from_civil(1600, 1, 1);
  for (int64_t y = 1600; y < 2400; ++y) {
    for (int m = 1; m <= 12; ++m) {
      const int len = m == 2 ? ((y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : 28)
                             : (m == 4 || m == 6 || m == 9 || m == 11 ? 30 : 31);
      for (int d = 1; d <= len; ++d) ASSERT_EQ(days_from_civil(y, m, d), expected++) << y << "-" << m << "-" << d;
    }
  }
}

TEST(Timestamp, ParsesExactlyAndRejectsInvalid) {
  EXPECT_EQ(parse_timestamp_ns("1970-01-01 00:00:00"), 0);
  EXPECT_EQ(parse_timestamp_ns("1970-01-01 00:00:01.5"), 1'500'000'000);
  EXPECT_EQ(parse_timestamp_ns("1970-01-02T00:00:00.000000001"), 86'400'000'000'001);
  EXPECT_EQ(parse_timestamp_ns("2023-11-16 18:15:46.6805900"),
            (19677 * 86400LL + 18 * 3600 + 15 * 60 + 46) * kNsPerS + 680'590'000);
  for (const char* bad :
       {"2023-13-01 00:00:00", "2023-02-29 00:00:00", "2023-01-01 24:00:00", "2023-01-01 00:60:00",
        "2023-01-01 00:00:00.", "2023-01-01 00:00:00.1234567890", "2023-01-01", "abc", "2023-01-01 00:00:00 UTC"}) {
    EXPECT_FALSE(parse_timestamp_ns(bad).has_value()) << bad;
  }
  EXPECT_TRUE(parse_timestamp_ns("2024-02-29 00:00:00").has_value());
}

TEST(AzureCsv, ArrivalIsTimeSinceFirstRow) {
  const auto reqs = read_text(
      "TIMESTAMP,ContextTokens,GeneratedTokens\r\n2023-11-16 23:59:59.9999999,10,2\r\n"
      "2023-11-17 00:00:00.0000001,20,3\r\n");
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].arrival_ns, 0);
  EXPECT_EQ(reqs[1].arrival_ns, 200);
  EXPECT_EQ(reqs[1].prompt_tokens, 20);
}

TEST(AzureCsv, ErrorsNameLineAndColumn) {
  const std::string h = "TIMESTAMP,ContextTokens,GeneratedTokens\n";
  EXPECT_EQ(read_error(h + "2023-11-16 18:15:46.6805900,3x,1\n"),
            "t.csv:2: ContextTokens: expected a non-negative integer, found '3x'");
  EXPECT_EQ(read_error(h + "2023-11-16 18:15:46,3,1\n2023-11-16 18:15:4,3,1\n"),
            "t.csv:3: TIMESTAMP: expected a time like '2023-11-16 18:15:46.6805900' in the years 1970 to 2200, found "
            "'2023-11-16 18:15:4'");
  EXPECT_EQ(read_error(h + "2023-11-16 18:15:46,3,1\n2023-11-16 18:15:45.5,3,1\n"),
            "t.csv:3: TIMESTAMP: time goes backwards: '2023-11-16 18:15:45.5' is 0.5 s before line 2");
}

TEST(AzureCsv, RealConversationTrace) {
  if (!std::filesystem::exists(kConv)) GTEST_SKIP() << "shared data absent: " << kConv;
  auto r = open_trace(kConv);
  int64_t rows = 0;
  SimTime prev = 0, last = -1;
  int64_t prompt_sum = 0;
  while (auto q = r->next()) {
    if (rows == 0) {
      EXPECT_EQ(q->arrival_ns, 0);
    }
    ASSERT_GE(q->arrival_ns, prev);
    ASSERT_EQ(q->id, static_cast<uint64_t>(rows));
    ASSERT_GE(q->prompt_tokens, 1);
    ASSERT_GE(q->output_tokens, 1);
    prompt_sum += q->prompt_tokens;
    prev = last = q->arrival_ns;
    ++rows;
  }
  EXPECT_EQ(rows, 19366);
  // 2023-11-16 18:15:46.6805900 to 19:14:08.4025270: 58 min 21.7219370 s.
  EXPECT_EQ(last, 3'501'721'937'000);
  EXPECT_EQ(r->clamped_prompt_rows() + r->clamped_output_rows(), 0);  // the file has no zero counts
  EXPECT_GT(prompt_sum, 0);
}

TEST(AzureCsv, TruncatedByRequestsAndDuration) {
  if (!std::filesystem::exists(kConv)) GTEST_SKIP() << "shared data absent: " << kConv;
  WorkloadSpec spec;
  spec.trace = kConv;
  spec.requests = 100;
  EXPECT_EQ(collect(*make_request_source(spec, RngStreams(1))).size(), 100u);
  spec.requests.reset();
  spec.duration_s = 60;
  const auto reqs = collect(*make_request_source(spec, RngStreams(1)));
  ASSERT_FALSE(reqs.empty());
  EXPECT_LE(reqs.back().arrival_ns, 60 * kNsPerS);
  EXPECT_LT(reqs.size(), 19366u);
}

TEST(Samples, AzureConv1kIsTheFirstThousandRows) {
  const std::string sample = std::string(KVSIM_TEST_SOURCE_DIR) + "/traces/samples/azure_conv_1k.csv";
  const auto reqs = collect(*open_trace(sample, "azure"));
  ASSERT_EQ(reqs.size(), 1000u);
  EXPECT_EQ(reqs.front().prompt_tokens, 374);
  EXPECT_EQ(reqs.front().output_tokens, 44);
  // 18:15:46.6805900 to 18:19:22.7079830
  EXPECT_EQ(reqs.back().arrival_ns, 216'027'393'000);
}

}  // namespace
}  // namespace kvsim::traces
