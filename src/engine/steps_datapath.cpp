// The data-path check: the load must cross the VF, not the management network. The VF's
// counters in each guest that serves or drives the workload are read before the warm-up
// and after the measurement (never inside the measurement window), and a run whose VF
// did not carry the workload's traffic fails with reason `data-path: ...`.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "iommuvm/engine/engine.hpp"
#include "iommuvm/remote/sysfs.hpp"
#include "iommuvm/virt/sriov.hpp"

namespace iommuvm::engine {

using nlohmann::json;
namespace sriov = virt::sriov;

namespace {

json to_json(const sriov::NetCounters& c) {
  return {{"rx_bytes", c.rx_bytes}, {"rx_packets", c.rx_packets}, {"tx_bytes", c.tx_bytes}, {"tx_packets", c.tx_packets}};
}

sriov::NetCounters from_json(const json& j) {
  return {j.value("rx_bytes", std::uint64_t{0}), j.value("rx_packets", std::uint64_t{0}), j.value("tx_bytes", std::uint64_t{0}),
          j.value("tx_packets", std::uint64_t{0})};
}

// What the load generator moved, warm-up and measurement together: the requests it reports,
// or for request-count tools that do not report them (redis-benchmark's CSV) the requests it
// was told to make (the warm-up makes a tenth, at least 1,000; each -t test makes them all).
sriov::Traffic traffic_of(const json& record, const spec::Workload& w) {
  sriov::Traffic t;
  t.pipeline = std::max(1, w.client.pipeline);
  for (const char* part : {"warmup", "metrics"}) {
    if (!record.contains(part) || !record[part].is_object()) continue;
    const auto& m = record[part];
    if (m.contains("requests") && m["requests"].is_number()) {
      t.requests += m["requests"].get<double>();
    } else if (w.client.requests > 0 && w.client.duration_s <= 0) {
      double n = std::string(part) == "warmup" ? std::max(1000, w.client.requests / 10) : w.client.requests;
      t.requests += n * static_cast<double>(std::max<std::size_t>(1, w.client.tests.size()));
    }
    if (m.contains("throughput_gbps") && m.contains("duration_s") && m["throughput_gbps"].is_number() && m["duration_s"].is_number())
      t.bytes += m["throughput_gbps"].get<double>() * 1e9 / 8 * m["duration_s"].get<double>();
  }
  return t;
}

}  // namespace

void Engine::data_path_read(const plan::Step& s, bool before) {
  if (!run_) return;
  const auto& cfg = config(s);
  const auto& w = cfg.workloads.front();
  std::string sm = plan::server_machine(cfg, w), cm = plan::client_machine(cfg, w);
  for (const auto& g : cfg.guests) {
    if (!g.vf || (g.machine != sm && g.machine != cm)) continue;
    std::string mac = !g.mac.empty() ? g.mac
                                     : sriov::vf_macs(cfg.name, cfg.nic.num_vfs, cfg.nic.vf_macs)[static_cast<std::size_t>(*g.vf)];
    mac = sriov::normalise_mac(mac);
    auto sys = remote::remote_sysfs(machine(g.machine));
    json& rec = run_->record["data_path"][g.name];
    if (before) rec = {{"machine", g.machine}, {"mac", mac}};
    if (!before && (!rec.is_object() || !rec.contains("before"))) continue;  // the first reading failed the run
    std::string ifname = before ? sriov::interface_by_mac(*sys, mac) : rec.value("interface", std::string());
    if (ifname.empty()) {
      fail_run(fmt::format("data-path: no interface with the VF's MAC {} in guest {} (is the VF attached?)", mac, g.domain));
      continue;
    }
    auto counters = sriov::read_counters(*sys, ifname);
    if (!counters) {
      fail_run(fmt::format("data-path: cannot read the counters of {} in guest {} (/sys/class/net/{}/statistics)", ifname,
                           g.domain, ifname));
      continue;
    }
    if (before) {
      rec["interface"] = ifname;
      rec["before"] = to_json(*counters);
      continue;
    }
    auto b = from_json(rec["before"]);
    rec["after"] = to_json(*counters);
    rec["delta"] = {{"rx_bytes", counters->rx_bytes - b.rx_bytes}, {"rx_packets", counters->rx_packets - b.rx_packets},
                    {"tx_bytes", counters->tx_bytes - b.tx_bytes}, {"tx_packets", counters->tx_packets - b.tx_packets}};
    auto moved = traffic_of(run_->record, w);
    rec["requests"] = moved.requests;
    auto verdict = sriov::check_data_path(b, *counters, moved);
    rec["expected_packets"] = verdict.expected_packets;
    if (verdict.expected_bytes > 0) rec["expected_bytes"] = verdict.expected_bytes;
    rec["ok"] = verdict.ok;
    if (!verdict.ok)
      fail_run(fmt::format("data-path: guest {}: {} on {}: the traffic did not go through the VF (check the server's "
                           "bind address and the client's target: they must be the VF's data address)",
                           g.domain, verdict.reason, ifname));
  }
}

}  // namespace iommuvm::engine
