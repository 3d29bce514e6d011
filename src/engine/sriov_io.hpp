// SR-IOV set-up on a machine through its Remote: the VF count and MACs, binding a VF to
// vfio-pci; every change journaled through an UndoLog first. Internal to the engine.
#pragma once

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "iommuvm/remote/remote.hpp"
#include "iommuvm/spec/spec.hpp"

namespace iommuvm::engine {

// Journals one change (an undo.jsonl entry without machine and time) before it is made.
using UndoLog = std::function<void(nlohmann::json)>;

// nic.setup_vfs on R: find the PF (interface or PCI address) in sysfs, set the VF count
// (through 0) and the MAC of each VF on the PF (`ip link set PF vf N mac M`), journaling
// the old count and the old MACs of VFs that already existed. Returns what run.json keeps
// (system.vfs).
nlohmann::json setup_vfs(remote::Remote& r, const spec::NicSpec& nic, const std::vector<std::string>& macs,
                         const UndoLog& undo, std::ostream& progress);

// Bind VF INDEX of the NIC to vfio-pci (driver_override, unbind, drivers_probe) for a guest
// whose QEMU opens it through iommufd; the original driver is journaled first. Nothing when
// it is already bound to vfio-pci.
nlohmann::json bind_vf_to_vfio(remote::Remote& r, const spec::NicSpec& nic, int index, const UndoLog& undo);

}  // namespace iommuvm::engine
