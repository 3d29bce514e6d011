// The built iommuvm binary: `iommuvm import` turns a folder of real captured logs (redis-benchmark
// default, -q and --csv output; memaslap; wrk) into a results folder, and `iommuvm report` works on it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "iommuvm/util/fs.hpp"
#include "campaign_fixture.hpp"
#include "test_support.hpp"

using namespace iommuvm;
namespace stdfs = std::filesystem;

namespace {

void copy_log(const std::string& captured, const stdfs::path& to) {
  stdfs::copy_file(test::data_path("workload/logs/" + captured), to);
}

std::vector<nlohmann::json> runs_in(const stdfs::path& campaign) {
  std::vector<nlohmann::json> out;
  for (const auto& e : stdfs::directory_iterator(campaign / "runs"))
    out.push_back(nlohmann::json::parse(fs::read_file(e.path() / "run.json")));
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a["id"] < b["id"]; });
  return out;
}

stdfs::path only_child(const stdfs::path& dir) {
  std::vector<stdfs::path> out;
  for (const auto& e : stdfs::directory_iterator(dir)) out.push_back(e.path());
  EXPECT_EQ(out.size(), 1u) << dir;
  return out.empty() ? dir : out[0];
}

}  // namespace

TEST(ImportCli, FolderOfLogsBecomesAReportableCampaign) {
  test::TempDir t;
  stdfs::create_directories(t / "logs");
  // Users' names: policy and repetition in the file name. The formats mix (default, -q, --csv).
  copy_log("redis-benchmark-setget-default.txt", t / "logs/redis-strict-1.log");
  copy_log("redis-benchmark-setget-q.txt", t / "logs/redis-strict-2.log");
  copy_log("redis-benchmark-setget-csv.txt", t / "logs/redis-passthrough-1.log");
  copy_log("redis-benchmark-tty-default.txt", t / "logs/redis-passthrough-2.log");
  auto r = test::run_process({test::binary_path().string(), "import", (t / "logs").string(), "--tool",
                              "redis-benchmark", "--pattern", "redis-{policy.host}-{rep}.log", "--param",
                              "workloads.redis.client.connections=20", "--primary", "get", "--name", "old", "-o",
                              (t / "out").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("imported 4 run(s)"), std::string::npos) << r.out;
  stdfs::path campaign = only_child(t / "out/old");
  auto runs = runs_in(campaign);
  ASSERT_EQ(runs.size(), 4u);
  std::map<std::string, int> per_policy;
  for (const auto& run : runs) {
    EXPECT_EQ(run["status"], "ok");
    EXPECT_EQ(run["workload"], "redis");
    EXPECT_EQ(run["params"]["workloads.redis.client.connections"], 20);
    EXPECT_EQ(run["metrics"]["primary"], "GET");
    EXPECT_TRUE(run["metrics"]["throughput_ops"].is_number());
    EXPECT_EQ(run["policy"]["host"]["effective"], run["params"]["policy.host.policy"]);
    ++per_policy[run["params"]["policy.host.policy"].get<std::string>()];
    ASSERT_EQ(run["raw"].size(), 1u);
    EXPECT_TRUE(stdfs::exists(campaign / "runs" / run["id"].get<std::string>() / run["raw"][0].get<std::string>()));
  }
  EXPECT_EQ(per_policy, (std::map<std::string, int>{{"passthrough", 2}, {"strict", 2}}));
  // What import writes is a results folder by the schemas (docs/*.schema.json), as a campaign's.
  if (auto why = test::jsonschema_unavailable(); !why.empty()) ADD_FAILURE() << why;
  else EXPECT_EQ(test::schema_problems(campaign), "");
  // The GET throughput of the -q log is the one its text says.
  std::string q = fs::read_file(test::data_path("workload/logs/redis-benchmark-setget-q.txt"));
  double get_q = std::stod(q.substr(q.rfind("GET: ") + 5));
  bool found = false;
  for (const auto& run : runs) found = found || run["metrics"]["throughput_ops"].get<double>() == get_q;
  EXPECT_TRUE(found) << get_q;

  // The report reads it like a campaign: a comparison against passthrough, figures.
  auto rep = test::run_process({test::binary_path().string(), "report", campaign.string(), "--figures"});
  ASSERT_EQ(rep.exit_code, 0) << rep.err;
  EXPECT_NE(rep.out.find("## redis"), std::string::npos) << rep.out;
  EXPECT_NE(rep.out.find("vs passthrough"), std::string::npos) << rep.out;
  if (test::have_program("gnuplot")) {
    EXPECT_TRUE(test::is_png(campaign / "report/figures/throughput-redis.png"));
    EXPECT_TRUE(test::is_pdf(campaign / "report/figures/degradation-redis.pdf"));
  }
}

TEST(ImportCli, ParamsFromOptionsAndOtherTools) {
  test::TempDir t;
  copy_log("memaslap-stat-freq.txt", t / "a.txt");
  copy_log("wrk-latency.txt", t / "w.txt");
  auto m = test::run_process({test::binary_path().string(), "import", (t / "a.txt").string(), "--tool", "memaslap",
                              "--param", "policy.host=lazy", "-o", (t / "out").string()});
  ASSERT_EQ(m.exit_code, 0) << m.err;
  auto runs = runs_in(only_child(t / "out/imported"));
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["workload"], "memcached");
  EXPECT_EQ(runs[0]["repetition"], 1);
  EXPECT_TRUE(runs[0]["metrics"]["latency_us"]["avg"].is_number());
  auto w = test::run_process({test::binary_path().string(), "import", (t / "w.txt").string(), "--tool", "wrk",
                              "--name", "web", "-o", (t / "out").string()});
  ASSERT_EQ(w.exit_code, 0) << w.err;
  auto wr = runs_in(only_child(t / "out/web"));
  EXPECT_EQ(wr[0]["workload"], "nginx");
  EXPECT_TRUE(wr[0]["metrics"]["latency_us"]["p99"].is_number());
}

TEST(ImportCli, BadLogsAndNamesAreExit2AndWriteNothing) {
  test::TempDir t;
  stdfs::create_directories(t / "logs");
  copy_log("redis-benchmark-setget-default.txt", t / "logs/redis-strict-1.log");
  std::ofstream(t / "logs/redis-lazy-1.log") << "Segmentation fault\n";
  auto bad = test::run_process({test::binary_path().string(), "import", (t / "logs").string(), "--tool",
                                "redis-benchmark", "--pattern", "redis-{policy.host}-{rep}.log", "-o",
                                (t / "out").string()});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("redis-lazy-1.log: redis-benchmark output, line 1"), std::string::npos) << bad.err;
  EXPECT_FALSE(stdfs::exists(t / "out"));
  stdfs::remove(t / "logs/redis-lazy-1.log");
  copy_log("redis-benchmark-setget-q.txt", t / "logs/other-name.log");
  auto nomatch = test::run_process({test::binary_path().string(), "import", (t / "logs").string(), "--tool",
                                    "redis-benchmark", "--pattern", "redis-{policy.host}-{rep}.log", "-o",
                                    (t / "out").string()});
  EXPECT_EQ(nomatch.exit_code, 2);
  EXPECT_NE(nomatch.err.find("other-name.log: the file name does not match --pattern"), std::string::npos) << nomatch.err;
  auto notpolicy = test::run_process({test::binary_path().string(), "import", (t / "logs/redis-strict-1.log").string(),
                                      "--tool", "redis-benchmark", "--param", "policy.host=fast", "-o",
                                      (t / "out").string()});
  EXPECT_EQ(notpolicy.exit_code, 2);
  EXPECT_NE(notpolicy.err.find("is not a policy"), std::string::npos) << notpolicy.err;
  EXPECT_FALSE(stdfs::exists(t / "out"));
}
