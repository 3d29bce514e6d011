#include "iommuvm/virt/domain_xml.hpp"

#include <pugixml.hpp>

#include <cctype>
#include <cstring>
#include <sstream>
#include <vector>

#include "iommuvm/util/error.hpp"
#include "iommuvm/util/hash.hpp"
#include "iommuvm/virt/sriov.hpp"

namespace iommuvm::virt {

namespace {

const char* kStampName = "iommuvm:render";

void parse(pugi::xml_document& doc, const std::string& xml) {
  auto r = doc.load_string(xml.c_str(), pugi::parse_default);
  if (!r) throw InputError(std::string("domain XML does not parse: ") + r.description() + " at offset " +
                           std::to_string(r.offset));
  if (std::strcmp(doc.document_element().name(), "domain") != 0)
    throw InputError(std::string("not a domain XML: the root element is <") + doc.document_element().name() + ">");
}

std::string save(const pugi::xml_document& doc) {
  std::ostringstream out;
  doc.save(out, "  ", pugi::format_indent | pugi::format_no_declaration, pugi::encoding_utf8);
  return out.str();
}

bool starts_with(const char* s, const char* prefix) { return std::strncmp(s, prefix, std::strlen(prefix)) == 0; }

// "vnet12", "testnet0", "macvtap3", "tap0": names libvirt gives interfaces when it starts a guest.
bool auto_tap_name(const char* dev) {
  for (const char* p : {"vnet", "testnet", "macvtap", "tap"}) {
    if (!starts_with(dev, p)) continue;
    const char* rest = dev + std::strlen(p);
    if (*rest == '\0') return false;
    for (; *rest; ++rest)
      if (!std::isdigit(static_cast<unsigned char>(*rest))) return false;
    return true;
  }
  return false;
}

bool no_content(pugi::xml_node n) { return !n.first_attribute() && !n.first_child(); }

void remove_all(const std::vector<pugi::xml_node>& nodes) {
  for (auto n : nodes) n.parent().remove_child(n);
}

// Prefix bound to the qemu namespace on the root ("qemu" when none is declared).
std::string qemu_prefix(pugi::xml_node root) {
  for (auto a : root.attributes())
    if (starts_with(a.name(), "xmlns:") && std::strcmp(a.value(), kQemuNamespace) == 0) return a.name() + 6;
  return "qemu";
}

void remove_stamp(pugi::xml_node root) {
  auto md = root.child("metadata");
  if (!md) return;
  std::vector<pugi::xml_node> drop;
  for (auto c : md.children())
    if (std::strcmp(c.name(), kStampName) == 0 || std::strcmp(c.attribute("xmlns:iommuvm").value(), kIommuvmNamespace) == 0)
      drop.push_back(c);
  remove_all(drop);
  if (no_content(md)) root.remove_child(md);
}

// What `virsh dumpxml` of a running guest adds and an inactive definition must not hold.
void strip_live_state(pugi::xml_node root) {
  root.remove_attribute("id");
  std::vector<pugi::xml_node> drop;
  for (auto seclabel : root.children("seclabel")) {
    auto type = seclabel.attribute("type");
    if (!type || std::strcmp(type.value(), "dynamic") == 0) drop.push_back(seclabel);
  }
  for (auto n : root.select_nodes("//*")) {
    auto e = n.node();
    std::string name = e.name();
    std::string parent = e.parent().name();
    if (name == "alias") {
      if (!starts_with(e.attribute("name").value(), "ua-")) drop.push_back(e);
    } else if (name == "source") {
      if (parent == "interface") {
        e.remove_attribute("portid");
        if (std::strcmp(e.parent().attribute("type").value(), "network") == 0) e.remove_attribute("bridge");
      }
      if (starts_with(e.attribute("path").value(), "/dev/pts/")) e.remove_attribute("path");
      if (parent == "channel" && std::strstr(e.attribute("path").value(), "/channel/target/domain-"))
        e.remove_attribute("path");
      if (parent == "disk") e.remove_attribute("index");
      if (no_content(e) && (parent == "serial" || parent == "console")) drop.push_back(e);
    } else if (name == "console" || name == "serial") {
      if (starts_with(e.attribute("tty").value(), "/dev/pts/")) e.remove_attribute("tty");
    } else if (name == "target" && parent == "interface") {
      if (auto_tap_name(e.attribute("dev").value())) {
        e.remove_attribute("dev");
        if (no_content(e)) drop.push_back(e);
      }
    } else if (name == "target" && parent == "channel") {
      e.remove_attribute("state");
    } else if (name == "backingStore" && parent == "disk") {
      if (no_content(e)) drop.push_back(e);
    } else if (name == "graphics") {
      if (std::strcmp(e.attribute("autoport").value(), "yes") == 0) {
        e.remove_attribute("port");
        e.remove_attribute("tlsPort");
        e.remove_attribute("websocket");
      }
    }
  }
  remove_all(drop);
}

// First child named NAME, created (after the first of AFTER that exists, else first) when missing.
pugi::xml_node ensure_child(pugi::xml_node parent, const char* name, std::initializer_list<const char*> after) {
  if (auto c = parent.child(name)) return c;
  pugi::xml_node anchor;
  for (const char* a : after) {
    for (auto c = parent.last_child(); c; c = c.previous_sibling())
      if (std::strcmp(c.name(), a) == 0) {
        anchor = c;
        break;
      }
    if (anchor) break;
  }
  if (anchor) return parent.insert_child_after(name, anchor);
  return parent.prepend_child(name);
}

void set_text(pugi::xml_node n, const std::string& value) {
  while (auto c = n.first_child()) n.remove_child(c);
  n.append_child(pugi::node_pcdata).set_value(value.c_str());
}

void set_vcpus(pugi::xml_node root, int vcpus) {
  auto vcpu = ensure_child(root, "vcpu", {"currentMemory", "memory", "name"});
  set_text(vcpu, std::to_string(vcpus));
  if (vcpu.attribute("current") && vcpu.attribute("current").as_int() > vcpus) vcpu.remove_attribute("current");
  if (auto v = root.child("vcpus")) root.remove_child(v);
  std::vector<pugi::xml_node> drop;
  for (auto pin : root.child("cputune").children("vcpupin"))
    if (pin.attribute("vcpu").as_int() >= vcpus) drop.push_back(pin);
  for (auto cpu : root.children("cpu"))
    for (auto topo : cpu.children("topology")) {
      long product = 1;
      for (const char* a : {"sockets", "dies", "clusters", "cores", "threads"})
        if (topo.attribute(a)) product *= topo.attribute(a).as_int();
      if (product != vcpus) drop.push_back(topo);
    }
  remove_all(drop);
}

void set_memory(pugi::xml_node root, int mib) {
  auto kib = std::to_string(static_cast<long long>(mib) * 1024);
  auto memory = ensure_child(root, "memory", {"vcpu", "name"});
  memory.remove_attribute("unit");
  memory.append_attribute("unit").set_value("KiB");
  set_text(memory, kib);
  auto current = ensure_child(root, "currentMemory", {"memory"});
  current.remove_attribute("unit");
  current.append_attribute("unit").set_value("KiB");
  set_text(current, kib);
}

void set_os_text(pugi::xml_node os, const char* name, const std::string& value,
                 std::initializer_list<const char*> after) {
  if (value.empty()) return;
  set_text(ensure_child(os, name, after), value);
}

void set_attr(pugi::xml_node n, const char* name, const std::string& value) {
  auto a = n.attribute(name);
  if (!a) a = n.append_attribute(name);
  a.set_value(value.c_str());
}

const char* on_off(bool b) { return b ? "on" : "off"; }

bool machine_arg_is_irqchip(const std::string& v) {
  return v == "kernel_irqchip=split" || v == "kernel-irqchip=split";
}

// Remove from every qemu:commandline the arguments that are ours to decide: a vIOMMU,
// an iommufd object, a VF opened by QEMU, and the split irqchip that goes with them.
void remove_commandline_viommu(pugi::xml_node root, const std::string& prefix) {
  std::string cl_name = prefix + ":commandline";
  std::string arg_name = prefix + ":arg";
  std::vector<pugi::xml_node> empty_lines;
  for (auto cl : root.children(cl_name.c_str())) {
    std::vector<pugi::xml_node> args;
    for (auto a : cl.children(arg_name.c_str())) args.push_back(a);
    std::vector<pugi::xml_node> drop;
    for (std::size_t i = 0; i + 1 < args.size(); ++i) {
      std::string opt = args[i].attribute("value").value();
      std::string val = args[i + 1].attribute("value").value();
      bool ours = false;
      if (opt == "-device")
        ours = starts_with(val.c_str(), "intel-iommu") || starts_with(val.c_str(), "vfio-pci") ||
               starts_with(val.c_str(), "virtio-iommu");
      else if (opt == "-object")
        ours = starts_with(val.c_str(), "iommufd");
      else if (opt == "-M" || opt == "-machine")
        ours = machine_arg_is_irqchip(val);
      if (ours) {
        drop.push_back(args[i]);
        drop.push_back(args[i + 1]);
        ++i;
      }
    }
    remove_all(drop);
    if (!cl.child(arg_name.c_str()) && !cl.child((prefix + ":env").c_str())) empty_lines.push_back(cl);
  }
  remove_all(empty_lines);
}

void add_qemu_args(pugi::xml_node root, const std::string& prefix, const std::vector<std::string>& values) {
  std::string cl_name = prefix + ":commandline";
  auto cl = root.child(cl_name.c_str());
  if (!cl) cl = root.append_child(cl_name.c_str());
  std::string arg_name = prefix + ":arg";
  // Our arguments go first, before any the template keeps (traces, -D ...).
  pugi::xml_node anchor;
  for (const auto& v : values) {
    auto a = anchor ? cl.insert_child_after(arg_name.c_str(), anchor) : cl.prepend_child(arg_name.c_str());
    a.append_attribute("value").set_value(v.c_str());
    anchor = a;
  }
}

void remove_passthrough(pugi::xml_node devices) {
  std::vector<pugi::xml_node> drop;
  for (auto c : devices.children()) {
    std::string name = c.name();
    std::string type = c.attribute("type").value();
    if ((name == "interface" && type == "hostdev") || (name == "hostdev" && type == "pci") || name == "iommu")
      drop.push_back(c);
  }
  remove_all(drop);
}

std::string hex(unsigned v, int width) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%0*x", width, v);
  return buf;
}

void add_vf_interface(pugi::xml_node devices, const PciAddress& vf, const std::string& mac) {
  pugi::xml_node last_if;
  for (auto c : devices.children("interface")) last_if = c;
  auto itf = last_if ? devices.insert_child_after("interface", last_if) : devices.append_child("interface");
  itf.append_attribute("type").set_value("hostdev");
  itf.append_attribute("managed").set_value("yes");
  if (!mac.empty()) itf.append_child("mac").append_attribute("address").set_value(mac.c_str());
  auto addr = itf.append_child("source").append_child("address");
  addr.append_attribute("type").set_value("pci");
  addr.append_attribute("domain").set_value(hex(vf.domain, 4).c_str());
  addr.append_attribute("bus").set_value(hex(vf.bus, 2).c_str());
  addr.append_attribute("slot").set_value(hex(vf.slot, 2).c_str());
  addr.append_attribute("function").set_value(hex(vf.function, 1).c_str());
}

void ensure_split_ioapic(pugi::xml_node root) {
  auto features = ensure_child(root, "features", {"os", "cpu"});
  auto ioapic = features.child("ioapic");
  if (!ioapic) ioapic = features.append_child("ioapic");
  set_attr(ioapic, "driver", "qemu");
}

void set_memory_lock(pugi::xml_node root, bool lock) {
  auto mb = root.child("memoryBacking");
  if (lock) {
    if (!mb) mb = ensure_child(root, "memoryBacking", {"currentMemory", "memory"});
    if (!mb.child("locked")) mb.append_child("locked");
  } else if (mb) {
    if (auto l = mb.child("locked")) mb.remove_child(l);
    if (no_content(mb)) root.remove_child(mb);
  }
}

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 200) return false;
  for (char c : name)
    if (c == '/' || std::iscntrl(static_cast<unsigned char>(c))) return false;
  return true;
}

std::string normalise_root(pugi::xml_node root, bool drop_uuid) {
  strip_live_state(root);
  remove_stamp(root);
  if (drop_uuid)
    while (auto u = root.child("uuid")) root.remove_child(u);
  pugi::xml_document copy;
  copy.append_copy(root);
  return save(copy);
}

}  // namespace

std::string render_domain(const std::string& template_xml, const DomainSettings& s) {
  if (!valid_name(s.name)) throw InputError("bad domain name '" + s.name + "'");
  if (s.vcpus < 0) throw InputError("vCPU count must not be negative");
  if (s.memory_mib < 0) throw InputError("memory must not be negative");
  if (!s.vf_mac.empty() && !sriov::valid_mac(s.vf_mac)) throw InputError("bad VF MAC address '" + s.vf_mac + "'");
  if (s.viommu.aw_bits < 0) throw InputError("bad vIOMMU address width");
  if (s.vf && s.viommu.model == ViommuModel::intel && !s.viommu.caching_mode)
    throw InputError("a VF behind QEMU's emulated Intel IOMMU needs caching_mode on (QEMU refuses device "
                     "assignment without it)");
  if (s.iommufd_id.empty() || s.iommufd_id.find(',') != std::string::npos)
    throw InputError("bad iommufd object id '" + s.iommufd_id + "'");

  pugi::xml_document doc;
  parse(doc, template_xml);
  auto root = doc.document_element();
  strip_live_state(root);
  remove_stamp(root);

  if (!s.domain_type.empty()) set_attr(root, "type", s.domain_type);
  set_text(ensure_child(root, "name", {}), s.name);
  while (auto u = root.child("uuid")) root.remove_child(u);
  if (s.memory_mib > 0) set_memory(root, s.memory_mib);
  if (s.vcpus > 0)
    set_vcpus(root, s.vcpus);
  else if (int n = root.child("vcpu").text().as_int(); n > 0)
    set_vcpus(root, n);  // drops the template's own out-of-range vcpupin (network-server-*.xml pin vCPU 60 of 60)

  auto os = ensure_child(root, "os", {"vcpu", "currentMemory", "memory", "name"});
  set_os_text(os, "kernel", s.kernel, {"nvram", "loader", "type"});
  set_os_text(os, "initrd", s.initrd, {"kernel", "nvram", "loader", "type"});
  set_os_text(os, "cmdline", s.cmdline, {"initrd", "kernel", "nvram", "loader", "type"});

  auto devices = ensure_child(root, "devices", {"on_crash", "on_reboot", "on_poweroff", "clock", "features", "os"});
  if (!s.emulator.empty()) {
    auto emulator = devices.child("emulator");
    if (!emulator) emulator = devices.prepend_child("emulator");
    set_text(emulator, s.emulator);
  }

  // vIOMMU and VF: remove whatever the template holds, then add exactly what is asked.
  auto prefix = qemu_prefix(root);
  remove_commandline_viommu(root, prefix);
  remove_passthrough(devices);

  const auto& v = s.viommu;
  const bool nested = v.model == ViommuModel::nested;
  const bool iommufd = nested || s.iommufd;
  // intel-iommu on the QEMU command line: nested always; intel when QEMU opens the VF
  // through iommufd (the vIOMMU must then be QEMU's own too, as in server_iommufd_shadow.xml).
  const bool cmdline_intel = nested || (v.model == ViommuModel::intel && s.iommufd);
  std::vector<std::string> args;
  if (cmdline_intel) {
    ensure_split_ioapic(root);
    args.insert(args.end(), {"-M", "kernel_irqchip=split"});
  }
  if (nested || (iommufd && s.vf)) args.insert(args.end(), {"-object", "iommufd,id=" + s.iommufd_id});
  if (cmdline_intel) {
    std::string dev = std::string("intel-iommu,intremap=") + on_off(v.intremap) +
                      ",caching-mode=" + on_off(v.caching_mode);
    if (v.iotlb) dev += ",device-iotlb=on";
    if (v.aw_bits > 0) dev += ",aw-bits=" + std::to_string(v.aw_bits);
    // Nested: the guest's first-stage tables are used by the host IOMMU (scalable mode, x-flts).
    if (nested) dev += ",x-scalable-mode=on,x-flts=on";
    args.insert(args.end(), {"-device", dev});
  } else if (v.model == ViommuModel::intel) {
    ensure_split_ioapic(root);
    auto iommu = devices.append_child("iommu");
    iommu.append_attribute("model").set_value("intel");
    auto driver = iommu.append_child("driver");
    driver.append_attribute("intremap").set_value(on_off(v.intremap));
    driver.append_attribute("caching_mode").set_value(on_off(v.caching_mode));
    driver.append_attribute("iotlb").set_value(on_off(v.iotlb));
    if (v.aw_bits > 0) driver.append_attribute("aw_bits").set_value(std::to_string(v.aw_bits).c_str());
  } else if (v.model == ViommuModel::virtio) {
    devices.append_child("iommu").append_attribute("model").set_value("virtio");
  }
  if (s.vf && iommufd)
    args.insert(args.end(), {"-device", "vfio-pci,host=" + s.vf->str() + ",id=hostdev0,iommufd=" + s.iommufd_id});
  if (!args.empty()) add_qemu_args(root, prefix, args);
  if (s.vf && !iommufd)
    add_vf_interface(devices, *s.vf, s.vf_mac.empty() ? "" : sriov::normalise_mac(s.vf_mac));
  if (s.lock_memory.has_value())
    set_memory_lock(root, *s.lock_memory);
  else if (s.vf)
    set_memory_lock(root, true);

  if (!s.uuid.empty()) set_text(root.insert_child_after("uuid", root.child("name")), s.uuid);
  if (root.child((prefix + ":commandline").c_str())) set_attr(root, ("xmlns:" + prefix).c_str(), kQemuNamespace);
  return save(doc);
}

std::string normalise_domain_xml(const std::string& xml) {
  pugi::xml_document doc;
  parse(doc, xml);
  return normalise_root(doc.document_element(), false);
}

bool same_domain_xml(const std::string& a, const std::string& b) {
  return normalise_domain_xml(a) == normalise_domain_xml(b);
}

std::optional<std::string> domain_name(const std::string& xml) {
  pugi::xml_document doc;
  parse(doc, xml);
  auto n = doc.document_element().child("name");
  if (!n) return std::nullopt;
  return std::string(n.text().get());
}

std::optional<std::string> domain_uuid(const std::string& xml) {
  pugi::xml_document doc;
  parse(doc, xml);
  auto n = doc.document_element().child("uuid");
  if (!n) return std::nullopt;
  return std::string(n.text().get());
}

std::string with_uuid(const std::string& xml, const std::string& uuid) {
  pugi::xml_document doc;
  parse(doc, xml);
  auto root = doc.document_element();
  auto u = root.child("uuid");
  if (!u) u = root.child("name") ? root.insert_child_after("uuid", root.child("name")) : root.prepend_child("uuid");
  set_text(u, uuid);
  return save(doc);
}

std::string content_hash(const std::string& xml) {
  pugi::xml_document doc;
  parse(doc, xml);
  return hash::sha256_hex(normalise_root(doc.document_element(), true));
}

std::string stamp_content_hash(const std::string& xml) {
  auto h = content_hash(xml);
  pugi::xml_document doc;
  parse(doc, xml);
  auto root = doc.document_element();
  remove_stamp(root);
  auto md = ensure_child(root, "metadata", {"description", "title", "uuid", "name"});
  auto stamp = md.append_child(kStampName);
  stamp.append_attribute("xmlns:iommuvm").set_value(kIommuvmNamespace);
  stamp.append_attribute("hash").set_value(h.c_str());
  return save(doc);
}

std::optional<std::string> stamped_hash(const std::string& xml) {
  pugi::xml_document doc;
  parse(doc, xml);
  for (auto c : doc.document_element().child("metadata").children()) {
    // libvirt may rename the prefix it stores; match on the namespace or our name.
    bool ours = std::strcmp(c.name(), kStampName) == 0;
    for (auto a : c.attributes())
      if (starts_with(a.name(), "xmlns") && std::strcmp(a.value(), kIommuvmNamespace) == 0) ours = true;
    if (ours && c.attribute("hash")) return std::string(c.attribute("hash").value());
  }
  return std::nullopt;
}

}  // namespace iommuvm::virt
