// custom: the spec's own client.command, against any server kind; metrics by the spec's
// regexes (client.metrics, `iommuvm parse --metric`).
#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "../internal.hpp"
#include "iommuvm/util/error.hpp"
#include "iommuvm/util/regex.hpp"
#include "iommuvm/workload/generators.hpp"

namespace iommuvm::workload {

using namespace detail;

// ---------------------------------------------------------------- custom

Metrics parse_custom(std::string_view text, const std::map<std::string, std::string>& metrics) {
  const char* tool = "custom";
  if (metrics.empty()) throw InputError("custom output: no metrics (name -> regex) given");
  Metrics m;
  m.tool = tool;
  for (const auto& [name, pattern] : metrics) {
    std::string error;
    auto re = regex::compile_metric_pattern(pattern, error);
    if (!re) throw InputError(fmt::format("custom metric '{}': {}", name, error));
    std::string value;
    if (!RE2::PartialMatch(text, *re, &value))
      throw ParseError(tool, fmt::format("metric '{}': the regex '{}' does not match", name, pattern));
    auto v = number(value);
    if (!v) throw ParseError(tool, fmt::format("metric '{}': '{}' is not a number", name, shorten(value)));
    if (name == "throughput_ops") m.throughput_ops = *v;
    else if (name == "throughput_gbps") m.throughput_gbps = *v;
    else if (name == "duration_s") m.duration_s = *v;
    else if (name == "errors" || name == "requests") {
      auto n = integer(value);
      if (!n) throw ParseError(tool, fmt::format("metric '{}': '{}' is not a count", name, shorten(value)));
      (name == "errors" ? m.errors : m.requests) = *n;
    } else if (starts_with(name, "latency_us.")) {
      m.latency_us[name.substr(std::strlen("latency_us."))] = *v;
    } else {
      m.extra[name] = *v;
    }
  }
  return m;
}

// ---------------------------------------------------------------- command

namespace {

void build(const ClientArgs& a, ClientPlan& plan) {
  const auto& c = a.w.client;
  if (c.command.empty()) throw InputError(fmt::format("workload '{}': a custom client needs client.command", a.w.name));
  plan.command.argv = c.command;
}

Metrics parse(std::string_view text, const ParseOptions& opts) { return parse_custom(text, opts.custom); }

}  // namespace

const Generator& custom_generator() {
  static const Generator g{.name = "custom",
                           .aliases = {},
                           .programs = {},
                           .version_args = {},
                           .package = "",
                           .kinds = {},
                           .default_for = {},
                           .needs_target = false,
                           .importable = false,
                           .build = build,
                           .parse = parse};
  return g;
}

}  // namespace iommuvm::workload
