// Variance control (matrix.max_repetitions / max_cv) and the collector-overhead axis:
// the decision whether to repeat, matrix expansion, plan layout, and the report's
// with/without-collectors comparison on a hand-written campaign (pure logic).
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "campaign_fixture.hpp"
#include "iommuvm/plan/plan.hpp"
#include "iommuvm/report/report.hpp"
#include "iommuvm/results/summary.hpp"
#include "iommuvm/results/variance.hpp"
#include "iommuvm/spec/load.hpp"
#include "iommuvm/spec/matrix.hpp"
#include "iommuvm/util/fs.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using nlohmann::json;

namespace {

results::Repetition ok(int rep, double v) { return {rep, "ok", {"throughput_ops", v}}; }
results::Repetition failed(int rep) { return {rep, "failed", {}}; }

struct Expanded {
  spec::Loaded loaded;
  std::vector<spec::RunPoint> points;
  Diagnostics diag;
};

Expanded expand(const std::string& text) {
  Expanded e;
  e.loaded = spec::load_text(text, "t.yaml");
  e.diag = e.loaded.diag;
  if (!e.diag.has_errors()) e.points = spec::expand(e.loaded, e.diag);
  return e;
}

std::string messages(const Diagnostics& d) {
  std::string s;
  for (const auto& x : d.sorted()) s += x.format() + "\n";
  return s;
}

const std::string kHead = "name: v\nmachines:\n  local: {local: true}\n";

}  // namespace

TEST(VarianceDecision, RepeatsWhileCvAboveThresholdOnly) {
  results::VariancePolicy p{3, 6, 0.05};
  // 90, 100, 110: mean 100, sd 10, CV 10 % > 5 %.
  auto d = results::decide_more({ok(1, 90), ok(2, 100), ok(3, 110)}, 4, p);
  EXPECT_TRUE(d.more) << d.reason;
  ASSERT_TRUE(d.cv);
  EXPECT_NEAR(*d.cv, 0.1, 1e-12);
  EXPECT_EQ(d.ok, 3);
  EXPECT_EQ(d.metric, "throughput_ops");
  EXPECT_NE(d.reason.find("10.00 % > max_cv 5.00 %"), std::string::npos) << d.reason;
  // 99, 100, 101: CV 1 %: enough.
  auto low = results::decide_more({ok(1, 99), ok(2, 100), ok(3, 101)}, 4, p);
  EXPECT_FALSE(low.more) << low.reason;
  EXPECT_NE(low.reason.find("<="), std::string::npos) << low.reason;
}

TEST(VarianceDecision, PercentThresholdAboveOne) {
  // max_cv: 20 means 20 %: CV 10 % is fine.
  EXPECT_DOUBLE_EQ(results::cv_fraction(20), 0.2);
  EXPECT_DOUBLE_EQ(results::cv_fraction(0.2), 0.2);
  EXPECT_FALSE(results::decide_more({ok(1, 90), ok(2, 100), ok(3, 110)}, 4, {3, 6, 20}).more);
  EXPECT_TRUE(results::decide_more({ok(1, 90), ok(2, 100), ok(3, 110)}, 4, {3, 6, 5}).more);
}

TEST(VarianceDecision, OnlyEarlierRepetitionsAndOnlyUpToMax) {
  results::VariancePolicy p{2, 4, 0.01};
  std::vector<results::Repetition> done = {ok(1, 50), ok(2, 100), ok(3, 100), ok(4, 100)};
  // Repetition 3 sees r1, r2 only (CV 47 %), even when later ones are on disk.
  auto d3 = results::decide_more(done, 3, p);
  EXPECT_TRUE(d3.more);
  EXPECT_EQ(d3.runs, 2);
  // Past max_repetitions or within the planned ones: never "extra".
  EXPECT_FALSE(results::decide_more(done, 5, p).more);
  EXPECT_FALSE(results::decide_more(done, 2, p).more);
  EXPECT_FALSE(results::decide_more(done, 3, {2, 0, 0.01}).more) << "no max_repetitions: no variance control";
}

TEST(VarianceDecision, FailedRunsUseSlotsButNotTheCv) {
  results::VariancePolicy p{3, 5, 0.05};
  // Two ok values with a high CV and one failure: repeat; the failure counts as a run.
  auto d = results::decide_more({ok(1, 50), failed(2), ok(3, 100)}, 4, p);
  EXPECT_TRUE(d.more) << d.reason;
  EXPECT_EQ(d.runs, 3);
  EXPECT_EQ(d.ok, 2);
  // Fewer than two ok runs: the CV is unknown and the combination is not repeated (a
  // configuration that fails keeps failing; its failures are in the report).
  auto unknown = results::decide_more({failed(1), failed(2), ok(3, 100)}, 4, p);
  EXPECT_FALSE(unknown.more);
  EXPECT_FALSE(unknown.cv);
  EXPECT_NE(unknown.reason.find("CV unknown"), std::string::npos) << unknown.reason;
}

TEST(VarianceDecision, ReadsRunJson) {
  json run = {{"repetition", 2}, {"status", "ok"}, {"metrics", {{"throughput_gbps", 9.5}}}};
  auto r = results::repetition_of(run);
  EXPECT_EQ(r.repetition, 2);
  EXPECT_EQ(r.primary.metric, "throughput_gbps");
  EXPECT_DOUBLE_EQ(r.primary.value, 9.5);
  run["status"] = "failed";
  EXPECT_TRUE(results::repetition_of(run).primary.metric.empty()) << "a failed run's numbers are not used";
}

TEST(VarianceMatrix, ExtraRepetitionsAreExpandedAndMarked) {
  auto e = expand(kHead + "policy: {host: [strict, passthrough]}\nworkloads:\n  redis: {}\n"
                          "matrix: {repetitions: 2, max_repetitions: 4, max_cv: 0.05}\n");
  ASSERT_FALSE(e.diag.has_errors()) << messages(e.diag);
  ASSERT_EQ(e.points.size(), 8u);
  for (const auto& p : e.points) EXPECT_EQ(p.extra, p.repetition > 2) << p.id;
}

TEST(VariancePlan, ExtraRepetitionsFollowTheirCombinationAndAreAnnounced) {
  for (const char* order : {"grouped", "interleaved"}) {
    auto e = expand(kHead + "policy: {host: {policy: [strict, passthrough], method: grub}}\nworkloads:\n  redis: {}\n"
                            "matrix: {repetitions: 2, max_repetitions: 3, max_cv: 0.05, order: " + order + "}\n");
    ASSERT_FALSE(e.diag.has_errors()) << messages(e.diag);
    auto plan = plan::build(e.loaded.spec, e.points);
    EXPECT_EQ(plan.totals.runs, 4) << order;
    EXPECT_EQ(plan.totals.extra_runs, 2) << order;
    // Every extra repetition directly follows the last planned one of its combination,
    // with no switch step in between: no extra reboot.
    for (std::size_t i = 0; i < plan.steps.size(); ++i) {
      const auto& s = plan.steps[i];
      if (s.kind != plan::kind::run_begin || !s.args.value("extra", false)) continue;
      EXPECT_NE(s.summary.find("only if the CV of r1..r2 is above 5 %"), std::string::npos) << s.summary;
      const auto& point = plan.runs.at(static_cast<std::size_t>(s.run_index));
      std::size_t j = i;
      while (j > 0 && plan.steps[j - 1].kind != plan::kind::run_begin) {
        --j;
        EXPECT_FALSE(plan.steps[j].run.empty() && plan.steps[j].kind != plan::kind::cooldown)
            << order << ": " << plan.steps[j].summary << " before " << s.summary;
      }
      ASSERT_GT(j, 0u);
      const auto& prev = plan.runs.at(static_cast<std::size_t>(plan.steps[j - 1].run_index));
      EXPECT_EQ(prev.combo, point.combo) << order;
      EXPECT_EQ(prev.repetition, 2) << order;
    }
    std::ostringstream out;
    plan::print(plan, out);
    EXPECT_NE(out.str().find("Variance control: up to 2 more repetitions"), std::string::npos) << out.str();
    EXPECT_EQ(plan.to_json()["totals"]["extra"]["runs"], 2);
  }
}

TEST(CollectorAxis, OffRunsHaveNoCollectors) {
  for (const char* m : {"matrix: {collector_overhead: true}\n", "matrix: {axes: {collectors: [on, off]}}\n",
                        "matrix: {axes: {collectors: [\"on\", \"off\"]}}\n"}) {
    auto e = expand(kHead + "workloads:\n  redis: {}\ncollectors:\n  irq: {kind: interrupts}\n" + m);
    ASSERT_FALSE(e.diag.has_errors()) << m << messages(e.diag);
    ASSERT_EQ(e.points.size(), 2u) << m;
    for (const auto& p : e.points) {
      std::string v = p.params.at("collectors");
      EXPECT_EQ(p.config.collectors.size(), v == "on" ? 1u : 0u) << m << p.id;
    }
    EXPECT_NE(e.points[0].combo, e.points[1].combo);
  }
}

TEST(CollectorAxis, BadValuesAndNoCollectorsAreErrorsWithPositions) {
  auto bad = expand(kHead + "workloads:\n  redis: {}\ncollectors:\n  irq: {kind: interrupts}\n"
                            "matrix:\n  axes:\n    collectors: [on, maybe]\n");
  ASSERT_TRUE(bad.diag.has_errors());
  EXPECT_NE(messages(bad.diag).find("t.yaml:10:22: error: values of matrix axis 'collectors' are on or off"),
            std::string::npos)
      << messages(bad.diag);
  auto none = expand(kHead + "workloads:\n  redis: {}\nmatrix: {collector_overhead: true}\n");
  ASSERT_TRUE(none.diag.has_errors());
  EXPECT_NE(messages(none.diag).find("needs at least one collector"), std::string::npos) << messages(none.diag);
}

// With/without collectors, known values:
//   on  throughput 90, 95, 100 (mean 95),  p99 110, 120, 130 (mean 120)
//   off throughput 100, 100, 100 + noise (mean 100), p99 100 each +-  -> overhead 5 %, p99 +20 %
TEST(CollectorOverheadReport, ComparesOnWithOffAndWritesTheSection) {
  test::TempDir dir;
  test::write_campaign(dir.path(), "name: fake\nmatrix:\n  repetitions: 3\n  collector_overhead: true\n");
  auto p = [](const char* c) { return json{{"workload", "redis"}, {"collectors", c}}; };
  double on_tp[] = {90, 95, 100}, on_p99[] = {110, 120, 130};
  double off_tp[] = {99, 100, 101}, off_p99[] = {99, 100, 101};
  for (int i = 0; i < 3; ++i) {
    std::string r = std::to_string(i + 1);
    test::write_run(dir.path(), {"redis-on-r" + r, "on", "redis", i + 1, "ok", "", p("on"), "", "", on_tp[i], on_p99[i]});
    test::write_run(dir.path(), {"redis-off-r" + r, "off", "redis", i + 1, "ok", "", p("off"), "", "", off_tp[i], off_p99[i]});
  }
  auto s = results::summarize(results::load_campaign(dir.path()));
  EXPECT_TRUE(s.collector_axis);
  EXPECT_TRUE(s.overhead_note.empty()) << s.overhead_note;
  const results::Combination* on = nullptr;
  for (const auto& c : s.combinations)
    if (c.params["collectors"] == "on") on = &c;
  ASSERT_NE(on, nullptr);
  ASSERT_FALSE(on->collectors_off_key.empty());
  const auto& tp = on->vs_collectors_off.at("throughput_ops");
  EXPECT_NEAR(tp.ratio.value, 0.95, 1e-12);
  EXPECT_NEAR(tp.degradation_pct, 5.0, 1e-9);
  // se(r) = r * sqrt(s1^2/(n1 m1^2) + s0^2/(n0 m0^2)) = 0.95 * sqrt(25/(3*9025) + 1/(3*10000))
  EXPECT_NEAR(*tp.ratio.se, 0.95 * std::sqrt(25.0 / (3 * 9025) + 1.0 / 30000), 1e-12);
  ASSERT_TRUE(tp.degradation_low && tp.degradation_high);
  EXPECT_LT(*tp.degradation_low, 5.0);
  EXPECT_GT(*tp.degradation_high, 5.0);
  EXPECT_NEAR(on->vs_collectors_off.at("latency_us.p99").degradation_pct, 20.0, 1e-9);
  // The off combination is not compared with itself.
  for (const auto& c : s.combinations)
    if (c.params["collectors"] == "off") {
      EXPECT_TRUE(c.vs_collectors_off.empty());
    }

  std::ostringstream md;
  report::write_markdown(s, nullptr, md);
  auto text = md.str();
  auto at = text.find("## Collector overhead");
  ASSERT_NE(at, std::string::npos) << text;
  EXPECT_NE(text.find("| as measured | 3/3 | 95.00 ± 12.42 | 100.0 ± 2.484 | 5.0 % [", at), std::string::npos) << text.substr(at);
  EXPECT_NE(text.find("| 120.0 ± 24.84 | 100.0 ± 2.484 | 20.0 % [", at), std::string::npos) << text.substr(at);
  auto j = results::to_json(s);
  bool found = false;
  for (const auto& c : j["combinations"])
    if (c.contains("vs_collectors_off")) {
      found = true;
      EXPECT_NEAR(c["vs_collectors_off"]["throughput_ops"]["degradation_pct"].get<double>(), 5.0, 1e-9);
    }
  EXPECT_TRUE(found);
}

TEST(CollectorOverheadReport, SaysWhyWhenThereIsNoPair) {
  test::TempDir dir;
  test::write_campaign(dir.path(), "name: fake\nmatrix:\n  collector_overhead: true\n");
  test::write_run(dir.path(), {"redis-on-r1", "on", "redis", 1, "ok", "", json{{"workload", "redis"}, {"collectors", "on"}},
                               "", "", 100, 0});
  test::write_run(dir.path(), {"redis-off-r1", "off", "redis", 1, "failed", "boom",
                               json{{"workload", "redis"}, {"collectors", "off"}}, "", "", 0, 0});
  auto s = results::summarize(results::load_campaign(dir.path()));
  std::ostringstream md;
  report::write_markdown(s, nullptr, md);
  EXPECT_NE(md.str().find("No collector overhead: no combination has ok runs both with and without"), std::string::npos)
      << md.str();
}

TEST(VarianceReport, HighCvAfterExtraRepetitionsIsFlaggedAsSuch) {
  test::TempDir dir;
  test::write_campaign(dir.path(), "name: fake\nmatrix:\n  repetitions: 2\n  max_repetitions: 3\n  max_cv: 0.01\n");
  double tp[] = {80, 100, 120};
  for (int i = 0; i < 3; ++i)
    test::write_run(dir.path(), {"redis-x-r" + std::to_string(i + 1), "x", "redis", i + 1, "ok", "",
                                 json{{"workload", "redis"}}, "", "", tp[i], 0});
  // r3 was an extra repetition.
  auto run3 = json::parse(fs::read_file(dir.path() / "runs/redis-x-r3/run.json"));
  run3["extra_repetition"] = {{"reason", "CV of throughput_ops 14.14 % > max_cv 1.00 % over 2 ok of 2 runs"}};
  fs::atomic_write(dir.path() / "runs/redis-x-r3/run.json", run3.dump());
  auto s = results::summarize(results::load_campaign(dir.path()));
  ASSERT_EQ(s.combinations.size(), 1u);
  EXPECT_EQ(s.combinations[0].extra_runs, 1);
  EXPECT_TRUE(s.combinations[0].high_cv);
  std::ostringstream md;
  report::write_markdown(s, nullptr, md);
  EXPECT_NE(md.str().find("CV of throughput_ops is 20.0 % > 1.0 % over 3 runs, still after 1 extra repetition(s) "
                          "(max_repetitions 3)"),
            std::string::npos)
      << md.str();
  EXPECT_EQ(results::to_json(s)["runs"][2]["extra_repetition"], run3["extra_repetition"]["reason"]);
}
