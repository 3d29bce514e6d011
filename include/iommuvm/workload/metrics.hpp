// The normalized figures of one load-generator run, whatever the tool.
// Units: throughput in operations (or HTTP requests) per second, latency in
// microseconds, network throughput in Gbit/s (10^9 bits per second). A figure
// the tool does not report is absent (empty optional, missing map key), never 0.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace iommuvm::workload {

// Latency keys, in presentation order. Parsers only emit these.
inline constexpr const char* kLatencyKeys[] = {"avg", "min",   "max",    "stdev",   "p50",
                                               "p75", "p90",   "p95",    "p99",     "p99.9",
                                               "p99.99", "p99.999", "p100"};

// A latency distribution: (value in microseconds, number of samples), ascending by value,
// each value once. wrk's own resolution (1 us); what the iommuvm wrk script prints.
using Histogram = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

// The figures of one operation (redis-benchmark test, memtier Sets/Gets, memcaslap cmd_get).
struct OpMetrics {
  std::optional<double> throughput_ops;
  std::map<std::string, double> latency_us;
  std::optional<std::uint64_t> requests;
  // Combined from several clients whose tool gives no histogram: per percentile key, the
  // largest of the clients' values (an upper bound of the combined percentile). See combine.hpp.
  std::map<std::string, double> latency_us_max_of_clients;
};

struct Metrics {
  std::string tool;                        // parser that produced it: redis-benchmark, wrk, ...
  std::optional<double> throughput_ops;    // ops/s (requests/s for HTTP)
  std::optional<double> throughput_gbps;   // iperf3 only: received Gbit/s
  std::map<std::string, double> latency_us;  // keys from kLatencyKeys
  std::optional<std::uint64_t> errors;     // failed operations (socket errors, non-2xx, ...)
  std::optional<std::uint64_t> requests;   // operations completed in the measurement
  std::optional<double> duration_s;        // measured wall time
  std::map<std::string, OpMetrics> ops;    // per operation, upper case: SET, GET, ...
  std::map<std::string, double> extra;     // tool-specific figures, named with their unit
  std::string primary;                     // the op whose figures are the top-level ones, if any
  // As in OpMetrics: set only by combine() when percentiles could not be merged.
  std::map<std::string, double> latency_us_max_of_clients;
  // The full latency distribution when the tool prints one (wrk with the iommuvm script).
  // Kept for combining clients; not written to JSON (the raw output holds it).
  Histogram latency_histogram_us;
};

nlohmann::json to_json(const OpMetrics& m);
nlohmann::json to_json(const Metrics& m);

// True when the run had more failed operations than MAX_RATIO of its requests
// (errors / requests; errors with no completed request is always too many).
// Runs whose tool reports no error count are never "too many".
bool too_many_errors(const Metrics& m, double max_ratio);

}  // namespace iommuvm::workload
