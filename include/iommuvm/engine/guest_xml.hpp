#pragma once

#include <filesystem>
#include <string>

#include "iommuvm/spec/spec.hpp"
#include "iommuvm/virt/hypervisor.hpp"

namespace iommuvm::engine {

// The domain XML of guest G for the resolved spec CFG: its template with name, vCPUs,
// memory, emulator, direct-boot kernel and the command line for the guest policy, the
// vIOMMU and the VF (address from HV's node devices). Without HV and with NOTE, the VF
// address is assumed (PF function + 2 + index) and NOTE says so.
std::string render_guest_xml(const spec::Spec& cfg, const spec::GuestSpec& g, virt::Hypervisor* hv,
                             const std::filesystem::path& spec_dir, std::string* note);

}  // namespace iommuvm::engine
