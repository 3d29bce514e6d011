// wrk2: wrk with a constant request rate (-R) and HdrHistogram percentiles; drives nginx.
// No Debian package: the engine finds `wrk2`, or a `wrk` built from wrk2 (wrk_usage_has_rate).
// It shares the command and the text parser with wrk (wrk.cpp).
#include <string_view>

#include "../internal.hpp"
#include "iommuvm/workload/generators.hpp"

namespace iommuvm::workload {

using namespace detail;

bool wrk_usage_has_rate(std::string_view usage) {
  return usage.find("--rate") != std::string_view::npos || usage.find("-R,") != std::string_view::npos;
}

namespace {

void build(const ClientArgs& a, ClientPlan& plan) { build_wrk_like(a, plan, true); }
Metrics parse(std::string_view text, const ParseOptions&) { return parse_wrk2(text); }

}  // namespace

const Generator& wrk2_generator() {
  static const Generator g{.name = "wrk2",
                           .aliases = {},
                           .programs = {"wrk2"},
                           .version_args = {"-v"},
                           .package = "",
                           .kinds = {"nginx"},
                           .default_for = {},
                           .ops_unit = "HTTP requests/s",
                           .build = build,
                           .parse = parse};
  return g;
}

}  // namespace iommuvm::workload
