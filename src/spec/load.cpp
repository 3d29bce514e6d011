#include "iommuvm/spec/load.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "iommuvm/util/error.hpp"
#include "iommuvm/util/fs.hpp"
#include "iommuvm/util/hash.hpp"
#include "iommuvm/util/text.hpp"
#include "iommuvm/util/net.hpp"
#include "iommuvm/workload/commands.hpp"
#include "iommuvm/workload/generators.hpp"
#include "iommuvm/workload/servers.hpp"

namespace iommuvm::spec {

namespace {

std::string format_of(const std::string& file, const std::string& text) {
  auto ext = std::filesystem::path(file).extension().string();
  if (ext == ".json") return "json";
  if (ext == ".yaml" || ext == ".yml") return "yaml";
  auto first = text.find_first_not_of(" \t\r\n");
  return first != std::string::npos && text[first] == '{' ? "json" : "yaml";
}

// JSON is read through yaml-cpp for its line/column marks; a JSON syntax error is
// reported by nlohmann (it describes JSON better), at the line and column of its byte offset.
bool check_json_syntax(const std::string& text, const std::string& file, Diagnostics& diag) {
  try {
    auto parsed = nlohmann::json::parse(text);
    (void)parsed;
    return true;
  } catch (const nlohmann::json::out_of_range& e) {
    // nlohmann refuses a number it cannot hold (1e999, a 400-digit integer) without a
    // position; the number is in its message: find it in the text.
    std::string msg = e.what();
    std::string number;
    if (auto a = msg.find("parsing '"); a != std::string::npos)
      number = msg.substr(a + 9, msg.find('\'', a + 9) - (a + 9));
    auto pos = number.empty() ? std::string::npos : text.find(number);
    auto [line, col] = text::line_column(text, pos == std::string::npos ? 0 : pos);
    diag.error({file, line, col}, fmt::format("number out of range: '{}'", number));
    return false;
  } catch (const nlohmann::json::parse_error& e) {
    std::size_t byte = e.byte > 0 ? e.byte - 1 : 0;
    byte = std::min(byte, text.size());
    int line = 1, col = 1;
    for (std::size_t i = 0; i < byte; ++i) {
      if (text[i] == '\n') ++line, col = 1;
      else ++col;
    }
    std::string msg = e.what();
    auto pos = msg.find("syntax error while parsing ");
    diag.error({file, line, col}, "JSON " + (pos != std::string::npos ? msg.substr(pos) : msg));
    return false;
  }
}

}  // namespace

Loaded load_text(const std::string& text, const std::string& file, std::string format) {
  Loaded out;
  if (format.empty()) format = format_of(file, text);
  if (format == "json" && text.size() <= kMaxSpecBytes && text.find('\0') == std::string::npos &&
      !check_json_syntax(text, file, out.diag))
    return out;
  out.tree = parse_document(text, file, out.diag);
  if (out.diag.has_errors()) return out;
  out.spec = read_spec(out.tree, file, out.diag, true);
  out.spec.source_path = file;
  out.spec.source_text = text;
  out.spec.format = format;
  out.spec.hash = hash::sha256_hex(to_json(out.tree).dump());
  return out;
}

Loaded load_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw InputError(path.string() + " is a folder, not a spec file");
  if (!std::filesystem::exists(path, ec)) throw InputError("no such spec file: " + path.string());
  auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > kMaxSpecBytes) {
    Loaded out;
    out.diag.error({path.string(), 1, 1},
                   fmt::format("file is {} bytes; a spec may be at most {} bytes", size, kMaxSpecBytes));
    return out;
  }
  std::string text;
  try {
    text = fs::read_file(path);
  } catch (const Error& e) {
    throw InputError(e.what());
  }
  return load_text(text, path.string());
}

namespace {

void check_machine_ref(const Spec& s, const std::string& name, const Mark& mark, const std::string& what,
                       Diagnostics& diag) {
  if (name.empty() || s.machine(name)) return;
  std::vector<std::string> names;
  for (const auto& m : s.machines) names.push_back(m.name);
  std::string hint = nearest(name, names);
  diag.error(mark, fmt::format("{} names machine '{}', which is not defined under 'machines'{}", what, name,
                               hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
}

// A custom server takes any generator; otherwise the generator must drive the kind.
bool tool_fits(const std::string& kind, const std::string& tool) {
  if (kind == "custom") return true;
  const auto* g = workload::find_generator(tool);
  return g && g->name == tool && g->drives(kind);
}

}  // namespace

void check_semantics(const Spec& s, Diagnostics& diag) {
  const std::string& file = s.source_path;
  Mark top{file, 1, 1};
  if (s.machines.empty()) diag.error(top, "the spec defines no machines");
  if (s.workloads.empty()) diag.error(top, "the spec defines no workloads");

  for (const auto& m : s.machines) {
    check_machine_ref(s, m.ssh.jump, m.mark, fmt::format("'machines.{}.ssh.jump'", m.name), diag);
    if (m.ssh.jump == m.name) diag.error(m.mark, fmt::format("machine '{}' cannot jump through itself", m.name));
    // Jump chains must end: follow them.
    std::set<std::string> seen{m.name};
    for (const Machine* j = s.machine(m.ssh.jump); j; j = s.machine(j->ssh.jump)) {
      if (!seen.insert(j->name).second) {
        diag.error(m.mark, fmt::format("the jump hosts of machine '{}' form a loop", m.name));
        break;
      }
    }
  }

  const Machine* host = s.first_with_role(Role::host);
  if (!s.guests.empty()) {
    if (s.hypervisor.uri.empty()) diag.error(top, "guests are defined but 'hypervisor.uri' is not");
    check_machine_ref(s, s.hypervisor.machine, top, "'hypervisor.machine'", diag);
  }
  if (s.policy.guest.policy && s.guests.empty())
    diag.error(top, "'policy.guest' is set but the spec defines no guests");

  std::set<std::string> macs;
  auto add_mac = [&](const std::string& mac, const Mark& mark, const std::string& what) {
    if (mac.empty()) return;
    if (!net::valid_mac(mac)) {
      diag.error(mark, fmt::format("{} '{}' is not a unicast MAC address like 52:54:00:12:34:56", what, mac));
      return;
    }
    std::string lower = mac;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    if (!macs.insert(lower).second)
      diag.error(mark, fmt::format("MAC address {} is used twice: every VF needs its own MAC, or the NIC drops packets", mac));
  };
  for (const auto& mac : s.nic.vf_macs) add_mac(mac, s.nic.mark, "'nic.vf_macs' entry");
  if (!s.nic.vf_macs.empty() && s.nic.num_vfs > 0 && static_cast<int>(s.nic.vf_macs.size()) > s.nic.num_vfs)
    diag.error(s.nic.mark, fmt::format("'nic.vf_macs' lists {} MACs for {} VFs", s.nic.vf_macs.size(), s.nic.num_vfs));
  check_machine_ref(s, s.nic.machine, s.nic.mark, "'nic.machine'", diag);

  std::optional<net::Cidr> pf_net;
  if (!s.nic.host_ip.empty()) {
    pf_net = net::parse_cidr(s.nic.host_ip);
    if (!pf_net) diag.error(s.nic.mark, fmt::format("'nic.host_ip' '{}' is not an address with a prefix like 10.10.1.1/24", s.nic.host_ip));
  }

  std::set<int> vfs_taken;
  for (const auto& g : s.guests) {
    check_machine_ref(s, g.machine, g.mark, fmt::format("'guests.{}.machine'", g.name), diag);
    if (g.machine.empty()) diag.error(g.mark, fmt::format("guest '{}' needs 'machine': the machine entry used to reach it over SSH", g.name));
    if (!g.template_path.empty()) {
      auto p = std::filesystem::path(g.template_path);
      if (p.is_relative() && !file.empty()) p = std::filesystem::path(file).parent_path() / p;
      std::error_code ec;
      if (!std::filesystem::exists(p, ec))
        diag.error(g.mark, fmt::format("domain XML template '{}' of guest '{}' not found (looked at {})", g.template_path, g.name, p.string()));
    }
    bool viommu = g.viommu.model != ViommuSpec::Model::none;
    auto gp = s.policy.guest.policy;
    if (gp && *gp != policy::Policy::off && !viommu)
      diag.error(g.mark, fmt::format("guest policy '{}' needs a virtual IOMMU, but guest '{}' has 'viommu: none': "
                                     "without one the guest has no IOMMU to configure",
                                     policy::to_string(*gp), g.name));
    if (gp && *gp == policy::Policy::lazy && g.viommu.model == ViommuSpec::Model::intel && g.viommu.caching_mode)
      diag.warning(g.mark, fmt::format("guest '{}': with QEMU's emulated Intel vIOMMU in caching mode, Linux logs "
                                       "'IOMMU batching disallowed due to virtualization' and runs lazy as strict; "
                                       "such runs are recorded as policy-mismatch unless 'policy.accept_effective' is set",
                                       g.name));
    if (g.vf) {
      if (!s.nic.present())
        diag.error(g.mark, fmt::format("guest '{}' asks for VF {} but the spec has no 'nic' section", g.name, *g.vf));
      else if (*g.vf >= s.nic.num_vfs)
        diag.error(g.mark, fmt::format("guest '{}' asks for VF {} but 'nic.num_vfs' is {} (VFs are numbered from 0)",
                                       g.name, *g.vf, s.nic.num_vfs));
      if (!vfs_taken.insert(*g.vf).second)
        diag.error(g.mark, fmt::format("VF {} is given to two guests", *g.vf));
      if (s.policy.host.policy == policy::Policy::off)
        diag.error(g.mark, fmt::format("host policy 'off' disables the IOMMU, so VF passthrough to guest '{}' cannot work "
                                       "(VFIO needs the host IOMMU)", g.name));
    }
    add_mac(g.mac, g.mark, fmt::format("'guests.{}.mac'", g.name));
    if (!g.data_ip.empty()) {
      auto ip = net::parse_cidr(g.data_ip);
      if (!ip) {
        diag.error(g.mark, fmt::format("'guests.{}.data_ip' '{}' is not an address with a prefix like 10.10.1.100/24", g.name, g.data_ip));
      } else if (pf_net && !net::in_subnet(*ip, *pf_net)) {
        diag.error(g.mark, fmt::format("guest '{}' data IP {} is outside the PF's subnet {}: the VF only reaches "
                                       "addresses in the host NIC's subnet",
                                       g.name, g.data_ip, s.nic.host_ip));
      }
    }
    if (s.policy.guest.method == policy::Method::libvirt_cmdline && gp && g.kernel.empty() &&
        s.software.guest_kernel.empty())
      diag.warning(g.mark, fmt::format("guest '{}' has no direct-boot kernel in the spec: switching its policy through "
                                       "'libvirt-cmdline' needs <kernel> in its template",
                                       g.name));
  }

  auto hm = s.policy.host.method;
  if (s.policy.host.policy) {
    if (!host) diag.error(top, "'policy.host' is set but no machine has role 'host'");
    if (hm == policy::Method::libvirt_cmdline)
      diag.error(top, "'policy.host.method: libvirt-cmdline' only applies to guests");
    if (hm == policy::Method::runtime && *s.policy.host.policy == policy::Policy::off)
      diag.error(top, "the IOMMU cannot be turned off at runtime: use a kernel command line method for 'off'");
    if (!s.software.host_kexec_kernel.empty() && s.software.host_kexec_kernel[0] != '/')
      diag.error(top, "'software.host_kexec_kernel' must be an absolute path on the host (e.g. /boot/vmlinuz-6.12.9-vanilla)");
    if (!s.software.host_kexec_initrd.empty() && s.software.host_kexec_initrd[0] != '/')
      diag.error(top, "'software.host_kexec_initrd' must be an absolute path on the host");
  }
  if (s.policy.guest.policy && (s.policy.guest.method == policy::Method::kexec || s.policy.guest.method == policy::Method::runtime))
    diag.error(top, fmt::format("'policy.guest.method: {}' is not supported for guests: use libvirt-cmdline or grub",
                                policy::to_string(s.policy.guest.method)));

  for (const auto& c : s.collectors) {
    check_machine_ref(s, c.machine, c.mark, fmt::format("'collectors.{}.machine'", c.name), diag);
    // The fields each kind cannot run without, from the kinds' one description.
    if (const CollectorKind* k = collector_kind(c.kind))
      for (auto f : missing_collector_fields(c))
        diag.error(c.mark, fmt::format("collector '{}' of kind {} needs '{}' ({})", c.name, c.kind, f, k->what));
    if (c.kind == "tracepoints")
      for (const auto& e : c.events)
        if (!is_tracepoint_name(e))
          diag.error(c.mark, fmt::format("collector '{}': '{}' is not a tracepoint name (subsystem:event, e.g. iommu:unmap)",
                                         c.name, text::bounded(e)));
  }
  for (const auto& a : s.matrix.axes)
    if (a.path == kCollectorsAxis && s.collectors.empty())
      diag.error(a.mark, "the matrix axis 'collectors' (or 'matrix.collector_overhead') needs at least one collector "
                         "under 'collectors'");
  if (s.matrix.max_repetitions && s.matrix.max_repetitions < s.matrix.repetitions)
    diag.error(top, fmt::format("'matrix.max_repetitions' ({}) is below 'matrix.repetitions' ({})", s.matrix.max_repetitions,
                                s.matrix.repetitions));

  for (const auto& w : s.workloads) {
    std::string p = "workloads." + w.name;
    if (!tool_fits(w.kind, w.client.tool))
      diag.error(w.mark, fmt::format("'{}.client.tool' {} cannot load a {} server", p, w.client.tool, w.kind));
    if (w.kind == "custom" && w.server.command.empty())
      diag.error(w.mark, fmt::format("custom workload '{}' needs 'server.command'", w.name));
    if (w.client.tool == "custom" && w.client.command.empty())
      diag.error(w.mark, fmt::format("'{}.client' with tool custom needs 'command'", p));
    if (w.client.tool == "custom" && w.client.metrics.empty())
      diag.error(w.mark, fmt::format("'{}.client' with tool custom needs 'metrics' (name: regex with one group)", p));
    if (w.client.tool == "wrk2" && w.client.rate == 0)
      diag.error(w.mark, fmt::format("'{}.client' with tool wrk2 needs 'rate' (requests per second)", p));
    if (!w.client.primary.empty() && !w.client.tests.empty() &&
        std::find(w.client.tests.begin(), w.client.tests.end(), w.client.primary) == w.client.tests.end())
      diag.error(w.mark, fmt::format("'{}.client.primary' is '{}', which is not among its tests", p, w.client.primary));
    check_machine_ref(s, w.server.machine, w.mark, fmt::format("'{}.server.machine'", p), diag);
    check_machine_ref(s, w.client.machine, w.mark, fmt::format("'{}.client.machine'", p), diag);
    for (const auto& cm : w.client.machines)
      check_machine_ref(s, cm, w.mark, fmt::format("'{}.client.machines'", p), diag);
    if (!w.client.machine.empty() && !w.client.machines.empty())
      diag.error(w.mark, fmt::format("'{}.client' gives both 'machine' and 'machines': use one", p));
    for (std::size_t i = 0; i < w.client.machines.size(); ++i)
      for (std::size_t k = 0; k < i; ++k)
        if (w.client.machines[i] == w.client.machines[k])
          diag.error(w.mark, fmt::format("'{}.client.machines' lists '{}' twice (use 'processes' for several "
                                         "generators on one machine)", p, w.client.machines[i]));
    if (w.server.instances > 1 && !workload::supports_instances(w.kind)) {
      // The kinds that run several instances, from the registry ("redis and iperf3").
      std::vector<std::string> several;
      for (const auto& k : workload::server_kind_names())
        if (workload::supports_instances(k)) several.push_back(k);
      diag.error(w.mark, fmt::format("'{}.server.instances' above 1 is supported for {} only, not {}", p,
                                     fmt::join(several, " and "), w.kind));
    }
    if (!w.server.cpus.empty() && w.kind == "custom")
      diag.error(w.mark, fmt::format("'{}.server.cpus' does not apply to a custom server (pin it in its command)", p));
    if (w.server.instances > 1 && w.server.port > 0 && w.server.port + w.server.instances - 1 > 65535)
      diag.error(w.mark, fmt::format("'{}.server': {} instances from port {} go past 65535", p, w.server.instances,
                                     w.server.port));
    {
      const std::size_t machines = std::max<std::size_t>(1, w.client.machines.size());
      if (w.client.processes > 0 && machines * static_cast<std::size_t>(w.client.processes) <
                                        static_cast<std::size_t>(w.server.instances))
        diag.error(w.mark, fmt::format("'{}.client': {} generator process(es) cannot drive {} server instances "
                                       "(one process drives one instance)", p,
                                       machines * static_cast<std::size_t>(w.client.processes), w.server.instances));
    }
    if (w.client.ratio.size() && w.client.ratio.find(':') == std::string::npos)
      diag.error(w.mark, fmt::format("'{}.client.ratio' must look like SET:GET, e.g. 1:10", p));
  }
}

}  // namespace iommuvm::spec
