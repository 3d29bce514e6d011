#include "iommuvm/spec/spec.hpp"

#include <algorithm>

namespace iommuvm::spec {

bool TuningSpec::empty() const {
  return !mtu && !rx_ring && !tx_ring && offloads.empty() && irq_affinity.empty() &&
         governor.empty() && !smt && commands.empty() && profile.empty() && !turbo && !cstates && !numa_balancing &&
         !irqbalance && !pause_frames && coalesce.empty();
}

const Machine* Spec::machine(const std::string& n) const {
  for (const auto& m : machines)
    if (m.name == n) return &m;
  return nullptr;
}

const Machine* Spec::first_with_role(Role r) const {
  for (const auto& m : machines)
    if (m.role == r) return &m;
  return nullptr;
}

const GuestSpec* Spec::guest(const std::string& n) const {
  for (const auto& g : guests)
    if (g.name == n) return &g;
  return nullptr;
}

const Workload* Spec::workload(const std::string& n) const {
  for (const auto& w : workloads)
    if (w.name == n) return &w;
  return nullptr;
}

const std::vector<CollectorKind>& collector_kinds() {
  static const std::vector<CollectorKind> kinds = {
      {"mpstat", {}, "CPU utilization per CPU (sysstat's mpstat)", "mpstat", false, {}},
      {"pidstat", {"process"}, "CPU time of one process: `process` is its name, or qemu for the guest's QEMU", "pidstat", false, {}},
      {"interrupts", {}, "/proc/interrupts deltas", "", false, {}},
      {"perf-stat", {}, "perf stat counters (`events`)", "perf", true, {{"events.cycles", "Cycles/req", "cycles per request"}}},
      {"kvm-exits", {}, "KVM exit counters from debugfs", "perf", true, {{"exits", "VM exits/req", "VM exits per request"}}},
      {"bpftrace-iommu", {}, "IOMMU map/unmap calls and latency through bpftrace (`functions`)", "bpftrace", true, {}},
      {"qemu-trace", {"trace_file"}, "QEMU trace events counted in `trace_file`, the file QEMU writes (-trace file=...)", "", true,
       {{"total", "vIOMMU invalidations/req", "vIOMMU invalidations per request"},
        {"iotlb_invalidations", "vIOMMU IOTLB invalidations/req", "vIOMMU IOTLB invalidations per request"}}},
      {"tracepoints", {},
       "kernel tracepoints counted in the window through tracefs hist triggers (`events`: subsystem:event; default "
       "iommu:map, iommu:unmap, intel_iommu:qi_submit by descriptor type)",
       "", true,
       {{"maps", "{machine} maps/req", "{machine} IOMMU maps per request"},
        {"unmaps", "{machine} unmaps/req", "{machine} IOMMU unmaps per request"},
        {"iotlb_invalidations", "{machine} IOTLB invalidations/req", "{machine} IOTLB invalidations per request"}}},
      {"dmar-pmu", {}, "Intel DMAR PMU counters", "perf", true, {}},
      {"custom", {"command", "metrics"}, "a `command` run around the window, its output matched by `metrics` (name: regex with one group)", "", false, {}},
  };

  return kinds;
}

bool is_tracepoint_name(std::string_view name) {
  auto word = [](std::string_view w) {
    return !w.empty() && w.size() <= 128 && std::all_of(w.begin(), w.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    });
  };
  auto colon = name.find(':');
  return colon != std::string_view::npos && word(name.substr(0, colon)) && word(name.substr(colon + 1));
}

std::string column_text(std::string_view text, const std::string& machine) {
  std::string out(text);
  if (auto p = out.find("{machine}"); p != std::string::npos) out.replace(p, 9, machine.empty() ? "host" : machine);
  return out;
}

const CollectorKind* collector_kind(std::string_view name) {
  for (const auto& k : collector_kinds())
    if (k.name == name) return &k;
  return nullptr;
}

std::vector<std::string_view> missing_collector_fields(const CollectorSpec& c) {
  std::vector<std::string_view> out;
  const CollectorKind* k = collector_kind(c.kind);
  if (!k) return out;
  for (auto f : k->required) {
    bool given = f == "process"      ? !c.process.empty()
                 : f == "trace_file" ? !c.trace_file.empty()
                 : f == "command"    ? !c.command.empty()
                 : f == "events"     ? !c.events.empty()
                 : f == "functions"  ? !c.functions.empty()
                 : f == "metrics"    ? !c.metrics.empty()
                                     : true;
    if (!given) out.push_back(f);
  }
  return out;
}

std::string_view to_string(Role r) {
  switch (r) {
    case Role::host: return "host";
    case Role::guest: return "guest";
    case Role::client: return "client";
  }
  return "?";
}

std::string_view to_string(ViommuSpec::Model m) {
  switch (m) {
    case ViommuSpec::Model::none: return "none";
    case ViommuSpec::Model::intel: return "intel";
    case ViommuSpec::Model::nested: return "nested";
    case ViommuSpec::Model::virtio: return "virtio";
  }
  return "?";
}

}  // namespace iommuvm::spec
