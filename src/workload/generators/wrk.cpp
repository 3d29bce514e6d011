// wrk: drives nginx (HTTP); its text output with --latency and the JSON line of the
// shipped Lua script parsed. wrk2 (wrk2.cpp) shares the parser and the command.
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

// ---------------------------------------------------------------- wrk, wrk2

namespace {

void wrk_json_line(Metrics& m, std::string_view line, std::size_t line_no, const char* tool) {
  json j;
  try {
    j = json::parse(line);
  } catch (const json::parse_error&) {
    throw ParseError(tool, line_no, line, "bad summary JSON line (truncated?)");
  } catch (const json::out_of_range&) {
    throw ParseError(tool, line_no, line, "a number in the summary JSON line is out of range");
  }
  try {
    auto req = json_count(member(j, "requests"), tool, "requests");
    auto dur = json_count(member(j, "duration_us"), tool, "duration_us");
    if (!req || !dur || *dur == 0) throw ParseError(tool, line_no, line, "summary JSON lacks requests or duration_us");
    m.requests = *req;
    m.duration_s = static_cast<double>(*dur) / 1e6;
    m.throughput_ops = static_cast<double>(*req) * 1e6 / static_cast<double>(*dur);
    if (auto b = json_count(member(j, "bytes"), tool, "bytes")) m.extra["bytes_read"] = static_cast<double>(*b);
    std::uint64_t errors = 0;
    const json& e = member(j, "errors");
    for (const char* k : {"connect", "read", "write", "status", "timeout"}) {
      auto v = json_count(member(e, k), tool, std::string("errors.") + k);
      if (!v) throw ParseError(tool, line_no, line, fmt::format("summary JSON lacks errors.{}", k));
      errors += *v;
      m.extra[std::string("errors_") + k] = static_cast<double>(*v);
    }
    m.errors = errors;
    m.latency_us.clear();
    const json& lat = member(j, "latency_us");
    if (lat.is_object()) {
      for (const auto& [k, v] : lat.items()) {
        std::string key = k == "mean" ? "avg" : k;
        if (!is_latency_key(key)) continue;
        if (auto x = json_scaled(v, 0, tool, "latency_us." + k)) m.latency_us[key] = *x;
      }
    }
    // The whole distribution: value, count, value, count, ... ascending (for combining clients).
    m.latency_histogram_us.clear();
    const json& hist = member(j, "histogram_us");
    if (hist.is_array()) {
      if (hist.size() % 2 != 0) throw ParseError(tool, line_no, line, "histogram_us has an odd number of entries");
      for (std::size_t k = 0; k < hist.size(); k += 2) {
        auto v = json_count(hist[k], tool, "histogram_us value");
        auto c = json_count(hist[k + 1], tool, "histogram_us count");
        if (!v || !c) throw ParseError(tool, line_no, line, "histogram_us holds a non-number");
        if (!m.latency_histogram_us.empty() && *v <= m.latency_histogram_us.back().first)
          throw ParseError(tool, line_no, line, "histogram_us values are not ascending");
        m.latency_histogram_us.emplace_back(*v, *c);
      }
    }
  } catch (const ParseError&) {
    throw;
  } catch (const json::exception& e) {
    throw ParseError(tool, line_no, line, e.what());
  }
}

Metrics parse_wrk_like(std::string_view text, const char* tool) {
  if (trim(text).empty()) throw ParseError(tool, "empty output");
  Metrics m;
  m.tool = tool;
  enum class Section { none, distribution, spectrum } section = Section::none;
  bool have_requests = false, have_json = false, no_samples = false;
  std::uint64_t errors = 0;
  std::map<std::string, double> latency;
  auto lines = split_lines(text);
  static const RE2 requests_re(R"(^([0-9]+) requests in ([0-9.]+[a-z]+), ([0-9.]+[KMGTP]?B) read$)",
                               regex::byte_options());
  static const RE2 socket_re(
      R"(^Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)$)", regex::byte_options());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view raw = lines[i];
    std::string_view t = trim(raw);
    std::size_t no = i + 1;
    if (t.empty()) continue;
    if (t.front() == '{') {
      if (t.find("\"iommuvm_wrk\"") == std::string_view::npos) throw ParseError(tool, no, raw, "unexpected JSON line");
      wrk_json_line(m, t, no, tool);
      have_json = true;
      continue;
    }
    if (section == Section::spectrum) {
      if (starts_with(t, "----")) section = Section::none;
      continue;
    }
    if (starts_with(t, "Running ") || t.find(" threads and ") != std::string_view::npos ||
        starts_with(t, "Thread Stats") || starts_with(t, "Req/Sec") || starts_with(t, "Thread calibration") ||
        starts_with(t, "#["))
      continue;
    if (starts_with(t, "Latency Distribution")) {
      section = Section::distribution;
      continue;
    }
    if (starts_with(t, "Detailed Percentile spectrum")) {
      section = Section::spectrum;
      continue;
    }
    auto tok = split_ws(t);
    if (tok[0] == "Latency") {
      if (tok.size() < 4) throw ParseError(tool, no, raw, "short Latency line (truncated?)");
      auto avg = try_duration_us(tok[1]), stdev = try_duration_us(tok[2]), max = try_duration_us(tok[3]);
      if (!avg || !stdev || !max) throw ParseError(tool, no, raw, "bad duration in the Latency line");
      if (*avg == 0 && *max == 0) {
        no_samples = true;  // every request failed: wrk prints zeros and -nan%
      } else {
        latency["avg"] = *avg;
        latency["stdev"] = *stdev;
        latency["max"] = *max;
      }
      continue;
    }
    if (section == Section::distribution && tok.size() == 2 && tok[0].size() > 1 && tok[0].back() == '%') {
      std::string key = percentile_key(tok[0].substr(0, tok[0].size() - 1));
      auto v = try_duration_us(tok[1]);
      if (!v || (key.empty() && !number(tok[0].substr(0, tok[0].size() - 1))))
        throw ParseError(tool, no, raw, "bad latency percentile line");
      if (!key.empty()) latency[key] = *v;
      continue;
    }
    section = Section::none;
    std::string count, duration, bytes;
    if (RE2::FullMatch(t, requests_re, &count, &duration, &bytes)) {
      auto n = integer(count);
      auto d = try_duration_us(duration);
      auto b = try_binary_bytes(bytes);
      if (!n || !d || !b) throw ParseError(tool, no, raw, "bad number in the requests line");
      m.requests = *n;
      m.duration_s = *d / 1e6;
      m.extra["bytes_read"] = *b;
      have_requests = true;
      continue;
    }
    if (starts_with(t, "Socket errors:")) {
      std::string counts[4];
      if (!RE2::FullMatch(t, socket_re, &counts[0], &counts[1], &counts[2], &counts[3]))
        throw ParseError(tool, no, raw, "malformed Socket errors line");
      const char* kinds[] = {"connect", "read", "write", "timeout"};
      for (int k = 0; k < 4; ++k) {
        auto v = integer(counts[k]);
        if (!v) throw ParseError(tool, no, raw, "bad count in the Socket errors line");
        errors += *v;
        m.extra[std::string("errors_") + kinds[k]] = static_cast<double>(*v);
      }
      continue;
    }
    if (starts_with(t, "Non-2xx or 3xx responses:")) {
      auto v = integer(t.substr(std::strlen("Non-2xx or 3xx responses:")));
      if (!v) throw ParseError(tool, no, raw, "bad count of Non-2xx or 3xx responses");
      errors += *v;
      m.extra["errors_status"] = static_cast<double>(*v);
      continue;
    }
    if (starts_with(t, "Requests/sec:")) {
      m.throughput_ops = number(t.substr(std::strlen("Requests/sec:")));
      if (!m.throughput_ops) throw ParseError(tool, no, raw, "Requests/sec is not a number");
      continue;
    }
    if (starts_with(t, "Transfer/sec:")) {
      auto v = try_binary_bytes(t.substr(std::strlen("Transfer/sec:")));
      if (!v) throw ParseError(tool, no, raw, "Transfer/sec is not a byte amount");
      m.extra["transfer_bytes_per_s"] = *v;
      continue;
    }
    throw ParseError(tool, no, raw, "unexpected line");
  }
  if (have_json) return m;  // the script's figures are exact; they win over the text
  if (!have_requests) throw ParseError(tool, "no 'N requests in T, B read' line (truncated?)");
  if (!m.throughput_ops) throw ParseError(tool, "no 'Requests/sec:' line (truncated?)");
  m.errors = errors;
  if (!no_samples) m.latency_us = latency;
  return m;
}

}  // namespace

Metrics parse_wrk(std::string_view text) { return parse_wrk_like(text, "wrk"); }
Metrics parse_wrk2(std::string_view text) { return parse_wrk_like(text, "wrk2"); }

// ---------------------------------------------------------------- command

void detail::build_wrk_like(const ClientArgs& a, ClientPlan& plan, bool wrk2) {
  const auto& c = a.w.client;
  auto& argv = plan.command.argv;
  const std::string tool = wrk2 ? "wrk2" : "wrk";
  const std::string url = "http://" + host_for_url(a.target) + ":" + a.port + http_path(a.w);
  argv = {wrk2 && !a.ctx.program.empty() ? a.ctx.program : tool};
  if (c.threads > 0) argv.insert(argv.end(), {"-t", str(c.threads)});
  if (c.connections > 0) argv.insert(argv.end(), {"-c", str(c.connections)});
  if (c.duration_s > 0) argv.insert(argv.end(), {"-d", str(whole_seconds(c.duration_s)) + "s"});
  if (wrk2) {
    if (c.rate <= 0) throw InputError(fmt::format("workload '{}': wrk2 needs client.rate (-R)", a.w.name));
    argv.insert(argv.end(), {"-R", str(c.rate)});
  }
  argv.push_back("--latency");
  if (!wrk2) {
    if (a.ctx.work_dir.empty()) throw InputError("wrk needs a private work folder for its Lua script");
    const std::string script = a.ctx.work_dir + "/iommuvm-wrk.lua";
    plan.files.push_back({script, std::string(wrk_lua_script())});
    argv.insert(argv.end(), {"-s", script});
  }
  argv.push_back(url);
}

namespace {

void build(const ClientArgs& a, ClientPlan& plan) { build_wrk_like(a, plan, false); }
Metrics parse(std::string_view text, const ParseOptions&) { return parse_wrk(text); }

}  // namespace

const Generator& wrk_generator() {
  static const Generator g{.name = "wrk",
                           .aliases = {},
                           .programs = {"wrk"},
                           .version_args = {"-v"},
                           .package = "wrk",
                           .kinds = {"nginx"},
                           .default_for = {"nginx"},
                           .ops_unit = "HTTP requests/s",
                           .build = build,
                           .parse = parse};
  return g;
}

}  // namespace iommuvm::workload
