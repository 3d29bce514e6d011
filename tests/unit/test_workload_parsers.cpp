// Parsers on outputs captured from the real tools (tests/data/workload, see
// capture.sh there), the shipped samples, and hand-made edge cases.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "iommuvm/workload/generators/memaslap.hpp"
#include "iommuvm/workload/parsers.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using namespace iommuvm::workload;

namespace {

std::string slurp(const std::string& rel) {
  std::ifstream in(test::data_path(rel), std::ios::binary);
  EXPECT_TRUE(in) << rel;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The message of the ParseError FN throws ("" when it does not throw one).
template <typename Fn>
std::string parse_error(Fn fn) {
  try {
    fn();
  } catch (const ParseError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// ------------------------------------------------------------------ units

TEST(WorkloadUnits, DurationsAreDecimalExact) {
  EXPECT_EQ(duration_us("218.37us"), 218.37);
  EXPECT_EQ(duration_us("1.16ms"), 1160.0);
  EXPECT_EQ(duration_us("0.231ms"), 231.0);
  EXPECT_EQ(duration_us("2.01s"), 2010000.0);
  EXPECT_EQ(duration_us("0.90m"), 54000000.0);
  EXPECT_EQ(duration_us("1h"), 3600000000.0);
  EXPECT_EQ(duration_us("0.00us"), 0.0);
  EXPECT_THROW(duration_us("1.16"), InputError);
  EXPECT_THROW(duration_us("1.16ns"), InputError);
  EXPECT_THROW(duration_us("ms"), InputError);
  EXPECT_THROW(duration_us("-nanms"), InputError);
}

TEST(WorkloadUnits, CountsAndBytes) {
  EXPECT_EQ(si_count("4.83k"), 4830.0);
  EXPECT_EQ(si_count("1.5M"), 1500000.0);
  EXPECT_EQ(si_count("2G"), 2000000000.0);
  EXPECT_EQ(si_count("17"), 17.0);
  EXPECT_THROW(si_count("3x"), InputError);
  EXPECT_EQ(binary_bytes("143.12MB"), 143.12 * 1024 * 1024);
  EXPECT_EQ(binary_bytes("8.63KB"), 8.63 * 1024);
  EXPECT_EQ(binary_bytes("1GB"), 1073741824.0);
  EXPECT_EQ(binary_bytes("12B"), 12.0);
  EXPECT_THROW(binary_bytes("12XB"), InputError);
  EXPECT_EQ(decimal_scaled("0.1", 1), 1.0);
  EXPECT_EQ(decimal_scaled("1.5e-3", 3), 1.5);
  EXPECT_EQ(decimal_scaled("17864608733.471642", -9), 17.864608733471642);
  EXPECT_THROW(decimal_scaled("inf", 0), InputError);
  EXPECT_THROW(decimal_scaled("nan", 0), InputError);
}

// ------------------------------------------------------------------ redis-benchmark

TEST(RedisBenchmarkParser, RealCsvTwoTestsDefaultsToLast) {
  auto m = parse_redis_benchmark(slurp("workload/redis-benchmark-csv.txt"));
  EXPECT_EQ(m.tool, "redis-benchmark");
  EXPECT_EQ(m.primary, "GET");
  EXPECT_EQ(*m.throughput_ops, 33670.04);
  EXPECT_EQ(m.latency_us.at("avg"), 352.0);
  EXPECT_EQ(m.latency_us.at("min"), 72.0);
  EXPECT_EQ(m.latency_us.at("p50"), 311.0);
  EXPECT_EQ(m.latency_us.at("p95"), 567.0);
  EXPECT_EQ(m.latency_us.at("p99"), 1855.0);
  EXPECT_EQ(m.latency_us.at("max"), 5159.0);
  EXPECT_FALSE(m.latency_us.count("p90"));  // not reported: absent
  EXPECT_FALSE(m.requests.has_value());
  EXPECT_FALSE(m.errors.has_value());
  ASSERT_EQ(m.ops.size(), 2u);
  EXPECT_EQ(*m.ops.at("SET").throughput_ops, 39138.95);
  EXPECT_EQ(m.ops.at("SET").latency_us.at("max"), 3447.0);
}

// Its output has no request count: parse_output takes -n (requests per test) from the plan.
TEST(RedisBenchmarkParser, RequestsFromRequestsPerTest) {
  ParseOptions o;
  o.primary = "get";
  o.requests_per_test = 10000;
  auto m = parse_output("redis-benchmark", slurp("workload/redis-benchmark-csv.txt"), o);
  ASSERT_TRUE(m.requests.has_value());
  EXPECT_EQ(*m.requests, 20000u);  // SET and GET
  EXPECT_EQ(*m.ops.at("SET").requests, 10000u);
  EXPECT_EQ(*m.ops.at("GET").requests, 10000u);
  EXPECT_EQ(workload::to_json(m)["requests"], 20000);
  EXPECT_FALSE(parse_output("redis-benchmark", slurp("workload/redis-benchmark-csv.txt")).requests.has_value());
}

TEST(RedisBenchmarkParser, PrimarySelectsTheTest) {
  auto m = parse_redis_benchmark(slurp("workload/redis-benchmark-csv.txt"), "set");
  EXPECT_EQ(m.primary, "SET");
  EXPECT_EQ(*m.throughput_ops, 39138.95);
  EXPECT_EQ(m.latency_us.at("p99"), 575.0);
  EXPECT_NE(parse_error([] { parse_redis_benchmark(slurp("workload/redis-benchmark-csv.txt"), "lpush"); }), "");
}

TEST(RedisBenchmarkParser, RealCsvSingleTestAndTerminalLineEndings) {
  auto m = parse_redis_benchmark(slurp("workload/redis-benchmark-csv-get.txt"));
  EXPECT_EQ(*m.throughput_ops, 500000.0);
  EXPECT_EQ(m.latency_us.at("p99"), 407.0);
  auto t = parse_redis_benchmark(slurp("workload/redis-benchmark-csv-tty.txt"), "ping_inline");
  EXPECT_EQ(t.primary, "PING_INLINE");
  EXPECT_EQ(t.ops.size(), 2u);
}

TEST(RedisBenchmarkParser, ProgressNoiseAndNoLatencyColumns) {
  std::string text =
      "SET: rps=12000.0 (overall: 11000.0) avg_msec=0.300 (overall: 0.310)\r"
      "SET: rps=13000.0 (overall: 12000.0) avg_msec=0.300 (overall: 0.310)\r\"SET\",\"81300.81\"\n"
      "GET: rps=9000.0 (overall: 9000.0) avg_msec=0.3 (overall: 0.3)\r\"GET\",\"90909.09\"\n"
      "\"MSET (10 keys)\",\"1234.50\"\n";
  auto m = parse_redis_benchmark(text, "get");
  EXPECT_EQ(*m.throughput_ops, 90909.09);
  EXPECT_TRUE(m.latency_us.empty());  // no latency columns: absent, not 0
  EXPECT_EQ(*parse_redis_benchmark(text, "mset").throughput_ops, 1234.5);
  EXPECT_EQ(*parse_redis_benchmark(text).throughput_ops, 1234.5);
}

TEST(RedisBenchmarkParser, Errors) {
  EXPECT_NE(parse_error([] { parse_redis_benchmark(""); }), "");
  EXPECT_NE(parse_error([] { parse_redis_benchmark("\r\n\n"); }), "");
  auto e = parse_error([] { parse_redis_benchmark("hello world\n"); });
  EXPECT_NE(e.find("redis-benchmark output, line 1"), std::string::npos) << e;
  // truncated in the middle of a row
  std::string full = slurp("workload/redis-benchmark-csv.txt");
  std::string cut = full.substr(0, full.size() - 12);
  e = parse_error([&] { parse_redis_benchmark(cut); });
  EXPECT_NE(e.find("line 3"), std::string::npos) << e;
  e = parse_error([] { parse_redis_benchmark("\"test\",\"rps\"\n\"SET\",\"fast\"\n"); });
  EXPECT_NE(e.find("rps is not a number"), std::string::npos) << e;
  // only a header: no result
  EXPECT_NE(parse_error([] { parse_redis_benchmark("\"test\",\"rps\"\n"); }), "");
}

// ------------------------------------------------------------------ memtier

TEST(MemtierParser, SampleTotals) {
  auto m = parse_memtier(slurp("samples/memtier-redis.json"));
  EXPECT_EQ(m.tool, "memtier");
  EXPECT_EQ(*m.throughput_ops, 90018.1);
  EXPECT_EQ(*m.requests, 71924614u);
  EXPECT_EQ(*m.duration_s, 799.002);
  EXPECT_EQ(m.latency_us.at("avg"), 355.0);
  EXPECT_EQ(m.latency_us.at("min"), 40.0);
  EXPECT_EQ(m.latency_us.at("max"), 23935.0);
  EXPECT_EQ(m.latency_us.at("p50"), 231.0);
  EXPECT_EQ(m.latency_us.at("p90"), 759.0);
  EXPECT_EQ(m.latency_us.at("p95"), 951.0);
  EXPECT_EQ(m.latency_us.at("p99"), 1415.0);
  EXPECT_EQ(m.latency_us.at("p99.9"), 2575.0);
  EXPECT_FALSE(m.errors.has_value());
  EXPECT_EQ(m.ops.size(), 2u);  // Waits has Count 0
  EXPECT_EQ(*m.ops.at("SET").requests, 7192475u);
  EXPECT_EQ(*m.ops.at("GET").throughput_ops, 81016.28);
  auto g = parse_memtier(slurp("samples/memtier-redis.json"), "get");
  EXPECT_EQ(g.primary, "GET");
  EXPECT_EQ(g.latency_us.at("p99"), 1415.0);
  EXPECT_EQ(*g.requests, 64732139u);
}

TEST(MemtierParser, NonFiniteValuesAreAbsent) {
  std::string text = R"({"ALL STATS": {"Runtime": {"Total duration": 2000},
    "Totals": {"Count": 10, "Ops/sec": 5, "Average Latency": -nan, "Min Latency": inf,
               "Max Latency": null, "Percentile Latencies": {"p50.00": 0.5, "p99.00": nan, "p99.99": 1.25}},
    "Sets": {"Count": 0, "Ops/sec": 0}}, "note": "inf and -nan inside strings stay"})";
  auto m = parse_memtier(text);
  EXPECT_EQ(*m.throughput_ops, 5.0);
  EXPECT_EQ(*m.duration_s, 2.0);
  EXPECT_EQ(m.latency_us.size(), 2u);
  EXPECT_EQ(m.latency_us.at("p50"), 500.0);
  EXPECT_EQ(m.latency_us.at("p99.99"), 1250.0);
  EXPECT_TRUE(m.ops.empty());
}

TEST(MemtierParser, Errors) {
  EXPECT_NE(parse_error([] { parse_memtier(""); }), "");
  EXPECT_NE(parse_error([] { parse_memtier("{\"configuration\": {}}"); }).find("ALL STATS"), std::string::npos);
  std::string full = slurp("samples/memtier-redis.json");
  EXPECT_NE(parse_error([&] { parse_memtier(full.substr(0, full.size() / 2)); }), "");
  EXPECT_NE(parse_error([] { parse_memtier("{\"ALL STATS\": {\"Totals\": {\"Ops/sec\": \"many\"}}}"); }), "");
  EXPECT_NE(parse_error([] { parse_memtier(slurp("samples/memtier-redis.json"), "incr"); }), "");
}

// ------------------------------------------------------------------ memaslap

TEST(MemaslapParser, Real) {
  auto m = parse_memaslap(slurp("workload/memaslap.txt"));
  EXPECT_EQ(*m.throughput_ops, 41919.0);
  EXPECT_EQ(*m.requests, 83844u);
  EXPECT_EQ(*m.duration_s, 2.0);
  EXPECT_EQ(*m.ops.at("GET").requests, 75452u);
  EXPECT_EQ(*m.ops.at("SET").requests, 8392u);
  EXPECT_EQ(m.extra.at("net_rate_mib_per_s"), 8.4);
  EXPECT_TRUE(m.latency_us.empty());
  EXPECT_FALSE(m.errors.has_value());
}

TEST(MemaslapParser, Errors) {
  std::string full = slurp("workload/memaslap.txt");
  auto e = parse_error([&] { parse_memaslap(full.substr(0, full.find("Run time: 2.0s"))); });
  EXPECT_NE(e.find("Run time"), std::string::npos) << e;
  e = parse_error([] { parse_memaslap("Run time: 2.0s Ops: 83844 TPS: lots Net_rate: 8.4M/s\n"); });
  EXPECT_NE(e.find("line 1"), std::string::npos) << e;
  EXPECT_NE(parse_error([] { parse_memaslap("cmd_get: x\nRun time: 2.0s Ops: 1 TPS: 1 Net_rate: 0.0M/s\n"); }), "");
  EXPECT_NE(parse_error([] { parse_memaslap(""); }), "");
}

// ------------------------------------------------------------------ wrk

TEST(WrkParser, RealPlain) {
  auto m = parse_wrk(slurp("workload/wrk.txt"));
  EXPECT_EQ(*m.throughput_ops, 23475.41);
  EXPECT_EQ(*m.requests, 46966u);
  EXPECT_EQ(*m.duration_s, 2.0);
  EXPECT_EQ(*m.errors, 0u);
  EXPECT_EQ(m.latency_us.at("avg"), 437.78);
  EXPECT_EQ(m.latency_us.at("stdev"), 338.6);
  EXPECT_EQ(m.latency_us.at("max"), 7060.0);
  EXPECT_FALSE(m.latency_us.count("p50"));
  EXPECT_EQ(m.extra.at("bytes_read"), 194.21 * 1024 * 1024);
  EXPECT_EQ(m.extra.at("transfer_bytes_per_s"), 97.07 * 1024 * 1024);
}

TEST(WrkParser, RealLatencyDistribution) {
  auto m = parse_wrk(slurp("workload/wrk-latency.txt"));
  EXPECT_GT(*m.throughput_ops, 0);
  EXPECT_TRUE(m.latency_us.count("p50"));
  EXPECT_TRUE(m.latency_us.count("p99"));
  EXPECT_LE(m.latency_us.at("p50"), m.latency_us.at("p99"));
}

TEST(WrkParser, RealLuaJsonLineWins) {
  auto m = parse_wrk(slurp("workload/wrk-lua.txt"));
  EXPECT_EQ(*m.requests, 83344u);
  EXPECT_EQ(*m.duration_s, 2.100224);
  EXPECT_EQ(*m.throughput_ops, 83344.0 * 1e6 / 2100224.0);
  EXPECT_EQ(*m.errors, 0u);
  EXPECT_EQ(m.latency_us.at("min"), 40.0);
  EXPECT_EQ(m.latency_us.at("max"), 4382.0);
  EXPECT_EQ(m.latency_us.at("avg"), 254.471);
  EXPECT_EQ(m.latency_us.at("stdev"), 146.392);
  EXPECT_EQ(m.latency_us.at("p50"), 230.0);
  EXPECT_EQ(m.latency_us.at("p75"), 263.0);
  EXPECT_EQ(m.latency_us.at("p90"), 292.0);
  EXPECT_EQ(m.latency_us.at("p99"), 548.0);
  EXPECT_EQ(m.latency_us.at("p99.9"), 2542.0);
  EXPECT_EQ(m.latency_us.at("p99.99"), 4281.0);
  EXPECT_EQ(m.extra.at("bytes_read"), 361379184.0);
}

TEST(WrkParser, RealNon2xxAreErrors) {
  auto m = parse_wrk(slurp("workload/wrk-non2xx.txt"));
  EXPECT_EQ(*m.requests, 111060u);
  EXPECT_EQ(*m.errors, 111060u);
  EXPECT_EQ(m.extra.at("errors_status"), 111060.0);
  EXPECT_TRUE(too_many_errors(m, 0.01));
  // the same without the JSON line: the text's Non-2xx line counts
  std::string text = slurp("workload/wrk-non2xx.txt");
  text = text.substr(0, text.find("{\"iommuvm_wrk\""));
  auto t = parse_wrk(text);
  EXPECT_EQ(*t.errors, 111060u);
  EXPECT_EQ(*t.throughput_ops, 52855.91);
  EXPECT_EQ(t.latency_us.at("max"), 4230.0);
}

TEST(WrkParser, RealAllTimeoutsHaveNoLatency) {
  auto m = parse_wrk(slurp("workload/wrk-timeouts.txt"));
  EXPECT_EQ(*m.requests, 4u);
  EXPECT_EQ(*m.errors, 4u);
  EXPECT_EQ(m.extra.at("errors_timeout"), 4.0);
  EXPECT_TRUE(m.latency_us.empty());
  EXPECT_TRUE(too_many_errors(m, 0.5));
  std::string text = slurp("workload/wrk-timeouts.txt");
  auto t = parse_wrk(text.substr(0, text.find("{\"iommuvm_wrk\"")));
  EXPECT_EQ(*t.errors, 4u);
  EXPECT_TRUE(t.latency_us.empty());  // zeros and -nan% mean no samples: absent
}

TEST(WrkParser, HandMadeUnitsAndSocketErrors) {
  std::string text =
      "Running 1m test @ http://10.0.0.1:8080/\n"
      "  8 threads and 400 connections\n"
      "  Thread Stats   Avg      Stdev     Max   +/- Stdev\n"
      "    Latency   218.37us    1.16ms   2.01s    99.00%\n"
      "    Req/Sec     4.83k   512.00     6.10k    70.00%\n"
      "  Latency Distribution\n"
      "     50%  218.37us\n"
      "     75%    1.16ms\n"
      "     90%    2.01s\n"
      "     99%    0.90m\n"
      "  1728000 requests in 1.00m, 143.12MB read\n"
      "  Socket errors: connect 1, read 2, write 3, timeout 4\n"
      "  Non-2xx or 3xx responses: 10\n"
      "Requests/sec:  28800.00\n"
      "Transfer/sec:      2.39MB\n";
  auto m = parse_wrk(text);
  EXPECT_EQ(m.latency_us.at("avg"), 218.37);
  EXPECT_EQ(m.latency_us.at("stdev"), 1160.0);
  EXPECT_EQ(m.latency_us.at("max"), 2010000.0);
  EXPECT_EQ(m.latency_us.at("p50"), 218.37);
  EXPECT_EQ(m.latency_us.at("p75"), 1160.0);
  EXPECT_EQ(m.latency_us.at("p90"), 2010000.0);
  EXPECT_EQ(m.latency_us.at("p99"), 54000000.0);
  EXPECT_EQ(*m.requests, 1728000u);
  EXPECT_EQ(*m.duration_s, 60.0);
  EXPECT_EQ(*m.errors, 20u);
  EXPECT_EQ(m.extra.at("errors_read"), 2.0);
  EXPECT_EQ(m.extra.at("bytes_read"), 143.12 * 1024 * 1024);
  EXPECT_EQ(*m.throughput_ops, 28800.0);
  EXPECT_FALSE(too_many_errors(m, 0.01));
}

TEST(WrkParser, Errors) {
  std::string full = slurp("workload/wrk.txt");
  auto e = parse_error([&] { parse_wrk(full.substr(0, full.find("Requests/sec"))); });
  EXPECT_NE(e.find("Requests/sec"), std::string::npos) << e;
  e = parse_error([&] { parse_wrk(full.substr(0, full.find("  46966 requests"))); });
  EXPECT_NE(e.find("requests in"), std::string::npos) << e;
  e = parse_error([] { parse_wrk("<html>garbage</html>\n"); });
  EXPECT_NE(e.find("wrk output, line 1"), std::string::npos) << e;
  EXPECT_NE(parse_error([] { parse_wrk(""); }), "");
  e = parse_error([] { parse_wrk("    Latency   218.37xs    1.16ms   2.01s    99.00%\n"); });
  EXPECT_NE(e.find("line 1"), std::string::npos) << e;
  e = parse_error([] { parse_wrk("{\"iommuvm_wrk\":1,\"requests\":5,\"dura\n"); });
  EXPECT_NE(e.find("line 1"), std::string::npos) << e;
  e = parse_error([] { parse_wrk("  Socket errors: connect 1, read x\nRequests/sec: 1\n"); });
  EXPECT_NE(e.find("Socket errors"), std::string::npos) << e;
}

// ------------------------------------------------------------------ wrk2

TEST(Wrk2Parser, Sample) {
  auto m = parse_wrk2(slurp("samples/wrk2-output.txt"));
  EXPECT_EQ(m.tool, "wrk2");
  EXPECT_EQ(*m.throughput_ops, 10.0);
  EXPECT_EQ(*m.requests, 600u);
  EXPECT_EQ(*m.duration_s, 60.0);
  EXPECT_EQ(*m.errors, 0u);
  EXPECT_EQ(m.latency_us.at("avg"), 58330.0);
  EXPECT_EQ(m.latency_us.at("stdev"), 24980.0);
  EXPECT_EQ(m.latency_us.at("max"), 244100.0);
  EXPECT_EQ(m.latency_us.at("p50"), 53.31);  // printed in us in this sample
  EXPECT_EQ(m.latency_us.at("p75"), 56990.0);
  EXPECT_EQ(m.latency_us.at("p99"), 223230.0);
  EXPECT_EQ(m.latency_us.at("p99.9"), 244220.0);
  EXPECT_EQ(m.latency_us.at("p99.99"), 244220.0);
  EXPECT_EQ(m.latency_us.at("p99.999"), 36000000.0);
  EXPECT_EQ(m.latency_us.at("p100"), 54000000.0);
  EXPECT_EQ(m.extra.at("bytes_read"), 112.39 * 1024 * 1024);
}

TEST(Wrk2Parser, SampleWithErrors) {
  auto m = parse_wrk2(slurp("samples/wrk2-output-errors.txt"));
  EXPECT_EQ(*m.errors, 14u);
  EXPECT_EQ(m.latency_us.at("p50"), 53310.0);
  EXPECT_TRUE(too_many_errors(m, 0.01));
  EXPECT_FALSE(too_many_errors(m, 0.05));
  auto a = parse_wrk2(slurp("samples/wrk2-output-all-error.txt"));
  EXPECT_EQ(*a.requests, 451u);
  EXPECT_EQ(*a.errors, 451u);
  EXPECT_EQ(*a.duration_s, 45.0);
  EXPECT_EQ(*a.throughput_ops, 10.02);
  EXPECT_EQ(a.latency_us.at("p90"), 2380.0);
  EXPECT_EQ(a.latency_us.at("p99.9"), 19360.0);
  EXPECT_TRUE(too_many_errors(a, 0.99));
}

TEST(Wrk2Parser, Truncated) {
  std::string full = slurp("samples/wrk2-output.txt");
  auto e = parse_error([&] { parse_wrk2(full.substr(0, full.find("Detailed Percentile") + 40)); });
  EXPECT_NE(e.find("wrk2 output"), std::string::npos) << e;
}

// ------------------------------------------------------------------ iperf3

TEST(Iperf3Parser, Real) {
  auto m = parse_iperf3(slurp("workload/iperf3.json"));
  EXPECT_EQ(*m.throughput_gbps, 17.864608733471642);
  EXPECT_EQ(*m.duration_s, 2.00035);
  EXPECT_FALSE(m.throughput_ops.has_value());
  EXPECT_FALSE(m.requests.has_value());
  EXPECT_EQ(m.extra.at("bytes_received"), 4466933760.0);
  EXPECT_EQ(m.extra.at("retransmits"), 7.0);
  EXPECT_EQ(m.extra.at("sender_gbps"), 17.865868056788067);
}

TEST(Iperf3Parser, Errors) {
  auto e = parse_error([] { parse_iperf3(slurp("workload/iperf3-refused.json")); });
  EXPECT_NE(e.find("Connection refused"), std::string::npos) << e;
  std::string full = slurp("workload/iperf3.json");
  EXPECT_NE(parse_error([&] { parse_iperf3(full.substr(0, full.size() - 100)); }), "");
  EXPECT_NE(parse_error([] { parse_iperf3("{\"start\": {}, \"end\": {}}"); }).find("end"), std::string::npos);
  EXPECT_NE(parse_error([] { parse_iperf3("not json"); }), "");
  EXPECT_NE(parse_error([] { parse_iperf3(""); }), "");
}

// ------------------------------------------------------------------ custom, dispatch, json

TEST(CustomParser, RegexesFillFields) {
  std::string text = "ops: 1234.5 per second\np99 latency 87.5 us\nfailed=3 total=1000\n";
  auto m = parse_custom(text, {{"throughput_ops", R"(ops: ([0-9.]+))"},
                               {"latency_us.p99", R"(p99 latency ([0-9.]+))"},
                               {"errors", R"(failed=(\d+))"},
                               {"requests", R"(total=(\d+))"},
                               {"score", R"(total=(\d+))"}});
  EXPECT_EQ(*m.throughput_ops, 1234.5);
  EXPECT_EQ(m.latency_us.at("p99"), 87.5);
  EXPECT_EQ(*m.errors, 3u);
  EXPECT_EQ(*m.requests, 1000u);
  EXPECT_EQ(m.extra.at("score"), 1000.0);
  EXPECT_NE(parse_error([&] { parse_custom(text, {{"x", "nothing here ([0-9]+)"}}); }).find("does not match"),
            std::string::npos);
  EXPECT_NE(parse_error([&] { parse_custom(text, {{"x", "(ops)"}}); }).find("not a number"), std::string::npos);
  EXPECT_THROW(parse_custom(text, {{"x", "ops: [0-9.]+"}}), InputError);   // no group
  EXPECT_THROW(parse_custom(text, {{"x", "(ops: ([0-9.]+"}}), InputError);  // bad regex
}

TEST(ParseRobustness, LongDigitLinesAndNestedQuantifiers) {
  // std::regex recursed once per character: these lines crashed wrk, wrk2, memaslap and custom.
  std::string digits(300000, '9');
  for (const char* tool : {"wrk", "wrk2", "memaslap"}) {
    for (const std::string& text : {digits + " requests in 10.00s, 1.00MB read\n",
                                    "Socket errors: connect " + digits + ", read 0, write 0, timeout 0\n",
                                    "Run time: " + digits + "s Ops: 1 TPS: 1 Net_rate: 1.0M/s\n"}) {
      try {
        parse_output(tool, text);
      } catch (const InputError&) {
      }
    }
  }
  // A nested quantifier on a long line runs in linear time with RE2 (backtracking never ends).
  auto m = parse_custom(std::string(100000, 'a') + " ops=5\n", {{"throughput_ops", R"((?:a*)*\s*ops=([0-9]+))"}});
  EXPECT_EQ(*m.throughput_ops, 5.0);
  EXPECT_NE(parse_error([&] { parse_custom(std::string(100000, 'a') + "!", {{"x", R"(^(?:a|aa)*b([0-9]))"}}); })
                .find("does not match"),
            std::string::npos);
}

TEST(ParseOutput, DispatchAndUnknownTool) {
  auto m = parse_output("wrk2", slurp("samples/wrk2-output.txt"));
  EXPECT_EQ(m.tool, "wrk2");
  ParseOptions o;
  o.primary = "set";
  EXPECT_EQ(parse_output("redis-benchmark", slurp("workload/redis-benchmark-csv.txt"), o).primary, "SET");
  EXPECT_THROW(parse_output("siege", "x"), InputError);
  EXPECT_EQ(parser_names().size(), 8u);
}

TEST(MetricsJson, AbsentFiguresAreAbsent) {
  auto m = parse_memaslap(slurp("workload/memaslap.txt"));
  auto j = to_json(m);
  EXPECT_EQ(j["tool"], "memaslap");
  EXPECT_EQ(j["throughput_ops"], 41919.0);
  EXPECT_EQ(j["requests"], 83844);
  EXPECT_FALSE(j.contains("latency_us"));
  EXPECT_FALSE(j.contains("errors"));
  EXPECT_FALSE(j.contains("throughput_gbps"));
  EXPECT_EQ(j["ops"]["GET"]["requests"], 75452);
  auto w = to_json(parse_wrk(slurp("workload/wrk-lua.txt")));
  EXPECT_EQ(w["latency_us"]["p99.9"], 2542.0);
  EXPECT_EQ(w["errors"], 0);
}

TEST(Metrics, TooManyErrors) {
  Metrics m;
  EXPECT_FALSE(too_many_errors(m, 0.01));  // not reported
  m.errors = 0;
  EXPECT_FALSE(too_many_errors(m, 0.0));
  m.errors = 5;
  EXPECT_TRUE(too_many_errors(m, 0.01));  // errors, no completed request
  m.requests = 1000;
  EXPECT_FALSE(too_many_errors(m, 0.01));
  EXPECT_TRUE(too_many_errors(m, 0.004));
}

// ------------------------------------------------------------------ ab (ApacheBench)

// Captured with `ab -n 2000 -c 4 http://127.0.0.1:P/` against nginx 1.22 serving 4 KiB.
TEST(AbParser, RealNginxRun) {
  auto m = parse_output("ab", slurp("workload/ab-nginx.txt"));
  EXPECT_EQ(m.tool, "ab");
  EXPECT_EQ(*m.requests, 2000u);
  EXPECT_EQ(*m.errors, 0u);
  EXPECT_EQ(*m.throughput_ops, 11572.73);
  EXPECT_EQ(*m.duration_s, 0.173);
  EXPECT_EQ(m.latency_us.at("avg"), 346.0);  // "Time per request: 0.346 [ms] (mean)", not the one across requests
  EXPECT_EQ(m.latency_us.at("stdev"), 800.0);
  EXPECT_EQ(m.latency_us.at("max"), 7000.0);
  EXPECT_EQ(m.latency_us.at("p50"), 0.0);
  EXPECT_EQ(m.latency_us.at("p95"), 1000.0);
  EXPECT_EQ(m.latency_us.at("p99"), 4000.0);
  EXPECT_EQ(m.latency_us.at("p100"), 7000.0);
  EXPECT_FALSE(m.latency_us.contains("p66"));  // not a metric key
  EXPECT_EQ(m.extra.at("bytes_read"), 8662000.0);
  EXPECT_EQ(m.extra.at("transfer_kbytes_per_s"), 48946.79);
  EXPECT_EQ(m.extra.at("errors_failed"), 0.0);
}

// Captured with `ab -k -c 4 -t 1 -n 3000` on a missing path: every answer a 404.
TEST(AbParser, RealNon2xxCountAsErrors) {
  auto m = parse_output("ab", slurp("workload/ab-nginx-404-keepalive.txt"));
  EXPECT_EQ(*m.requests, 3000u);
  EXPECT_EQ(*m.errors, 3000u);
  EXPECT_EQ(m.extra.at("errors_status"), 3000.0);
  EXPECT_EQ(*m.throughput_ops, 27929.84);
}

TEST(AbParser, TruncatedOrGarbledOutputIsAnError) {
  std::string text = slurp("workload/ab-nginx.txt");
  EXPECT_THROW(parse_output("ab", ""), ParseError);
  EXPECT_THROW(parse_output("ab", text.substr(0, text.find("Complete requests"))), ParseError);
  std::string bad = text;
  bad.replace(bad.find("11572.73"), 8, "fast");
  EXPECT_THROW(parse_output("ab", bad), ParseError);
}
