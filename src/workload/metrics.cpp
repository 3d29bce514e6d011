#include "iommuvm/workload/metrics.hpp"

namespace iommuvm::workload {

namespace {

nlohmann::json latency_json(const std::map<std::string, double>& lat) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : lat) j[k] = v;
  return j;
}

}  // namespace

nlohmann::json to_json(const OpMetrics& m) {
  nlohmann::json j = nlohmann::json::object();
  if (m.throughput_ops) j["throughput_ops"] = *m.throughput_ops;
  if (m.requests) j["requests"] = *m.requests;
  if (!m.latency_us.empty()) j["latency_us"] = latency_json(m.latency_us);
  if (!m.latency_us_max_of_clients.empty()) j["latency_us_max_of_clients"] = latency_json(m.latency_us_max_of_clients);
  return j;
}

nlohmann::json to_json(const Metrics& m) {
  nlohmann::json j = nlohmann::json::object();
  j["tool"] = m.tool;
  if (!m.primary.empty()) j["primary"] = m.primary;
  if (m.throughput_ops) j["throughput_ops"] = *m.throughput_ops;
  if (m.throughput_gbps) j["throughput_gbps"] = *m.throughput_gbps;
  if (!m.latency_us.empty()) j["latency_us"] = latency_json(m.latency_us);
  if (!m.latency_us_max_of_clients.empty()) j["latency_us_max_of_clients"] = latency_json(m.latency_us_max_of_clients);
  if (m.requests) j["requests"] = *m.requests;
  if (m.errors) j["errors"] = *m.errors;
  if (m.duration_s) j["duration_s"] = *m.duration_s;
  if (!m.ops.empty()) {
    nlohmann::json ops = nlohmann::json::object();
    for (const auto& [name, op] : m.ops) ops[name] = to_json(op);
    j["ops"] = ops;
  }
  if (!m.extra.empty()) {
    nlohmann::json extra = nlohmann::json::object();
    for (const auto& [k, v] : m.extra) extra[k] = v;
    j["extra"] = extra;
  }
  return j;
}

bool too_many_errors(const Metrics& m, double max_ratio) {
  if (!m.errors || *m.errors == 0) return false;
  if (!m.requests || *m.requests == 0) return true;
  return static_cast<double>(*m.errors) / static_cast<double>(*m.requests) > max_ratio;
}

}  // namespace iommuvm::workload
