// Figures drawn by the real gnuplot: files exist, PDF has its header and trailer, SVG is XML
// with an <svg> root, PNG has its signature, and the .dat data carries the summary's means.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
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

TEST(ReportFigures, GnuplotDrawsPdfSvgAndPng) {
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
    for (const char* ext : {".gp", ".dat", ".pdf", ".svg", ".png"}) {
      auto p = figs / (std::string(name) + ext);
      ASSERT_TRUE(std::filesystem::exists(p)) << p;
      EXPECT_GT(std::filesystem::file_size(p), 0u) << p;
    }
    pugi::xml_document doc;
    auto res = doc.load_file((figs / (std::string(name) + ".svg")).c_str());
    ASSERT_TRUE(res) << res.description();
    EXPECT_STREQ(doc.document_element().name(), "svg");
    EXPECT_TRUE(starts_with_png_signature(figs / (std::string(name) + ".png")));
    EXPECT_TRUE(test::is_pdf(figs / (std::string(name) + ".pdf")));
  }
  EXPECT_FALSE(std::filesystem::exists(figs / "spec-nothing.gp"));
  // Losses are bars read from 0: the drawn y axis has a 0 tick whatever the losses are.
  {
    pugi::xml_document doc;
    ASSERT_TRUE(doc.load_file((figs / "degradation-redis.svg").c_str()));
    bool zero = false;
    for (auto t : doc.select_nodes("//*[local-name()='text']")) {
      std::string label = t.node().child_value();  // gnuplot pads tick labels: " 0"
      label.erase(0, label.find_first_not_of(' '));
      zero |= label == "0";
    }
    EXPECT_TRUE(zero) << "no 0 on the y axis of degradation-redis";
  }
  std::string md = fs::read_file(t / "report/report.md");
  EXPECT_NE(md.find("4 of 4 figures drawn"), std::string::npos) << md;
  EXPECT_NE(md.find("![throughput-redis](figures/throughput-redis.png)"), std::string::npos);
  EXPECT_NE(md.find("spec-nothing: not drawn"), std::string::npos);

  // The figure's data are the summary's means (one block per policy: in another order).
  auto summary = nlohmann::json::parse(fs::read_file(t / "summary.json"));
  std::vector<double> means;
  for (const auto& c : summary["combinations"]) means.push_back(c["metrics"]["throughput_ops"]["mean"].get<double>());
  std::istringstream dat(fs::read_file(figs / "throughput-redis.dat"));
  std::vector<double> dat_means;
  for (std::string line; std::getline(dat, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream row(line);
    std::string x, mean;
    std::getline(row, x, '\t');
    std::getline(row, mean, '\t');
    dat_means.push_back(std::stod(mean));
  }
  std::sort(means.begin(), means.end());
  std::sort(dat_means.begin(), dat_means.end());
  EXPECT_EQ(dat_means, means);
  // Pipeline is numeric: a line plot over it, passthrough pipeline 1: 101, 102 -> 101.5
  EXPECT_NE(fs::read_file(figs / "spec-tput-vs-pipeline.dat").find("\n1\t101.5\t"), std::string::npos);
  EXPECT_NE(fs::read_file(figs / "throughput-redis.gp").find("with yerrorlines"), std::string::npos);
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
  for (const char* ext : {".gp", ".dat", ".pdf", ".svg", ".png"}) {
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
  EXPECT_NE(md.find("![breakdown-redis](figures/breakdown-redis.png)"), std::string::npos) << md;
  // A second report over the same folder writes the same report and figure sources.
  std::string gp = fs::read_file(figs / "breakdown-redis.gp"), dat = fs::read_file(figs / "breakdown-redis.dat");
  std::ostringstream again;
  report::run_report(t.path(), o, again);
  EXPECT_EQ(out.str(), again.str());
  EXPECT_EQ(gp, fs::read_file(figs / "breakdown-redis.gp"));
  EXPECT_EQ(dat, fs::read_file(figs / "breakdown-redis.dat"));
}

namespace {

// Every `KEY "TEXT"` in TEXT (set xlabel "...", title "...").
std::vector<std::string> quoted_after(const std::string& text, const std::string& key) {
  std::vector<std::string> out;
  for (auto at = text.find(key); at != std::string::npos; at = text.find(key, at + 1)) {
    auto b = text.find('"', at + key.size());
    auto e = b == std::string::npos ? b : text.find('"', b + 1);
    if (e != std::string::npos) out.push_back(text.substr(b + 1, e - b - 1));
  }
  return out;
}

}  // namespace

// The real-guest campaign: every figure of the report is a valid PDF, SVG and PNG, no axis
// label is a metric path, and each policy has one colour across all figures (legends and the
// data drawn).
TEST(ReportFigures, TcgCampaignFiguresArePaperReady) {
  if (!test::have_program("gnuplot")) GTEST_SKIP() << "gnuplot is not installed";
  TempDir t;
  std::filesystem::copy(test::data_path("results/tcg-viommu-sample"), t / "c", std::filesystem::copy_options::recursive);
  report::ReportOptions o;
  o.figures = true;
  std::ostringstream out;
  report::run_report(t / "c", o, out);
  std::filesystem::path figs = t / "c/report/figures";
  std::string md = fs::read_file(t / "c/report/report.md");
  std::vector<std::string> names;
  for (auto at = md.find("](figures/"); at != std::string::npos; at = md.find("](figures/", at + 1)) {
    auto e = md.find(".png)", at);
    if (e != std::string::npos && e < md.find('\n', at) && md[md.rfind('\n', at) + 1] == '!')
      names.push_back(md.substr(at + 10, e - at - 10));
  }
  for (const char* want : {"throughput-redis", "degradation-redis", "latency-redis", "viommu-viommu-inv-redis", "breakdown-redis"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want << "\n" << md;
  auto summary = nlohmann::json::parse(fs::read_file(t / "c/summary.json"));
  std::set<std::string> metric_paths;
  for (const auto& c : summary["combinations"])
    for (const auto& [m, v] : c["metrics"].items())
      if (m.find_first_of("._") != std::string::npos) metric_paths.insert(m);
  ASSERT_TRUE(metric_paths.count("throughput_ops"));
  std::map<std::string, std::set<std::string>> colours;  // series title -> colours seen
  for (const auto& n : names) {
    SCOPED_TRACE(n);
    EXPECT_TRUE(test::is_pdf(figs / (n + ".pdf")));
    EXPECT_TRUE(test::is_svg(figs / (n + ".svg")));
    EXPECT_TRUE(test::is_png(figs / (n + ".png")));
    std::string gp = fs::read_file(figs / (n + ".gp")), dat = fs::read_file(figs / (n + ".dat"));
    auto labels = quoted_after(gp, "set xlabel ");
    auto y = quoted_after(gp, "set ylabel ");
    labels.insert(labels.end(), y.begin(), y.end());
    EXPECT_FALSE(y.empty());
    for (const auto& l : labels)
      for (const auto& m : metric_paths) EXPECT_EQ(l.find(m), std::string::npos) << "label '" << l << "' has " << m;
    // Legend entries: NaN with ... lc rgb "#C" title "T".
    std::istringstream lines(gp);
    for (std::string line; std::getline(lines, line);) {
      auto lc = line.find("lc rgb \"#");
      if (lc == std::string::npos) continue;
      std::string colour = line.substr(lc + 8, 7);
      if (line.find("NaN with") != std::string::npos) {
        auto titles = quoted_after(line, " title ");
        if (!titles.empty()) colours[titles[0]].insert(colour);
      }
      // Data drawn: index K -> the block's series title (the text after the last ", " of "# block K: ...").
      auto idx = line.find(" index ");
      if (idx == std::string::npos ||
          (line.find("with boxes") == std::string::npos && line.find("with yerrorlines") == std::string::npos))
        continue;
      std::string k = line.substr(idx + 7, line.find(' ', idx + 7) - idx - 7);
      auto b = dat.find("# block " + k + ": ");
      ASSERT_NE(b, std::string::npos) << k;
      std::string head = dat.substr(b, dat.find('\n', b) - b);
      auto comma = head.rfind(", "), colon = head.find(": ");
      std::string title = head.substr((comma == std::string::npos ? colon : comma) + 2);
      colours[title].insert(colour);
    }
  }
  std::set<std::string> policy_colours;
  for (const char* p : {"strict", "lazy", "passthrough", "off"}) {
    ASSERT_TRUE(colours.count(p)) << p;
    EXPECT_EQ(colours[p].size(), 1u) << p;
    policy_colours.insert(*colours[p].begin());
  }
  EXPECT_EQ(policy_colours.size(), 4u);  // and four different ones
}
