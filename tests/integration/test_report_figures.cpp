// Figures drawn by the real gnuplot: files exist, SVG is XML with an <svg> root, PNG has its
// signature, and the .dat data carries the summary's means.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <pugixml.hpp>

#include "campaign_fixture.hpp"
#include "iommuvm/report/report.hpp"
#include "iommuvm/util/fs.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using iommuvm::test::TempDir;

namespace {

const char* kFigureSpec =
    "figures:\n"
    "  - name: tput-vs-pipeline\n"
    "    x: workloads.redis.client.pipeline\n"
    "    series: policy.host\n"
    "    metric: throughput_ops\n"
    "    workload: redis\n"
    "  - name: nothing\n"
    "    x: workloads.redis.client.nope\n"
    "    metric: throughput_ops\n";

// strict / passthrough x pipeline 1 / 16, two repetitions each.
void write_pipeline_campaign(const std::filesystem::path& dir) {
  test::write_campaign(dir, std::string("name: fig\nbaseline: passthrough\n") + kFigureSpec, "fig");
  int run = 0;
  for (const char* pol : {"strict", "passthrough"})
    for (int pipeline : {1, 16})
      for (int rep = 1; rep <= 2; ++rep) {
        nlohmann::json p = {{"workload", "redis"}, {"policy.host", pol}, {"workloads.redis.client.pipeline", pipeline}};
        double base = (std::string(pol) == "strict" ? 80.0 : 100.0) * pipeline;
        test::write_run(dir, {"redis-" + std::to_string(++run), std::string(pol) + std::to_string(pipeline), "redis",
                              rep, "ok", "", p, pol, pol, base + rep, 50.0 * rep + pipeline});
      }
}

bool starts_with_png_signature(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  char sig[8] = {};
  in.read(sig, 8);
  const unsigned char want[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  return in.gcount() == 8 && std::equal(sig, sig + 8, reinterpret_cast<const char*>(want));
}

}  // namespace

TEST(ReportFigures, GnuplotDrawsSvgAndPng) {
  if (!test::have_program("gnuplot")) GTEST_SKIP() << "gnuplot is not installed";
  TempDir t;
  write_pipeline_campaign(t.path());
  report::ReportOptions o;
  o.figures = true;
  std::ostringstream out;
  report::run_report(t.path(), o, out);
  std::filesystem::path figs = t / "report/figures";
  for (const char* name : {"throughput-redis", "degradation-redis", "latency-redis", "spec-tput-vs-pipeline"}) {
    SCOPED_TRACE(name);
    for (const char* ext : {".gp", ".dat", ".svg", ".png"}) {
      auto p = figs / (std::string(name) + ext);
      ASSERT_TRUE(std::filesystem::exists(p)) << p;
      EXPECT_GT(std::filesystem::file_size(p), 0u) << p;
    }
    pugi::xml_document doc;
    auto res = doc.load_file((figs / (std::string(name) + ".svg")).c_str());
    ASSERT_TRUE(res) << res.description();
    EXPECT_STREQ(doc.document_element().name(), "svg");
    EXPECT_TRUE(starts_with_png_signature(figs / (std::string(name) + ".png")));
  }
  EXPECT_FALSE(std::filesystem::exists(figs / "spec-nothing.gp"));
  std::string md = fs::read_file(t / "report/report.md");
  EXPECT_NE(md.find("4 of 4 figures drawn"), std::string::npos) << md;
  EXPECT_NE(md.find("![throughput-redis](figures/throughput-redis.svg)"), std::string::npos);
  EXPECT_NE(md.find("spec-nothing: not drawn"), std::string::npos);

  // The bar chart's data are the summary's means, in the summary's order.
  auto summary = nlohmann::json::parse(fs::read_file(t / "summary.json"));
  std::vector<double> means;
  for (const auto& c : summary["combinations"]) means.push_back(c["metrics"]["throughput_ops"]["mean"].get<double>());
  std::istringstream dat(fs::read_file(figs / "throughput-redis.dat"));
  std::vector<double> dat_means;
  for (std::string line; std::getline(dat, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream row(line);
    std::string idx, label, mean;
    std::getline(row, idx, '\t');
    std::getline(row, label, '\t');
    std::getline(row, mean, '\t');
    dat_means.push_back(std::stod(mean));
  }
  EXPECT_EQ(dat_means, means);
  // passthrough pipeline 1: 101, 102 -> 101.5
  EXPECT_NE(fs::read_file(figs / "spec-tput-vs-pipeline.dat").find("0\t1\t101.5\t"), std::string::npos);
}

TEST(ReportFigures, MissingGnuplotIsReportedAndTablesStillWritten) {
  TempDir t;
  write_pipeline_campaign(t.path());
  report::ReportOptions o;
  o.figures = true;
  o.gnuplot = (t / "no-such-gnuplot").string();
  std::ostringstream out;
  report::run_report(t.path(), o, out);
  std::string md = fs::read_file(t / "report/report.md");
  EXPECT_NE(md.find("was not found: figures were not drawn"), std::string::npos);
  EXPECT_NE(md.find("## redis"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(t / "report/figures/throughput-redis.gp"));
  EXPECT_TRUE(std::filesystem::exists(t / "report/figures/throughput-redis.dat"));
  EXPECT_FALSE(std::filesystem::exists(t / "report/figures/throughput-redis.svg"));
  EXPECT_TRUE(std::filesystem::exists(t / "summary.csv"));
}

// The breakdown's rowstacked bars: drawn as valid SVG and PNG, the data beside the script.
TEST(ReportFigures, BreakdownStackedBars) {
  if (!test::have_program("gnuplot")) GTEST_SKIP() << "gnuplot is not installed";
  TempDir t;
  test::write_breakdown_campaign(t.path());
  report::ReportOptions o;
  o.figures = true;
  std::ostringstream out;
  report::run_report(t.path(), o, out);
  std::filesystem::path figs = t / "report/figures";
  for (const char* ext : {".gp", ".dat", ".svg", ".png"}) {
    auto p = figs / (std::string("breakdown-redis") + ext);
    ASSERT_TRUE(std::filesystem::exists(p)) << p;
    EXPECT_GT(std::filesystem::file_size(p), 0u) << p;
  }
  pugi::xml_document doc;
  auto res = doc.load_file((figs / "breakdown-redis.svg").c_str());
  ASSERT_TRUE(res) << res.description();
  EXPECT_STREQ(doc.document_element().name(), "svg");
  // One legend entry per component.
  std::string svg = fs::read_file(figs / "breakdown-redis.svg");
  for (const char* c : {"iommu_map", "iommu_unmap without flush", "IOTLB flush (qi_submit_sync)", "rest of CPU time (task-clock)"})
    EXPECT_NE(svg.find(c), std::string::npos) << c;
  EXPECT_TRUE(starts_with_png_signature(figs / "breakdown-redis.png"));
  std::string md = fs::read_file(t / "report/report.md");
  EXPECT_NE(md.find("![breakdown-redis](figures/breakdown-redis.svg)"), std::string::npos) << md;
  // A second report over the same folder writes the same report and figure sources.
  std::string gp = fs::read_file(figs / "breakdown-redis.gp"), dat = fs::read_file(figs / "breakdown-redis.dat");
  std::ostringstream again;
  report::run_report(t.path(), o, again);
  EXPECT_EQ(out.str(), again.str());
  EXPECT_EQ(gp, fs::read_file(figs / "breakdown-redis.gp"));
  EXPECT_EQ(dat, fs::read_file(figs / "breakdown-redis.dat"));
}
