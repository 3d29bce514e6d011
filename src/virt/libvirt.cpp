#include "iommuvm/virt/libvirt.hpp"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pugixml.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "iommuvm/util/error.hpp"
#include "iommuvm/virt/domain_xml.hpp"

namespace iommuvm::virt {

namespace {

// --- thin RAII over the libvirt handles ---
struct ConnectCloser {
  void operator()(virConnectPtr c) const { virConnectClose(c); }
};
struct DomainFreer {
  void operator()(virDomainPtr d) const { virDomainFree(d); }
};
struct NodeDeviceFreer {
  void operator()(virNodeDevicePtr d) const { virNodeDeviceFree(d); }
};
using Connection = std::unique_ptr<virConnect, ConnectCloser>;
using Domain = std::unique_ptr<virDomain, DomainFreer>;
using NodeDevice = std::unique_ptr<virNodeDevice, NodeDeviceFreer>;

// A string libvirt allocated and the caller frees.
std::string take_string(char* s) {
  if (!s) return {};
  std::string out(s);
  std::free(s);
  return out;
}

void silent_error_handler(void*, virErrorPtr) {}

void silence_libvirt() {
  static std::once_flag once;
  std::call_once(once, [] {
    virInitialize();
    virSetErrorFunc(nullptr, silent_error_handler);
  });
}

std::string last_error() {
  const char* msg = virGetLastErrorMessage();
  return msg ? msg : "unknown libvirt error";
}

[[noreturn]] void fail(const std::string& what) { throw Error(what + ": " + last_error()); }

std::string domain_label(const std::string& name) { return "domain '" + name + "'"; }

const std::map<std::string, unsigned int>& capability_flags() {
  static const std::map<std::string, unsigned int> m = {
      {"system", VIR_CONNECT_LIST_NODE_DEVICES_CAP_SYSTEM},
      {"pci", VIR_CONNECT_LIST_NODE_DEVICES_CAP_PCI_DEV},
      {"usb_device", VIR_CONNECT_LIST_NODE_DEVICES_CAP_USB_DEV},
      {"usb", VIR_CONNECT_LIST_NODE_DEVICES_CAP_USB_INTERFACE},
      {"net", VIR_CONNECT_LIST_NODE_DEVICES_CAP_NET},
      {"scsi_host", VIR_CONNECT_LIST_NODE_DEVICES_CAP_SCSI_HOST},
      {"scsi_target", VIR_CONNECT_LIST_NODE_DEVICES_CAP_SCSI_TARGET},
      {"scsi", VIR_CONNECT_LIST_NODE_DEVICES_CAP_SCSI},
      {"storage", VIR_CONNECT_LIST_NODE_DEVICES_CAP_STORAGE},
      {"fc_host", VIR_CONNECT_LIST_NODE_DEVICES_CAP_FC_HOST},
      {"vports", VIR_CONNECT_LIST_NODE_DEVICES_CAP_VPORTS},
      {"scsi_generic", VIR_CONNECT_LIST_NODE_DEVICES_CAP_SCSI_GENERIC},
      {"drm", VIR_CONNECT_LIST_NODE_DEVICES_CAP_DRM},
      {"mdev_types", VIR_CONNECT_LIST_NODE_DEVICES_CAP_MDEV_TYPES},
      {"mdev", VIR_CONNECT_LIST_NODE_DEVICES_CAP_MDEV},
      {"vdpa", VIR_CONNECT_LIST_NODE_DEVICES_CAP_VDPA},
  };
  return m;
}

class LibvirtHypervisor final : public Hypervisor {
 public:
  explicit LibvirtHypervisor(std::string uri) : uri_(std::move(uri)) {
    silence_libvirt();
    conn_.reset(virConnectOpen(uri_.c_str()));
    if (!conn_) fail("cannot connect to libvirt at " + uri_);
  }

  const std::string& uri() const override { return uri_; }

  void define(const std::string& domain_xml) override {
    Domain d(virDomainDefineXML(conn_.get(), domain_xml.c_str()));
    if (d) return;
    std::string name = "?";
    try {
      name = domain_name(domain_xml).value_or("?");
    } catch (const Error&) {
      // libvirt's message says what is wrong with the XML
    }
    fail("cannot define " + domain_label(name));
  }

  void undefine(const std::string& name) override {
    auto d = lookup(name);
    if (!d) return;
    unsigned int flags = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                         VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA | VIR_DOMAIN_UNDEFINE_KEEP_NVRAM;
    if (virDomainUndefineFlags(d.get(), flags) == 0) return;
    // Drivers without some of these flags (the test driver) refuse them; they have nothing to keep.
    int code = virGetLastErrorCode();
    if ((code == VIR_ERR_INVALID_ARG || code == VIR_ERR_NO_SUPPORT) && virDomainUndefine(d.get()) == 0) return;
    fail("cannot undefine " + domain_label(name));
  }

  void start(const std::string& name) override {
    auto d = need(name);
    if (virDomainCreate(d.get()) != 0) fail("cannot start " + domain_label(name));
  }

  bool shutdown(const std::string& name, std::chrono::seconds timeout) override {
    auto d = need(name);
    if (!active(d.get(), name)) return true;
    if (virDomainShutdown(d.get()) != 0) {
      // The guest may have stopped between the check and the request.
      if (!active(d.get(), name)) return true;
      fail("cannot shut down " + domain_label(name));
    }
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (active(d.get(), name)) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return true;
  }

  void destroy(const std::string& name) override {
    auto d = need(name);
    if (!active(d.get(), name)) return;
    if (virDomainDestroy(d.get()) != 0) {
      if (!active(d.get(), name)) return;
      fail("cannot destroy " + domain_label(name));
    }
  }

  bool is_active(const std::string& name) override {
    auto d = lookup(name);
    return d && active(d.get(), name);
  }

  std::optional<std::string> domain_xml(const std::string& name, bool inactive) override {
    auto d = lookup(name);
    if (!d) return std::nullopt;
    char* xml = virDomainGetXMLDesc(d.get(), inactive ? VIR_DOMAIN_XML_INACTIVE : 0);
    if (!xml) fail("cannot read the XML of " + domain_label(name));
    return take_string(xml);
  }

  std::vector<std::string> node_devices(const std::string& capability) override {
    std::vector<std::string> names;
    unsigned int flags = 0;
    if (!capability.empty()) {
      auto it = capability_flags().find(capability);
      if (it == capability_flags().end()) return legacy_node_devices(capability);
      flags = it->second;
    }
    virNodeDevicePtr* devs = nullptr;
    int n = virConnectListAllNodeDevices(conn_.get(), &devs, flags);
    if (n < 0) fail("cannot list node devices" + (capability.empty() ? "" : " with capability " + capability));
    for (int i = 0; i < n; ++i) {
      NodeDevice dev(devs[i]);
      const char* nm = virNodeDeviceGetName(dev.get());
      if (nm) names.emplace_back(nm);
    }
    std::free(devs);
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string node_device_xml(const std::string& name) override {
    NodeDevice dev(virNodeDeviceLookupByName(conn_.get(), name.c_str()));
    if (!dev) fail("cannot find node device '" + name + "'");
    char* xml = virNodeDeviceGetXMLDesc(dev.get(), 0);
    if (!xml) fail("cannot read the XML of node device '" + name + "'");
    return take_string(xml);
  }

  std::string library_version() override {
    unsigned long v = 0;
    if (virConnectGetLibVersion(conn_.get(), &v) != 0) fail("cannot read libvirt's version at " + uri_);
    return format_version(v);
  }

  std::string hypervisor_version() override {
    unsigned long v = 0;
    if (virConnectGetVersion(conn_.get(), &v) != 0) fail("cannot read the hypervisor version at " + uri_);
    return format_version(v);
  }

 private:
  // nullptr when there is no such domain; Error on any other failure.
  Domain lookup(const std::string& name) {
    Domain d(virDomainLookupByName(conn_.get(), name.c_str()));
    if (!d && virGetLastErrorCode() != VIR_ERR_NO_DOMAIN) fail("cannot look up " + domain_label(name));
    return d;
  }

  Domain need(const std::string& name) {
    Domain d(virDomainLookupByName(conn_.get(), name.c_str()));
    if (!d) fail("cannot find " + domain_label(name) + " at " + uri_);
    return d;
  }

  bool active(virDomainPtr d, const std::string& name) {
    int r = virDomainIsActive(d);
    if (r < 0) fail("cannot query the state of " + domain_label(name));
    return r == 1;
  }

  std::vector<std::string> legacy_node_devices(const std::string& capability) {
    int n = virNodeNumOfDevices(conn_.get(), capability.c_str(), 0);
    if (n < 0) fail("cannot count node devices with capability " + capability);
    std::vector<char*> raw(static_cast<std::size_t>(n) + 1, nullptr);
    int got = virNodeListDevices(conn_.get(), capability.c_str(), raw.data(), n, 0);
    if (got < 0) fail("cannot list node devices with capability " + capability);
    std::vector<std::string> names;
    for (int i = 0; i < got; ++i) names.push_back(take_string(raw[i]));
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string uri_;
  Connection conn_;
};

std::optional<PciAddress> parse_address_element(pugi::xml_node a) {
  if (!a) return std::nullopt;
  auto num = [&](const char* attr) { return static_cast<unsigned>(std::strtoul(a.attribute(attr).value(), nullptr, 0)); };
  PciAddress p{num("domain"), num("bus"), num("slot"), num("function")};
  return p;
}

}  // namespace

std::unique_ptr<Hypervisor> connect_libvirt(const std::string& uri) { return std::make_unique<LibvirtHypervisor>(uri); }

bool stop_domain(Hypervisor& hv, const std::string& name, std::chrono::seconds timeout) {
  if (hv.shutdown(name, timeout)) return true;
  hv.destroy(name);
  return false;
}

bool define_if_changed(Hypervisor& hv, const std::string& xml) {
  auto name = domain_name(xml);
  if (!name || name->empty()) throw InputError("domain XML without a <name>");
  auto existing = hv.domain_xml(*name, true);
  auto hash = content_hash(xml);
  if (existing && stamped_hash(*existing) == hash) return false;
  auto stamped = stamp_content_hash(xml);
  if (existing) {
    if (auto uuid = domain_uuid(*existing)) stamped = with_uuid(stamped, *uuid);
  }
  hv.define(stamped);
  return true;
}

std::optional<PciDeviceInfo> parse_pci_node_device(const std::string& xml) {
  pugi::xml_document doc;
  auto r = doc.load_string(xml.c_str());
  if (!r) throw InputError(std::string("node device XML does not parse: ") + r.description());
  auto dev = doc.child("device");
  pugi::xml_node cap;
  for (auto c : dev.children("capability"))
    if (std::strcmp(c.attribute("type").value(), "pci") == 0) cap = c;
  if (!cap) return std::nullopt;
  PciDeviceInfo info;
  info.name = dev.child("name").text().get();
  info.driver = dev.child("driver").child("name").text().get();
  info.address = PciAddress{cap.child("domain").text().as_uint(), cap.child("bus").text().as_uint(),
                            cap.child("slot").text().as_uint(), cap.child("function").text().as_uint()};
  info.vendor_id = cap.child("vendor").attribute("id").value();
  info.product_id = cap.child("product").attribute("id").value();
  info.product = cap.child("product").text().get();
  if (auto g = cap.child("iommuGroup")) info.iommu_group = g.attribute("number").as_int();
  for (auto sub : cap.children("capability")) {
    std::string type = sub.attribute("type").value();
    if (type == "phys_function") {
      info.phys_function = parse_address_element(sub.child("address"));
    } else if (type == "virt_functions") {
      info.max_vfs = sub.attribute("maxCount").as_int();
      for (auto a : sub.children("address")) info.virt_functions.push_back(*parse_address_element(a));
    }
  }
  return info;
}

std::vector<PciDeviceInfo> pci_devices(Hypervisor& hv) {
  std::vector<PciDeviceInfo> out;
  for (const auto& name : hv.node_devices("pci"))
    if (auto info = parse_pci_node_device(hv.node_device_xml(name))) out.push_back(std::move(*info));
  return out;
}

std::vector<PciDeviceInfo> vfs_of(Hypervisor& hv, const PciAddress& pf) {
  std::vector<PciDeviceInfo> out;
  for (auto& d : pci_devices(hv))
    if (d.phys_function == pf) out.push_back(std::move(d));
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.address < b.address; });
  return out;
}

std::string format_version(unsigned long long packed) {
  return std::to_string(packed / 1000000) + "." + std::to_string(packed / 1000 % 1000) + "." +
         std::to_string(packed % 1000);
}

}  // namespace iommuvm::virt
