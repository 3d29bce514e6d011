// The built iommuvm binary: `iommuvm parse` on a sample and on garbage.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "test_support.hpp"

using namespace iommuvm;

TEST(ParseCli, PrintsNormalizedJson) {
  auto r = test::run_process({test::binary_path().string(), "parse", "--tool", "wrk2",
                              test::data_path("samples/wrk2-output-errors.txt").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["tool"], "wrk2");
  EXPECT_EQ(j["throughput_ops"], 10.0);
  EXPECT_EQ(j["errors"], 14);
  EXPECT_EQ(j["latency_us"]["p99"], 223230.0);
}

TEST(ParseCli, PrimaryOption) {
  auto r = test::run_process({test::binary_path().string(), "parse", "--tool", "redis-benchmark",
                              test::data_path("workload/redis-benchmark-csv.txt").string(), "--primary", "set"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["primary"], "SET");
  EXPECT_EQ(j["throughput_ops"], 39138.95);
}

TEST(ParseCli, GarbageIsExit2) {
  test::TempDir tmp;
  auto f = tmp / "garbage.txt";
  std::ofstream(f) << "this is not wrk output\n";
  for (const char* tool : {"redis-benchmark", "memtier", "memaslap", "wrk", "wrk2", "iperf3", "ab"}) {
    auto r = test::run_process({test::binary_path().string(), "parse", "--tool", tool, f.string()});
    EXPECT_EQ(r.exit_code, 2) << tool << ": " << r.out << r.err;
    EXPECT_EQ(r.err.rfind("iommuvm: error:", 0), 0u) << tool << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << tool;
  }
  auto r = test::run_process({test::binary_path().string(), "parse", "--tool", "siege", f.string()});
  EXPECT_EQ(r.exit_code, 2);
  r = test::run_process({test::binary_path().string(), "parse", "--tool", "wrk", (tmp / "missing").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("iommuvm: error:", 0), 0u) << r.err;
}
