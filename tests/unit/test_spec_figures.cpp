// figures: in the spec (kind, x, series, groups, panels, metric, baseline, width), checked
// against the matrix axes with FILE:LINE:COL errors.
#include <gtest/gtest.h>

#include "iommuvm/spec/load.hpp"

using namespace iommuvm;

namespace {

const char* kBase =
    "name: t\nmachines: {local: {local: true}}\n"
    "policy: {host: {policy: [strict, passthrough]}}\n"
    "workloads: {redis: {client: {pipeline: [1, 16]}}, nginx: {}}\n";

std::string errors(const spec::Loaded& l) {
  std::string out;
  for (const auto& d : l.diag.sorted()) out += d.format() + "\n";
  return out;
}

}  // namespace

TEST(SpecFigures, EveryFieldRead) {
  auto l = spec::load_text(std::string(kBase) +
                               "figures:\n"
                               "  - name: study\n"
                               "    kind: degradation\n"
                               "    series: policy.host\n"
                               "    groups: workloads.redis.client.pipeline\n"
                               "    panels: [workload]\n"
                               "    baseline: passthrough\n"
                               "    width: double\n"
                               "  - name: lines\n"
                               "    x: workloads.redis.client.pipeline\n"
                               "    metric: latency_us.p99\n"
                               "    workload: redis\n",
                           "t.yaml");
  ASSERT_FALSE(l.diag.has_errors()) << errors(l);
  ASSERT_EQ(l.spec.figures.size(), 2u);
  const auto& f = l.spec.figures[0];
  EXPECT_EQ(f.kind, "degradation");
  EXPECT_EQ(f.series, "policy.host");
  EXPECT_EQ(f.groups, std::vector<std::string>{"workloads.redis.client.pipeline"});
  EXPECT_EQ(f.panels, std::vector<std::string>{"workload"});
  EXPECT_EQ(f.baseline, "passthrough");
  EXPECT_EQ(f.width, "double");
  EXPECT_EQ(l.spec.figures[1].x, "workloads.redis.client.pipeline");
  EXPECT_TRUE(l.spec.figures[1].kind.empty());  // chosen from what varies
}

TEST(SpecFigures, BadFiguresAreFileLineColErrors) {
  auto l = spec::load_text(std::string(kBase) +
                               "figures:\n"
                               "  - name: a\n"                                      // 6
                               "    kind: pie\n"                                    // 7
                               "    x: workloads.redis.client.pipelin\n"            // 8
                               "    groups: [workload, guests.g.viommu.model]\n"    // 9
                               "    workload: memcached\n"                          // 10
                               "    width: triple\n"                                // 11
                               "  - name: a\n"                                      // 12
                               "    series: policy.host\n"                          // 13
                               "    panels: policy.host\n",                         // 14
                           "t.yaml");
  std::string e = errors(l);
  EXPECT_NE(e.find("t.yaml:7:11: error: unknown value 'pie' for 'figures[0].kind'"), std::string::npos) << e;
  EXPECT_NE(e.find("t.yaml:8:8: error: figures[0].x: 'workloads.redis.client.pipelin' is not a matrix axis, a policy "
                   "or 'workload' (did you mean 'workloads.redis.client.pipeline'?)"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("t.yaml:9:13: error: figures[0].groups: 'guests.g.viommu.model' is not a matrix axis"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("t.yaml:10:15: error: figures[0].workload: no workload named 'memcached'"), std::string::npos) << e;
  EXPECT_NE(e.find("t.yaml:11:12: error: unknown value 'triple' for 'figures[0].width'"), std::string::npos) << e;
  EXPECT_NE(e.find("t.yaml:12:11: error: figures[1].name: 'a' is the name of an earlier figure"), std::string::npos) << e;
  EXPECT_NE(e.find("figures[1]: 'policy.host' is given two roles"), std::string::npos) << e;
}
