// Combining several load-generator processes: histograms merged, sums, and percentiles
// never averaged. Every expected figure below is computed by hand in the comments.
#include <gtest/gtest.h>

#include <cmath>

#include "iommuvm/workload/combine.hpp"
#include "iommuvm/workload/parsers.hpp"

using namespace iommuvm;
using namespace iommuvm::workload;

namespace {

// A: 100 us x3, 200 us x1.   B: 150 us x2, 300 us x2.
const Histogram kA = {{100, 3}, {200, 1}};
const Histogram kB = {{150, 2}, {300, 2}};

Metrics wrk_part(const Histogram& h, double tput, std::uint64_t errors, double duration, double bytes) {
  Metrics m;
  m.tool = "wrk";
  m.throughput_ops = tput;
  std::uint64_t n = 0;
  for (const auto& [v, c] : h) n += c;
  m.requests = n;
  m.errors = errors;
  m.duration_s = duration;
  m.latency_histogram_us = h;
  m.latency_us = histogram_latency(h, {"p50", "p75", "p90"});
  m.extra["bytes_read"] = bytes;
  m.extra["cpu_host_percent"] = 50;  // not additive: left out of the combination
  return m;
}

}  // namespace

TEST(Combine, MergedHistogramAddsCountsOfEqualValues) {
  Histogram c = {{100, 1}, {300, 5}};
  auto m = merge_histograms({&kA, &kB, &c});
  Histogram expected = {{100, 4}, {150, 2}, {200, 1}, {300, 7}};
  EXPECT_EQ(m, expected);
}

TEST(Combine, PercentilesFollowWrksRankRule) {
  // A alone, N = 4: p50 rank round(2 + 0.5) = 3 -> cumulative 3 at 100 -> 100.
  EXPECT_EQ(histogram_percentile(kA, 50), 100);
  // p90: rank round(3.6 + 0.5) = 4 -> 200.
  EXPECT_EQ(histogram_percentile(kA, 90), 200);
  // B alone: p50 rank 3 -> cumulative 2 at 150, 4 at 300 -> 300.
  EXPECT_EQ(histogram_percentile(kB, 50), 300);
  EXPECT_EQ(histogram_percentile(kB, 100), 300);
  EXPECT_THROW(histogram_percentile({}, 50), Error);
}

TEST(Combine, TwoHistogramsGiveHandComputedPercentiles) {
  auto merged = merge_histograms({&kA, &kB});
  // Merged: 100 x3, 150 x2, 200 x1, 300 x2; N = 8; cumulative 3, 5, 6, 8.
  auto lat = histogram_latency(merged, {"p25", "p50", "p75", "p90"});
  EXPECT_EQ(lat.at("p25"), 100);  // rank round(2.5) = 3
  EXPECT_EQ(lat.at("p50"), 150);  // rank round(4.5) = 5  (the average of the two p50s, 200, would be wrong)
  EXPECT_EQ(lat.at("p75"), 300);  // rank round(6.5) = 7
  EXPECT_EQ(lat.at("p90"), 300);  // rank round(7.7) = 8
  EXPECT_EQ(lat.at("min"), 100);
  EXPECT_EQ(lat.at("max"), 300);
  EXPECT_DOUBLE_EQ(lat.at("avg"), 175);  // (300 + 300 + 200 + 600) / 8
  // squared deviations: 3*75^2 + 2*25^2 + 25^2 + 2*125^2 = 50000; sample variance 50000 / 7
  EXPECT_NEAR(lat.at("stdev"), std::sqrt(50000.0 / 7), 1e-9);
}

TEST(Combine, WrkPartsSumAndMergeTheirDistributions) {
  auto m = combine({wrk_part(kA, 1000, 0, 2.0, 10), wrk_part(kB, 2000, 1, 2.1, 20)});
  EXPECT_EQ(m.tool, "wrk");
  ASSERT_TRUE(m.throughput_ops && m.requests && m.errors && m.duration_s);
  EXPECT_DOUBLE_EQ(*m.throughput_ops, 3000);
  EXPECT_EQ(*m.requests, 8u);
  EXPECT_EQ(*m.errors, 1u);
  EXPECT_DOUBLE_EQ(*m.duration_s, 2.1);  // the longest
  EXPECT_EQ(m.latency_us.at("p50"), 150);
  EXPECT_EQ(m.latency_us.at("p75"), 300);
  EXPECT_DOUBLE_EQ(m.latency_us.at("avg"), 175);
  EXPECT_TRUE(m.latency_us_max_of_clients.empty());
  EXPECT_EQ(m.extra.at("bytes_read"), 30);
  EXPECT_FALSE(m.extra.count("cpu_host_percent"));
  EXPECT_EQ(m.latency_histogram_us.size(), 4u);
}

TEST(Combine, WithoutHistogramsPercentilesAreOnlyAnUpperBound) {
  // redis-benchmark --csv: percentiles per client, no histogram, no request count.
  Metrics a, b;
  a.tool = b.tool = "redis-benchmark";
  a.throughput_ops = 50000;
  b.throughput_ops = 40000;
  a.latency_us = {{"avg", 100}, {"min", 10}, {"max", 900}, {"p50", 90}, {"p99", 500}};
  b.latency_us = {{"avg", 200}, {"min", 5}, {"max", 800}, {"p50", 180}, {"p99", 400}};
  a.ops["GET"].throughput_ops = 50000;
  b.ops["GET"].throughput_ops = 40000;
  a.ops["GET"].latency_us = a.latency_us;
  b.ops["GET"].latency_us = b.latency_us;
  a.ops["SET"].throughput_ops = 1;  // only in a: not combined
  auto m = combine({a, b});
  EXPECT_DOUBLE_EQ(*m.throughput_ops, 90000);
  EXPECT_EQ(m.latency_us.at("min"), 5);
  EXPECT_EQ(m.latency_us.at("max"), 900);
  EXPECT_FALSE(m.latency_us.count("p50"));
  EXPECT_FALSE(m.latency_us.count("p99"));
  EXPECT_FALSE(m.latency_us.count("avg"));  // no request counts to weigh the means with
  EXPECT_EQ(m.latency_us_max_of_clients.at("p50"), 180);
  EXPECT_EQ(m.latency_us_max_of_clients.at("p99"), 500);
  EXPECT_FALSE(m.requests.has_value());
  EXPECT_FALSE(m.errors.has_value());
  ASSERT_TRUE(m.ops.count("GET"));
  EXPECT_FALSE(m.ops.count("SET"));
  EXPECT_DOUBLE_EQ(*m.ops.at("GET").throughput_ops, 90000);
  EXPECT_EQ(m.ops.at("GET").latency_us_max_of_clients.at("p99"), 500);
  auto j = to_json(m);
  EXPECT_EQ(j["latency_us_max_of_clients"]["p99"], 500);
  EXPECT_FALSE(j["latency_us"].contains("p99"));
}

TEST(Combine, MeanIsRequestWeightedWhenCountsAreKnown) {
  Metrics a, b;
  a.requests = 1;
  b.requests = 3;
  a.latency_us = {{"avg", 100}};
  b.latency_us = {{"avg", 200}};
  auto m = combine({a, b});
  EXPECT_DOUBLE_EQ(m.latency_us.at("avg"), 175);  // (100*1 + 200*3) / 4
  EXPECT_EQ(*m.requests, 4u);
}

TEST(Combine, AFigureOnePartLacksIsAbsentAndIperfSums) {
  Metrics a, b;
  a.tool = b.tool = "iperf3";
  a.throughput_gbps = 9.5;
  b.throughput_gbps = 8.25;
  a.throughput_ops = 1;  // b has none
  a.extra = {{"bytes_received", 100}, {"retransmits", 2}, {"cpu_host_percent", 10}};
  b.extra = {{"bytes_received", 50}, {"retransmits", 3}, {"cpu_host_percent", 20}};
  auto m = combine({a, b});
  EXPECT_DOUBLE_EQ(*m.throughput_gbps, 17.75);
  EXPECT_FALSE(m.throughput_ops.has_value());
  EXPECT_EQ(m.extra.at("bytes_received"), 150);
  EXPECT_EQ(m.extra.at("retransmits"), 5);
  EXPECT_FALSE(m.extra.count("cpu_host_percent"));
  EXPECT_TRUE(m.latency_us.empty());
}

TEST(Combine, OnePartIsUnchangedAndNoneIsAnError) {
  auto one = wrk_part(kA, 1000, 0, 2.0, 10);
  auto m = combine({one});
  EXPECT_EQ(m.latency_us, one.latency_us);
  EXPECT_EQ(m.extra.at("cpu_host_percent"), 50);
  EXPECT_THROW(combine({}), Error);
}

TEST(Combine, WrkJsonLineCarriesTheHistogram) {
  std::string out =
      "Running 1s test @ http://127.0.0.1:1/\n  1 threads and 1 connections\n"
      "  Thread Stats   Avg      Stdev     Max   +/- Stdev\n"
      "    Latency   125.00us   50.00us 200.00us   75.00%\n"
      "  4 requests in 1.00s, 400B read\nRequests/sec:      4.00\nTransfer/sec:     400.00B\n"
      "{\"iommuvm_wrk\":1,\"requests\":4,\"duration_us\":1000000,\"bytes\":400,"
      "\"errors\":{\"connect\":0,\"read\":0,\"write\":0,\"status\":0,\"timeout\":0},"
      "\"latency_us\":{\"min\":100,\"max\":200,\"mean\":125.000,\"stdev\":50.000,\"p50\":100,\"p75\":100,"
      "\"p90\":200,\"p99\":200,\"p99.9\":200,\"p99.99\":200},\"histogram_us\":[100,3,200,1]}\n";
  auto m = parse_wrk(out);
  EXPECT_EQ(m.latency_histogram_us, kA);
  // The histogram's percentiles are wrk's own.
  EXPECT_EQ(histogram_percentile(m.latency_histogram_us, 50), m.latency_us.at("p50"));
  EXPECT_EQ(histogram_percentile(m.latency_histogram_us, 90), m.latency_us.at("p90"));
  std::string bad = out;
  bad.replace(bad.find("[100,3,200,1]"), 13, "[200,3,100,1]");
  EXPECT_THROW(parse_wrk(bad), ParseError);
  bad = out;
  bad.replace(bad.find("[100,3,200,1]"), 13, "[100,3,200]");
  EXPECT_THROW(parse_wrk(bad), ParseError);
}
