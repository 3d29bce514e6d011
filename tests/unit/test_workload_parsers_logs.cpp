// Parsers on the formats users' own scripts kept: redis-benchmark's default and -q output,
// memaslap with --stat_freq, wrk with and without --latency. Captured on this machine by
// tests/data/workload/capture-logs.sh (real servers on 127.0.0.1).
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "iommuvm/workload/generators/memaslap.hpp"
#include "iommuvm/workload/parsers.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using namespace iommuvm::workload;

namespace {

std::string slurp(const std::string& rel) {
  std::ifstream in(test::data_path("workload/logs/" + rel), std::ios::binary);
  EXPECT_TRUE(in) << rel;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::set<std::string> op_names(const Metrics& m) {
  std::set<std::string> out;
  for (const auto& [k, v] : m.ops) out.insert(k);
  return out;
}

std::set<std::string> latency_keys(const OpMetrics& o) {
  std::set<std::string> out;
  for (const auto& [k, v] : o.latency_us) out.insert(k);
  return out;
}

// The number written after PREFIX on the line of TEXT that contains NEEDLE (text search,
// independent of the parser).
double number_after(const std::string& text, const std::string& needle, const std::string& prefix) {
  auto at = text.find(needle);
  EXPECT_NE(at, std::string::npos) << needle;
  auto p = text.rfind(prefix, at);
  EXPECT_NE(p, std::string::npos) << prefix;
  return std::stod(text.substr(p + prefix.size()));
}

}  // namespace

// Each parameter set was run as --csv, default and -q, one right after the other (redis-benchmark
// prints one format per run): the three give the same tests, the default output the same latency
// keys as --csv, and throughputs of the same order (separate runs: not equal).
class RedisFormats : public ::testing::TestWithParam<const char*> {};

TEST_P(RedisFormats, DefaultAndQuietGiveTheMetricsOfCsv) {
  std::string set = GetParam();
  auto csv = parse_redis_benchmark(slurp("redis-benchmark-" + set + "-csv.txt"), "get");
  auto def = parse_redis_benchmark(slurp("redis-benchmark-" + set + "-default.txt"), "get");
  auto q = parse_redis_benchmark(slurp("redis-benchmark-" + set + "-q.txt"), "get");
  ASSERT_GE(csv.ops.size(), 2u);
  EXPECT_EQ(op_names(def), op_names(csv));
  EXPECT_EQ(op_names(q), op_names(csv));
  EXPECT_EQ(def.primary, "GET");
  EXPECT_EQ(q.primary, "GET");
  for (const auto& [name, op] : csv.ops) {
    const auto& d = def.ops.at(name);
    const auto& qq = q.ops.at(name);
    EXPECT_EQ(latency_keys(d), latency_keys(op)) << name;
    EXPECT_EQ(latency_keys(qq), std::set<std::string>{"p50"}) << name;
    for (const auto* other : {&d, &qq}) {
      ASSERT_TRUE(other->throughput_ops) << name;
      double r = *other->throughput_ops / *op.throughput_ops;
      EXPECT_GT(r, 0.4) << set << " " << name;
      EXPECT_LT(r, 2.5) << set << " " << name;
    }
  }
  // The default output counts the requests of each test (-n), --csv and -q do not.
  ASSERT_TRUE(def.requests);
  EXPECT_FALSE(csv.requests);
  EXPECT_FALSE(q.requests);
  std::uint64_t total = 0;
  for (const auto& [name, op] : def.ops) {
    ASSERT_TRUE(op.requests) << name;
    total += *op.requests;
  }
  EXPECT_EQ(*def.requests, total);
}

INSTANTIATE_TEST_SUITE_P(Captured, RedisFormats, ::testing::Values("setget", "pipeline", "precision", "many"));

TEST(RedisDefault, NumbersAreTheSummaryLines) {
  std::string text = slurp("redis-benchmark-setget-default.txt");
  auto m = parse_redis_benchmark(text, "set");
  // The GET block comes after the SET block: its figures are after "====== GET ======".
  std::string get_block = text.substr(text.find("====== GET ======"));
  EXPECT_DOUBLE_EQ(*m.ops.at("GET").throughput_ops,
                   number_after(get_block, "requests per second", "throughput summary: "));
  EXPECT_DOUBLE_EQ(*m.throughput_ops, *m.ops.at("SET").throughput_ops);
  EXPECT_EQ(*m.ops.at("SET").requests, 20000u);
  EXPECT_GT(m.ops.at("GET").latency_us.at("p99"), m.ops.at("GET").latency_us.at("p50"));
  EXPECT_GE(m.ops.at("GET").latency_us.at("max"), m.ops.at("GET").latency_us.at("p99"));
}

TEST(RedisDefault, TerminalCapturesWithCarriageReturns) {
  auto d = parse_redis_benchmark(slurp("redis-benchmark-tty-default.txt"));
  auto q = parse_redis_benchmark(slurp("redis-benchmark-tty-q.txt"));
  EXPECT_EQ(op_names(d), (std::set<std::string>{"GET", "SET"}));
  EXPECT_EQ(op_names(q), (std::set<std::string>{"GET", "SET"}));
  EXPECT_EQ(d.primary, "GET");  // the last test by default
  EXPECT_TRUE(q.throughput_ops);
}

TEST(RedisDefault, TruncatedOrForeignOutputIsAnError) {
  std::string full = slurp("redis-benchmark-setget-default.txt");
  // Cut inside the second block, before its summary: that test has no throughput.
  std::string cut = full.substr(0, full.find("Latency by percentile", full.find("====== GET")));
  try {
    parse_redis_benchmark(cut);
    ADD_FAILURE() << "no error";
  } catch (const ParseError& e) {
    EXPECT_NE(std::string(e.what()).find("test GET has no 'requests per second'"), std::string::npos) << e.what();
  }
  // Cut between the latency header and its values.
  auto p = full.rfind("latency summary (msec):");
  auto header_end = full.find('\n', full.find('\n', p) + 1);
  std::string mid = full.substr(0, header_end + 1);
  EXPECT_THROW(parse_redis_benchmark(mid), ParseError);
  EXPECT_THROW(parse_redis_benchmark("====== SET ======\n  100 requests completed in 0.01 seconds\n"), ParseError);
  EXPECT_THROW(parse_redis_benchmark("SET: fast requests per second\n"), ParseError);
  EXPECT_THROW(parse_redis_benchmark("SET: 12.5 requests per second, p50=0.1 lightyears\n"), ParseError);
  EXPECT_THROW(parse_redis_benchmark("garbage\n====== SET ======\n"), ParseError);
}

TEST(RedisDefault, OldRedisWithoutSummary) {
  // Redis 5's redis-benchmark: no "Summary:", the block ends with the throughput.
  auto m = parse_redis_benchmark(
      "====== SET ======\n  100000 requests completed in 1.23 seconds\n  50 parallel clients\n"
      "  3 bytes payload\n  keep alive: 1\n\n99.12% <= 1 milliseconds\n100.00% <= 2 milliseconds\n"
      "81300.81 requests per second\n\n");
  EXPECT_EQ(*m.throughput_ops, 81300.81);
  EXPECT_EQ(*m.requests, 100000u);
  EXPECT_TRUE(m.latency_us.empty());
}

TEST(MemaslapLogs, StatFreqGivesLatencyAndTheSameCounters) {
  auto plain = parse_memaslap(slurp("memaslap-default.txt"));
  auto stat = parse_memaslap(slurp("memaslap-stat-freq.txt"));
  EXPECT_EQ(op_names(plain), op_names(stat));
  ASSERT_TRUE(stat.throughput_ops && stat.requests && stat.duration_s);
  EXPECT_TRUE(plain.latency_us.empty());  // the default output has no latency
  for (const char* k : {"min", "max", "avg", "stdev"}) {
    EXPECT_TRUE(stat.latency_us.count(k)) << k;
    EXPECT_TRUE(stat.ops.at("GET").latency_us.count(k)) << k;
    EXPECT_TRUE(stat.ops.at("SET").latency_us.count(k)) << k;
  }
  EXPECT_LE(stat.latency_us.at("min"), stat.latency_us.at("avg"));
  EXPECT_LE(stat.latency_us.at("avg"), stat.latency_us.at("max"));
  EXPECT_THROW(parse_memaslap("Get Statistics (10 events)\n   Min:   x\nRun time: 1.0s Ops: 1 TPS: 1 Net_rate: 0.1M/s\n"),
               ParseError);
}

TEST(WrkLogs, DefaultAndLatency) {
  auto d = parse_wrk(slurp("wrk-default.txt"));
  auto l = parse_wrk(slurp("wrk-latency.txt"));
  ASSERT_TRUE(d.throughput_ops && l.throughput_ops && d.requests && l.requests);
  EXPECT_TRUE(d.latency_us.count("avg"));
  EXPECT_FALSE(d.latency_us.count("p99"));
  EXPECT_TRUE(l.latency_us.count("p99"));
  EXPECT_EQ(*d.errors, 0u);
}
