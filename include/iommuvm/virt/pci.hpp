// A PCI address (0000:ca:00.2) in the forms the kernel, libvirt and QEMU use.
#pragma once

#include <compare>
#include <optional>
#include <string>
#include <string_view>

namespace iommuvm::virt {

struct PciAddress {
  unsigned domain = 0;
  unsigned bus = 0;
  unsigned slot = 0;
  unsigned function = 0;

  // "0000:ca:00.2" or "ca:00.2" (domain 0). Also accepts libvirt node device names
  // ("pci_0000_ca_00_2"). nullopt when malformed or out of range.
  static std::optional<PciAddress> parse(std::string_view text);

  std::string str() const;               // 0000:ca:00.2 (sysfs, QEMU host=)
  std::string node_device_name() const;  // pci_0000_ca_00_2 (libvirt node device)

  auto operator<=>(const PciAddress&) const = default;
};

}  // namespace iommuvm::virt
