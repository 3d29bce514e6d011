// Combining the metrics of several load-generator processes that ran at the same time
// (several client machines, client.processes, one generator per server instance) into
// the run's figures. Pure. docs/workloads.md ("Several clients") states every rule.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "iommuvm/workload/metrics.hpp"

namespace iommuvm::workload {

// The P-th percentile (0 < P <= 100) of H with wrk's own rule: the smallest value whose
// cumulative count reaches rank = round(P/100 * N + 0.5), N the number of samples.
// H must not be empty.
double histogram_percentile(const Histogram& h, double p);

// The sum of the distributions (counts of equal values added), ascending.
Histogram merge_histograms(const std::vector<const Histogram*>& parts);

// Latency figures of H: min, max, avg, stdev (sample, n-1, as wrk) and the percentile
// keys of kLatencyKeys listed in KEYS (e.g. "p50", "p99.9"). Empty H: empty map.
std::map<std::string, double> histogram_latency(const Histogram& h, const std::vector<std::string>& keys);

// PARTS combined (one part: returned unchanged):
//   sums       throughput_ops, throughput_gbps, requests, errors, per-op throughput and
//              requests, additive extras (bytes, error kinds, retransmits, packets, rates);
//   max        duration_s;
//   latency    every part has a histogram: the merged histogram's figures; otherwise
//              min = min of mins, max = max of maxes, avg = request-weighted mean (only when
//              every part has requests), and each percentile only as
//              latency_us_max_of_clients (never an average of percentiles).
// A figure is combined only when every part has it; otherwise it is absent.
Metrics combine(const std::vector<Metrics>& parts);

}  // namespace iommuvm::workload
