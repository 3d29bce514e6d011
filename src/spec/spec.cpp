#include "iommuvm/spec/spec.hpp"

namespace iommuvm::spec {

bool TuningSpec::empty() const {
  return !mtu && !rx_ring && !tx_ring && offloads.empty() && irq_affinity.empty() &&
         governor.empty() && !smt && commands.empty();
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
