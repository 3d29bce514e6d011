// Facts for `iommuvm doctor` (include/iommuvm/engine/doctor.hpp). Reads go through
// machine_files and machine_facts, so root prefixes and sudo behave exactly as in a campaign.
#include "iommuvm/engine/doctor.hpp"

#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "iommuvm/engine/connect.hpp"
#include "iommuvm/engine/guest_xml.hpp"
#include "iommuvm/virt/libvirt.hpp"
#include "machine_files.hpp"
#include "machine_facts.hpp"
#include "iommuvm/tune/knobs.hpp"

namespace iommuvm::engine {

namespace {

std::string first_line(const std::string& s) {
  std::string l = s.substr(0, s.find('\n'));
  while (!l.empty() && (l.back() == '\r' || l.back() == ' ')) l.pop_back();
  return l;
}

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

}  // namespace

doctor::MachineFacts gather_machine(remote::Remote& r, const doctor::Needs& n) {
  doctor::MachineFacts f;
  try {
    auto id = r.run({{"id", "-u"}}, {std::chrono::milliseconds(30000)});
    if (!id.ok()) {
      f.connect_error = fmt::format("`id -u` failed (exit {}): {}", id.exit_status, first_line(id.err));
      return f;
    }
    f.reachable = true;
    f.is_root = first_line(id.out) == "0";
  } catch (const std::exception& e) {
    f.connect_error = e.what();
    return f;
  }
  try {
    if (!n.root.empty() && !f.is_root.value_or(false) && n.sudo_allowed) {
      auto res = r.run({{"true"}, true, "", {}}, {std::chrono::milliseconds(30000)});
      f.sudo_ok = res.ok();
      if (!res.ok()) f.sudo_error = first_line(res.err);
    }
  } catch (const std::exception& e) {
    f.sudo_ok = false;
    f.sudo_error = e.what();
  }
  if (n.tuning.is_object())
    for (const auto& k : tune::knobs()) {
      if (!n.tuning.contains(k.name)) continue;
      try {
        for (const auto& w : k.where) f.knob_files[k.name].push_back(list_values(r, w.glob));
      } catch (const std::exception& e) {
        spdlog::debug("doctor: cannot list {} on {}: {}", k.name, r.name(), e.what());
      }
    }
  if (n.iommu_host) {
    try {
      auto ls = r.run({{"sh", "-c", "ls -1 -- \"$1\"", "sh", machine_path(r, "/sys/firmware/acpi/tables")}});
      if (ls.ok()) f.acpi_tables = words(ls.out);
      MachineFacts facts = read_facts(r);
      f.evidence.cmdline = facts.cmdline;
      f.evidence.dmesg = facts.dmesg;
      f.evidence.group_types = facts.group_types;
      f.evidence.iommu_devices = facts.iommu_devices;
    } catch (const std::exception& e) {
      spdlog::warn("doctor: reading the IOMMU state of {}: {}", r.name(), e.what());
    }
  }
  if (!n.nic_pf.empty() || !n.nic_pci.empty()) {
    std::string dir = doctor::nic_sysfs_dir(n);
    try {
      f.nic_present = r.run({{"test", "-d", machine_path(r, dir)}}).ok();
      f.sriov_totalvfs = try_read(r, dir + "/sriov_totalvfs");
      if (f.sriov_totalvfs) f.sriov_totalvfs = first_line(*f.sriov_totalvfs);
      auto drv = r.run({{"readlink", machine_path(r, dir + "/driver")}});
      if (drv.ok()) f.nic_driver = std::filesystem::path(first_line(drv.out)).filename().string();
    } catch (const std::exception& e) {
      spdlog::warn("doctor: reading the NIC of {}: {}", r.name(), e.what());
    }
  }
  std::vector<std::string> programs;
  for (const auto& [p, why] : n.programs) programs.push_back(p);
  for (const auto& [p, why] : n.optional_programs) programs.push_back(p);
  if (!programs.empty()) {
    // sbin folders too: programs run through sudo (update-grub) live there and a user's PATH may lack them.
    std::vector<std::string> argv = {"sh", "-c",
                                     "PATH=\"$PATH:/usr/local/sbin:/usr/sbin:/sbin\"; for p; do "
                                     "if command -v \"$p\" >/dev/null 2>&1; then echo \"y $p\"; else echo \"n $p\"; fi; done",
                                     "sh"};
    argv.insert(argv.end(), programs.begin(), programs.end());
    try {
      auto res = r.run({argv}, {std::chrono::milliseconds(30000)});
      std::istringstream in(res.out);
      std::string yes, p;
      while (in >> yes >> p) f.programs[p] = yes == "y";
    } catch (const std::exception& e) {
      spdlog::warn("doctor: looking for programs on {}: {}", r.name(), e.what());
    }
  }
  return f;
}

doctor::HypervisorFacts gather_hypervisor(const plan::Plan& plan, const std::filesystem::path& spec_dir) {
  doctor::HypervisorFacts h;
  if (plan.runs.empty()) return h;
  const spec::Spec& base = plan.runs.front().config;
  if (base.guests.empty()) return h;
  h.needed = true;
  h.uri = base.hypervisor.uri;
  std::unique_ptr<virt::Hypervisor> hv;
  try {
    h.uri = hypervisor_uri(base);  // libvirtd on hypervisor.machine, over its SSH settings
    hv = virt::connect_libvirt(h.uri);
    h.connected = true;
    h.version = hv->library_version();
  } catch (const std::exception& e) {
    h.error = e.what();
  }
  // Every guest configuration of the campaign renders (the first failure per guest is kept).
  for (const auto& run : plan.runs)
    for (const auto& g : run.config.guests) {
      auto& err = h.template_errors[g.name];
      if (!err.empty()) continue;
      try {
        std::string note;
        render_guest_xml(run.config, g, nullptr, spec_dir, &note);
      } catch (const std::exception& e) {
        err = e.what();
      }
      if (hv && !h.domain_active.count(g.domain)) {
        try {
          h.domain_active[g.domain] = hv->is_active(g.domain);
        } catch (const std::exception&) {
          h.domain_active[g.domain] = false;
        }
      }
    }
  return h;
}

doctor::ControllerFacts gather_controller(const std::filesystem::path& output) {
  doctor::ControllerFacts c;
  c.output = output.string();
  std::error_code ec;
  auto p = std::filesystem::absolute(output, ec);
  while (!ec && !p.empty() && !std::filesystem::exists(p, ec)) {
    if (p == p.parent_path()) break;
    p = p.parent_path();
  }
  auto space = std::filesystem::space(p, ec);
  if (!ec) c.free_bytes = space.available;
  return c;
}

}  // namespace iommuvm::engine
