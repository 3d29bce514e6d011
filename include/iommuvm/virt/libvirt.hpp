// The Hypervisor over the libvirt C API, plus lifecycle helpers that work on any Hypervisor.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "iommuvm/virt/hypervisor.hpp"
#include "iommuvm/virt/pci.hpp"

namespace iommuvm::virt {

// Open a read-write connection to URI (qemu:///system, qemu+ssh://host/system,
// test:///abs/path/node.xml). libvirt's own printing of errors to stderr is silenced for the
// whole process; every failure is an Error naming the domain or device and carrying
// libvirt's message. Semantics of the Hypervisor calls:
//   define: virDomainDefineXML (creates or replaces the persistent definition);
//   undefine: no-op when the domain does not exist; drops managed save, snapshot and
//     checkpoint metadata, keeps NVRAM (falls back to a plain undefine on drivers without those flags);
//   start: error when already running; shutdown: ACPI request, polls until TIMEOUT (true when
//     off; also true when already off); destroy: no-op when not running;
//   is_active: false when the domain does not exist;
//   node_devices(CAP): names of node devices with capability CAP ("pci", "net", ...; "" = all).
std::unique_ptr<Hypervisor> connect_libvirt(const std::string& uri);

// Graceful shutdown, then destroy when still running after TIMEOUT. True when the guest
// stopped by itself.
bool stop_domain(Hypervisor& hv, const std::string& name, std::chrono::seconds timeout);

// Define XML (stamped with its content hash, see domain_xml.hpp) unless the domain libvirt
// holds already carries the same hash. Keeps the existing domain's UUID, so a rendered XML
// without <uuid> replaces the definition instead of clashing with it. True when it defined.
bool define_if_changed(Hypervisor& hv, const std::string& xml);

// A PCI node device as libvirt describes it (virsh nodedev-dumpxml).
struct PciDeviceInfo {
  std::string name;                   // pci_0000_ca_00_2
  PciAddress address;
  std::string driver;                 // empty when libvirt does not say
  std::string vendor_id, product_id;  // 0x15b3, 0x101e
  std::string product;                // ConnectX Family mlx5Gen Virtual Function
  std::optional<int> iommu_group;
  std::optional<PciAddress> phys_function;  // set on a VF
  std::vector<PciAddress> virt_functions;   // set on a PF with VFs enabled
  int max_vfs = 0;                          // virt_functions maxCount
  bool is_vf() const { return phys_function.has_value(); }
};
// Parse a node device XML; nullopt when it is not a PCI device. InputError when it does not parse.
std::optional<PciDeviceInfo> parse_pci_node_device(const std::string& xml);
// All PCI node devices.
std::vector<PciDeviceInfo> pci_devices(Hypervisor& hv);
// The VFs of PF (by phys_function), in address order.
std::vector<PciDeviceInfo> vfs_of(Hypervisor& hv, const PciAddress& pf);

// libvirt's packed version number (major * 1,000,000 + minor * 1,000 + release) as "9.0.0".
std::string format_version(unsigned long long packed);

}  // namespace iommuvm::virt
