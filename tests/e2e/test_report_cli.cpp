// `iommuvm report` on the real loopback sample (copied: the report writes into the campaign folder).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "iommuvm/util/fs.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using iommuvm::test::TempDir;

namespace {

std::filesystem::path copy_sample(const TempDir& t) {
  auto dst = t / "loopback" / "20261125T123147Z";
  std::filesystem::create_directories(dst.parent_path());
  std::filesystem::copy(test::data_path("results/loopback-sample"), dst, std::filesystem::copy_options::recursive);
  return dst;
}

}  // namespace

TEST(ReportCli, MarkdownOnTheLoopbackSample) {
  TempDir t;
  auto dir = copy_sample(t);
  auto r = test::run_process({test::binary_path().string(), "report", dir.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("# iommuvm report: loopback"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("`918848fc46db7a142e880a5d89bdbce3bd4761412e20522da45aad1edffb1b7e`"), std::string::npos);
  EXPECT_NE(r.out.find("| CPU model | AMD EPYC |"), std::string::npos);
  EXPECT_NE(r.out.find("6 (6 ok, 0 failed, 0 skipped)"), std::string::npos);
  EXPECT_NE(r.out.find("No comparison against a baseline"), std::string::npos);
  for (const char* w : {"## redis", "## memcached", "## nginx", "### Latency (µs)"})
    EXPECT_NE(r.out.find(w), std::string::npos) << w;
  // redis throughput_ops: 47824 and 47415.84 -> mean 47620 (rounded)
  EXPECT_NE(r.out.find("| off | 2 | 47620 ± "), std::string::npos) << r.out;
  EXPECT_EQ(fs::read_file(dir / "report/report.md"), r.out);
  std::string csv = fs::read_file(dir / "summary.csv");
  EXPECT_EQ(csv.rfind("combo,workload,host_policy,guest_policy,metric,n,mean,sd,min,max,median,cv,ci95_low,ci95_high\n", 0),
            0u);
  EXPECT_NE(csv.find("9ff4a9f9,redis,off,,throughput_ops,2,47619.92,"), std::string::npos) << csv;
  EXPECT_TRUE(std::filesystem::exists(dir / "summary.json"));
}

TEST(ReportCli, ExperimentFolderAndFormats) {
  TempDir t;
  auto dir = copy_sample(t);
  auto j = test::run_process({test::binary_path().string(), "report", dir.parent_path().string(), "--format", "json"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto doc = nlohmann::json::parse(j.out);
  EXPECT_EQ(doc["campaign"]["name"], "loopback");
  EXPECT_EQ(doc["combinations"].size(), 3u);
  EXPECT_TRUE(doc["policy_axis"].is_null());
  auto c = test::run_process({test::binary_path().string(), "report", dir.string(), "--format", "csv"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(c.out, fs::read_file(dir / "summary.csv"));
  auto again = test::run_process({test::binary_path().string(), "report", dir.string(), "--format", "csv"});
  EXPECT_EQ(again.out, c.out);
}

TEST(ReportCli, OutputFolderAndMissingGnuplot) {
  TempDir t;
  auto dir = copy_sample(t);
  auto out = t / "paper";
  auto r = test::run_process({test::binary_path().string(), "report", dir.string(), "--figures", "--output",
                              out.string(), "--gnuplot", (t / "no-gnuplot").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("was not found: figures were not drawn"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(out / "report.md"));
  EXPECT_TRUE(std::filesystem::exists(out / "figures/throughput-redis.gp"));
}

TEST(ReportCli, FiguresWithGnuplot) {
  if (!test::have_program("gnuplot")) GTEST_SKIP() << "gnuplot is not installed";
  TempDir t;
  auto dir = copy_sample(t);
  auto r = test::run_process({test::binary_path().string(), "report", dir.string(), "--figures"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* f : {"throughput-nginx.svg", "throughput-nginx.png", "latency-redis.svg", "latency-nginx.png"})
    EXPECT_TRUE(std::filesystem::exists(dir / "report/figures" / f)) << f;
  EXPECT_FALSE(std::filesystem::exists(dir / "report/figures/degradation-redis.gp"));
}

TEST(ReportCli, NotACampaignExitsTwo) {
  TempDir t;
  auto r = test::run_process({test::binary_path().string(), "report", t.path().string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("campaign folder"), std::string::npos) << r.err;
}
