// The simulated machines behind --dry-run. Each SimulatedRemote prints every call exactly as
// RecordingRemote does, and answers reads from a model of its machine built from the spec:
// files it was given (the GRUB default file, the one-shot GRUB script, sysfs values), the
// kernel and /proc/cmdline of the boot it is in (a reboot boots the entry grub-reboot chose,
// the GRUB default file's command line or the loaded kexec kernel, with a new boot id), the
// IOMMU groups the booted command line asks for, the processes it started, the servers'
// readiness answers. What the spec does not say is assumed, once per machine and fact, on a
// line "[machine] # assumed: ...". The engine runs its own code over these machines: its
// checks pass because the model answers consistently.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "iommuvm/engine/recording.hpp"
#include "iommuvm/spec/spec.hpp"

namespace iommuvm::engine {

// The state of one simulated machine.
struct MachineModel {
  std::string name;
  spec::Machine spec;
  bool has_iommu = true;           // a guest has one only when its domain has a vIOMMU
  std::string kernel;              // uname -r of the current boot
  std::string cmdline;             // /proc/cmdline of the current boot
  int boot = 1;                    // the boot id is made from it
  std::string next_entry;          // grub-reboot's one-shot choice
  std::optional<std::pair<std::string, std::string>> kexec_loaded;  // kernel path, command line
  std::map<std::string, std::string> files;   // machine path (under the root prefix) -> content
  std::map<std::string, std::string> links;   // machine path -> link target
  std::map<std::string, std::vector<std::string>> dirs;  // machine path -> names in it
  std::map<std::string, std::string> services;  // systemd unit -> is-active answer
  std::map<std::string, std::string> macs;      // interface -> MAC (ip -o link, /sys/class/net)
  std::map<long, std::vector<std::string>> running;  // pid -> argv of what start() started
  std::optional<int> nic_group;    // the IOMMU group of the NIC (nic.pci) on this machine
  std::set<std::string> assumed;   // what was already said to be assumed
  // sysfs as every boot begins (a reboot drops what was written there: VF counts, group types).
  std::map<std::string, std::string> boot_sysfs_files;
  std::map<std::string, std::string> boot_sysfs_links;
};

class SimulatedRemote : public RecordingRemote {
 public:
  SimulatedRemote(MachineModel& model, bool login_is_root, std::ostream& out);
  remote::RunResult run(const remote::Command& cmd, const remote::RunOptions& opts = {}) override;
  remote::Process start(const remote::Command& cmd, const std::string& log_path) override;
  bool is_running(const remote::Process& p) override;
  void put_text(const std::string& content, const std::string& remote_path, const std::filesystem::path& scratch) override;
  bool stop(const remote::Process& p, int signal, std::chrono::milliseconds grace) override;
  std::string wait_for_reboot(const std::string& previous_boot_id, std::chrono::milliseconds timeout) override;
  std::string wait_until_up(std::chrono::milliseconds timeout, const std::function<bool()>& give_up) override;

  MachineModel& model() { return model_; }

 private:
  remote::RunResult answer(const remote::Command& cmd, const remote::RunOptions& opts);
  void assume(const std::string& what);
  std::string canonical(const std::string& path) const;
  void reboot_into_next();
  std::ostream& out_;
  MachineModel& model_;
};

class SimulatedHypervisor : public RecordingHypervisor {
 public:
  // GUESTS: domain name -> the model of the machine the guest is.
  SimulatedHypervisor(std::string uri, std::ostream& out, std::map<std::string, MachineModel*> guests,
                      MachineModel* host);
  void define(const std::string& domain_xml) override;
  void undefine(const std::string& name) override;
  void start(const std::string& name) override;
  bool shutdown(const std::string& name, std::chrono::seconds timeout) override;
  void destroy(const std::string& name) override;
  bool is_active(const std::string& name) override;
  std::optional<std::string> domain_xml(const std::string& name, bool inactive) override;
  std::vector<std::string> node_devices(const std::string& capability) override;
  std::string node_device_xml(const std::string& name) override;

 private:
  std::map<std::string, std::string> node_xml_;
  std::ostream& out_;
  std::map<std::string, MachineModel*> guests_;
  MachineModel* host_;  // where the guests' QEMU runs (its pid files), may be null
  std::map<std::string, std::string> defined_;
  std::map<std::string, int> active_;  // running domain -> the host's boot it was started in
  long next_qemu_pid_ = 4001;
};

// Every machine of SPEC simulated, and the hypervisor when the spec has guests.
struct SimulatedSite {
  std::vector<std::unique_ptr<MachineModel>> models;
  std::vector<std::unique_ptr<remote::Remote>> machines;
  std::unique_ptr<virt::Hypervisor> hypervisor;
  std::map<std::string, remote::Remote*> by_name() const;
};
SimulatedSite simulate(const spec::Spec& spec, std::ostream& out);

}  // namespace iommuvm::engine
