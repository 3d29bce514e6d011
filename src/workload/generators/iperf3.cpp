// iperf3 as a client: drives an iperf3 server; its -J output parsed.
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

// ---------------------------------------------------------------- iperf3

Metrics parse_iperf3(std::string_view text) {
  const char* tool = "iperf3";
  json j = parse_json(text, tool);
  if (!j.is_object()) throw ParseError(tool, "not an iperf3 -J object");
  if (const json& err = member(j, "error"); err.is_string())
    throw ParseError(tool, fmt::format("iperf3 failed: {}", err.get<std::string>()));
  const json& end = member(j, "end");
  const json& recv = member(end, "sum_received").is_object() ? member(end, "sum_received") : member(end, "sum");
  if (!recv.is_object()) throw ParseError(tool, "no \"end\" summary (sum_received or sum; truncated?)");
  Metrics m;
  m.tool = tool;
  m.throughput_gbps = json_scaled(member(recv, "bits_per_second"), -9, tool, "bits_per_second");
  if (!m.throughput_gbps) throw ParseError(tool, "the end summary has no bits_per_second");
  m.duration_s = json_scaled(member(recv, "seconds"), 0, tool, "seconds");
  if (auto b = json_scaled(member(recv, "bytes"), 0, tool, "bytes")) m.extra["bytes_received"] = *b;
  const json& sent = member(end, "sum_sent");
  if (sent.is_object()) {
    if (auto b = json_scaled(member(sent, "bytes"), 0, tool, "bytes")) m.extra["bytes_sent"] = *b;
    if (auto g = json_scaled(member(sent, "bits_per_second"), -9, tool, "bits_per_second")) m.extra["sender_gbps"] = *g;
    if (auto r = json_scaled(member(sent, "retransmits"), 0, tool, "retransmits")) m.extra["retransmits"] = *r;
  }
  for (const char* k : {"jitter_ms", "lost_packets", "packets", "lost_percent"}) {
    if (auto v = json_scaled(member(recv, k), 0, tool, k)) m.extra[k] = *v;
  }
  const json& cpu = member(end, "cpu_utilization_percent");
  if (auto v = json_scaled(member(cpu, "host_total"), 0, tool, "host_total")) m.extra["cpu_host_percent"] = *v;
  if (auto v = json_scaled(member(cpu, "remote_total"), 0, tool, "remote_total")) m.extra["cpu_remote_percent"] = *v;
  return m;
}

// ---------------------------------------------------------------- command

namespace {

void build(const ClientArgs& a, ClientPlan& plan) {
  const auto& c = a.w.client;
  auto& argv = plan.command.argv;
  argv = {"iperf3", "-c", a.target, "-p", a.port, "-J"};
  if (c.duration_s > 0) argv.insert(argv.end(), {"-t", str(whole_seconds(c.duration_s))});
  if (c.streams > 1) argv.insert(argv.end(), {"-P", str(c.streams)});
  if (!c.congestion.empty()) argv.insert(argv.end(), {"-C", c.congestion});
  if (!c.bitrate.empty()) argv.insert(argv.end(), {"-b", c.bitrate});
}

Metrics parse(std::string_view text, const ParseOptions&) { return parse_iperf3(text); }

}  // namespace

const Generator& iperf3_generator() {
  static const Generator g{.name = "iperf3",
                           .aliases = {},
                           .programs = {"iperf3"},
                           .version_args = {"--version"},
                           .package = "iperf3",
                           .kinds = {"iperf3"},
                           .default_for = {"iperf3"},
                           .build = build,
                           .parse = parse};
  return g;
}

}  // namespace iommuvm::workload
