// Words for figures: what a metric means and its unit, what a parameter is called, how a
// value reads on a tick, and one colour and point type per IOMMU policy for every figure of
// every report. Pure.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "iommuvm/results/summary.hpp"

namespace iommuvm::report {

struct MetricMeaning {
  std::string what;   // "GET throughput", "p99 latency", "vIOMMU invalidations per request"
  std::string unit;   // "requests/s", "µs", "ms", "" (a count per request, ...)
  double factor = 1;  // plotted value = stored value * factor (µs -> ms, s -> µs)
  std::string label() const { return unit.empty() ? what : what + " (" + unit + ")"; }
};

// The meaning of METRIC (a path of summary.csv: throughput_ops, latency_us.p99,
// ops.SET.throughput_ops, collectors.<name>.per_request.total_per_request, ...) for a
// workload run with INFO's tool; COLLECTORS gives the kinds of collector metrics. LARGEST is
// the largest value to be plotted (in the metric's own unit): latencies above 20000 µs are
// shown in ms. Never returns the path itself.
MetricMeaning metric_meaning(const std::string& metric, const results::WorkloadInfo& info,
                             const std::map<std::string, results::CollectorInfo>& collectors, double largest = 0);

// "host policy", "guest policy", "vIOMMU model", "caching mode", "pipeline depth",
// "value size (bytes)", ...: a parameter path (axis) in words.
std::string param_name(const std::string& path);
// A value on a tick or in a legend: strings as they are, booleans on/off, numbers shortest.
std::string value_text(const nlohmann::json& v);

// The IOMMU policies in their canonical order: strict, lazy, passthrough, off.
const std::vector<std::string>& policy_order();
// Position in policy_order(), or its size for anything else (as-is, unknown).
std::size_t policy_rank(const std::string& policy);

struct SeriesStyle {
  std::string colour;  // "#RRGGBB", Okabe-Ito (colour-blind safe)
  int point_type = 7;  // gnuplot pt
};
// The style of POLICY (the same in every figure); other series get OTHER_INDEX-th of the
// colours not used by policies.
SeriesStyle policy_style(const std::string& policy);
SeriesStyle other_style(std::size_t other_index);

}  // namespace iommuvm::report
