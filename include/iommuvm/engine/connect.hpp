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

// The libvirt URI to open for SPEC's hypervisor. As written when it names a transport or a
// host (qemu+ssh://, qemu+libssh://, qemu+tls://host/, test:///...) or when hypervisor.machine
// is the controller (local, or not given). A local-form URI (qemu:///system) for a machine
// reached over SSH becomes qemu+libssh://[USER@]HOST[:PORT]/system with that machine's SSH
// settings (its first key, known_hosts, host-key check: strict -> normal, accept-new -> auto,
// off -> ignore), so libvirtd on that machine is the one used, never the controller's own.
// Throws InputError when that cannot be done (a jump host: give hypervisor.uri in full).
std::string hypervisor_uri(const spec::Spec& spec);

struct RealBackends {
  std::map<std::string, std::unique_ptr<remote::Remote>> machines;
  std::unique_ptr<virt::Hypervisor> hypervisor;
};
RealBackends connect_all(const spec::Spec& spec);

}  // namespace iommuvm::engine
