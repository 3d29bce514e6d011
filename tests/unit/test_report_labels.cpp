// Words for figures: metric meanings and units, parameter names, policy styles.
#include <gtest/gtest.h>

#include <set>

#include "iommuvm/report/labels.hpp"

using namespace iommuvm;
using namespace iommuvm::report;

TEST(ReportLabels, MetricsInWordsWithUnits) {
  results::WorkloadInfo redis{"redis-benchmark", "GET"}, nginx{"wrk", ""}, mc{"memaslap", ""}, iperf{"iperf3", ""};
  std::map<std::string, results::CollectorInfo> cols = {{"inv", {"qemu-trace", "", ""}}, {"cpu", {"pidstat", "qemu", ""}}};
  EXPECT_EQ(metric_meaning("throughput_ops", redis, cols).label(), "GET throughput (requests/s)");
  EXPECT_EQ(metric_meaning("ops.SET.throughput_ops", redis, cols).label(), "SET throughput (requests/s)");
  EXPECT_EQ(metric_meaning("throughput_ops", nginx, cols).label(), "throughput (HTTP requests/s)");
  EXPECT_EQ(metric_meaning("throughput_ops", mc, cols).label(), "throughput (operations/s)");
  EXPECT_EQ(metric_meaning("throughput_gbps", iperf, cols).label(), "throughput (Gbit/s)");
  EXPECT_EQ(metric_meaning("latency_us.p99", nginx, cols, 800).label(), "p99 latency (µs)");
  EXPECT_EQ(metric_meaning("latency_us.p99.9", nginx, cols, 800).label(), "p99.9 latency (µs)");
  auto ms = metric_meaning("latency_us.p99", redis, cols, 120767);
  EXPECT_EQ(ms.label(), "GET p99 latency (ms)");
  EXPECT_DOUBLE_EQ(ms.factor, 1e-3);
  EXPECT_EQ(metric_meaning("latency_us.avg", nginx, cols, 10).label(), "mean latency (µs)");
  EXPECT_EQ(metric_meaning("collectors.inv.per_request.total_per_request", redis, cols).label(),
            "vIOMMU invalidations per request");
  auto cpu = metric_meaning("collectors.cpu.per_request.cpu_s_per_request", redis, cols);
  EXPECT_EQ(cpu.label(), "QEMU CPU time per request (µs)");
  EXPECT_DOUBLE_EQ(cpu.factor, 1e6);
  // Anything else: words, never the path.
  for (const char* m : {"extra.bytes_read", "collectors.unknown.per_request.foo_bar", "errors", "weird_metric.x_y"}) {
    auto l = metric_meaning(m, redis, cols).label();
    EXPECT_NE(l, m);
    EXPECT_EQ(l.find('_'), std::string::npos) << l;
  }
}

TEST(ReportLabels, ParametersAndValues) {
  EXPECT_EQ(param_name("policy.guest.policy"), "guest policy");
  EXPECT_EQ(param_name("policy.host"), "host policy");
  EXPECT_EQ(param_name("guests.tcg-viommu.viommu.caching_mode"), "caching mode");
  EXPECT_EQ(param_name("guests.g.viommu.model"), "vIOMMU model");
  EXPECT_EQ(param_name("workloads.redis.client.pipeline"), "pipeline depth");
  EXPECT_EQ(param_name("workloads.redis.client.data_size"), "value size (bytes)");
  EXPECT_EQ(param_name("workloads.redis.client.connections"), "connections");
  EXPECT_EQ(value_text(true), "on");
  EXPECT_EQ(value_text(16), "16");
  EXPECT_EQ(value_text("intel"), "intel");
}

TEST(ReportLabels, OneStylePerPolicyInCanonicalOrder) {
  EXPECT_EQ(policy_order(), (std::vector<std::string>{"strict", "lazy", "passthrough", "off"}));
  EXPECT_LT(policy_rank("strict"), policy_rank("off"));
  EXPECT_EQ(policy_rank("as-is"), policy_order().size());
  std::set<std::string> colours;
  std::set<int> points;
  for (const auto& p : policy_order()) {
    colours.insert(policy_style(p).colour);
    points.insert(policy_style(p).point_type);
    EXPECT_EQ(policy_style(p).colour, policy_style(std::string(p)).colour);
  }
  EXPECT_EQ(colours.size(), 4u);
  EXPECT_EQ(points.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(colours.count(other_style(i).colour), 0u) << i;
}
