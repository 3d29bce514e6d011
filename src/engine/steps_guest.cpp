// Engine steps for guests: define (with the vIOMMU, the VF and the policy's command
// line), start and wait for SSH, verify the policy, set up the VF's network, shut down.
#include <algorithm>
#include <chrono>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "iommuvm/engine/engine.hpp"
#include "iommuvm/engine/guest_xml.hpp"
#include "iommuvm/policy/cmdline.hpp"
#include "iommuvm/util/fs.hpp"
#include "iommuvm/virt/domain_xml.hpp"
#include "iommuvm/virt/libvirt.hpp"
#include "iommuvm/virt/sriov.hpp"
#include "machine_files.hpp"
#include "machine_facts.hpp"
#include "sriov_io.hpp"
#include "step_context.hpp"

namespace iommuvm::engine {

using nlohmann::json;

namespace {

const spec::GuestSpec& guest_of(const spec::Spec& cfg, const plan::Step& s) {
  const auto* g = cfg.guest(s.args.value("guest", std::string()));
  if (!g) throw Error(fmt::format("internal: step for unknown guest '{}'", s.args.value("guest", std::string())));
  return *g;
}

std::string template_cmdline(const std::string& xml) {
  auto b = xml.find("<cmdline>");
  auto e = xml.find("</cmdline>");
  if (b == std::string::npos || e == std::string::npos) return "";
  return xml.substr(b + 9, e - b - 9);
}

// A guest's stop wait (its boot timeout, SECONDS), capped by the step deadline; at least 1 s.
std::chrono::seconds capped_seconds(const StepContext& ctx, double seconds) {
  auto ms = ctx.cap(std::chrono::milliseconds(static_cast<long long>(seconds * 1000)));
  return std::max(std::chrono::seconds(1), std::chrono::duration_cast<std::chrono::seconds>(ms));
}

}  // namespace

std::string render_guest_xml(const spec::Spec& cfg, const spec::GuestSpec& g, virt::Hypervisor* hv,
                             const std::filesystem::path& spec_dir, std::string* note) {
  json settings = plan::guest_key(cfg, g);
  std::filesystem::path tpl = g.template_path;
  if (tpl.is_relative()) tpl = spec_dir / tpl;
  std::string template_xml = fs::read_file(tpl);

  // ~/ in paths means the controller's home (the hypervisor is usually the controller or
  // shares its layout); libvirt itself would take it literally.
  auto home = [](std::string p) {
    const char* h = std::getenv("HOME");
    if (p.rfind("~/", 0) == 0 && h) p = std::string(h) + p.substr(1);
    return p;
  };
  virt::DomainSettings d;
  d.name = g.domain;
  d.domain_type = g.domain_type;
  d.vcpus = g.vcpus;
  d.memory_mib = g.memory_mib;
  d.emulator = home(settings.value("emulator", std::string()));
  d.kernel = home(settings.value("kernel", std::string()));
  d.initrd = home(settings.value("initrd", std::string()));
  std::string base = g.cmdline.empty() ? template_cmdline(template_xml) : g.cmdline;
  auto pol = policy::parse_policy(settings.value("policy", std::string()));
  const spec::Machine* gm = cfg.machine(g.machine);
  auto vendor = gm ? gm->vendor : policy::Vendor::intel;
  // With the guest's own GRUB switching the policy, the direct-boot command line stays as given.
  std::string method = settings.value("method", std::string());
  bool by_grub = method == "grub" || method == "grub-oneshot";
  if (pol && !by_grub) d.cmdline = policy::rewrite_cmdline(base, *pol, vendor);
  else if (!g.cmdline.empty()) d.cmdline = g.cmdline;
  d.viommu = g.viommu;
  if (g.vf) {
    // The VF's address comes from the host (libvirt's node devices), never from the template.
    auto pf = virt::PciAddress::parse(cfg.nic.pci);
    if (!pf) throw Error(fmt::format("guest {} gets VF {} but 'nic.pci' is not a PCI address", g.name, *g.vf));
    std::vector<virt::PciDeviceInfo> vfs;
    if (hv) vfs = virt::vfs_of(*hv, *pf);
    if (vfs.empty() && note) {
      d.vf = virt::PciAddress{pf->domain, pf->bus, pf->slot, static_cast<unsigned>(pf->function + 2 + *g.vf)};
      *note = fmt::format("VF {} assumed at {}: a real run reads its address from libvirt's node devices", *g.vf, d.vf->str());
    } else {
      if (static_cast<int>(vfs.size()) <= *g.vf)
        throw Error(fmt::format("libvirt at {} shows {} VFs of {}; VF {} is not there (is sriov_numvfs set?)",
                                hv ? hv->uri() : "?", vfs.size(), pf->str(), *g.vf));
      d.vf = vfs[static_cast<std::size_t>(*g.vf)].address;
    }
    d.vf_mac = !g.mac.empty() ? g.mac
                              : virt::sriov::vf_macs(cfg.name, cfg.nic.num_vfs, cfg.nic.vf_macs)[static_cast<std::size_t>(*g.vf)];
  }
  return virt::render_domain(template_xml, d);
}

void Engine::on_guest_define(const plan::Step& s, const StepContext& ctx) {
  const auto& cfg = config(s);
  const auto& g = guest_of(cfg, s);
  auto& hv = hypervisor();
  blocked_guest_.erase(g.name);
  std::string xml = render_guest_xml(cfg, g, &hv, options_.spec_dir, nullptr);
  auto previous = hv.domain_xml(g.domain, true);
  ctx.undo(s.machine, {{"action", previous ? "redefine_domain" : "undefine_domain"},
                   {"domain", g.domain},
                   {"previous_xml", previous ? json(*previous) : json(nullptr)}});
  if (hv.is_active(g.domain)) virt::stop_domain(hv, g.domain, capped_seconds(ctx, g.boot_timeout_s));
  bool changed = virt::define_if_changed(hv, xml);
  // QEMU opens the VF itself through iommufd (nested): libvirt does not detach it, so bind it
  // to vfio-pci here; the original driver is journaled and bound again by the restore.
  if (g.vf && g.viommu.model == spec::ViommuSpec::Model::nested) {
    std::string nic_machine = cfg.nic.machine.empty() ? s.machine : cfg.nic.machine;
    auto undo = [&](json entry) { ctx.undo(nic_machine, std::move(entry)); };
    system_["vfio"][g.name] = bind_vf_to_vfio(machine(nic_machine), cfg.nic, *g.vf, undo);
  }
  spdlog::info("guest {}: {}", g.domain, changed ? "defined" : "definition unchanged");
  system_["domain_xml"][g.name] = xml;
  system_["guests"][g.name] = {{"cmdline", template_cmdline(xml)}, {"viommu", s.args["settings"]["viommu"]}};
}

void Engine::on_guest_start(const plan::Step& s, const StepContext& ctx) {
  const auto& cfg = config(s);
  const auto& g = guest_of(cfg, s);
  auto& hv = hypervisor();
  if (!hv.is_active(g.domain)) hv.start(g.domain);
  // Wait for the guest to answer over SSH with a boot id.
  remote::Remote& r = machine(g.machine);
  try {
    guest_evidence_[g.name]["boot_id"] =
        r.wait_until_up(ctx.cap(std::chrono::milliseconds(static_cast<long long>(g.boot_timeout_s * 1000))),
                        [] { return g_interrupts.load() > 0; });
  } catch (const Error& e) {
    throw Error(fmt::format("guest {}: {}", g.domain, e.what()));
  }
  // A guest that boots from its own disk: its policy goes through its GRUB, over SSH, the
  // same way as the host's (one-shot entry or persistent edit), then a reboot inside it.
  auto method = cfg.policy.guest.method;
  auto pol = cfg.policy.guest.policy;
  if (!pol || (method != policy::Method::grub && method != policy::Method::grub_oneshot)) return;
  const spec::Machine* gm = cfg.machine(g.machine);
  if (!gm) throw Error(fmt::format("guest {} has no machine entry '{}'", g.name, g.machine));
  MachineFacts facts = read_facts(r);
  if (policy::requested_policy(facts.cmdline.value_or(""), gm->vendor) == pol) {
    progress_ << fmt::format("  guest {} already boots with {}: no GRUB switch needed\n", g.domain, policy::to_string(*pol));
    return;
  }
  switch_by_grub(ctx, g.machine, r, gm, *pol, method, "", facts);
  reboot_and_wait(ctx, g.machine, r, *gm, remote::Command{gm->reboot.command, true, "", {}});
  guest_evidence_[g.name]["boot_id"] = r.boot_id();
}

void Engine::on_guest_verify_policy(const plan::Step& s, const StepContext&) {
  const auto& cfg = config(s);
  const auto& g = guest_of(cfg, s);
  std::optional<policy::Policy> expected;
  if (s.args["expected"].is_string()) expected = policy::parse_policy(s.args["expected"].get<std::string>());
  std::string mismatch;
  json ev = verify_machine(machine(s.machine), expected, mismatch);
  ev["viommu"] = std::string(spec::to_string(g.viommu.model));
  guest_evidence_[g.name] = ev;
  if (!mismatch.empty()) {
    guest_evidence_[g.name]["policy_mismatch"] = true;
    if (!s.args.value("accept_effective", false)) {
      blocked_guest_[g.name] = "policy-mismatch: guest " + g.name + ": " + mismatch;
      progress_ << fmt::format("! guest {}: requested {} is not in effect: {}\n", g.name,
                               s.args["expected"].get<std::string>(), mismatch);
    }
  }
}

void Engine::on_guest_network(const plan::Step& s, const StepContext& ctx) {
  const auto& cfg = config(s);
  const auto& g = guest_of(cfg, s);
  remote::Remote& r = machine(s.machine);
  std::string mac = !g.mac.empty() ? g.mac : virt::sriov::vf_macs(cfg.name, cfg.nic.num_vfs, cfg.nic.vf_macs)[static_cast<std::size_t>(*g.vf)];
  mac = virt::sriov::normalise_mac(mac);
  // Find the VF's interface by its MAC: ip -o link prints "N: IF: <...> ... link/ether MAC ...".
  auto links = run_checked(r, {{"ip", "-o", "link"}}, "listing interfaces");
  std::string ifname;
  std::istringstream in(links.out);
  std::string line;
  while (std::getline(in, line))
    if (line.find("link/ether " + mac) != std::string::npos) {
      auto a = line.find(": ");
      auto b = line.find(':', a + 2);
      if (a != std::string::npos && b != std::string::npos) ifname = line.substr(a + 2, b - a - 2);
    }
  if (ifname.empty()) throw Error(fmt::format("no interface with MAC {} in guest {}: is the VF attached?", mac, g.domain));
  if (auto at = ifname.find('@'); at != std::string::npos) ifname.resize(at);
  if (g.net_method == "netplan") {
    std::string yaml = fmt::format(
        "# written by iommuvm\nnetwork:\n  version: 2\n  ethernets:\n    {}:\n      match: {{macaddress: \"{}\"}}\n"
        "      dhcp4: no\n      addresses: [{}]\n",
        ifname, mac, g.data_ip);
    ctx.undo(s.machine, {{"action", "remove_file"}, {"path", "/etc/netplan/60-iommuvm.yaml"}});
    write_as_root(r, "/etc/netplan/60-iommuvm.yaml", yaml, "0600");
    run_checked(r, {{"netplan", "apply"}, true, "", {}}, "netplan apply");
  } else {
    run_checked(r, {{"ip", "addr", "replace", g.data_ip, "dev", ifname}, true, "", {}}, "setting the VF address");
    run_checked(r, {{"ip", "link", "set", ifname, "up"}, true, "", {}}, "bringing the VF up");
  }
  guest_evidence_[g.name]["vf_interface"] = ifname;
  // Reachability from the load client over the data path.
  std::string ip = g.data_ip.substr(0, g.data_ip.find('/'));
  for (const auto& m : cfg.machines) {
    if (m.role != spec::Role::client) continue;
    auto ping = machine(m.name).run({{"ping", "-c", "3", "-W", "2", ip}}, {ctx.cap(std::chrono::milliseconds(20000))});
    if (!ping.ok())
      throw Error(fmt::format("client {} cannot reach guest {} at {} over the data network", m.name, g.domain, ip));
  }
}

void Engine::on_guest_shutdown(const plan::Step& s, const StepContext& ctx) {
  const auto& cfg = config(s);
  const auto& g = guest_of(cfg, s);
  auto& hv = hypervisor();
  if (!hv.is_active(g.domain)) return;
  if (!virt::stop_domain(hv, g.domain, capped_seconds(ctx, g.boot_timeout_s)))
    throw Error(fmt::format("guest {} did not stop", g.domain));
}

}  // namespace iommuvm::engine
