// Aggregation, comparison against the baseline and the Markdown report on hand-written campaigns.
#include <gtest/gtest.h>

#include <sstream>

#include "campaign_fixture.hpp"
#include "iommuvm/report/report.hpp"
#include "iommuvm/results/summary.hpp"
#include "iommuvm/util/error.hpp"
#include "iommuvm/util/fs.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using namespace iommuvm::results;
using iommuvm::test::TempDir;

namespace {

const Combination& find(const Summary& s, const std::string& host_policy) {
  for (const auto& c : s.combinations)
    if (c.host_policy == host_policy) return c;
  throw std::runtime_error("no combination under " + host_policy);
}

Summary policy_summary(const std::filesystem::path& dir) {
  test::write_policy_campaign(dir);
  return summarize(load_campaign(dir));
}

}  // namespace

TEST(RunMetrics, FlattensMetricsAndCollectorsButNotWarmupOrExitStatus) {
  nlohmann::json run = {
      {"metrics",
       {{"throughput_ops", 10},
        {"exit_status", 0},
        {"tool", "wrk"},
        {"latency_us", {{"p99.9", 5}}},
        {"ops", {{"GET", {{"throughput_ops", 4}}}}}}},
      {"warmup", {{"throughput_ops", 1}}},
      {"collectors", {{"qemu-trace", {{"vtd_inv_desc", 1234}, {"per_request", {{"inv", 0.5}}}}}}}};
  auto m = run_metrics(run);
  std::map<std::string, double> want = {{"throughput_ops", 10},
                                        {"latency_us.p99.9", 5},
                                        {"ops.GET.throughput_ops", 4},
                                        {"collectors.qemu-trace.vtd_inv_desc", 1234},
                                        {"collectors.qemu-trace.per_request.inv", 0.5}};
  EXPECT_EQ(m, want);
}

TEST(Summary, AggregatesOkRunsPerCombination) {
  TempDir t;
  Summary s = policy_summary(t.path());
  EXPECT_EQ(s.name, "fake");
  EXPECT_EQ(s.runs.size(), 10u);
  ASSERT_EQ(s.combinations.size(), 3u);
  // Ordered from least to most protection.
  EXPECT_EQ(s.combinations[0].host_policy, "passthrough");
  EXPECT_EQ(s.combinations[1].host_policy, "lazy");
  EXPECT_EQ(s.combinations[2].host_policy, "strict");
  const Combination& pt = find(s, "passthrough");
  EXPECT_EQ(pt.metrics.at("throughput_ops").n, 3u);
  EXPECT_DOUBLE_EQ(pt.metrics.at("throughput_ops").mean, 110);
  EXPECT_DOUBLE_EQ(*pt.metrics.at("throughput_ops").sd, 10);
  EXPECT_DOUBLE_EQ(pt.metrics.at("collectors.qemu-trace.vtd_inv_desc").mean, 1100);
  EXPECT_EQ(pt.metrics.count("exit_status"), 0u);
  EXPECT_EQ(s.policy_axis, "policy.host");
  EXPECT_TRUE(s.comparison_note.empty());
}

TEST(Summary, MismatchedRunMovesToItsEffectivePolicy) {
  TempDir t;
  Summary s = policy_summary(t.path());
  const Combination& strict = find(s, "strict");
  const Combination& lazy = find(s, "lazy");
  EXPECT_EQ(strict.runs, (std::vector<std::string>{"redis-l-r3", "redis-s-r1", "redis-s-r2", "redis-s-r3"}));
  EXPECT_EQ(strict.moved_runs, std::vector<std::string>{"redis-l-r3"});
  EXPECT_EQ(strict.params["policy.host"], "strict");
  EXPECT_EQ(strict.combo, "l+s");
  EXPECT_EQ(strict.metrics.at("throughput_ops").n, 4u);
  EXPECT_DOUBLE_EQ(strict.metrics.at("throughput_ops").mean, 95);
  EXPECT_EQ(lazy.metrics.at("throughput_ops").n, 2u);
  EXPECT_DOUBLE_EQ(lazy.metrics.at("throughput_ops").mean, 106);
  bool flagged = false;
  for (const auto& r : s.runs)
    if (r.id == "redis-l-r3") {
      ASSERT_EQ(r.mismatches.size(), 1u);
      EXPECT_EQ(r.mismatches[0], "host: requested lazy, effective strict");
      flagged = true;
    }
  EXPECT_TRUE(flagged);
}

TEST(Summary, DegradationAgainstBaseline) {
  TempDir t;
  Summary s = policy_summary(t.path());
  const Combination& pt = find(s, "passthrough");
  EXPECT_TRUE(pt.is_baseline);
  EXPECT_TRUE(pt.vs_baseline.empty());
  const Combination& strict = find(s, "strict");
  ASSERT_EQ(strict.baseline_key, pt.key);
  const Comparison& tp = strict.vs_baseline.at("throughput_ops");
  EXPECT_NEAR(tp.ratio.value, 95.0 / 110.0, 1e-12);
  EXPECT_NEAR(tp.degradation_pct, 13.636364, 1e-5);
  EXPECT_NEAR(*tp.ratio.se, 0.0489805, 1e-6);
  ASSERT_TRUE(tp.degradation_low && tp.degradation_high);
  EXPECT_LT(*tp.degradation_low, tp.degradation_pct);
  EXPECT_GT(*tp.degradation_high, tp.degradation_pct);
  // Latency: an increase is the degradation. p99 strict {200,210,220,210} vs {100,110,120}.
  EXPECT_NEAR(strict.vs_baseline.at("latency_us.p99").degradation_pct, (210.0 / 110.0 - 1) * 100, 1e-9);
  EXPECT_NEAR(find(s, "lazy").vs_baseline.at("throughput_ops").degradation_pct, (1 - 106.0 / 110.0) * 100, 1e-9);
}

TEST(Summary, BaselineAndCvFromSpecOrOptions) {
  TempDir t;
  test::write_policy_campaign(t.path());
  Summary s = summarize(load_campaign(t.path()));
  EXPECT_DOUBLE_EQ(s.max_cv, 0.05);
  EXPECT_TRUE(find(s, "passthrough").high_cv);  // 10 / 110 = 9.1 % > 5 %
  EXPECT_FALSE(find(s, "strict").high_cv);
  SummaryOptions o;
  o.baseline = "strict";
  o.max_cv = 0.10;
  Summary s2 = summarize(load_campaign(t.path()), o);
  EXPECT_FALSE(find(s2, "passthrough").high_cv);
  EXPECT_TRUE(find(s2, "strict").is_baseline);
  EXPECT_NEAR(find(s2, "passthrough").vs_baseline.at("throughput_ops").degradation_pct, (1 - 110.0 / 95.0) * 100,
              1e-9);
}

TEST(Summary, TheSpecIsReadBySpecReadSpecWithItsDefaults) {
  // What the spec leaves out is what the spec reader makes of it (matrix.repetitions: 1,
  // max_cv: 10 %, baseline: passthrough), not defaults of the report's own.
  TempDir t;
  test::write_campaign(t.path(), "name: flat\nmatrix: {max_repetitions: 4, max_cv: 0.2}\n"
                                 "collectors: {cpu: {kind: pidstat, process: qemu}}\n");
  Summary s = summarize(load_campaign(t.path()));
  EXPECT_EQ(s.repetitions, 1);
  EXPECT_EQ(s.max_repetitions, 4);
  EXPECT_DOUBLE_EQ(s.max_cv, 0.20);
  EXPECT_EQ(s.baseline, "passthrough");
  ASSERT_EQ(s.collectors.count("cpu"), 1u);
  EXPECT_EQ(s.collectors.at("cpu").kind, "pidstat");
  EXPECT_EQ(s.collectors.at("cpu").process, "qemu");
}

TEST(Summary, APartialSpecStillGivesItsBaselineAndFigures) {
  // An imported campaign's spec has no machines or workloads: the report takes what it has.
  TempDir t;
  test::write_campaign(t.path(), "name: imported\nbaseline: strict\n"
                                 "figures: [{name: tp, kind: bars, x: threads, metric: latency_us.p99, groups: [a, b]}]\n");
  Summary s = summarize(load_campaign(t.path()));
  EXPECT_EQ(s.baseline, "strict");
  ASSERT_EQ(s.figures.size(), 1u);
  EXPECT_EQ(s.figures[0].name, "tp");
  EXPECT_EQ(s.figures[0].kind, "bars");
  EXPECT_EQ(s.figures[0].x, "threads");
  EXPECT_EQ(s.figures[0].metric, "latency_us.p99");
  EXPECT_EQ(s.figures[0].groups, (std::vector<std::string>{"a", "b"}));
}

TEST(Summary, NoPolicyAxisMeansNoComparison) {
  TempDir t;
  test::write_campaign(t.path(), "name: flat\n");
  nlohmann::json p = {{"workload", "redis"}};
  test::write_run(t.path(), {"redis-x-r1", "x", "redis", 1, "ok", "", p, "as-is", "off", 100, 0});
  test::write_run(t.path(), {"redis-x-r2", "x", "redis", 2, "ok", "", p, "as-is", "off", 102, 0});
  Summary s = summarize(load_campaign(t.path()));
  ASSERT_EQ(s.combinations.size(), 1u);
  EXPECT_TRUE(s.combinations[0].moved_runs.empty());  // as-is is not a mismatch
  EXPECT_EQ(s.combinations[0].host_policy, "off");
  EXPECT_TRUE(s.policy_axis.empty());
  EXPECT_NE(s.comparison_note.find("no policy axis"), std::string::npos);
  std::ostringstream md;
  report::write_markdown(s, nullptr, md);
  EXPECT_NE(md.str().find("No comparison against a baseline"), std::string::npos);
  EXPECT_EQ(md.str().find("Degradation vs"), std::string::npos);
}

TEST(Summary, CsvHasOneRowPerCombinationAndMetric) {
  TempDir t;
  Summary s = policy_summary(t.path());
  std::ostringstream csv;
  write_csv(s, csv);
  std::istringstream in(csv.str());
  std::string header, line;
  std::getline(in, header);
  EXPECT_EQ(header,
            "combo,workload,policy.host,host_policy,guest_policy,metric,n,mean,sd,min,max,median,cv,ci95_low,ci95_high");
  std::size_t rows = 0;
  bool found = false;
  while (std::getline(in, line)) {
    ++rows;
    if (line.rfind("l+s,redis,strict,strict,,throughput_ops,4,95,", 0) == 0) found = true;
  }
  EXPECT_TRUE(found) << csv.str();
  // 3 combinations x 4 metrics (throughput_ops, latency_us.p50, latency_us.p99, the collector).
  EXPECT_EQ(rows, 12u);
}

TEST(Report, MarkdownListsFailuresFlagsAndDegradation) {
  TempDir t;
  Summary s = policy_summary(t.path());
  std::ostringstream out;
  report::write_markdown(s, nullptr, out);
  std::string md = out.str();
  EXPECT_NE(md.find("# iommuvm report: fake"), std::string::npos);
  EXPECT_NE(md.find("| Host kernel | 6.1.0-test |"), std::string::npos);
  EXPECT_NE(md.find("| NIC | driver: ixgbe; version: 6.1.0 |"), std::string::npos);
  EXPECT_NE(md.find("## redis"), std::string::npos);
  EXPECT_NE(md.find("| strict | 4 | 95.00 ± 6.496 | 4.3 % | 13.6 % ["), std::string::npos) << md;
  EXPECT_NE(md.find("| passthrough | 3 | 110.0 ± 24.84 | 9.1 % | baseline | high CV |"), std::string::npos) << md;
  EXPECT_NE(md.find("| redis-s-r4 | failed | redis-server did not start |"), std::string::npos);
  EXPECT_NE(md.find("| redis-l-r3 | policy mismatch | host: requested lazy, effective strict"), std::string::npos);
  EXPECT_NE(md.find("| redis: passthrough | high CV | CV of throughput_ops is 9.1 % > 5.0 %"), std::string::npos);
  EXPECT_NE(md.find("Not drawn (run `iommuvm report --figures`)"), std::string::npos);
}

TEST(Report, SameFolderGivesByteIdenticalOutput) {
  TempDir t;
  test::write_policy_campaign(t.path());
  std::ostringstream a, b;
  report::ReportOptions o;
  report::run_report(t.path(), o, a);
  std::string md1 = fs::read_file(t.path() / "report" / "report.md");
  std::string csv1 = fs::read_file(t.path() / "summary.csv");
  std::string json1 = fs::read_file(t.path() / "summary.json");
  report::run_report(t.path(), o, b);
  EXPECT_EQ(a.str(), b.str());
  EXPECT_EQ(md1, fs::read_file(t.path() / "report" / "report.md"));
  EXPECT_EQ(csv1, fs::read_file(t.path() / "summary.csv"));
  EXPECT_EQ(json1, fs::read_file(t.path() / "summary.json"));
  EXPECT_EQ(md1, a.str());
  auto j = nlohmann::json::parse(json1);
  EXPECT_EQ(j["schema"], "iommuvm.summary/1");
  EXPECT_EQ(j["combinations"].size(), 3u);
}

TEST(Report, NotACampaignIsAnInputError) {
  TempDir t;
  std::ostringstream out;
  EXPECT_THROW(report::run_report(t.path(), {}, out), InputError);
  EXPECT_THROW(report::run_report(t.path() / "missing", {}, out), InputError);
}

TEST(Report, ExperimentFolderMeansItsLatestCampaign) {
  TempDir t;
  test::write_campaign(t / "20261101T000000Z", "name: old\n", "old");
  test::write_policy_campaign(t / "20261125T000000Z");
  nlohmann::json c = nlohmann::json::parse(fs::read_file(t / "20261101T000000Z/campaign.json"));
  c["created"] = "2026-11-01T00:00:00.000Z";
  test::write_text(t / "20261101T000000Z/campaign.json", c.dump());
  EXPECT_EQ(resolve_campaign_dir(t.path()), t / "20261125T000000Z");
}

TEST(Report, NumberFormatting) {
  EXPECT_EQ(report::format_number(47824.4), "47824");
  EXPECT_EQ(report::format_number(533.26), "533.3");
  EXPECT_EQ(report::format_number(95), "95.00");
  EXPECT_EQ(report::format_number(5.3333), "5.333");
  EXPECT_EQ(report::format_number(0.05333), "0.0533");
  EXPECT_EQ(report::format_number(-0.0001), "-0.0001");
  EXPECT_EQ(report::format_number(0), "0");
  EXPECT_EQ(report::format_number(-0.0), "0");
}

TEST(Report, SeveralClientsWithoutHistogramGetTheirOwnLabelledLatencyTable) {
  TempDir t;
  test::write_campaign(t.path(), "name: flat\n");
  nlohmann::json p = {{"workload", "redis"}};
  double p99s[] = {800, 1000};
  for (int i = 0; i < 2; ++i) {
    std::string id = "redis-x-r" + std::to_string(i + 1);
    test::write_run(t.path(), {id, "x", "redis", i + 1, "ok", "", p, "as-is", "off", 100.0 + i, 0});
    auto f = t.path() / "runs" / id / "run.json";
    auto j = nlohmann::json::parse(iommuvm::fs::read_file(f));
    j["metrics"]["latency_us_max_of_clients"] = {{"p50", p99s[i] / 4}, {"p99", p99s[i]}};
    test::write_text(f, j.dump(2));
  }
  std::ostringstream md;
  report::write_markdown(summarize(load_campaign(t.path())), nullptr, md);
  std::string r = md.str();
  EXPECT_EQ(r.find("### Latency (µs)"), std::string::npos) << "no combined percentiles: no plain latency table";
  auto at = r.find("### Latency, largest of the clients' percentiles (µs)");
  ASSERT_NE(at, std::string::npos) << r;
  EXPECT_NE(r.find("| p50 | p99 |", at), std::string::npos) << r;
  EXPECT_NE(r.find("an upper bound of the combined percentile", at), std::string::npos);
  EXPECT_NE(r.find("900.0 ±", at), std::string::npos) << "mean of 800 and 1000\n" << r;
}
