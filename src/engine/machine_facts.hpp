// What a machine shows about its IOMMU (facts, the effective policy's evidence), the NIC's IOMMU
// group and the devices in a group, read through its Remote. Internal to the engine.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "iommuvm/policy/boot.hpp"
#include "iommuvm/policy/types.hpp"
#include "iommuvm/remote/remote.hpp"
#include "iommuvm/spec/spec.hpp"

namespace iommuvm::engine {

// What a machine shows about its IOMMU right now: /proc/cmdline, the kernel log, IOMMU
// group types, /sys/class/iommu, kernel release, boot id. Never throws for a missing piece.
struct MachineFacts {
  std::optional<std::string> cmdline;
  std::optional<std::string> dmesg;
  std::map<int, std::string> group_types;
  std::vector<std::string> iommu_devices;
  std::string kernel;
  std::string boot_id;
  std::string cpu_model;
};
MachineFacts read_facts(remote::Remote& r);

// Evidence of the effective IOMMU policy of R as JSON (requested, effective, reasons,
// evidence, kernel, boot id, cmdline). When EXPECTED is set and not in effect, MISMATCH
// gets the explanation.
// GROUPS_UNDER_TEST: the IOMMU groups of the devices measured (the NIC's); the verdict is theirs.
nlohmann::json verify_machine(remote::Remote& r, const std::optional<policy::Policy>& expected,
                              std::string& mismatch, const std::vector<int>& groups_under_test = {});
// The same over FACTS already read from MACHINE.
nlohmann::json verify_facts(const std::string& machine, const MachineFacts& facts, const std::optional<policy::Policy>& expected,
                            std::string& mismatch, const std::vector<int>& groups_under_test = {});

// The NIC's PCI address on R (nic.pci, or the device of nic.pf) and its IOMMU group; the
// group is nullopt when it has none (no IOMMU, or the device is missing).
struct NicGroup {
  std::string pci;
  std::optional<int> group;
};
NicGroup nic_iommu_group(remote::Remote& r, const spec::NicSpec& nic);

// The PCI devices of IOMMU group GROUP on R with the drivers bound to them now.
std::vector<policy::PciDevice> group_devices(remote::Remote& r, int group);

}  // namespace iommuvm::engine
