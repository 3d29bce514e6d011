#include "iommuvm/doctor/doctor.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "iommuvm/tune/knobs.hpp"
#include "iommuvm/workload/commands.hpp"
#include "iommuvm/workload/generators.hpp"
#include "iommuvm/workload/servers.hpp"

namespace iommuvm::doctor {

using nlohmann::json;
namespace kind = plan::kind;

std::string_view to_string(Status s) {
  switch (s) {
    case Status::ok: return "ok";
    case Status::warn: return "warn";
    case Status::fail: return "FAIL";
  }
  return "?";
}

namespace {

const spec::Spec& config_of(const plan::Plan& p, std::size_t step_index) {
  const auto& s = p.steps[step_index];
  if (s.run_index >= 0) return p.runs.at(static_cast<std::size_t>(s.run_index)).config;
  for (std::size_t j = step_index; j < p.steps.size(); ++j)
    if (p.steps[j].run_index >= 0) return p.runs.at(static_cast<std::size_t>(p.steps[j].run_index)).config;
  return p.runs.back().config;
}

void add_reason(std::vector<std::string>& v, const std::string& why) {
  if (std::find(v.begin(), v.end(), why) == v.end()) v.push_back(why);
}

std::string program_of(const std::vector<std::string>& argv) { return argv.empty() ? "" : argv.front(); }

// Collectors degrade to {"unsupported": ...} when their tool is missing: optional.
// The program and root needs come from the kinds' one description (spec::collector_kinds).
std::string collector_program(const spec::CollectorSpec& c) {
  if (c.kind == "custom") return program_of(c.command);
  const auto* k = spec::collector_kind(c.kind);
  return k ? std::string(k->program) : "";
}

bool collector_needs_root(const std::string& kind) {
  const auto* k = spec::collector_kind(kind);
  return k && k->needs_root;
}

std::string login_of(const spec::Machine& m) {
  if (m.local) return "local";
  return fmt::format("ssh {}{}:{}", m.ssh.user.empty() ? "" : m.ssh.user + "@", m.ssh.host, m.ssh.port);
}

}  // namespace

std::vector<Needs> needs(const plan::Plan& p) {
  std::vector<Needs> out;
  if (p.runs.empty()) return out;
  const spec::Spec& base = p.runs.front().config;
  std::map<std::string, std::size_t> index;
  for (const auto& m : base.machines) {
    Needs n;
    n.machine = m.name;
    n.local = m.local;
    n.login = login_of(m);
    n.sudo_allowed = m.sudo;
    n.vendor = m.vendor;
    index[m.name] = out.size();
    out.push_back(std::move(n));
  }
  auto at = [&](const std::string& name) -> Needs* {
    auto it = index.find(name);
    return it == index.end() ? nullptr : &out[it->second];
  };
  // Per host: does some configuration need the IOMMU, and is it always switched on by a reboot?
  std::map<std::string, bool> all_switched;

  for (std::size_t i = 0; i < p.steps.size(); ++i) {
    const auto& s = p.steps[i];
    if (s.kind == kind::campaign_begin || s.kind == kind::campaign_end || s.kind == kind::cooldown) continue;
    const spec::Spec& cfg = config_of(p, i);
    Needs* n = at(s.machine);
    const spec::Machine* m = cfg.machine(s.machine);
    if (s.kind == kind::machine_tune && n && n->tuning.is_null()) n->tuning = s.args;  // check_tuning
    if (s.kind == kind::host_set_policy && n) {
      n->iommu_host = true;
      add_reason(n->root, "switching the IOMMU policy");
      auto pol = policy::parse_policy(s.args.value("policy", std::string()));
      auto method = policy::parse_method(s.args.value("method", std::string())).value_or(policy::Method::grub_oneshot);
      if (pol && *pol != policy::Policy::off) {
        n->iommu_required = true;
        if (method == policy::Method::runtime || method == policy::Method::none) all_switched[n->machine] = false;
        else all_switched.emplace(n->machine, true);
      }
      std::string update = m && !m->grub_update.empty() ? m->grub_update.front() : "update-grub";
      if (method == policy::Method::grub || method == policy::Method::grub_oneshot || method == policy::Method::automatic)
        n->programs.emplace(update, "updating GRUB (grub_update)");
      if (method == policy::Method::grub_oneshot || method == policy::Method::automatic)
        n->programs.emplace("grub-reboot", "booting the one-shot GRUB entry");
      if (method == policy::Method::kexec) n->programs.emplace("kexec", "switching the policy with kexec");
    } else if (s.kind == kind::host_reboot && n) {
      add_reason(n->root, "rebooting");
    } else if (s.kind == kind::host_verify_policy && n) {
      n->iommu_host = true;
      if (s.args["expected"].is_null()) {
        // As-is: nothing switches the IOMMU on; a VF for a guest needs it on already.
        bool vf = std::any_of(cfg.guests.begin(), cfg.guests.end(), [](const auto& g) { return g.vf.has_value(); });
        if (vf) {
          n->iommu_required = true;
          all_switched[n->machine] = false;
        }
      }
      if (cfg.nic.present() && !cfg.nic.pf.empty()) n->optional_programs.emplace("ethtool", "recording the NIC driver and firmware");
    } else if (s.kind == kind::nic_setup_vfs && n) {
      add_reason(n->root, "creating SR-IOV VFs");
      n->nic_pf = cfg.nic.pf;
      n->nic_pci = cfg.nic.pci;
      n->num_vfs = std::max(n->num_vfs, cfg.nic.num_vfs);
      if (!cfg.nic.pf.empty()) n->programs.emplace("ip", "setting the VFs' MAC addresses");
    } else if (s.kind == kind::machine_tune && n) {
      add_reason(n->root, "tuning");
      if (s.args.contains("mtu")) n->programs.emplace("ip", "setting the MTU");
      if (s.args.contains("rx_ring") || s.args.contains("tx_ring") || s.args.contains("offloads"))
        n->programs.emplace("ethtool", "setting ring sizes and offloads");
    } else if (s.kind == kind::guest_define) {
      const auto* g = cfg.guest(s.args.value("guest", std::string()));
      if (g && g->vf && n) {
        n->iommu_required = true;  // VFIO needs the host IOMMU
        all_switched.emplace(n->machine, true);
      }
    } else if (s.kind == kind::guest_start) {
      if (Needs* gm = at(s.args.value("machine", std::string()))) gm->guest_domain = s.args.value("domain", std::string());
    } else if (s.kind == kind::guest_network && n) {
      add_reason(n->root, "giving the VF its data address");
      n->programs.emplace(s.args.value("method", std::string()) == "netplan" ? "netplan" : "ip", "configuring the VF in the guest");
    } else if (s.kind == kind::server_start && n && !cfg.workloads.empty()) {
      const auto& w = cfg.workloads.front();
      std::string why = fmt::format("{} server (workload {})", w.kind, w.name);
      try {
        workload::ServerContext ctx;
        ctx.address = w.server.bind.empty() ? "127.0.0.1" : w.server.bind;
        ctx.port = w.server.port;
        ctx.work_dir = "/tmp/iommuvm-doctor";  // only to name the programs: nothing is written there
        auto sp = workload::server_plan(w, ctx);
        if (auto prog = program_of(sp.command.argv); !prog.empty()) n->programs.emplace(prog, why);
        if (w.server.ready != "none")
          if (auto prog = program_of(sp.ready.command.argv); !prog.empty())
            n->programs.emplace(prog, fmt::format("readiness check of workload {}", w.name));
      } catch (const std::exception&) {
        if (auto prog = program_of(w.server.command); !prog.empty()) n->programs.emplace(prog, why);
      }
    } else if ((s.kind == kind::client_measure || s.kind == kind::client_warmup) && n && !cfg.workloads.empty()) {
      const auto& w = cfg.workloads.front();
      std::string why = fmt::format("load generator of workload {}", w.name);
      try {
        workload::ClientContext ctx;
        ctx.target = "127.0.0.1";
        ctx.port = w.server.port;
        ctx.work_dir = "/tmp/iommuvm-doctor";
        auto cp = workload::client_plan(w, ctx);
        if (auto prog = program_of(cp.command.argv); !prog.empty()) n->programs.emplace(prog, why);
      } catch (const std::exception&) {
        if (auto prog = program_of(w.client.command); !prog.empty()) n->programs.emplace(prog, why);
      }
    }
    if (s.kind == kind::run_begin) {
      for (const auto& c : cfg.collectors) {
        std::string where = c.machine;
        if (where.empty())
          if (const auto* h = cfg.first_with_role(spec::Role::host)) where = h->name;
        Needs* cn = at(where);
        if (!cn) continue;
        if (auto prog = collector_program(c); !prog.empty())
          cn->optional_programs.emplace(prog, fmt::format("collector {} ({})", c.name, c.kind));
        if (collector_needs_root(c.kind)) add_reason(cn->root, fmt::format("collector {}", c.name));
      }
    }
  }
  for (auto& n : out) {
    n.iommu_switched = n.iommu_required && all_switched.count(n.machine) && all_switched[n.machine];
    for (const auto& [prog, why] : n.programs) n.optional_programs.erase(prog);
  }
  return out;
}

std::string nic_sysfs_dir(const Needs& n) {
  return !n.nic_pf.empty() ? "/sys/class/net/" + n.nic_pf + "/device" : "/sys/bus/pci/devices/" + n.nic_pci;
}

std::string debian_package(const std::string& program) {
  // The load generators' packages come from their descriptors (workload/generators.hpp).
  if (const auto* g = workload::generator_of_program(program); g && !g->package.empty()) return g->package;
  // The server kinds' packages from theirs (workload/servers.hpp).
  if (const auto* p = workload::server_program(program); p && !p->package.empty()) return p->package;
  static const std::map<std::string, std::string> k = {
      {"mpstat", "sysstat"},              {"pidstat", "sysstat"},             {"perf", "linux-perf"},
      {"bpftrace", "bpftrace"},           {"ethtool", "ethtool"},             {"ip", "iproute2"},
      {"kexec", "kexec-tools"},           {"update-grub", "grub2-common"},    {"grub-reboot", "grub2-common"},
      {"grub2-mkconfig", "grub2-tools"},  {"netplan", "netplan.io"},          {"bash", "bash"},
      {"sh", "dash"}};
  auto it = k.find(program);
  return it == k.end() ? "" : it->second;
}

Check check_reachable(const Needs& n, const MachineFacts& f, bool guest_running) {
  Check c{n.machine, "reachable", Status::ok, "", ""};
  if (f.reachable) {
    c.detail = n.local ? "the controller itself (no SSH)" : n.login + ", host key verified";
    return c;
  }
  c.detail = f.connect_error.empty() ? "cannot connect" : f.connect_error;
  if (!n.guest_domain.empty() && !guest_running) {
    // A guest is up only while the campaign runs: it starts it.
    c.status = Status::warn;
    c.detail = fmt::format("guest domain {} is not running, so it is not checked now ({})", n.guest_domain, c.detail);
    c.fix = fmt::format("the campaign starts it; to check it now: virsh start {}, then run doctor again", n.guest_domain);
    return c;
  }
  c.status = Status::fail;
  const std::string& e = f.connect_error;
  if (e.find("host key") != std::string::npos || e.find("known_hosts") != std::string::npos)
    c.fix = "verify the machine's host key and add it to known_hosts (ssh once by hand, or ssh-keyscan after checking "
            "the fingerprint); host_key_check: accept-new records an unknown key on first use";
  else if (e.find("no key was accepted") != std::string::npos || e.find("log in") != std::string::npos)
    c.fix = "install your public key on the machine (ssh-copy-id) or set ssh.key / identity_files in the spec";
  else
    c.fix = "check ssh.host and ssh.port, that the machine is up and sshd runs (systemctl status ssh), and any jump host";
  return c;
}

std::optional<Check> check_root(const Needs& n, const MachineFacts& f) {
  if (n.root.empty()) return std::nullopt;
  std::string why;
  for (const auto& r : n.root) why += (why.empty() ? "" : ", ") + r;
  Check c{n.machine, "root", Status::ok, "", ""};
  if (f.is_root.value_or(false)) {
    c.detail = fmt::format("logged in as root (needed for {})", why);
    return c;
  }
  if (!n.sudo_allowed) {
    c.status = Status::fail;
    c.detail = fmt::format("the login user is not root and sudo is off; root is needed for {}", why);
    c.fix = "log in as root (ssh.user: root) or set sudo: true for this machine";
    return c;
  }
  if (f.sudo_ok.value_or(false)) {
    c.detail = fmt::format("sudo -n works (needed for {})", why);
    return c;
  }
  c.status = Status::fail;
  c.detail = fmt::format("sudo -n fails ({}); root is needed for {}", f.sudo_error.empty() ? "no output" : f.sudo_error, why);
  c.fix = "allow the login user passwordless sudo: echo 'USER ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/iommuvm "
          "(visudo -c to check), or log in as root";
  return c;
}

std::vector<Check> check_iommu(const Needs& n, const MachineFacts& f) {
  std::vector<Check> out;
  if (!n.iommu_host) return out;
  bool intel = n.vendor == policy::Vendor::intel;
  const char* table = intel ? "DMAR" : "IVRS";
  const char* other = intel ? "IVRS" : "DMAR";
  const char* tech = intel ? "VT-d" : "AMD-Vi";
  Status missing = n.iommu_required ? Status::fail : Status::warn;

  // Firmware: the ACPI table that describes the IOMMU.
  Check fw{n.machine, "iommu.firmware", Status::ok, "", ""};
  const auto& tables = f.acpi_tables;
  auto has = [&](const char* t) { return tables && std::find(tables->begin(), tables->end(), t) != tables->end(); };
  if (has(table)) {
    fw.detail = fmt::format("{} ACPI table present: {} is enabled in the firmware", table, tech);
  } else if (has(other)) {
    fw.status = Status::fail;
    fw.detail = fmt::format("an {} table but no {}: this is {} hardware", other, table, intel ? "AMD" : "Intel");
    fw.fix = fmt::format("set vendor: {} for this machine", intel ? "amd" : "intel");
  } else {
    fw.status = missing;
    fw.detail = tables ? fmt::format("no {} ACPI table under /sys/firmware/acpi/tables", table)
                       : "cannot list /sys/firmware/acpi/tables";
    fw.fix = intel ? "enable VT-d (Intel Virtualization Technology for Directed I/O) in the BIOS/UEFI setup"
                   : "enable the IOMMU (AMD-Vi, often 'IOMMU' or 'SVM/IOMMU') in the BIOS/UEFI setup";
  }
  out.push_back(fw);

  auto ev = policy::parse_evidence(f.evidence);
  // Kernel: an IOMMU driver registered devices under /sys/class/iommu.
  Check k{n.machine, "iommu.kernel", Status::ok, "", ""};
  const auto& devs = f.evidence.iommu_devices;
  std::string cmdline = f.evidence.cmdline.value_or("");
  if (devs && !devs->empty()) {
    std::string names;
    for (const auto& d : *devs) names += (names.empty() ? "" : " ") + d;
    k.detail = fmt::format("the kernel drives the IOMMU: /sys/class/iommu/{{{}}}", names);
  } else {
    k.status = n.iommu_switched ? Status::warn : missing;
    std::string off = intel ? "intel_iommu=off" : "amd_iommu=off";
    bool disabled = cmdline.find(off) != std::string::npos || cmdline.find("iommu=off") != std::string::npos;
    k.detail = fmt::format("no entries under /sys/class/iommu: the IOMMU is off in the running kernel{}",
                           disabled ? fmt::format(" ({} on the command line)", off) : "");
    if (n.iommu_switched)
      k.detail += "; the campaign's policy switch boots it with the IOMMU on";
    k.fix = fmt::format("add {} to GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub, update-grub and reboot"
                        "{}",
                        intel ? "intel_iommu=on" : "amd_iommu=on",
                        fw.status == Status::ok ? "" : fmt::format(" (after enabling {} in the firmware)", tech));
  }
  out.push_back(k);

  // The kernel log: VT-d / AMD-Vi found and initialised.
  Check log{n.machine, "iommu.log", Status::ok, "", ""};
  std::string line = intel ? (!ev.enabled_line.empty() ? ev.enabled_line : ev.vtd_line) : ev.amd_line;
  if (!f.evidence.dmesg) {
    log.status = Status::warn;
    log.detail = "cannot read the kernel log (dmesg, journalctl -k)";
    log.fix = "allow the login user to read it (sudo, or sysctl kernel.dmesg_restrict=0)";
  } else if (!ev.disabled_line.empty()) {
    log.status = k.status == Status::ok ? Status::warn : k.status;
    log.detail = fmt::format("kernel log: \"{}\"", ev.disabled_line);
    log.fix = k.fix.empty() ? "remove intel_iommu=off from the kernel command line" : k.fix;
  } else if (!line.empty()) {
    log.detail = fmt::format("kernel log: \"{}\"", line);
  } else {
    log.status = Status::warn;
    log.detail = fmt::format("no {} line in the kernel log{}", intel ? "DMAR" : "AMD-Vi",
                             ev.boot_log ? "" : " (its boot messages may have rotated out)");
    log.fix = fmt::format("check dmesg | grep -i -e {} -e iommu", intel ? "DMAR" : "AMD-Vi");
  }
  out.push_back(log);

  Check cl{n.machine, "iommu.cmdline", Status::ok, "", ""};
  if (!f.evidence.cmdline) {
    cl.status = Status::warn;
    cl.detail = "cannot read /proc/cmdline";
    cl.fix = "check the machine's root prefix (root:) in the spec";
  } else {
    std::string params;
    for (const auto& p : ev.cmdline_params) params += (params.empty() ? "" : " ") + p;
    cl.detail = params.empty() ? "/proc/cmdline has no IOMMU parameters (the kernel's defaults apply)"
                               : fmt::format("/proc/cmdline: {}", params);
    if (ev.cmdline_policy) cl.detail += fmt::format(" -> requests {}", policy::to_string(*ev.cmdline_policy));
  }
  out.push_back(cl);
  return out;
}

std::optional<Check> check_nic(const Needs& n, const MachineFacts& f) {
  if (n.nic_pf.empty() && n.nic_pci.empty()) return std::nullopt;
  std::string name = n.nic_pf.empty() ? n.nic_pci : n.nic_pf;
  Check c{n.machine, "nic.sriov", Status::ok, "", ""};
  if (!f.nic_present.value_or(false)) {
    c.status = Status::fail;
    c.detail = fmt::format("no {} ({} does not exist)", name, nic_sysfs_dir(n));
    c.fix = n.nic_pf.empty() ? "check nic.pci against lspci -D" : "check nic.pf against ip link (and that the NIC's driver is loaded)";
    return c;
  }
  std::string driver = f.nic_driver.empty() ? "no driver bound" : "driver " + f.nic_driver;
  if (f.nic_driver.empty()) {
    c.status = Status::fail;
    c.detail = fmt::format("{}: no driver bound", name);
    c.fix = "install and load the NIC's driver (ConnectX: MLNX_OFED or the in-kernel mlx5_core; /etc/init.d/openibd restart)";
    return c;
  }
  int total = -1;
  if (f.sriov_totalvfs) {
    try {
      total = std::stoi(*f.sriov_totalvfs);
    } catch (const std::exception&) {
    }
  }
  if (total < 0) {
    c.status = Status::fail;
    c.detail = fmt::format("{} ({}) is not SR-IOV capable: no sriov_totalvfs", name, driver);
    c.fix = "enable SR-IOV in the NIC firmware: mst start; mlxconfig -d /dev/mst/<dev> set SRIOV_EN=1 NUM_OF_VFS=" +
            std::to_string(std::max(1, n.num_vfs)) + "; reboot (and SR-IOV in the BIOS)";
    return c;
  }
  if (total < n.num_vfs) {
    c.status = Status::fail;
    c.detail = fmt::format("{} ({}) offers {} VFs (sriov_totalvfs), the spec asks for {}", name, driver, total, n.num_vfs);
    c.fix = fmt::format("raise the firmware's VF count: mlxconfig -d /dev/mst/<dev> set NUM_OF_VFS={}; reboot", n.num_vfs);
    return c;
  }
  c.detail = fmt::format("{} ({}) offers {} VFs; the spec uses {}", name, driver, total, n.num_vfs);
  return c;
}

std::vector<Check> check_programs(const Needs& n, const MachineFacts& f) {
  std::vector<Check> out;
  auto one = [&](const std::string& prog, const std::string& why, bool required) {
    Check c{n.machine, "tool " + prog, Status::ok, "", ""};
    auto it = f.programs.find(prog);
    if (it != f.programs.end() && it->second) {
      c.detail = fmt::format("installed ({})", why);
    } else {
      c.status = required ? Status::fail : Status::warn;
      c.detail = fmt::format("not installed, needed for {}{}", why, required ? "" : " (left out of the results without it)");
      std::string pkg = debian_package(prog);
      c.fix = pkg.empty() ? fmt::format("install {} on {} (it must be in PATH)", prog, n.machine)
                          : fmt::format("apt-get install {} on {}", pkg, n.machine);
    }
    out.push_back(c);
  };
  for (const auto& [prog, why] : n.programs) one(prog, why, true);
  for (const auto& [prog, why] : n.optional_programs) one(prog, why, false);
  return out;
}

std::vector<Check> check_hypervisor(const HypervisorFacts& h) {
  std::vector<Check> out;
  if (!h.needed) return out;
  Check c{"libvirt", "connect", Status::ok, "", ""};
  if (h.connected) {
    c.detail = fmt::format("{} answers{}", h.uri, h.version.empty() ? "" : " (libvirt " + h.version + ")");
  } else {
    c.status = Status::fail;
    c.detail = fmt::format("cannot connect to {}: {}", h.uri, h.error);
    c.fix = "start libvirtd (systemctl start libvirtd), check hypervisor.uri, and that the user may use it "
            "(root or the libvirt group)";
  }
  out.push_back(c);
  for (const auto& [guest, error] : h.template_errors) {
    Check t{"libvirt", "domain " + guest, Status::ok, "", ""};
    if (error.empty()) {
      t.detail = "the domain XML template renders";
    } else {
      t.status = Status::fail;
      t.detail = error;
      t.fix = "fix the guest's template (guests." + guest + ".template): a libvirt domain XML, e.g. virsh dumpxml of the guest";
    }
    out.push_back(t);
  }
  return out;
}

Check check_disk(const ControllerFacts& c) {
  Check d{"controller", "disk", Status::ok, "", ""};
  constexpr std::uint64_t MiB = 1024 * 1024;
  if (!c.free_bytes) {
    d.status = Status::warn;
    d.detail = fmt::format("cannot tell the free space for {}", c.output);
    return d;
  }
  double gib = static_cast<double>(*c.free_bytes) / (1024.0 * MiB);
  d.detail = fmt::format("{:.1f} GiB free for results in {}", gib, c.output);
  if (*c.free_bytes < 100 * MiB) {
    d.status = Status::fail;
    d.fix = "free some space or choose another output folder (-o DIR or output:)";
  } else if (*c.free_bytes < 1024 * MiB) {
    d.status = Status::warn;
    d.fix = "raw outputs and collector traces can take gigabytes: free some space or choose another output folder";
  }
  return d;
}

std::vector<Check> check_tuning(const Needs& n, const MachineFacts& f) {
  std::vector<Check> out;
  if (!n.tuning.is_object()) return out;
  const spec::TuningSpec t = tune::knob_settings(n.tuning);
  for (const auto& k : tune::knobs()) {
    if (!n.tuning.contains(k.name)) continue;
    auto it = f.knob_files.find(k.name);
    Check c{n.machine, "tuning." + k.name, Status::ok, "", ""};
    bool found = false;
    for (std::size_t w = 0; it != f.knob_files.end() && w < k.where.size() && w < it->second.size(); ++w) {
      const auto& files = it->second[w];
      if (files.empty()) continue;
      found = true;
      auto want = tune::wanted(t, k, k.where[w]);
      std::size_t differ = 0;
      std::set<std::string> now;
      for (const auto& [path, v] : files) {
        differ += want && v != *want;
        now.insert(v);
      }
      std::string values;
      for (const auto& v : now) values += (values.empty() ? "" : ", ") + v;
      c.detail = differ ? fmt::format("would change {} of {} file(s) of {} from {} to {}", differ, files.size(), k.where[w].glob,
                                      values, want.value_or("?"))
                        : fmt::format("already {} ({} file(s))", want.value_or(values), files.size());
      break;
    }
    if (!found) {
      std::string places;
      for (const auto& w : k.where) places += (places.empty() ? "" : " or ") + w.glob;
      c.detail = "not applicable: no " + places + " on this machine";
    }
    out.push_back(c);
  }
  return out;
}

std::vector<Check> check_all(const std::vector<Needs>& needs, const std::map<std::string, MachineFacts>& facts,
                             const HypervisorFacts& hypervisor, const ControllerFacts& controller) {
  std::vector<Check> out;
  static const MachineFacts none;
  for (const auto& n : needs) {
    auto it = facts.find(n.machine);
    const MachineFacts& f = it == facts.end() ? none : it->second;
    bool running = false;
    if (!n.guest_domain.empty()) {
      auto a = hypervisor.domain_active.find(n.guest_domain);
      running = a != hypervisor.domain_active.end() && a->second;
    }
    out.push_back(check_reachable(n, f, running));
    if (!f.reachable) continue;
    if (auto c = check_root(n, f)) out.push_back(*c);
    for (auto& c : check_iommu(n, f)) out.push_back(std::move(c));
    if (auto c = check_nic(n, f)) out.push_back(*c);
    for (auto& c : check_programs(n, f)) out.push_back(std::move(c));
    for (auto& c : check_tuning(n, f)) out.push_back(std::move(c));
  }
  for (auto& c : check_hypervisor(hypervisor)) out.push_back(std::move(c));
  out.push_back(check_disk(controller));
  return out;
}

std::string format_line(const Check& c) {
  std::string line = fmt::format("{:<4}  {}: {}: {}", to_string(c.status), c.machine, c.name, c.detail);
  if (c.status != Status::ok && !c.fix.empty()) line += fmt::format(" (fix: {})", c.fix);
  return line;
}

json to_json(const std::vector<Check>& checks) {
  json a = json::array();
  for (const auto& c : checks) {
    json j = {{"machine", c.machine}, {"check", c.name}, {"status", c.status == Status::fail ? "fail" : std::string(to_string(c.status))},
              {"detail", c.detail}};
    if (!c.fix.empty()) j["fix"] = c.fix;
    a.push_back(j);
  }
  return {{"ok", passed(checks)}, {"checks", a}};
}

bool passed(const std::vector<Check>& checks) {
  return std::none_of(checks.begin(), checks.end(), [](const Check& c) { return c.status == Status::fail; });
}

}  // namespace iommuvm::doctor
