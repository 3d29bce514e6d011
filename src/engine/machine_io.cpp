#include "machine_io.hpp"

#include <algorithm>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "iommuvm/policy/boot.hpp"
#include "iommuvm/policy/evidence.hpp"
#include "iommuvm/policy/grub.hpp"
#include "iommuvm/remote/sysfs.hpp"
#include "iommuvm/virt/pci.hpp"
#include "iommuvm/virt/sriov.hpp"
#include "iommuvm/util/error.hpp"
#include "iommuvm/util/fs.hpp"
#include "iommuvm/util/hash.hpp"
#include "iommuvm/util/shell.hpp"
#include "iommuvm/util/text.hpp"

namespace iommuvm::engine {

namespace {
bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}
}  // namespace

std::string machine_path(const remote::Remote& r, const std::string& abs) {
  return fs::under_root(r.root(), abs).string();
}

std::optional<std::string> try_read(remote::Remote& r, const std::string& abs) {
  try {
    return r.read_file(abs);
  } catch (const std::exception& e) {
    spdlog::debug("cannot read {} on {}: {}", abs, r.name(), e.what());
    return std::nullopt;
  }
}

remote::RunResult run_checked(remote::Remote& r, remote::Command cmd, const std::string& what,
                              std::chrono::milliseconds timeout) {
  remote::RunOptions opts;
  opts.timeout = timeout;
  auto res = r.run(cmd, opts);
  if (!res.ok())
    throw Error(fmt::format("{} on {} failed (exit {}{}): {}", what, r.name(), res.exit_status,
                            res.timed_out ? ", timed out" : "", res.err.empty() ? res.out : res.err));
  return res;
}

namespace scripts {
// Install a file on a machine as root, atomically: a temporary file made by mktemp next to
// the target (the target of a symbolic link: the link stays), filled from stdin or from the
// file $3, given the target's mode and owner (or $2 for a new file), fsynced, renamed over
// the target, the folder fsynced. Nothing is deleted first, no name is guessable.
std::string install_script(bool check_sh) {
  std::string s =
      "set -eu\n"
      "dest=$1 mode=$2\n"
      "target=$(readlink -f -- \"$dest\")\n"
      "dir=$(dirname -- \"$target\")\n"
      "tmp=$(mktemp -- \"$dir/.$(basename -- \"$target\").iommuvm-XXXXXX\")\n"
      "trap 'rm -f -- \"$tmp\"' EXIT\n"
      "if [ $# -ge 3 ] && [ -n \"$3\" ]; then cat -- \"$3\" > \"$tmp\"; else cat > \"$tmp\"; fi\n";
  if (check_sh)
    // A shell file that grub-mkconfig sources: it must parse, and sourcing it alone (a clean
    // environment, 10 s at most) must give the values iommuvm computed ($4), else nothing
    // replaces the old file.
    s += "sh -n -- \"$tmp\" || { echo \"iommuvm: the edited $dest does not parse as sh; nothing written\" >&2; exit 65; }\n"
         "got=$(timeout 10 env -i sh -c '. \"$1\" >/dev/null 2>&1; printf \"%s|%s\" \"${GRUB_CMDLINE_LINUX-}\" "
         "\"${GRUB_CMDLINE_LINUX_DEFAULT-}\"' sh \"$tmp\" | sha256sum) || { echo \"iommuvm: sourcing the edited $dest "
         "failed; nothing written\" >&2; exit 65; }\n"
         "case $got in \"$4 \"*) ;; *) echo \"iommuvm: sourcing the edited $dest does not give the GRUB_CMDLINE_LINUX and "
         "GRUB_CMDLINE_LINUX_DEFAULT iommuvm computed (or stops early); nothing written\" >&2; exit 65 ;; esac\n";
  s += "if [ -e \"$target\" ]; then\n"
       "  chmod --reference=\"$target\" -- \"$tmp\"\n"
       "  chown --reference=\"$target\" -- \"$tmp\" 2>/dev/null || [ \"$(id -u)\" != 0 ]\n"
       "else\n"
       "  chmod -- \"$mode\" \"$tmp\"\n"
       "fi\n"
       "sync -- \"$tmp\"\n"
       "mv -f -- \"$tmp\" \"$target\"\n"
       "trap - EXIT\n"
       "sync -- \"$dir\"\n";
  return s;
}
}  // namespace scripts

void write_as_root(remote::Remote& r, const std::string& abs, const std::string& content, const std::string& mode) {
  std::string dest = machine_path(r, abs);
  remote::RunOptions opts;
  opts.timeout = std::chrono::milliseconds(120000);
  opts.stdin_data = content;
  auto res = r.run({{"sh", "-c", scripts::install_script(false), "sh", dest, mode}, true, "", {}}, opts);
  if (!res.ok())
    throw Error(fmt::format("writing {} on {} failed (exit {}{}): {}", dest, r.name(), res.exit_status,
                            res.timed_out ? ", timed out" : "", res.err.empty() ? res.out : res.err));
}

void write_grub_default_as_root(remote::Remote& r, const std::string& abs, const std::string& content) {
  policy::GrubSource alone{abs, content};
  // Compared as a SHA-256 (the values may be long; an argument may not be).
  std::string expect = hash::sha256_hex(policy::grub_effective({alone}, policy::kGrubCmdline).value + "|" +
                                        policy::grub_effective({alone}, policy::kGrubCmdlineDefault).value);
  std::string dest = machine_path(r, abs);
  remote::RunOptions opts;
  opts.timeout = std::chrono::milliseconds(120000);
  opts.stdin_data = content;
  auto res = r.run({{"sh", "-c", scripts::install_script(true), "sh", dest, "0644", "", expect}, true, "", {}}, opts);
  if (!res.ok())
    throw Error(fmt::format("writing {} on {} failed (exit {}{}): {}", dest, r.name(), res.exit_status,
                            res.timed_out ? ", timed out" : "", res.err.empty() ? res.out : res.err),
                res.exit_status == 65 ? ExitCode::bad_input : ExitCode::environment);
}

void copy_as_root(remote::Remote& r, const std::string& from_abs, const std::string& abs) {
  std::string dest = machine_path(r, abs);
  run_checked(r, {{"sh", "-c", scripts::install_script(false), "sh", dest, "0644", machine_path(r, from_abs)}, true, "", {}},
              fmt::format("writing {}", dest));
}

std::string backup_as_root(remote::Remote& r, const std::string& abs, const std::string& name_template,
                           const std::string& suffix) {
  auto res = run_checked(r,
                         {{"sh", "-c", scripts::kBackup, "sh", machine_path(r, abs), machine_path(r, name_template), suffix},
                          true, "", {}},
                         "backing up " + abs);
  std::string made = res.out.substr(0, res.out.find('\n'));
  // The journal keeps machine paths without the root prefix, like every other path in it.
  std::string prefix = r.root() == "/" || r.root().empty() ? "" : r.root().string();
  if (!prefix.empty() && made.rfind(prefix, 0) == 0) made = made.substr(prefix.size());
  if (made.empty() || made.front() != '/') throw Error(fmt::format("backing up {} on {}: no backup name", abs, r.name()));
  return made;
}

std::vector<std::pair<std::string, std::string>> list_values(remote::Remote& r, const std::string& glob) {
  auto res = r.run({{"sh", "-c", scripts::kListValues, "sh", machine_path(r, glob)}, true, "", {}});
  std::vector<std::pair<std::string, std::string>> out;
  std::string prefix = r.root() == "/" || r.root().empty() ? "" : r.root().string();
  for (auto line : text::split_lines(res.out)) {
    auto tab = line.find('\t');
    if (tab == std::string_view::npos) continue;
    std::string path(line.substr(0, tab));
    if (!prefix.empty() && path.rfind(prefix, 0) == 0) path = path.substr(prefix.size());
    out.emplace_back(path, std::string(line.substr(tab + 1)));
  }
  return out;
}

MachineFacts read_facts(remote::Remote& r) {
  MachineFacts f;
  f.cmdline = try_read(r, "/proc/cmdline");
  if (f.cmdline) {
    while (!f.cmdline->empty() && (f.cmdline->back() == '\n' || f.cmdline->back() == ' ')) f.cmdline->pop_back();
  }
  if (auto k = try_read(r, "/proc/sys/kernel/osrelease")) {
    f.kernel = *k;
    while (!f.kernel.empty() && f.kernel.back() == '\n') f.kernel.pop_back();
  }
  try {
    f.boot_id = r.boot_id();
  } catch (const std::exception&) {
  }
  if (auto cpu = try_read(r, "/proc/cpuinfo")) {
    std::istringstream in(*cpu);
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("model name", 0) == 0) {
        f.cpu_model = line.substr(line.find(':') + 2);
        break;
      }
  }
  // The kernel log: the live one on a real root; with a root prefix (a test machine), the
  // file ROOT/var/log/dmesg (which Debian and Ubuntu also write at boot).
  if (r.root() == "/" || r.root().empty()) {
    auto res = r.run({{"dmesg"}, true, "", {{"LC_ALL", "C"}}}, {std::chrono::milliseconds(30000)});
    if (res.ok()) f.dmesg = res.out;
    else {
      auto j = r.run({{"journalctl", "-k", "-b", "--no-pager", "-q"}, true, "", {}}, {std::chrono::milliseconds(30000)});
      if (j.ok()) f.dmesg = j.out;
    }
  } else {
    f.dmesg = try_read(r, "/var/log/dmesg");
  }
  std::string groups = machine_path(r, "/sys/kernel/iommu_groups");
  auto g = r.run({{"sh", "-c", scripts::kGroupTypes, "sh", groups}});
  std::istringstream gin(g.out);
  std::string num, type;
  while (gin >> num >> type) {
    try {
      f.group_types[std::stoi(num)] = type;
    } catch (...) {
    }
  }
  auto d = r.run({{"sh", "-c", scripts::kListIommu, "sh", machine_path(r, "/sys/class/iommu")}});
  std::istringstream din(d.out);
  std::string dev;
  while (din >> dev) f.iommu_devices.push_back(dev);
  return f;
}

// Evidence from a machine, compared with what was asked. Shared by host and guests.
NicGroup nic_iommu_group(remote::Remote& r, const spec::NicSpec& nic) {
  NicGroup out;
  out.pci = nic.pci;
  if (out.pci.empty() && !nic.pf.empty()) {
    auto link = r.run({{"readlink", "-f", machine_path(r, "/sys/class/net/" + nic.pf + "/device")}});
    // The nearest PCI device on the path: the link's target itself (mlx5, ice), or an
    // ancestor (virtio-net: .../0000:00:04.0/virtio1).
    if (link.ok())
      for (std::filesystem::path p = link.out.substr(0, link.out.find('\n')); !p.empty() && p != p.parent_path();
           p = p.parent_path())
        if (virt::PciAddress::parse(p.filename().string())) {
          out.pci = p.filename().string();
          break;
        }
  }
  if (out.pci.empty()) return out;
  auto group_link = r.run({{"readlink", machine_path(r, "/sys/bus/pci/devices/" + out.pci + "/iommu_group")}});
  if (!group_link.ok()) return out;
  try {
    out.group = std::stoi(std::filesystem::path(group_link.out.substr(0, group_link.out.find('\n'))).filename().string());
  } catch (const std::exception&) {
  }
  return out;
}

std::vector<policy::PciDevice> group_devices(remote::Remote& r, int group) {
  std::vector<policy::PciDevice> devices;
  auto ls = r.run({{"ls", "-1", machine_path(r, fmt::format("/sys/kernel/iommu_groups/{}/devices", group))}});
  std::istringstream in(ls.out);
  std::string bdf;
  while (in >> bdf) {
    auto drv = r.run({{"readlink", machine_path(r, "/sys/bus/pci/devices/" + bdf + "/driver")}});
    std::string driver = drv.ok() ? std::filesystem::path(drv.out.substr(0, drv.out.find('\n'))).filename().string() : "";
    devices.push_back(policy::PciDevice{bdf, driver});
  }
  return devices;
}

nlohmann::json verify_machine(remote::Remote& r, const std::optional<policy::Policy>& expected,
                           std::string& mismatch, const std::vector<int>& groups_under_test) {
  MachineFacts facts = read_facts(r);
  nlohmann::json out = {{"machine", r.name()},
              {"requested", expected ? nlohmann::json(std::string(policy::to_string(*expected))) : nlohmann::json("as-is")},
              {"kernel", facts.kernel},
              {"boot_id", facts.boot_id},
              {"cmdline", facts.cmdline.value_or("")}};
  if (!facts.cpu_model.empty()) out["cpu_model"] = facts.cpu_model;
  policy::EvidenceInput in;
  in.cmdline = facts.cmdline;
  in.dmesg = facts.dmesg;
  in.group_types = facts.group_types;
  in.iommu_devices = facts.iommu_devices;
  in.groups_under_test = groups_under_test;
  auto ev = policy::parse_evidence(in);
  auto verdict = policy::derive_policy(ev);
  nlohmann::json e = policy::to_json(ev, verdict);
  out["effective"] = e.value("effective", nlohmann::json("unknown"));
  out["reasons"] = e.value("reasons", nlohmann::json::array());
  out["evidence"] = e.value("evidence", nlohmann::json::object());
  if (expected) {
    auto cmp = policy::compare_policy(*expected, ev, verdict);
    out["match"] = cmp.match;
    out["explanation"] = cmp.explanation;
    if (!cmp.match) mismatch = cmp.explanation;
  }
  return out;
}

std::vector<std::string> restore_machines(results::CampaignStore& store,
                                          const std::map<std::string, remote::Remote*>& machines, std::ostream& out,
                                          virt::Hypervisor* hypervisor, bool campaign_end) {
  std::vector<std::string> left;
  std::vector<std::pair<remote::Remote*, std::vector<std::string>>> after;  // in first-needed order
  auto entries = store.undo_entries();
  std::set<std::string> done;
  for (const auto& e : entries)
    if (e.value("action", "") == "undone") done.insert(e.value("id", ""));
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    const auto& e = *it;
    std::string action = e.value("action", "");
    std::string id = e.value("at", "") + "|" + action + "|" + e.value("path", "") + "|" + e.value("machine", "");
    if (e.contains("pci")) id += "|" + e.value("pci", "");
    if (e.contains("vf")) id += "|vf" + std::to_string(e.value("vf", 0));
    if (action == "undone" || done.count(id)) continue;
    if (campaign_end && e.value("keep_at_end", false)) {
      left.push_back(fmt::format("{} {} on {} (nic.restore: false; `iommuvm restore` undoes it)", action,
                                 e.contains("vf") ? fmt::format("{} vf {}", e.value("interface", ""), e.value("vf", 0)) : e.value("path", ""),
                                 e.value("machine", "")));
      continue;
    }
    if (action == "redefine_domain" || action == "undefine_domain") {
      std::string domain = e.value("domain", "");
      if (!hypervisor) {
        left.push_back(fmt::format("{} {}: no libvirt connection", action, domain));
        continue;
      }
      try {
        if (action == "redefine_domain" && e["previous_xml"].is_string()) hypervisor->define(e["previous_xml"].get<std::string>());
        else hypervisor->undefine(domain);
        out << fmt::format("  restored: {} {}\n", action, domain);
        store.undo({{"action", "undone"}, {"id", id}, {"at", results::now_iso8601()}});
      } catch (const std::exception& ex) {
        left.push_back(fmt::format("{} {}: {}", action, domain, ex.what()));
      }
      continue;
    }
    auto m = machines.find(e.value("machine", ""));
    if (m == machines.end() || !m->second) {
      left.push_back(fmt::format("{} on unknown machine {}", action, e.value("machine", "")));
      continue;
    }
    remote::Remote& r = *m->second;
    try {
      std::string path = e.value("path", "");
      if (action == "remove_file") {
        run_checked(r, {{"rm", "-f", machine_path(r, path)}, true, "", {}}, "removing " + path);
      } else if (action == "restore_file") {
        // Atomically, through a symbolic link to its target; then the backup goes (the
        // restore is journaled as undone, so nothing needs it any more).
        std::string backup = e.value("backup", "");
        copy_as_root(r, backup, path);
        run_checked(r, {{"rm", "-f", "--", machine_path(r, backup)}, true, "", {}}, "removing the backup " + backup);
        out << fmt::format("  removed backup {} on {}\n", backup, r.name());
      } else if (action == "irq_affinity") {
        remote::remote_sysfs(r)->write({path, e.value("value", "")});
      } else if (action == "sysfs_write" && !e.value("boot_id", "").empty() && r.boot_id() != e.value("boot_id", "")) {
        path += " (reset by a reboot since)";
      } else if (action == "sysfs_write" && ends_with(path, "/type") && e.contains("previous")) {
        // A runtime switch of an IOMMU group: put the type back, unless a reboot already has.
        std::string previous = e.value("previous", "");
        auto now = try_read(r, path);
        std::string current = now ? now->substr(0, now->find('\n')) : "";
        auto pol = policy::policy_of_group_type(previous);
        int group = -1;
        try {
          group = std::stoi(std::filesystem::path(path).parent_path().filename().string());
        } catch (const std::exception&) {
        }
        if (current == previous) {
          path += " (already " + previous + ")";
        } else if (!pol || group < 0) {
          throw Error(fmt::format("cannot put {} back to '{}'", path, previous));
        } else {
          auto sys = remote::remote_sysfs(r);
          for (const auto& w : policy::runtime_switch_writes(group, group_devices(r, group), *pol)) sys->write(w);
        }
      } else if (action == "sysfs_write" && (ends_with(path, "/unbind") || ends_with(path, "/bind"))) {
        // The driver unbind/bind around a group type write: the switch bound the device
        // again; bind it when it is still without a driver.
        std::string bdf = e.value("value", "");
        if (ends_with(path, "/unbind") && !r.run({{"test", "-e", machine_path(r, "/sys/bus/pci/devices/" + bdf + "/driver")}}).ok()) {
          auto sys = remote::remote_sysfs(r);
          sys->write({path.substr(0, path.size() - 7) + "/bind", bdf});
        }
      } else if (action == "grubenv_unset") {
        // Nothing pending (the reboot consumed the entry, or there is no grubenv): nothing to do.
        auto flavor = e.value("flavor", "") == "redhat" ? policy::GrubFlavor::redhat : policy::GrubFlavor::debian;
        if (r.run({{"test", "-f", machine_path(r, path)}, true, "", {}}).ok())
          run_checked(r, policy::grub_unset_next_entry_command(flavor, machine_path(r, path)), "unsetting next_entry in " + path);
      } else if (action == "num_vfs") {
        auto sys = remote::remote_sysfs(r);
        for (int v : {0, e.value("value", 0)})
          if (v != 0 || sys->read(path) != "0") sys->write({path, std::to_string(v)});
      } else if (action == "vf_mac") {
        run_checked(r, {{"ip", "link", "set", e.value("interface", ""), "vf", std::to_string(e.value("vf", 0)), "mac",
                         e.value("value", "")}, true, "", {}},
                    "restoring a VF's MAC");
        path = fmt::format("{} vf {}", e.value("interface", ""), e.value("vf", 0));
      } else if (action == "pci_driver") {
        auto sys = remote::remote_sysfs(r);
        auto pci = virt::PciAddress::parse(e.value("pci", ""));
        if (!pci) throw Error("bad PCI address in the undo log: " + e.value("pci", ""));
        sys->write_all(virt::sriov::plan_unbind(*sys, *pci, e.value("value", "")));
        path = pci->str();
      } else if (action == "mtu") {
        run_checked(r, {{"ip", "link", "set", "dev", e.value("interface", ""), "mtu", std::to_string(e.value("value", 1500))}, true, "", {}},
                    "restoring the MTU");
      } else if (action == "write_values") {
        // A tuning knob's files (tune::knobs): each gets its old value back.
        std::vector<std::string> argv = {"sh", "-c", "while [ $# -ge 2 ]; do printf '%s' \"$2\" > \"$1\" || exit 1; shift 2; done", "sh"};
        for (const auto& pv : e.value("values", nlohmann::json::array()))
          if (pv.is_array() && pv.size() == 2 && pv[0].is_string() && pv[1].is_string())
            argv.insert(argv.end(), {machine_path(r, pv[0].get<std::string>()), pv[1].get<std::string>()});
        run_checked(r, {argv, true, "", {}}, "restoring " + e.value("knob", std::string("a tuning knob")));
        path = e.value("knob", std::string());
      } else if (action == "service_start" || action == "service_stop") {
        run_checked(r, {{"systemctl", action == "service_start" ? "start" : "stop", e.value("unit", "")}, true, "", {}},
                    "restoring the service " + e.value("unit", ""));
        path = e.value("unit", "");
      } else if (action == "ethtool_pause" || action == "ethtool_coalesce") {
        std::vector<std::string> argv = {"ethtool", action == "ethtool_pause" ? "-A" : "-C", e.value("interface", "")};
        for (const auto& kv : e.value("settings", nlohmann::json::array()))
          if (kv.is_array() && kv.size() == 2 && kv[0].is_string() && kv[1].is_string())
            argv.insert(argv.end(), {kv[0].get<std::string>(), kv[1].get<std::string>()});
        if (argv.size() > 3) run_checked(r, {argv, true, "", {}}, "restoring " + action.substr(8) + " settings");
        path = e.value("interface", "");
      } else if (action == "governor" || action == "smt") {
        std::string file = action == "smt" ? "/sys/devices/system/cpu/smt/control" : "";
        if (action == "smt")
          run_checked(r, {{"sh", "-c", "printf '%s' \"$1\" > \"$2\"", "sh", e.value("value", ""), machine_path(r, file)}, true, "", {}},
                      "restoring SMT");
        else
          run_checked(r, {{"sh", "-c", "for g in \"$1\"/cpu*/cpufreq/scaling_governor; do printf '%s' \"$2\" > \"$g\"; done", "sh",
                           machine_path(r, "/sys/devices/system/cpu"), e.value("value", "")}, true, "", {}},
                      "restoring the governor");
      } else {
        left.push_back(fmt::format("{} {} on {}: restore it by hand", action, e.value("interface", e.value("path", "")), r.name()));
        continue;
      }
      // update-grub and the like: once per machine after every file is back, not once per file.
      if (e.contains("after") && e["after"].is_array() && !e["after"].empty()) {
        std::pair<remote::Remote*, std::vector<std::string>> a{&r, e["after"].get<std::vector<std::string>>()};
        if (std::find(after.begin(), after.end(), a) == after.end()) after.push_back(a);
      }
      out << fmt::format("  restored: {} {} on {}\n", action, path, r.name());
      store.undo({{"action", "undone"}, {"id", id}, {"at", results::now_iso8601()}});
    } catch (const std::exception& ex) {
      left.push_back(fmt::format("{} {} on {}: {}", action, e.value("path", ""), r.name(), ex.what()));
    }
  }
  for (const auto& [r, argv] : after) {
    try {
      run_checked(*r, {argv, true, "", {}}, "updating after the restore", std::chrono::minutes(5));
      out << fmt::format("  ran: {} on {}\n", shell::join(argv), r->name());
    } catch (const std::exception& ex) {
      left.push_back(fmt::format("`{}` on {} after the restore: {}", shell::join(argv), r->name(), ex.what()));
    }
  }
  return left;
}

}  // namespace iommuvm::engine
