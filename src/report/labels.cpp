#include "iommuvm/report/labels.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "iommuvm/policy/types.hpp"
#include "iommuvm/spec/spec.hpp"
#include "iommuvm/workload/generators.hpp"

namespace iommuvm::report {

namespace {

std::vector<std::string> split(const std::string& path) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    auto dot = path.find('.', start);
    out.push_back(path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return out;
}

// latency_us.p99.9 has a dot inside its key: rejoin the parts after latency_us.
std::string words(std::string s) {
  std::replace(s.begin(), s.end(), '_', ' ');
  return s;
}

std::string latency_key_words(const std::string& key) {
  if (key == "avg") return "mean latency";
  if (key == "min") return "min latency";
  if (key == "max") return "max latency";
  if (key == "stdev") return "latency std. dev.";
  return key + " latency";
}

// The throughput unit of a tool: what one of its operations is.
std::string ops_unit(const std::string& tool) {
  const auto* g = workload::find_generator(tool);
  return g ? g->ops_unit : "operations/s";
}

MetricMeaning collector_meaning(const std::vector<std::string>& parts,
                                const std::map<std::string, results::CollectorInfo>& collectors) {
  // collectors.<name>.<field...>
  const std::string& name = parts[1];
  std::string kind;
  std::string process = "process";
  if (auto it = collectors.find(name); it != collectors.end()) {
    kind = it->second.kind;
    if (!it->second.process.empty()) process = it->second.process;
  }
  const std::string& last = parts.back();
  bool per_request = std::find(parts.begin(), parts.end(), "per_request") != parts.end();
  // The kinds' per-request columns name their figures (spec::collector_kinds).
  if (const auto* k = spec::collector_kind(kind); k && per_request) {
    std::string field;
    for (auto it = std::find(parts.begin(), parts.end(), "per_request") + 1; it != parts.end(); ++it)
      field += (field.empty() ? "" : ".") + *it;
    std::string machine;
    if (auto it = collectors.find(name); it != collectors.end()) machine = it->second.machine;
    for (const auto& col : k->columns)
      if (field == std::string(col.field) + "_per_request") return {spec::column_text(col.meaning, machine), "", 1};
  }
  if (kind == "qemu-trace" && (last == "total_per_request" || last == "total"))
    return {per_request ? "vIOMMU invalidations per request" : "vIOMMU invalidations", "", 1};
  if (kind == "pidstat" && last == "cpu_s_per_request") return {fmt::format("{} CPU time per request", process == "qemu" ? "QEMU" : process), "µs", 1e6};
  if (kind == "pidstat" && last == "cpu_util_pct") return {fmt::format("{} CPU utilization", process == "qemu" ? "QEMU" : process), "%", 1};
  if (kind == "kvm-exits" && last == "exits_per_request") return {"VM exits per request", "", 1};
  if (kind == "perf-stat" && last == "cycles_per_request") return {"cycles per request", "", 1};
  if (last.ends_with("_calls_per_request") || (last == "calls_per_request" && parts.size() >= 2))
    return {fmt::format("{} calls per request", parts[parts.size() - 2]), "", 1};
  if (last == "total_ns_per_request") return {fmt::format("{} time per request", parts[parts.size() - 2]), "ns", 1};
  std::string what = words(last);
  if (what.ends_with(" per request") || !per_request) return {fmt::format("{}: {}", name, what), "", 1};
  return {fmt::format("{}: {} per request", name, what), "", 1};
}

}  // namespace

MetricMeaning metric_meaning(const std::string& metric, const results::WorkloadInfo& info,
                             const std::map<std::string, results::CollectorInfo>& collectors, double largest) {
  auto parts = split(metric);
  std::string op;
  std::size_t i = 0;
  if (parts.size() >= 3 && parts[0] == "ops") {
    op = parts[1];
    i = 2;
  } else if (!info.primary.empty()) {
    op = info.primary;
  }
  std::string prefix = op.empty() ? "" : op + " ";
  if (parts[0] == "collectors" && parts.size() >= 3) return collector_meaning(parts, collectors);
  const std::string& head = parts[i];
  if (head == "throughput_ops") return {prefix + "throughput", ops_unit(info.tool), 1};
  if (head == "throughput_gbps") return {"throughput", "Gbit/s", 1};
  if ((head == "latency_us" || head == "latency_us_max_of_clients") && parts.size() > i + 1) {
    std::string key = parts[i + 1];
    for (std::size_t k = i + 2; k < parts.size(); ++k) key += "." + parts[k];
    std::string what = prefix + latency_key_words(key);
    if (head == "latency_us_max_of_clients") what += " (largest client)";
    if (largest > 20000) return {what, "ms", 1e-3};
    return {what, "µs", 1};
  }
  if (head == "requests") return {prefix + "requests completed", "", 1};
  if (head == "errors") return {"failed requests", "", 1};
  if (head == "duration_s") return {"measured duration", "s", 1};
  if (head == "extra" && parts.size() > i + 1) return {words(parts.back()), "", 1};
  std::string rest;
  for (std::size_t k = i; k < parts.size(); ++k) rest += (rest.empty() ? "" : " ") + words(parts[k]);
  return {prefix + rest, "", 1};
}

std::string param_name(const std::string& path) {
  if (path == "policy" ) return "IOMMU policy";
  if (path.rfind("policy.host", 0) == 0) return "host policy";
  if (path.rfind("policy.guest", 0) == 0) return "guest policy";
  if (path == "workload") return "workload";
  auto parts = split(path);
  const std::string& last = parts.back();
  std::string parent = parts.size() >= 2 ? parts[parts.size() - 2] : "";
  if (parent == "viommu" && last == "model") return "vIOMMU model";
  if (last == "caching_mode") return "caching mode";
  if (last == "pipeline") return "pipeline depth";
  if (last == "data_size" || last == "value_size") return "value size (bytes)";
  if (last == "file_size") return "file size";
  if (last == "threads" && parent == "client") return "client threads";
  if (last == "parallel" || last == "flows") return "flows";
  return words(last);
}

std::string value_text(const nlohmann::json& v) {
  if (v.is_boolean()) return v.get<bool>() ? "on" : "off";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "-";
  return v.dump();
}

const std::vector<std::string>& policy_order() {
  static const std::vector<std::string> order = [] {
    std::vector<std::string> o;
    for (auto p : {policy::Policy::strict, policy::Policy::lazy, policy::Policy::passthrough, policy::Policy::off})
      o.emplace_back(policy::to_string(p));
    return o;
  }();
  return order;
}

std::size_t policy_rank(const std::string& p) {
  const auto& o = policy_order();
  return static_cast<std::size_t>(std::find(o.begin(), o.end(), p) - o.begin());
}

SeriesStyle policy_style(const std::string& p) {
  // Okabe & Ito (2008): vermillion, orange, bluish green, blue; filled circle, square,
  // triangle, diamond.
  static const SeriesStyle styles[] = {{"#D55E00", 7}, {"#E69F00", 5}, {"#009E73", 9}, {"#0072B2", 13}};
  std::size_t r = policy_rank(p);
  return r < std::size(styles) ? styles[r] : other_style(0);
}

SeriesStyle other_style(std::size_t i) {
  static const SeriesStyle styles[] = {{"#000000", 11}, {"#56B4E9", 15}, {"#CC79A7", 3}, {"#F0E442", 1}, {"#999999", 2}};
  return styles[i % std::size(styles)];
}

}  // namespace iommuvm::report
