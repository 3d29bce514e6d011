// ab (ApacheBench, Debian's apache2-utils): drives nginx (HTTP GET of client.path); its text
// report parsed: requests, failures and non-2xx answers, rate, mean time per request, the
// "Connection Times" total row and the percentile table (whole milliseconds).
#include <cstring>

#include <fmt/format.h>

#include "../internal.hpp"
#include "iommuvm/util/error.hpp"
#include "iommuvm/workload/generators.hpp"

namespace iommuvm::workload {

using namespace detail;

namespace {

// "Name:   VALUE rest" -> VALUE (the first word after the colon); empty when LINE is not NAME's.
std::string_view field(std::string_view line, std::string_view name) {
  if (!starts_with(line, name) || line.size() <= name.size() || line[name.size()] != ':') return {};
  auto words = split_ws(line.substr(name.size() + 1));
  return words.empty() ? std::string_view() : words.front();
}

Metrics parse_ab(std::string_view text) {
  const char* tool = "ab";
  if (trim(text).empty()) throw ParseError(tool, "empty output");
  Metrics m;
  m.tool = tool;
  std::uint64_t errors = 0;
  bool in_percentiles = false;
  auto lines = split_lines(text, {.drop_cr = true});
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view raw = lines[i];
    std::string_view t = trim(raw);
    std::size_t no = i + 1;
    if (t.empty()) continue;
    auto count = [&](std::string_view v, const char* what) {
      auto n = integer(v);
      if (!n) throw ParseError(tool, no, raw, fmt::format("{} is not a count", what));
      return *n;
    };
    auto num = [&](std::string_view v, const char* what) {
      auto x = number(v);
      if (!x) throw ParseError(tool, no, raw, fmt::format("{} is not a number", what));
      return *x;
    };
    if (starts_with(t, "Percentage of the requests served within")) {
      in_percentiles = true;
      continue;
    }
    if (in_percentiles) {
      auto w = split_ws(t);
      if (w.size() >= 2 && w[0].size() > 1 && w[0].back() == '%') {
        std::string key = percentile_key(w[0].substr(0, w[0].size() - 1));
        double ms = num(w[1], "a percentile");
        if (!key.empty()) m.latency_us[key] = ms * 1000;
        continue;
      }
      in_percentiles = false;
    }
    if (auto v = field(t, "Complete requests"); !v.empty()) m.requests = count(v, "Complete requests");
    else if (auto v = field(t, "Failed requests"); !v.empty()) {
      auto n = count(v, "Failed requests");
      errors += n;
      m.extra["errors_failed"] = static_cast<double>(n);
    } else if (auto v = field(t, "Non-2xx responses"); !v.empty()) {
      auto n = count(v, "Non-2xx responses");
      errors += n;
      m.extra["errors_status"] = static_cast<double>(n);
    } else if (auto v = field(t, "Requests per second"); !v.empty()) m.throughput_ops = num(v, "Requests per second");
    else if (auto v = field(t, "Time taken for tests"); !v.empty()) m.duration_s = num(v, "Time taken for tests");
    else if (auto v = field(t, "Total transferred"); !v.empty()) m.extra["bytes_read"] = num(v, "Total transferred");
    else if (auto v = field(t, "Transfer rate"); !v.empty()) m.extra["transfer_kbytes_per_s"] = num(v, "Transfer rate");
    else if (auto v = field(t, "Time per request"); !v.empty() && t.ends_with("[ms] (mean)"))
      m.latency_us["avg"] = num(v, "Time per request") * 1000;
    else if (starts_with(t, "Total:")) {  // Connection Times (ms): min mean [+/-sd] median max
      auto w = split_ws(t);
      if (w.size() != 6) throw ParseError(tool, no, raw, "expected min, mean, sd, median and max");
      m.latency_us["min"] = num(w[1], "min") * 1000;
      m.latency_us["stdev"] = num(w[3], "sd") * 1000;
      m.latency_us["max"] = num(w[5], "max") * 1000;
    }
  }
  if (!m.requests) throw ParseError(tool, "no 'Complete requests:' line (truncated?)");
  if (!m.throughput_ops) throw ParseError(tool, "no 'Requests per second:' line (truncated?)");
  m.errors = errors;
  return m;
}

// ---------------------------------------------------------------- command

void build(const ClientArgs& a, ClientPlan& plan) {
  const auto& c = a.w.client;
  auto& argv = plan.command.argv;
  argv = {"ab"};
  if (a.w.server.keepalive) argv.push_back("-k");
  argv.insert(argv.end(), {"-c", str(c.connections > 0 ? c.connections : 1)});
  if (c.duration_s > 0) {
    // -t alone stops at 50000 requests; -n after it lifts that. ab keeps a record of every
    // request it may send (-n of them), so the limit is 100000 per second unless given.
    const long seconds = whole_seconds(c.duration_s);
    argv.insert(argv.end(), {"-t", str(seconds), "-n", str(c.requests > 0 ? c.requests : 100000 * seconds)});
  } else {
    argv.insert(argv.end(), {"-n", str(c.requests > 0 ? c.requests : 10000)});
  }
  argv.push_back("http://" + host_for_url(a.target) + ":" + a.port + http_path(a.w));
}

Metrics parse(std::string_view text, const ParseOptions&) { return parse_ab(text); }

}  // namespace

const Generator& ab_generator() {
  static const Generator g{.name = "ab",
                           .aliases = {},
                           .programs = {"ab"},
                           .version_args = {"-V"},
                           .package = "apache2-utils",
                           .kinds = {"nginx"},
                           .default_for = {},
                           .ops_unit = "HTTP requests/s",
                           .build = build,
                           .parse = parse};
  return g;
}

}  // namespace iommuvm::workload
