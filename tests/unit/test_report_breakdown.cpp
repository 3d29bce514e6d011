// The breakdown per request (table and stacked-bar data) on a hand-written campaign whose runs
// carry collector results passed through the engine's own collect::per_request, and on a
// campaign captured from the real TCG guest (tests/data/results/tcg-viommu-sample).
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "campaign_fixture.hpp"
#include "iommuvm/report/breakdown.hpp"
#include "iommuvm/report/figures.hpp"
#include "iommuvm/report/report.hpp"
#include "iommuvm/results/summary.hpp"
#include "iommuvm/util/fs.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using nlohmann::json;
using iommuvm::test::TempDir;

namespace {

const report::BreakdownRow& row_of(const report::Breakdown& b, const std::string& policy) {
  for (const auto& r : b.rows)
    if (r.combination->host_policy == policy) return r;
  throw std::runtime_error("no row for " + policy);
}

std::size_t column(const report::Breakdown& b, const std::string& label) {
  for (std::size_t i = 0; i < b.columns.size(); ++i)
    if (b.columns[i] == label) return i;
  ADD_FAILURE() << "no column " << label;
  return 0;
}

}  // namespace

TEST(Breakdown, PerRequestFiguresWithTheirIntervals) {
  TempDir t;
  test::write_breakdown_campaign(t.path());
  auto s = results::summarize(results::load_campaign(t.path()));
  ASSERT_EQ(s.collectors.size(), 5u);
  EXPECT_EQ(s.collectors.at("qemu-cpu").process, "qemu");
  auto b = report::breakdown(s, "redis");
  std::vector<std::string> want = {"Maps/req", "Unmaps/req", "IOTLB flushes/req", "IOMMU µs/req", "VM exits/req",
                                   "vIOMMU invalidations/req", "Cycles/req", "QEMU CPU µs/req"};
  std::vector<std::string> got = b.columns;
  std::sort(want.begin(), want.end());
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, want);
  ASSERT_EQ(b.rows.size(), 2u);

  const auto& strict = row_of(b, "strict");
  const auto& iommu = *strict.values[column(b, "IOMMU µs/req")];
  EXPECT_EQ(iommu.n, 2u);
  EXPECT_DOUBLE_EQ(iommu.mean, 10.0);  // (2 + max(6, 4)) µs, then x 1.5: 8 and 12
  ASSERT_TRUE(iommu.ci95_half());
  EXPECT_NEAR(*iommu.ci95_half(), 25.4124, 1e-3);  // t(0.975, 1) * sd / sqrt(2)
  EXPECT_DOUBLE_EQ(strict.values[column(b, "vIOMMU invalidations/req")]->mean, 8.0);
  EXPECT_DOUBLE_EQ(strict.values[column(b, "Unmaps/req")]->mean, 2.0);
  EXPECT_DOUBLE_EQ(strict.values[column(b, "QEMU CPU µs/req")]->mean, 250.0);
  EXPECT_DOUBLE_EQ(strict.values[column(b, "Cycles/req")]->mean, 6250.0);
  const auto& pt = row_of(b, "passthrough");
  EXPECT_FALSE(pt.values[column(b, "IOMMU µs/req")]);  // no IOMMU call at all: absent, not 0
  EXPECT_DOUBLE_EQ(pt.values[column(b, "vIOMMU invalidations/req")]->mean, 0.0);
  EXPECT_DOUBLE_EQ(pt.values[column(b, "VM exits/req")]->mean, 1.0);

  // Components: bpftrace (unmap without the flush nested in it) and the rest of task-clock.
  std::vector<std::string> comps = {"iommu_map", "iommu_unmap without flush", "IOTLB flush (qi_submit_sync)",
                                    "rest of CPU time (task-clock)"};
  EXPECT_EQ(b.components, comps);
  ASSERT_EQ(b.stacks.size(), 2u);
  for (const auto& [c, v] : b.stacks) {
    std::vector<double> want_v = c->host_policy == "strict" ? std::vector<double>{2.5, 2.5, 5, 15}
                                                            : std::vector<double>{0, 0, 0, 12.5};
    ASSERT_EQ(v.size(), want_v.size());
    for (std::size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(v[i], want_v[i], 1e-9) << c->host_policy << " " << i;
  }
}

TEST(Breakdown, MarkdownTableAndStackedFigure) {
  TempDir t;
  test::write_breakdown_campaign(t.path());
  auto s = results::summarize(results::load_campaign(t.path()));
  std::ostringstream out;
  report::write_markdown(s, nullptr, out);
  std::string md = out.str();
  ASSERT_NE(md.find("### Breakdown per request"), std::string::npos) << md;
  EXPECT_NE(md.find("10.00 ± 25.41"), std::string::npos) << md;
  EXPECT_NE(md.find("`collectors.inv.per_request.total_per_request`"), std::string::npos) << md;

  auto figs = report::build_figures(s);
  auto it = std::find_if(figs.begin(), figs.end(), [](const report::Figure& f) { return f.name == "breakdown-redis"; });
  ASSERT_NE(it, figs.end());
  EXPECT_TRUE(it->skipped_reason.empty());
  // Stacked boxes: one block per component; ci95_low/high are the segment's bottom and top.
  EXPECT_NE(it->script.find("title \"rest of CPU time (task-clock)\""), std::string::npos) << it->script;
  EXPECT_NE(it->script.find("using 1:4 with boxes"), std::string::npos) << it->script;
  // passthrough: map, unmap and flush 0, rest 12.5; strict: 2.5 + 2.5 + 5, rest 15 on top (10 .. 25).
  EXPECT_NE(it->data.find("\t12.5\t0\t12.5\t"), std::string::npos) << it->data;
  EXPECT_NE(it->data.find("\t15\t10\t25\t"), std::string::npos) << it->data;
}

TEST(Breakdown, NoCollectorsMeansAOneLineNoteAndNoFigure) {
  TempDir t;
  test::write_policy_campaign(t.path());  // runs carry a "qemu-trace" result, but the spec declares no collector
  auto s = results::summarize(results::load_campaign(t.path()));
  std::ostringstream out;
  report::write_markdown(s, nullptr, out);
  EXPECT_NE(out.str().find("No breakdown per request: the spec declares no collectors.\n"), std::string::npos);
  EXPECT_EQ(out.str().find("### Breakdown"), std::string::npos);
  for (const auto& f : report::build_figures(s)) EXPECT_NE(f.name.rfind("breakdown-", 0), 0u) << f.name;
}

TEST(Breakdown, CollectorsWithoutPerRequestFiguresAreNoted) {
  TempDir t;
  test::write_policy_campaign(t.path(), "collectors:\n  cpu: {kind: mpstat}\n");
  auto s = results::summarize(results::load_campaign(t.path()));
  EXPECT_TRUE(report::breakdown(s, "redis").empty());
  std::ostringstream out;
  report::write_markdown(s, nullptr, out);
  EXPECT_NE(out.str().find("No breakdown per request: no collector gave per-request figures"), std::string::npos);
  auto figs = report::build_figures(s);
  auto it = std::find_if(figs.begin(), figs.end(), [](const report::Figure& f) { return f.name == "breakdown-redis"; });
  ASSERT_NE(it, figs.end());
  EXPECT_FALSE(it->skipped_reason.empty());
}

// Captured from the real TCG guest (configs/examples/tcg-viommu.yaml, 2 repetitions, on a loaded
// 2-core machine; the raw trace logs are cut to their first lines): the spec's qemu-trace and
// pidstat collectors.
TEST(Breakdown, CapturedTcgGuestCampaign) {
  TempDir t;
  std::filesystem::copy(test::data_path("results/tcg-viommu-sample"), t.path(),
                        std::filesystem::copy_options::recursive);
  auto s = results::summarize(results::load_campaign(t.path()));
  auto b = report::breakdown(s, "redis");
  std::vector<std::string> cols = {"QEMU CPU µs/req", "vIOMMU invalidations/req"};
  EXPECT_EQ(b.columns, cols);
  ASSERT_EQ(b.rows.size(), 6u);  // lazy with caching mode was refused by the guest: no ok run there
  for (const auto& r : b.rows) {
    const auto& c = *r.combination;
    SCOPED_TRACE(c.key);
    ASSERT_TRUE(r.values[0] && r.values[1]);
    EXPECT_EQ(r.values[1]->n, 2u);
    bool cm = c.params.value("guests.tcg-viommu.viommu.caching_mode", false);
    double inv = r.values[1]->mean;
    if (c.guest_policy == "strict")
      EXPECT_GT(inv, cm ? 7.0 : 3.5);  // 8 and 4 page invalidations per request
    else if (c.guest_policy == "lazy")
      EXPECT_LT(inv, 0.5);
    else
      EXPECT_EQ(inv, 0.0);  // passthrough, no vIOMMU
    EXPECT_GT(r.values[0]->mean, 50.0);  // QEMU emulates everything under TCG: hundreds of µs
    EXPECT_TRUE(r.values[0]->ci95_half());
  }
  std::vector<std::string> comps = {"QEMU user", "QEMU kernel"};
  EXPECT_EQ(b.components, comps);
  EXPECT_EQ(b.stacks.size(), 6u);

  // The whole report, twice: byte-identical, with the breakdown table.
  std::ostringstream a, again;
  report::run_report(t.path(), {}, a);
  report::run_report(t.path(), {}, again);
  EXPECT_EQ(a.str(), again.str());
  EXPECT_NE(a.str().find("### Breakdown per request\n\n| Policy | caching_mode | model | n | QEMU CPU µs/req | vIOMMU "
                         "invalidations/req |"),
            std::string::npos)
      << a.str();
}
