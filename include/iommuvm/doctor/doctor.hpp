// `iommuvm doctor`: is every machine of a spec ready for its campaign? Pure: what the
// campaign needs of each machine comes from its plan (needs()), what the machines show
// is gathered elsewhere (engine/doctor.hpp, through the engine's Remote and machine_facts),
// and every check is a function from both to one line: ok, warn or FAIL with a fix.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "iommuvm/plan/plan.hpp"
#include "iommuvm/policy/evidence.hpp"
#include "iommuvm/policy/types.hpp"

namespace iommuvm::doctor {

enum class Status { ok, warn, fail };
std::string_view to_string(Status s);  // ok | warn | FAIL

struct Check {
  std::string machine;  // spec machine name; "controller" or "libvirt" for those
  std::string name;     // reachable, root, iommu.firmware, iommu.kernel, ...
  Status status = Status::ok;
  std::string detail;  // what was found
  std::string fix;     // what to do (empty when ok)
};

// What the campaign needs of one machine, from its plan (every run's configuration).
struct Needs {
  std::string machine;
  bool local = false;
  std::string login;              // user@host:port, or "local"
  bool sudo_allowed = true;       // the spec's `sudo`
  std::vector<std::string> root;  // why root is needed (empty: it is not)
  bool iommu_host = false;        // the host whose IOMMU policy the campaign measures
  bool iommu_required = false;    // some run needs the IOMMU on (a policy other than off, or a VF for a guest)
  bool iommu_switched = false;    // every policy that needs the IOMMU is switched on by the campaign (reboot/kexec)
  policy::Vendor vendor = policy::Vendor::intel;
  std::string guest_domain;  // non-empty: this machine is a guest, up only while the campaign runs
  // program -> what it is for; required ones FAIL when missing, optional ones warn.
  std::map<std::string, std::string> programs;
  std::map<std::string, std::string> optional_programs;
  // The SR-IOV NIC, when it is on this machine.
  std::string nic_pf;   // interface name
  std::string nic_pci;  // or PCI address
  int num_vfs = 0;
  // The tuning of the machine's first machine.tune step (the profile resolved), e.g.
  // {"governor": "performance", "cstates": false}: doctor says what it would change.
  nlohmann::json tuning;
};

// One Needs per machine of the plan's spec, in spec order.
std::vector<Needs> needs(const plan::Plan& plan);

// The sysfs folder of the NIC's PF: /sys/class/net/PF/device or /sys/bus/pci/devices/PCI.
std::string nic_sysfs_dir(const Needs& n);

// What a machine shows. Unset optionals: not read (the machine was unreachable or it did not apply).
struct MachineFacts {
  bool reachable = false;
  std::string connect_error;
  std::optional<bool> is_root;       // the login user is root
  std::optional<bool> sudo_ok;       // `sudo -n true` succeeded
  std::string sudo_error;
  std::optional<std::vector<std::string>> acpi_tables;  // names under /sys/firmware/acpi/tables
  policy::EvidenceInput evidence;    // /proc/cmdline, kernel log, group types, /sys/class/iommu
  std::map<std::string, bool> programs;  // program -> found in PATH
  // NIC: nullopt when the file is missing.
  std::optional<bool> nic_present;   // the PF's sysfs folder exists
  std::optional<std::string> sriov_totalvfs;
  std::string nic_driver;            // basename of the PF's driver link; empty: none bound
  // Per tuning knob (tune::knobs) and per place it may live (Knob::where, same order): the
  // files there with their first line. Read only for the knobs the tuning sets.
  std::map<std::string, std::vector<std::vector<std::pair<std::string, std::string>>>> knob_files;
};

struct HypervisorFacts {
  bool needed = false;
  std::string uri;
  bool connected = false;
  std::string error;
  std::string version;
  std::map<std::string, std::string> template_errors;  // guest -> why its domain XML cannot be built ("" ok)
  std::map<std::string, bool> domain_active;           // domain -> running now
};

struct ControllerFacts {
  std::string output;                     // the results root
  std::optional<std::uint64_t> free_bytes;  // free space where it is (or would be) created
};

// The checks, one function each.
Check check_reachable(const Needs& n, const MachineFacts& f, bool guest_running);
std::optional<Check> check_root(const Needs& n, const MachineFacts& f);
std::vector<Check> check_iommu(const Needs& n, const MachineFacts& f);
std::optional<Check> check_nic(const Needs& n, const MachineFacts& f);
std::vector<Check> check_programs(const Needs& n, const MachineFacts& f);
std::vector<Check> check_hypervisor(const HypervisorFacts& h);
Check check_disk(const ControllerFacts& c);

// Every check; machines that are not reachable get only their reachability line.
std::vector<Check> check_all(const std::vector<Needs>& needs, const std::map<std::string, MachineFacts>& facts,
                             const HypervisorFacts& hypervisor, const ControllerFacts& controller);

// The Debian package that installs PROGRAM, empty when unknown.
std::string debian_package(const std::string& program);

// "FAIL  host: iommu.firmware: no DMAR ACPI table ... (fix: ...)"
std::string format_line(const Check& c);
nlohmann::json to_json(const std::vector<Check>& checks);
bool passed(const std::vector<Check>& checks);  // no FAIL

}  // namespace iommuvm::doctor
