// The host side of SR-IOV, as reads of sysfs under a root prefix plus plans:
// lists of (path, value) writes and argv vectors that a caller applies, locally
// or through a Remote. Nothing here writes by itself, so the engine's dry run
// can print exactly what would be done.
//
// The manual steps this replaces (docs/virt.md):
//   echo 0 > /sys/class/net/PF/device/sriov_numvfs; echo 4 > .../sriov_numvfs
//   ip link set PF vf N mac M
//   virsh nodedev-detach pci_0000_ca_00_2   (managed='yes' hostdevs do this at start)
#pragma once

#include <filesystem>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iommuvm/remote/remote.hpp"
#include "iommuvm/remote/sysfs.hpp"
#include "iommuvm/virt/pci.hpp"

namespace iommuvm::virt::sriov {

// One write to a sysfs attribute (remote/sysfs.hpp): PATH is the absolute path on the
// machine (/sys/...), never prefixed by the root.
using remote::SysfsWrite;
using remote::write_command;  // sh -c 'printf %s "$1" > "$2"' sh VALUE PATH (as root)
using Writer = std::function<void(const SysfsWrite&)>;

// Apply WRITES in order through WRITER (stops at the first exception).
void apply(const std::vector<SysfsWrite>& writes, const Writer& writer);
// A writer that writes the value (no newline) to fs::under_root(ROOT, path),
// in place, as `echo -n VALUE > PATH` would. Throws Error naming the path.
Writer local_writer(const std::filesystem::path& root);

// Every reader below takes the machine's files as a remote::Sysfs (remote_sysfs(r) over
// SSH, local_sysfs(root) here); the overloads with a ROOT read this machine's files under it.

struct PfInfo {
  std::string ifname;   // net interface (empty when the PF has none, e.g. bound to vfio-pci)
  PciAddress pci;
  int total_vfs = 0;    // sriov_totalvfs
  int num_vfs = 0;      // sriov_numvfs
  std::string driver;   // bound driver (mlx5_core), empty when unbound
};

struct VfInfo {
  int index = 0;
  PciAddress pci;
  std::string node_device;          // libvirt name, pci_0000_ca_00_2
  std::optional<int> iommu_group;   // nullopt when the host IOMMU is off
  std::string driver;               // mlx5_core, vfio-pci, or empty
  std::string ifname;               // host net interface of the VF, when bound to a net driver
};

// Find the PF from its net interface (/sys/class/net/IF/device -> ../../../0000:ca:00.0)
// or from its PCI address (/sys/bus/pci/devices/ADDR). Throws Error naming what is missing,
// InputError when the device cannot do SR-IOV (no sriov_totalvfs).
PfInfo find_pf_by_interface(remote::Sysfs& sys, const std::string& ifname);
PfInfo find_pf_by_pci(remote::Sysfs& sys, const PciAddress& pci);
PfInfo find_pf(remote::Sysfs& sys, const std::string& ifname, const std::string& pci);
PfInfo find_pf_by_interface(const std::filesystem::path& root, const std::string& ifname);
PfInfo find_pf_by_pci(const std::filesystem::path& root, const PciAddress& pci);
// Either: IFNAME when not empty, else PCI (which must then parse). InputError when both empty.
PfInfo find_pf(const std::filesystem::path& root, const std::string& ifname, const std::string& pci);

// The writes that make the PF have COUNT VFs: none when it already has; [COUNT] from 0;
// [0, COUNT] otherwise (the kernel refuses to change a non-zero count directly).
// InputError when COUNT is negative or above total_vfs.
std::vector<SysfsWrite> plan_set_num_vfs(const PfInfo& pf, int count);

// ip link set PF vf INDEX mac MAC (as root). InputError on a bad MAC.
remote::Command vf_mac_command(const std::string& pf_ifname, int index, const std::string& mac);

// VF INDEX of the PF through the virtfnINDEX link. Throws Error when it does not exist.
VfInfo vf_info(remote::Sysfs& sys, const PfInfo& pf, int index);
VfInfo vf_info(const std::filesystem::path& root, const PfInfo& pf, int index);
// All VFs present (virtfn0..virtfnN-1), in index order.
std::vector<VfInfo> list_vfs(remote::Sysfs& sys, const PfInfo& pf);
std::vector<VfInfo> list_vfs(const std::filesystem::path& root, const PfInfo& pf);

// Driver currently bound to the PCI device (basename of its driver link), empty when unbound.
std::string bound_driver(remote::Sysfs& sys, const PciAddress& pci);
std::optional<int> iommu_group(remote::Sysfs& sys, const PciAddress& pci);
std::string bound_driver(const std::filesystem::path& root, const PciAddress& pci);
std::optional<int> iommu_group(const std::filesystem::path& root, const PciAddress& pci);

// Writes that bind the device to DRIVER (e.g. vfio-pci, for the iommufd case where libvirt
// does not manage the device): driver_override, unbind from the current driver, drivers_probe.
// Empty when already bound to DRIVER.
std::vector<SysfsWrite> plan_bind(remote::Sysfs& sys, const PciAddress& pci, const std::string& driver);
std::vector<SysfsWrite> plan_bind(const std::filesystem::path& root, const PciAddress& pci,
                                  const std::string& driver);
// Writes that undo plan_bind: clear driver_override, unbind, then bind to ORIGINAL
// (drivers/ORIGINAL/bind) or let the kernel choose (drivers_probe) when ORIGINAL is empty.
std::vector<SysfsWrite> plan_unbind(remote::Sysfs& sys, const PciAddress& pci, const std::string& original);
std::vector<SysfsWrite> plan_unbind(const std::filesystem::path& root, const PciAddress& pci,
                                    const std::string& original);

// The MAC of each VF as `ip link show dev PF` prints it ("vf 0     link/ether 52:54:00:.. brd ..",
// or "vf 0 MAC 52:54:00:.." from older iproute2), by VF index, normalised.
std::map<int, std::string> parse_vf_macs(std::string_view ip_link_show);

// --- Data path: the VF's counters inside the guest ---------------------------------

// The interface whose /sys/class/net/IF/address is MAC (compared normalised); empty when none.
std::string interface_by_mac(remote::Sysfs& sys, const std::string& mac);

struct NetCounters {
  std::uint64_t rx_bytes = 0, rx_packets = 0, tx_bytes = 0, tx_packets = 0;
};
// /sys/class/net/IF/statistics/{rx,tx}_{bytes,packets}; nullopt when any is missing or not a number.
std::optional<NetCounters> read_counters(remote::Sysfs& sys, const std::string& ifname);

// What the workload moved between the two readings, from its own metrics (warm-up and measurement).
struct Traffic {
  double requests = 0;  // requests made (0: the tool does not count them)
  int pipeline = 1;     // requests sent per round trip (redis-benchmark -P, memtier --pipeline)
  double bytes = 0;     // bytes moved (iperf3: throughput x duration); 0: unknown
};
struct DataPathVerdict {
  bool ok = true;
  double expected_packets = 0;  // the threshold the VF's rx+tx packets had to reach
  double expected_bytes = 0;    // the threshold for rx+tx bytes (when the tool counts bytes)
  std::string reason;           // why not ok
};
// The traffic crossed the VF when its packets (rx + tx, after - before) reach requests / pipeline
// (every batch of requests is at least one packet in and one out, so this leaves a 2x margin), and
// its bytes reach half of what the tool says it moved (iperf3). A tool that counts neither needs
// at least one packet each way. A counter that went backwards (interface reset) fails too.
DataPathVerdict check_data_path(const NetCounters& before, const NetCounters& after, const Traffic& moved);

// --- MAC addresses -----------------------------------------------------------------

// Six colon-separated hex octets, unicast, not all zero.
bool valid_mac(std::string_view mac);
// Lower case. InputError when not valid_mac.
std::string normalise_mac(std::string_view mac);
bool locally_administered(std::string_view mac);

enum class MacPrefix {
  qemu,   // 52:54:00:xx:xx:NN (QEMU's locally administered range)
  local,  // 02:xx:xx:xx:xx:NN
};
// Deterministic, locally administered MAC for VF INDEX (0..255): the middle octets come
// from SHA-256 of SEED (say "host/enp202s0f0np0"), the last octet is INDEX, so the VFs of
// one PF never collide and the same seed gives the same MACs every run.
std::string generate_vf_mac(std::string_view seed, int index, MacPrefix prefix = MacPrefix::qemu);
// MACs for COUNT VFs: GIVEN[i] (normalised) where present and non-empty, generated otherwise.
// InputError on an invalid or duplicated MAC.
std::vector<std::string> vf_macs(std::string_view seed, int count, const std::vector<std::string>& given,
                                 MacPrefix prefix = MacPrefix::qemu);
// The first MAC that occurs twice (compared normalised), nullopt when all are unique.
// Invalid entries are compared as written.
std::optional<std::string> find_duplicate_mac(const std::vector<std::string>& macs);

// --- Subnets -------------------------------------------------------------------------

// Address parsing and subnet arithmetic live in util/net.hpp (net::parse_cidr, net::in_subnet).
// True when IP (bare or with a prefix, which is ignored) is inside the network of NETWORK
// (an address with prefix, e.g. the PF's 10.10.1.1/24). False across families.
// InputError when either does not parse.
bool in_subnet(std::string_view network, std::string_view ip);

}  // namespace iommuvm::virt::sriov
