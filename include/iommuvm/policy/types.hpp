// IOMMU policy vocabulary shared by spec, plan, policy and results.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iommuvm::policy {

// What the DMA API does with the IOMMU.
//   strict:      every unmap flushes the IOTLB          (iommu.strict=1)
//   lazy:        flushes batched in a flush queue       (iommu.strict=0)
//   passthrough: identity mapping, no translation       (iommu.passthrough=1 / iommu=pt)
//   off:         IOMMU disabled                         (intel_iommu=off / amd_iommu=off)
enum class Policy { strict, lazy, passthrough, off };

enum class Vendor { intel, amd };

// How a layer's policy is switched.
enum class Method {
  automatic,        // the fastest method that can express the change
  runtime,          // /sys/kernel/iommu_groups/N/type, no reboot
  kexec,            // kexec into the same kernel with a new command line
  grub_oneshot,     // dedicated GRUB entry booted once with grub-reboot (host default)
  grub,             // edit /etc/default/grub persistently, update-grub, reboot
  libvirt_cmdline,  // rewrite the guest's direct-boot <cmdline>, restart the guest (guest default)
  none,             // do not switch: measure the machine as it is
};

std::string_view to_string(Policy p);
std::string_view to_string(Vendor v);
std::string_view to_string(Method m);
std::optional<Policy> parse_policy(std::string_view s);
std::optional<Vendor> parse_vendor(std::string_view s);
std::optional<Method> parse_method(std::string_view s);
// Every method, in the order of its name table (what the spec reader offers and lists).
std::vector<Method> all_methods();

}  // namespace iommuvm::policy
