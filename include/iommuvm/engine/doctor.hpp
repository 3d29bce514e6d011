// Facts for `iommuvm doctor`, gathered through the engine's own backends: each machine
// through its Remote (SSH with host-key verification, or local), paths under its root
// prefix as machine_files reads them; libvirt at the spec's URI; the controller's disk.
// The checks over these facts are pure (iommuvm/doctor/doctor.hpp).
#pragma once

#include <filesystem>
#include <string>

#include "iommuvm/doctor/doctor.hpp"
#include "iommuvm/plan/plan.hpp"
#include "iommuvm/remote/remote.hpp"

namespace iommuvm::engine {

// Never throws for what a machine lacks: a failed connection is a fact (reachable=false).
doctor::MachineFacts gather_machine(remote::Remote& r, const doctor::Needs& needs);

// libvirt at the spec's URI (when the spec has guests), whether each guest is running, and
// whether each guest's domain XML renders from its template (as the engine would define it).
doctor::HypervisorFacts gather_hypervisor(const plan::Plan& plan, const std::filesystem::path& spec_dir);

// Free space where the results would go (the nearest existing folder of OUTPUT).
doctor::ControllerFacts gather_controller(const std::filesystem::path& output);

}  // namespace iommuvm::engine
