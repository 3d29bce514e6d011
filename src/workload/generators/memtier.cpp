// memtier_benchmark: drives redis or memcached; its --json-out-file parsed per operation.
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

// ---------------------------------------------------------------- memtier

namespace {

OpMetrics memtier_op(const json& o, std::string_view tool, const std::string& name) {
  OpMetrics op;
  op.throughput_ops = json_scaled(member(o, "Ops/sec"), 0, tool, name + " Ops/sec");
  op.requests = json_count(member(o, "Count"), tool, name + " Count");
  const json& avg = member(o, "Average Latency").is_null() ? member(o, "Latency") : member(o, "Average Latency");
  if (auto v = json_scaled(avg, 3, tool, name + " Average Latency")) op.latency_us["avg"] = *v;
  if (auto v = json_scaled(member(o, "Min Latency"), 3, tool, name + " Min Latency")) op.latency_us["min"] = *v;
  if (auto v = json_scaled(member(o, "Max Latency"), 3, tool, name + " Max Latency")) op.latency_us["max"] = *v;
  const json& pct = member(o, "Percentile Latencies");
  if (pct.is_object()) {
    for (const auto& [k, v] : pct.items()) {
      if (k.size() < 2 || k[0] != 'p' || !std::isdigit(static_cast<unsigned char>(k[1]))) continue;
      std::string key = percentile_key(std::string_view(k).substr(1));
      if (key.empty()) continue;
      if (auto x = json_scaled(v, 3, tool, name + " " + k)) op.latency_us[key] = *x;
    }
  }
  return op;
}

}  // namespace

Metrics parse_memtier(std::string_view text, std::string_view primary) {
  const char* tool = "memtier";
  json j = parse_json(text, tool);
  const json& all = member(j, "ALL STATS");
  if (!all.is_object()) throw ParseError(tool, "no \"ALL STATS\" section (truncated, or not --json-out-file?)");
  const json& totals = member(all, "Totals");
  if (!totals.is_object()) throw ParseError(tool, "no \"ALL STATS\".\"Totals\" section");
  Metrics m;
  m.tool = tool;
  OpMetrics t = memtier_op(totals, tool, "Totals");
  if (!t.throughput_ops) throw ParseError(tool, "\"Totals\" has no \"Ops/sec\"");
  static const std::pair<const char*, const char*> names[] = {{"Sets", "SET"}, {"Gets", "GET"}, {"Waits", "WAIT"}};
  for (const auto& [section, op] : names) {
    const json& o = member(all, section);
    if (!o.is_object()) continue;
    OpMetrics x = memtier_op(o, tool, section);
    if (x.requests && *x.requests == 0) continue;
    m.ops[op] = x;
  }
  const OpMetrics* chosen = &t;
  if (!trim(primary).empty()) {
    auto it = m.ops.find(upper(trim(primary)));
    if (it == m.ops.end())
      throw ParseError(tool, fmt::format("primary operation '{}' is not in the output ({})", primary, op_names(m.ops)));
    chosen = &it->second;
    m.primary = it->first;
  }
  m.throughput_ops = chosen->throughput_ops;
  m.latency_us = chosen->latency_us;
  m.requests = chosen->requests;
  const json& runtime = member(all, "Runtime");
  if (auto d = json_scaled(member(runtime, "Total duration"), -3, tool, "Total duration")) m.duration_s = *d;
  if (auto kb = json_scaled(member(totals, "KB/sec"), 0, tool, "KB/sec")) m.extra["kbytes_per_s"] = *kb;
  return m;
}

// ---------------------------------------------------------------- command

namespace {

void build(const ClientArgs& a, ClientPlan& plan) {
  const auto& c = a.w.client;
  auto& argv = plan.command.argv;
  if (a.ctx.work_dir.empty()) throw InputError("memtier needs a private work folder for its JSON output");
  plan.output_file = a.ctx.work_dir + "/memtier.json";
  argv = {"memtier_benchmark", "-s", a.target, "-p", a.port,
          std::string("--protocol=") + (a.w.kind == "redis" ? "redis" : "memcache_text")};
  if (c.threads > 0) argv.push_back("--threads=" + str(c.threads));
  if (c.connections > 0) argv.push_back("--clients=" + str(c.connections));
  if (!c.ratio.empty()) argv.push_back("--ratio=" + c.ratio);
  if (c.data_size > 0) argv.push_back("--data-size=" + str(c.data_size));
  if (c.pipeline > 1) argv.push_back("--pipeline=" + str(c.pipeline));
  if (c.key_space > 0) argv.push_back("--key-maximum=" + str(c.key_space));
  if (c.duration_s > 0) argv.push_back("--test-time=" + str(whole_seconds(c.duration_s)));
  else if (c.requests > 0) argv.push_back("--requests=" + str(c.requests));
  argv.push_back("--hide-histogram");
  argv.push_back("--json-out-file=" + plan.output_file);
}

Metrics parse(std::string_view text, const ParseOptions& opts) { return parse_memtier(text, opts.primary); }

}  // namespace

const Generator& memtier_generator() {
  static const Generator g{.name = "memtier",
                           .aliases = {"memtier_benchmark"},
                           .programs = {"memtier_benchmark"},
                           .version_args = {"--version"},
                           .package = "",
                           .kinds = {"redis", "memcached"},
                           .default_for = {},
                           .ops_unit = "requests/s",
                           .build = build,
                           .parse = parse};
  return g;
}

}  // namespace iommuvm::workload
