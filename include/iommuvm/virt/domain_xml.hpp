// Domain XML from a template: the users' own domain XMLs (inactive or `virsh dumpxml`
// of a running guest) are rewritten for one run. Pure functions over text (pugixml).
#pragma once

#include <optional>
#include <string>

#include "iommuvm/spec/spec.hpp"
#include "iommuvm/virt/pci.hpp"

namespace iommuvm::virt {

using ViommuModel = spec::ViommuSpec::Model;

// Everything render_domain() changes. Empty strings and zeros keep the template's value.
struct DomainSettings {
  std::string name;          // <name>; required
  std::string uuid;          // <uuid>; empty: removed (libvirt assigns one; define_if_changed copies the existing)
  std::string domain_type;   // <domain type=...>: kvm | qemu (TCG) | test; empty: keep
  int vcpus = 0;             // <vcpu>; vcpupin of vCPUs beyond it and a mismatching <topology> are dropped
  int memory_mib = 0;        // <memory> and <currentMemory>
  std::string emulator;      // <devices><emulator>
  std::string kernel;        // <os><kernel>
  std::string initrd;        // <os><initrd>
  std::string cmdline;       // <os><cmdline>, complete (the caller adds the IOMMU parameters)
  spec::ViommuSpec viommu;   // none | intel | nested | virtio, with its options
  std::optional<PciAddress> vf;  // the SR-IOV VF passed to the guest; nullopt: none
  std::string vf_mac;        // its MAC (empty: libvirt picks one; unused with iommufd/nested: set it on the PF)
  // <memoryBacking><locked/>: nullopt means "when a VF is attached" (VFIO pins guest memory;
  // with <locked/> libvirt lifts the memlock limit, needed when QEMU opens the VF itself).
  std::optional<bool> lock_memory;
  // The VF is opened by QEMU through iommufd (qemu:commandline -object iommufd + -device vfio-pci),
  // as in the users' server_iommufd_*.xml; libvirt 9 cannot express it. Implied by nested.
  // With intel this is the users' "shadow" form: -device intel-iommu on the command line too.
  bool iommufd = false;
  std::string iommufd_id = "iommufd0";  // id of the -object iommufd
};

inline constexpr const char* kQemuNamespace = "http://libvirt.org/schemas/domain/qemu/1.0";

// The template with SETTINGS applied:
//  - live state stripped (id=, <alias> but user "ua-" ones, portid, pty paths, dynamic <seclabel>,
//    auto-named <target dev='vnetN'>, disk source index, channel state), comments dropped;
//  - name, uuid, type, vcpus, memory, emulator, kernel, initrd, cmdline set;
//  - every vIOMMU (<iommu>, qemu:commandline intel-iommu / iommufd / kernel_irqchip) and every
//    PCI passthrough (<interface type='hostdev'>, <hostdev type='pci'>, -device vfio-pci) removed,
//    then exactly the requested vIOMMU and VF added.
// render_domain(render_domain(t, s), s) == render_domain(t, s).
// Throws InputError when the template is not a domain XML or a setting is malformed.
std::string render_domain(const std::string& template_xml, const DomainSettings& settings);

// Canonical text of a domain XML for comparison: live state and comments stripped,
// whitespace between elements ignored, attributes kept in document order.
std::string normalise_domain_xml(const std::string& xml);
bool same_domain_xml(const std::string& a, const std::string& b);

// Small readers used by the lifecycle and the tests.
std::optional<std::string> domain_name(const std::string& xml);
std::optional<std::string> domain_uuid(const std::string& xml);
// A copy of XML with <uuid> set to UUID (added when missing).
std::string with_uuid(const std::string& xml, const std::string& uuid);

}  // namespace iommuvm::virt

namespace iommuvm::virt {

inline constexpr const char* kIommuvmNamespace = "https://github.com/iommuvm/iommuvm/domain/1";

// SHA-256 of normalise_domain_xml(XML) ignoring <uuid> and the stamp below.
std::string content_hash(const std::string& xml);
// XML with <metadata><iommuvm:render hash='...'/></metadata> recording content_hash(XML), so a
// later run can tell whether the domain libvirt holds is still what it would render
// (libvirt rewrites the XML it stores; it keeps foreign metadata as written).
std::string stamp_content_hash(const std::string& xml);
// The hash recorded by stamp_content_hash, nullopt when none.
std::optional<std::string> stamped_hash(const std::string& xml);

}  // namespace iommuvm::virt
