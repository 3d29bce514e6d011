// restore_machines (include/iommuvm/engine/restore.hpp): undoing a campaign's journaled changes.
#include "iommuvm/engine/restore.hpp"

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
#include "iommuvm/engine/grub_files.hpp"
#include "machine_facts.hpp"
#include "machine_files.hpp"

namespace iommuvm::engine {

namespace {
bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}
}  // namespace

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
