// memaslap: libmemcached-tools installs it as memcaslap (older ones as memaslap); drives
// memcached; its text output parsed.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "../internal.hpp"
#include "iommuvm/util/error.hpp"
#include "iommuvm/util/regex.hpp"
#include "iommuvm/workload/generators.hpp"
#include "iommuvm/workload/generators/memaslap.hpp"

namespace iommuvm::workload {

using namespace detail;

// ---------------------------------------------------------------- memaslap

Metrics parse_memaslap(std::string_view text) {
  const char* tool = "memaslap";
  if (trim(text).empty()) throw ParseError(tool, "empty output");
  static const RE2 summary(
      R"(^Run time:\s*([0-9.]+)s\s+Ops:\s*([0-9]+)\s+TPS:\s*([0-9]+)\s+Net_rate:\s*([0-9.]+)M/s$)",
      regex::byte_options());
  Metrics m;
  m.tool = tool;
  bool have_summary = false;
  // With --stat_freq (-S) memaslap ends with "Get|Set|Total Statistics (N events)" blocks
  // whose Min/Max/Avg/Std lines are the latency of the whole run in microseconds.
  std::string stat_block;  // "GET", "SET", "TOTAL" inside such a block, else ""
  auto lines = split_lines(text);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string line(trim(lines[i]));
    if (line.empty()) continue;
    if (auto p = line.find(" Statistics ("); p != std::string::npos && line.ends_with(" events)")) {
      stat_block = upper(line.substr(0, p));
      continue;
    }
    if (!stat_block.empty()) {
      static const std::pair<const char*, const char*> lat[] = {
          {"Min:", "min"}, {"Max:", "max"}, {"Avg:", "avg"}, {"Std:", "stdev"}};
      bool hit = false;
      for (const auto& [prefix, key] : lat) {
        if (!starts_with(line, prefix)) continue;
        auto v = number(trim(std::string_view(line).substr(std::strlen(prefix))));
        if (!v) throw ParseError(tool, i + 1, lines[i], fmt::format("{} is not a number", prefix));
        (stat_block == "TOTAL" ? m.latency_us : m.ops[stat_block].latency_us)[key] = *v;
        hit = true;
      }
      if (hit || starts_with(line, "Geo:") || starts_with(line, "Log2 Dist:") ||
          std::isdigit(static_cast<unsigned char>(line[0])))
        continue;
      stat_block.clear();
    }
    if (starts_with(line, "Run time:")) {
      std::string run_time, ops, tps, net_rate;
      if (!RE2::FullMatch(line, summary, &run_time, &ops, &tps, &net_rate))
        throw ParseError(tool, i + 1, lines[i], "malformed 'Run time: ... Ops: ... TPS: ... Net_rate: ...' line");
      m.duration_s = number(run_time);
      m.requests = integer(ops);
      m.throughput_ops = number(tps);
      if (auto v = number(net_rate)) m.extra["net_rate_mib_per_s"] = *v;
      if (!m.duration_s || !m.requests || !m.throughput_ops)
        throw ParseError(tool, i + 1, lines[i], "bad number in the summary line");
      have_summary = true;
      continue;
    }
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key(trim(std::string_view(line).substr(0, colon)));
    std::string_view value = trim(std::string_view(line).substr(colon + 1));
    static const std::pair<const char*, const char*> counters[] = {{"cmd_get", "GET"}, {"cmd_set", "SET"}};
    bool counter = false;
    for (const auto& [k, op] : counters) {
      if (key != k) continue;
      auto v = integer(value);
      if (!v) throw ParseError(tool, i + 1, lines[i], fmt::format("{} is not a count", k));
      m.ops[op].requests = *v;
      counter = true;
    }
    if (counter) continue;
    for (const char* k : {"get_misses", "written_bytes", "read_bytes", "object_bytes"}) {
      if (key != k) continue;
      auto v = integer(value);
      if (!v) throw ParseError(tool, i + 1, lines[i], fmt::format("{} is not a count", k));
      m.extra[k] = static_cast<double>(*v);
    }
  }
  if (!have_summary) throw ParseError(tool, "no 'Run time: ... TPS: ...' summary line (truncated?)");
  return m;
}

// ---------------------------------------------------------------- command

std::string memaslap_config(std::string_view ratio, int data_size) {
  auto colon = ratio.find(':');
  auto number = [&](std::string_view t) {
    long v = -1;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || p != t.data() + t.size() || v < 0)
      throw InputError(fmt::format("ratio '{}': expected SET:GET with whole numbers, e.g. 1:10", ratio));
    return v;
  };
  if (colon == std::string_view::npos)
    throw InputError(fmt::format("ratio '{}': expected SET:GET with whole numbers, e.g. 1:10", ratio));
  long set = number(ratio.substr(0, colon)), get = number(ratio.substr(colon + 1));
  if (set + get == 0) throw InputError(fmt::format("ratio '{}': at least one side must be above 0", ratio));
  // memaslap keeps three decimals; the two proportions must add up to 1.
  long set_milli = std::lround(1000.0 * static_cast<double>(set) / static_cast<double>(set + get));
  const int value = data_size > 0 ? data_size : 1024;
  std::string c = fmt::format("# Generated by iommuvm: ratio {} (set:get)\n", ratio);
  c += "key\n64 64 1\n";
  c += fmt::format("value\n{} {} 1\n", value, value);
  c += fmt::format("cmd\n0 {}.{:03}\n1 {}.{:03}\n", set_milli / 1000, set_milli % 1000, (1000 - set_milli) / 1000,
                   (1000 - set_milli) % 1000);
  return c;
}

namespace {

void build(const ClientArgs& a, ClientPlan& plan) {
  const auto& c = a.w.client;
  auto& argv = plan.command.argv;
  argv = {"memcaslap", "-s", a.target + ":" + a.port};
  if (c.duration_s > 0) argv.insert(argv.end(), {"-t", str(whole_seconds(c.duration_s)) + "s"});
  else if (c.requests > 0) argv.insert(argv.end(), {"-x", str(c.requests)});
  if (c.threads > 0) argv.insert(argv.end(), {"-T", str(c.threads)});
  if (c.connections > 0) argv.insert(argv.end(), {"-c", str(c.connections)});
  if (c.data_size > 0) argv.insert(argv.end(), {"-X", str(c.data_size)});
  if (!c.ratio.empty()) {
    if (a.ctx.work_dir.empty()) throw InputError("memaslap needs a private work folder for its --cfg_cmd file");
    const std::string cfg = a.ctx.work_dir + "/memaslap.cnf";
    plan.files.push_back({cfg, memaslap_config(c.ratio, c.data_size)});
    argv.insert(argv.end(), {"-F", cfg});
  }
  // memaslap has no key-count option: each concurrency works through a task window of
  // -w keys, in whole units of 1024 ("1k"; memaslap refuses other sizes). The window is
  // the smallest with concurrency x window >= key_space.
  if (c.key_space > 0) {
    const long conc = c.connections > 0 ? c.connections : 128;  // memaslap's default -c
    const long per = conc * 1024;
    argv.insert(argv.end(), {"-w", str(std::max(1L, (c.key_space + per - 1) / per)) + "k"});
  }
}

Metrics parse(std::string_view text, const ParseOptions&) { return parse_memaslap(text); }

}  // namespace

const Generator& memaslap_generator() {
  static const Generator g{.name = "memaslap",
                           .aliases = {"memcaslap"},
                           .programs = {"memcaslap", "memaslap"},
                           .version_args = {"-V"},
                           .package = "libmemcached-tools",
                           .kinds = {"memcached"},
                           .default_for = {"memcached"},
                           .build = build,
                           .parse = parse};
  return g;
}

}  // namespace iommuvm::workload
