// Backends for a real run, built from the spec: one Remote per machine (connected on
// first use, so a guest that is not up yet is not a failure) and one libvirt connection.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "iommuvm/remote/remote.hpp"
#include "iommuvm/spec/spec.hpp"
#include "iommuvm/virt/hypervisor.hpp"

namespace iommuvm::engine {

// A Remote that connects when first used; connection errors surface on that use.
std::unique_ptr<remote::Remote> lazy_remote(const spec::Spec& spec, const spec::Machine& m);

struct RealBackends {
  std::map<std::string, std::unique_ptr<remote::Remote>> machines;
  std::unique_ptr<virt::Hypervisor> hypervisor;
};
RealBackends connect_all(const spec::Spec& spec);

}  // namespace iommuvm::engine
