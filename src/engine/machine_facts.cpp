#include "machine_facts.hpp"

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
#include "machine_files.hpp"

namespace iommuvm::engine {

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
  return verify_facts(r.name(), read_facts(r), expected, mismatch, groups_under_test);
}

nlohmann::json verify_facts(const std::string& machine, const MachineFacts& facts, const std::optional<policy::Policy>& expected,
                            std::string& mismatch, const std::vector<int>& groups_under_test) {
  nlohmann::json out = {{"machine", machine},
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

}  // namespace iommuvm::engine
