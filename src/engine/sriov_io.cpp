// SR-IOV on a machine through its Remote: the VF count and MACs (nic.setup_vfs), binding a
// VF to vfio-pci for QEMU's iommufd, and the VF's counters in a guest (the data-path check).
// Reads and writes go through remote::remote_sysfs (under the machine's root prefix); every
// change is journaled through UNDO before it is made.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "iommuvm/remote/sysfs.hpp"
#include "iommuvm/util/error.hpp"
#include "iommuvm/virt/sriov.hpp"
#include "machine_files.hpp"
#include "sriov_io.hpp"

namespace iommuvm::engine {

using nlohmann::json;
namespace sriov = virt::sriov;

namespace {

std::string pf_label(const spec::NicSpec& nic) { return nic.pf.empty() ? nic.pci : nic.pf; }

sriov::PfInfo find_pf_explained(remote::Sysfs& sys, const spec::NicSpec& nic, const std::string& machine) {
  try {
    return sriov::find_pf(sys, nic.pf, nic.pci);
  } catch (const InputError& e) {
    throw Error(fmt::format("{} on {}: {}: check the NIC, its driver and SRIOV_EN/NUM_OF_VFS in the firmware (mlxconfig)",
                            pf_label(nic), machine, e.what()));
  }
}

}  // namespace

json setup_vfs(remote::Remote& r, const spec::NicSpec& nic, const std::vector<std::string>& macs, const UndoLog& undo,
               std::ostream& progress) {
  auto sys = remote::remote_sysfs(r);
  json out = {{"num_vfs", nic.num_vfs}, {"macs", macs}};
  auto pf = find_pf_explained(*sys, nic, r.name());
  if (nic.num_vfs > pf.total_vfs)
    throw Error(fmt::format("{} VFs asked for but {} on {} offers {} (sriov_totalvfs); raise NUM_OF_VFS with mlxconfig",
                            nic.num_vfs, pf_label(nic), r.name(), pf.total_vfs));
  auto writes = sriov::plan_set_num_vfs(pf, nic.num_vfs);
  if (!writes.empty()) {
    undo({{"action", "num_vfs"}, {"path", writes.front().path}, {"value", pf.num_vfs}, {"keep_at_end", !nic.restore}});
    sys->write_all(writes);
  }
  out["pf"] = {{"interface", pf.ifname}, {"pci", pf.pci.str()}, {"driver", pf.driver}, {"total_vfs", pf.total_vfs},
               {"num_vfs_before", pf.num_vfs}};
  if (pf.ifname.empty()) {
    // A PF without a net interface: libvirt still sets a managed VF's MAC at guest start.
    progress << fmt::format("  {} has no net interface on {}: VF MACs are not set on the PF\n", pf.pci.str(), r.name());
    out["macs_set"] = false;
  } else {
    auto shown = run_checked(r, {{"ip", "link", "show", "dev", pf.ifname}, false, "", {}}, "listing the VFs of " + pf.ifname);
    auto old = sriov::parse_vf_macs(shown.out);
    for (int i = 0; i < nic.num_vfs; ++i) {
      const auto& mac = macs[static_cast<std::size_t>(i)];
      auto was = old.find(i);
      if (was != old.end() && was->second == mac) continue;
      // VFs that existed before keep their MAC in the undo log; new ones go away with the count.
      if (writes.empty() && was != old.end())
        undo({{"action", "vf_mac"}, {"interface", pf.ifname}, {"vf", i}, {"value", was->second}, {"keep_at_end", !nic.restore}});
      run_checked(r, sriov::vf_mac_command(pf.ifname, i, mac), fmt::format("setting the MAC of VF {}", i));
    }
    out["macs_set"] = true;
  }
  json vfs = json::array();
  for (const auto& vf : sriov::list_vfs(*sys, pf))
    vfs.push_back({{"index", vf.index}, {"pci", vf.pci.str()}, {"node_device", vf.node_device}, {"driver", vf.driver},
                   {"iommu_group", vf.iommu_group ? json(*vf.iommu_group) : json(nullptr)}});
  out["vfs"] = vfs;
  return out;
}

json bind_vf_to_vfio(remote::Remote& r, const spec::NicSpec& nic, int index, const UndoLog& undo) {
  auto sys = remote::remote_sysfs(r);
  auto pf = find_pf_explained(*sys, nic, r.name());
  auto vf = sriov::vf_info(*sys, pf, index);
  auto writes = sriov::plan_bind(*sys, vf.pci, "vfio-pci");
  if (!writes.empty()) {
    undo({{"action", "pci_driver"}, {"pci", vf.pci.str()}, {"value", vf.driver}});
    sys->write_all(writes);
  }
  return {{"pci", vf.pci.str()}, {"driver_before", vf.driver}, {"driver", sriov::bound_driver(*sys, vf.pci)}};
}

}  // namespace iommuvm::engine
