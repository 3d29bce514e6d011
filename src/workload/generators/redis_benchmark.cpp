// redis-benchmark (redis-tools): drives redis; its --csv output (and the default and quiet
// text formats) parsed per test.
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

// ---------------------------------------------------------------- redis-benchmark

namespace {

using RedisRows = std::vector<std::pair<std::string, OpMetrics>>;

// The visible text of a redis-benchmark line: progress lines end in \r and are overwritten
// by what follows, so only the part after the last \r counts.
std::string_view redis_visible(std::string_view line) {
  while (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (auto cr = line.rfind('\r'); cr != std::string_view::npos) line = line.substr(cr + 1);
  return trim(line);
}

bool redis_noise(std::string_view line) {
  return line.find("rps=") != std::string_view::npos || starts_with(line, "WARNING") || starts_with(line, "Warning");
}

// --csv: quoted rows, with or without the Redis 7 header.
RedisRows redis_csv_rows(const std::vector<std::string_view>& lines, const char* tool) {
  std::vector<std::string> header;
  RedisRows rows;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view raw = lines[i];
    std::string_view line = redis_visible(raw);
    if (line.empty()) continue;
    if (line.front() != '"') {
      if (redis_noise(line)) continue;
      throw ParseError(tool, i + 1, raw, "not a --csv row");
    }
    auto fields = parse_csv_row(line);
    if (!fields) throw ParseError(tool, i + 1, raw, "malformed CSV row (truncated?)");
    if ((*fields)[0] == "test") {
      header = *fields;
      continue;
    }
    std::vector<std::string> cols = header.empty() ? std::vector<std::string>{"test", "rps"} : header;
    if (fields->size() != cols.size())
      throw ParseError(tool, i + 1, raw,
                       fmt::format("expected {} fields, found {} (truncated?)", cols.size(), fields->size()));
    OpMetrics op;
    for (std::size_t c = 1; c < cols.size(); ++c) {
      const std::string& col = cols[c];
      const std::string& val = (*fields)[c];
      if (col == "rps") {
        op.throughput_ops = number(val);
        if (!op.throughput_ops) throw ParseError(tool, i + 1, raw, "rps is not a number");
      } else if (col.size() > 11 && col.ends_with("_latency_ms")) {
        std::string key = col.substr(0, col.size() - 11);
        auto v = scaled(val, 3);
        if (!v) throw ParseError(tool, i + 1, raw, fmt::format("{} is not a number", col));
        if (is_latency_key(key)) op.latency_us[key] = *v;
      }
    }
    if (!op.throughput_ops) throw ParseError(tool, i + 1, raw, "no rps column");
    rows.emplace_back(upper((*fields)[0]), std::move(op));
  }
  return rows;
}

// "X requests per second" at the end of LINE (after "throughput summary:" or "NAME:"):
// the number X, or nullopt when LINE does not end so.
std::optional<double> redis_rps_suffix(std::string_view line, std::string_view& before) {
  static constexpr std::string_view suffix = " requests per second";
  auto at = line.find(suffix);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view head = trim(line.substr(0, at));
  auto sp = head.find_last_of(" \t");
  std::string_view num = sp == std::string_view::npos ? head : head.substr(sp + 1);
  before = sp == std::string_view::npos ? std::string_view{} : trim(head.substr(0, sp));
  return number(num);
}

// The default output: a "====== NAME ======" block per test with "N requests completed in
// T seconds", the latency distribution, then "Summary:" with "throughput summary: X requests
// per second" and "latency summary (msec):" (a header line of latency keys, a line of values).
// Redis before 6 ends a block with "X requests per second" instead.
RedisRows redis_default_rows(const std::vector<std::string_view>& lines, const char* tool) {
  RedisRows rows;
  std::vector<std::string> latency_header;
  bool in_summary = false, want_values = false;
  std::size_t block_line = 0;
  auto finish = [&]() {
    if (!rows.empty() && !rows.back().second.throughput_ops)
      throw ParseError(tool, block_line, lines[block_line - 1],
                       fmt::format("test {} has no 'requests per second' line (truncated?)", rows.back().first));
  };
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view raw = lines[i];
    std::string_view line = redis_visible(raw);
    if (line.empty() || redis_noise(line)) continue;
    if (starts_with(line, "======") && line.size() > 12 && line.ends_with("======")) {
      finish();
      std::string name(trim(line.substr(6, line.size() - 12)));
      if (name.empty()) throw ParseError(tool, i + 1, raw, "test block without a name");
      rows.emplace_back(upper(name), OpMetrics{});
      block_line = i + 1;
      in_summary = want_values = false;
      continue;
    }
    if (rows.empty()) throw ParseError(tool, i + 1, raw, "not redis-benchmark output (expected '====== TEST ======')");
    OpMetrics& op = rows.back().second;
    if (want_values) {
      auto vals = split_ws(line);
      if (vals.size() != latency_header.size())
        throw ParseError(tool, i + 1, raw,
                         fmt::format("expected {} latency values, found {} (truncated?)", latency_header.size(),
                                     vals.size()));
      for (std::size_t k = 0; k < vals.size(); ++k) {
        auto v = scaled(vals[k], 3);
        if (!v) throw ParseError(tool, i + 1, raw, fmt::format("{} latency is not a number", latency_header[k]));
        if (is_latency_key(latency_header[k])) op.latency_us[latency_header[k]] = *v;
      }
      want_values = false;
      latency_header.clear();
      continue;
    }
    if (line == "Summary:") {
      in_summary = true;
      continue;
    }
    std::string_view before;
    if (auto rps = redis_rps_suffix(line, before)) {
      if (!before.empty() && before != "throughput summary:")
        throw ParseError(tool, i + 1, raw, "unexpected text before 'requests per second'");
      op.throughput_ops = *rps;
      continue;
    }
    if (line.find("requests per second") != std::string_view::npos)
      throw ParseError(tool, i + 1, raw, "requests per second is not a number");
    if (auto at = line.find(" requests completed in "); at != std::string_view::npos) {
      auto n = integer(line.substr(0, at));
      if (!n) throw ParseError(tool, i + 1, raw, "bad request count");
      op.requests = *n;
      continue;
    }
    if (in_summary) {
      if (starts_with(line, "latency summary")) {
        if (line.find("(msec)") == std::string_view::npos)
          throw ParseError(tool, i + 1, raw, "latency summary in an unknown unit");
        if (++i >= lines.size()) throw ParseError(tool, i, lines[i - 1], "latency summary without values (truncated?)");
        for (auto k : split_ws(redis_visible(lines[i]))) latency_header.emplace_back(k);
        if (latency_header.empty()) throw ParseError(tool, i + 1, lines[i], "latency summary without a header");
        want_values = true;
        continue;
      }
      throw ParseError(tool, i + 1, raw, "unexpected line in a test's summary");
    }
    // Before "Summary:": the description of the run and the latency distribution (the
    // summary repeats what is needed of it); ignored.
  }
  if (want_values) throw ParseError(tool, lines.size(), lines.back(), "latency summary without values (truncated?)");
  finish();
  return rows;
}

// -q: one "NAME: X requests per second[, p50=Y msec]" line per test.
RedisRows redis_quiet_rows(const std::vector<std::string_view>& lines, const char* tool) {
  RedisRows rows;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view raw = lines[i];
    std::string_view line = redis_visible(raw);
    if (line.empty() || redis_noise(line)) continue;
    std::string_view before;
    auto rps = redis_rps_suffix(line, before);
    if (!rps || before.size() < 2 || before.back() != ':')
      throw ParseError(tool, i + 1, raw, "not a 'TEST: X requests per second' line");
    OpMetrics op;
    op.throughput_ops = *rps;
    if (auto p = line.find(", p50="); p != std::string_view::npos) {
      std::string_view rest = trim(line.substr(p + 6));
      if (!rest.ends_with(" msec")) throw ParseError(tool, i + 1, raw, "p50 in an unknown unit");
      auto v = scaled(trim(rest.substr(0, rest.size() - 5)), 3);
      if (!v) throw ParseError(tool, i + 1, raw, "p50 is not a number");
      op.latency_us["p50"] = *v;
    }
    rows.emplace_back(upper(trim(before.substr(0, before.size() - 1))), std::move(op));
  }
  return rows;
}

enum class RedisFormat { csv, normal, quiet };

RedisFormat redis_format(const std::vector<std::string_view>& lines) {
  for (auto raw : lines) {
    std::string_view line = redis_visible(raw);
    if (line.empty() || redis_noise(line)) continue;
    if (line.front() == '"') return RedisFormat::csv;
    if (starts_with(line, "======")) return RedisFormat::normal;
    if (line.find(" requests per second") != std::string_view::npos) return RedisFormat::quiet;
    return RedisFormat::csv;  // the CSV reader names the offending line
  }
  return RedisFormat::csv;
}

}  // namespace

Metrics parse_redis_benchmark(std::string_view text, std::string_view primary) {
  const char* tool = "redis-benchmark";
  if (trim(text).empty()) throw ParseError(tool, "empty output");
  auto lines = split_lines(text);
  RedisRows rows;
  switch (redis_format(lines)) {
    case RedisFormat::csv: rows = redis_csv_rows(lines, tool); break;
    case RedisFormat::normal: rows = redis_default_rows(lines, tool); break;
    case RedisFormat::quiet: rows = redis_quiet_rows(lines, tool); break;
  }
  if (rows.empty()) throw ParseError(tool, "no result row (truncated, or not redis-benchmark output?)");
  Metrics m;
  m.tool = tool;
  std::uint64_t requests = 0;
  bool all_counted = true;
  for (const auto& [name, op] : rows) {
    m.ops[name] = op;
    if (op.requests) requests += *op.requests;
    else all_counted = false;
  }
  if (all_counted) m.requests = requests;  // the default output says "N requests completed"
  const std::pair<std::string, OpMetrics>* chosen = &rows.back();
  if (!trim(primary).empty()) {
    auto it = std::find_if(rows.begin(), rows.end(), [&](const auto& r) { return same_op(r.first, primary); });
    if (it == rows.end())
      throw ParseError(tool, fmt::format("primary operation '{}' is not among the tests ({})", primary,
                                         op_names(m.ops)));
    chosen = &*it;
  }
  m.primary = chosen->first;
  m.throughput_ops = chosen->second.throughput_ops;
  m.latency_us = chosen->second.latency_us;
  return m;
}

// ---------------------------------------------------------------- command

namespace {

void build(const ClientArgs& a, ClientPlan& plan) {
  const auto& c = a.w.client;
  auto& argv = plan.command.argv;
  plan.requests_per_test = static_cast<std::uint64_t>(c.requests > 0 ? c.requests : 100000);
  argv = {"redis-benchmark", "-h", a.target, "-p", a.port, "-n", str(static_cast<long>(plan.requests_per_test))};
  if (c.connections > 0) argv.insert(argv.end(), {"-c", str(c.connections)});
  argv.insert(argv.end(), {"-P", str(std::max(1, c.pipeline))});
  if (c.data_size > 0) argv.insert(argv.end(), {"-d", str(c.data_size)});
  if (c.key_space > 0) argv.insert(argv.end(), {"-r", str(c.key_space)});
  if (c.threads > 0) argv.insert(argv.end(), {"--threads", str(c.threads)});
  if (!c.tests.empty()) {
    std::string t;
    for (const auto& x : c.tests) t += (t.empty() ? "" : ",") + x;
    argv.insert(argv.end(), {"-t", t});
  }
  argv.push_back("--csv");
}

Metrics parse(std::string_view text, const ParseOptions& opts) {
  auto m = parse_redis_benchmark(text, opts.primary);
  if (opts.requests_per_test > 0) {  // -n N: N requests per test, none of it in the output
    for (auto& [name, op] : m.ops) op.requests = opts.requests_per_test;
    m.requests = opts.requests_per_test * m.ops.size();
  }
  return m;
}

}  // namespace

const Generator& redis_benchmark_generator() {
  static const Generator g{.name = "redis-benchmark",
                           .aliases = {},
                           .programs = {"redis-benchmark"},
                           .version_args = {"--version"},
                           .package = "redis-tools",
                           .kinds = {"redis"},
                           .default_for = {"redis"},
                           .ops_unit = "requests/s",
                           .build = build,
                           .parse = parse};
  return g;
}

}  // namespace iommuvm::workload
