// Parsers of the raw output of the load generators into Metrics. Pure
// functions of the text; every accepted format is described in docs/workloads.md.
// Unparsable output throws ParseError (an InputError: exit code 2) naming the
// tool and, where there is one, the offending line. Never zeros.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "iommuvm/util/error.hpp"
#include "iommuvm/workload/metrics.hpp"

namespace iommuvm::workload {

class ParseError : public InputError {
 public:
  // "TOOL output: MESSAGE"
  ParseError(std::string_view tool, std::string_view message);
  // "TOOL output, line N: MESSAGE: 'LINE'"
  ParseError(std::string_view tool, std::size_t line_no, std::string_view line, std::string_view message);
};

// redis-benchmark --csv. PRIMARY selects the test (case-insensitive, e.g. "get") whose
// figures become the top-level ones; empty: the last test.
Metrics parse_redis_benchmark(std::string_view text, std::string_view primary = {});
// memtier_benchmark --json-out-file. Top level: "Totals", or the PRIMARY op (set/get) when given.
Metrics parse_memtier(std::string_view text, std::string_view primary = {});
// wrk text output, with or without --latency, with or without the JSON line of wrk_lua_script().
Metrics parse_wrk(std::string_view text);
// wrk2 text output (HdrHistogram percentiles printed with --latency/-L).
Metrics parse_wrk2(std::string_view text);
// iperf3 -J output (client side).
Metrics parse_iperf3(std::string_view text);
// A custom tool: metric name -> regex with exactly one capture group holding a number.
// Names throughput_ops, throughput_gbps, errors, requests, duration_s and latency_us.KEY
// fill the matching fields, any other name goes to extra.
Metrics parse_custom(std::string_view text, const std::map<std::string, std::string>& metrics);

struct ParseOptions {
  std::string primary;
  std::map<std::string, std::string> custom;  // for tool "custom"
  // redis-benchmark: its -n (requests per test), which its output does not repeat; > 0 sets
  // requests (N x the tests in the output) and each operation's requests (N).
  std::uint64_t requests_per_test = 0;
};
// The generators' names, accepted by parse_output (and `iommuvm parse --tool`).
const std::vector<std::string>& parser_names();
// Dispatch on TOOL: a generator's name or alias (generators.hpp).
Metrics parse_output(std::string_view tool, std::string_view text, const ParseOptions& opts = {});

// Unit helpers, exposed for tests and other parsers. Conversions are decimal-exact:
// "1.16ms" gives exactly the double nearest to 1160.
// A duration with unit us, ms, s, m or h -> microseconds.
double duration_us(std::string_view text);
// A count with optional SI suffix k, M, G, T (powers of 1000), e.g. wrk's "4.83k".
double si_count(std::string_view text);
// A byte amount with wrk's binary units B, KB, MB, GB, TB (powers of 1024), e.g. "143.12MB".
double binary_bytes(std::string_view text);
// The decimal number TEXT times 10^EXP10, correctly rounded.
double decimal_scaled(std::string_view text, int exp10);

}  // namespace iommuvm::workload
