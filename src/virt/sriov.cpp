#include "iommuvm/virt/sriov.hpp"

#include "iommuvm/util/net.hpp"
#include "iommuvm/remote/sysfs.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <set>
#include <system_error>

#include "iommuvm/util/error.hpp"
#include "iommuvm/util/fs.hpp"
#include "iommuvm/util/hash.hpp"
#include "iommuvm/util/regex.hpp"

namespace iommuvm::virt::sriov {

namespace stdfs = std::filesystem;

namespace {

int read_int_attr(remote::Sysfs& sys, const std::string& p) {
  auto s = sys.read(p);
  if (!s) throw Error("cannot read " + p);
  try {
    return std::stoi(*s);
  } catch (const std::exception&) {
    throw Error("unexpected content in " + p + ": '" + *s + "'");
  }
}

// Basename of a symlink's target, empty when P is not a symlink.
std::string link_basename(remote::Sysfs& sys, const std::string& p) {
  auto target = sys.link(p);
  return target.empty() ? std::string() : stdfs::path(target).filename().string();
}

std::string pci_dev_path(const PciAddress& pci) { return "/sys/bus/pci/devices/" + pci.str(); }

// First entry of DIR/net, empty when none.
std::string first_net_interface(remote::Sysfs& sys, const std::string& dir) {
  auto names = sys.list(dir + "/net");
  return names.empty() ? std::string() : names.front();
}

PfInfo read_pf(remote::Sysfs& sys, const std::string& dir, const PciAddress& pci, const std::string& ifname) {
  PfInfo pf;
  pf.pci = pci;
  pf.ifname = ifname.empty() ? first_net_interface(sys, dir) : ifname;
  auto what = ifname.empty() ? pci.str() : ifname + " (" + pci.str() + ")";
  if (!sys.exists(dir + "/sriov_totalvfs")) throw InputError(what + " cannot do SR-IOV: no " + dir + "/sriov_totalvfs");
  pf.total_vfs = read_int_attr(sys, dir + "/sriov_totalvfs");
  pf.num_vfs = read_int_attr(sys, dir + "/sriov_numvfs");
  pf.driver = link_basename(sys, dir + "/driver");
  return pf;
}

void check_hex_octets(std::string_view mac, bool& ok) {
  ok = false;
  if (mac.size() != 17) return;
  for (std::size_t i = 0; i < 17; ++i) {
    if (i % 3 == 2) {
      if (mac[i] != ':') return;
    } else if (!std::isxdigit(static_cast<unsigned char>(mac[i]))) {
      return;
    }
  }
  ok = true;
}

unsigned first_octet(std::string_view mac) { return std::stoul(std::string(mac.substr(0, 2)), nullptr, 16); }

}  // namespace

void apply(const std::vector<SysfsWrite>& writes, const Writer& writer) {
  for (const auto& w : writes) writer(w);
}

Writer local_writer(const stdfs::path& root) {
  return [root](const SysfsWrite& w) { remote::local_sysfs(root)->write(w); };
}

PfInfo find_pf_by_interface(remote::Sysfs& sys, const std::string& ifname) {
  if (ifname.empty() || ifname.find('/') != std::string::npos) throw InputError("bad interface name '" + ifname + "'");
  auto dev = "/sys/class/net/" + ifname + "/device";
  auto name = link_basename(sys, dev);
  if (name.empty()) throw Error("network interface " + ifname + " not found or not a PCI device (no " + dev + ")");
  auto pci = PciAddress::parse(name);
  if (!pci) throw Error(dev + " points to '" + name + "', not a PCI address");
  return read_pf(sys, dev, *pci, ifname);
}

PfInfo find_pf_by_pci(remote::Sysfs& sys, const PciAddress& pci) {
  auto dir = pci_dev_path(pci);
  if (!sys.exists(dir)) throw Error("PCI device " + pci.str() + " not found (no " + dir + ")");
  return read_pf(sys, dir, pci, "");
}

PfInfo find_pf(remote::Sysfs& sys, const std::string& ifname, const std::string& pci) {
  if (!ifname.empty()) return find_pf_by_interface(sys, ifname);
  if (pci.empty()) throw InputError("the NIC needs a PF interface name or a PCI address");
  auto addr = PciAddress::parse(pci);
  if (!addr) throw InputError("bad PCI address '" + pci + "' (expected e.g. 0000:ca:00.0)");
  return find_pf_by_pci(sys, *addr);
}

PfInfo find_pf_by_interface(const stdfs::path& root, const std::string& ifname) {
  return find_pf_by_interface(*remote::local_sysfs(root), ifname);
}
PfInfo find_pf_by_pci(const stdfs::path& root, const PciAddress& pci) { return find_pf_by_pci(*remote::local_sysfs(root), pci); }
PfInfo find_pf(const stdfs::path& root, const std::string& ifname, const std::string& pci) {
  return find_pf(*remote::local_sysfs(root), ifname, pci);
}

std::vector<SysfsWrite> plan_set_num_vfs(const PfInfo& pf, int count) {
  if (count < 0) throw InputError("number of VFs must not be negative");
  if (count > pf.total_vfs)
    throw InputError(std::to_string(count) + " VFs asked for " + pf.pci.str() + ", which supports at most " +
                     std::to_string(pf.total_vfs));
  if (count == pf.num_vfs) return {};
  auto path = pci_dev_path(pf.pci) + "/sriov_numvfs";
  std::vector<SysfsWrite> w;
  if (pf.num_vfs != 0) w.push_back({path, "0"});
  if (count != 0) w.push_back({path, std::to_string(count)});
  return w;
}

remote::Command vf_mac_command(const std::string& pf_ifname, int index, const std::string& mac) {
  if (pf_ifname.empty()) throw InputError("setting a VF MAC needs the PF's interface name");
  if (index < 0) throw InputError("bad VF index " + std::to_string(index));
  remote::Command c;
  c.argv = {"ip", "link", "set", pf_ifname, "vf", std::to_string(index), "mac", normalise_mac(mac)};
  c.sudo = true;
  return c;
}

std::string bound_driver(remote::Sysfs& sys, const PciAddress& pci) {
  return link_basename(sys, pci_dev_path(pci) + "/driver");
}

std::optional<int> iommu_group(remote::Sysfs& sys, const PciAddress& pci) {
  auto name = link_basename(sys, pci_dev_path(pci) + "/iommu_group");
  if (name.empty()) return std::nullopt;
  try {
    return std::stoi(name);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

VfInfo vf_info(remote::Sysfs& sys, const PfInfo& pf, int index) {
  auto link = pci_dev_path(pf.pci) + "/virtfn" + std::to_string(index);
  auto name = link_basename(sys, link);
  if (name.empty()) throw Error("VF " + std::to_string(index) + " of " + pf.pci.str() + " not found (no " + link + ")");
  auto pci = PciAddress::parse(name);
  if (!pci) throw Error(link + " points to '" + name + "', not a PCI address");
  VfInfo vf;
  vf.index = index;
  vf.pci = *pci;
  vf.node_device = pci->node_device_name();
  vf.iommu_group = iommu_group(sys, *pci);
  vf.driver = bound_driver(sys, *pci);
  vf.ifname = first_net_interface(sys, pci_dev_path(*pci));
  return vf;
}

std::vector<VfInfo> list_vfs(remote::Sysfs& sys, const PfInfo& pf) {
  std::vector<VfInfo> out;
  auto dir = pci_dev_path(pf.pci);
  for (int i = 0; !sys.link(dir + "/virtfn" + std::to_string(i)).empty(); ++i) out.push_back(vf_info(sys, pf, i));
  return out;
}

std::vector<SysfsWrite> plan_bind(remote::Sysfs& sys, const PciAddress& pci, const std::string& driver) {
  if (driver.empty() || driver.find('/') != std::string::npos) throw InputError("bad driver name '" + driver + "'");
  auto dir = pci_dev_path(pci);
  if (!sys.exists(dir)) throw Error("PCI device " + pci.str() + " not found (no " + dir + ")");
  auto current = bound_driver(sys, pci);
  if (current == driver) return {};
  std::vector<SysfsWrite> w;
  w.push_back({dir + "/driver_override", driver});
  if (!current.empty()) w.push_back({"/sys/bus/pci/drivers/" + current + "/unbind", pci.str()});
  w.push_back({"/sys/bus/pci/drivers_probe", pci.str()});
  return w;
}

std::vector<SysfsWrite> plan_unbind(remote::Sysfs& sys, const PciAddress& pci, const std::string& original) {
  if (original.find('/') != std::string::npos) throw InputError("bad driver name '" + original + "'");
  auto current = bound_driver(sys, pci);
  std::vector<SysfsWrite> w;
  w.push_back({pci_dev_path(pci) + "/driver_override", "\n"});
  if (!original.empty() && current == original) return w;
  if (!current.empty()) w.push_back({"/sys/bus/pci/drivers/" + current + "/unbind", pci.str()});
  if (original.empty())
    w.push_back({"/sys/bus/pci/drivers_probe", pci.str()});
  else
    w.push_back({"/sys/bus/pci/drivers/" + original + "/bind", pci.str()});
  return w;
}

std::string bound_driver(const stdfs::path& root, const PciAddress& pci) { return bound_driver(*remote::local_sysfs(root), pci); }
std::optional<int> iommu_group(const stdfs::path& root, const PciAddress& pci) {
  return iommu_group(*remote::local_sysfs(root), pci);
}
VfInfo vf_info(const stdfs::path& root, const PfInfo& pf, int index) { return vf_info(*remote::local_sysfs(root), pf, index); }
std::vector<VfInfo> list_vfs(const stdfs::path& root, const PfInfo& pf) { return list_vfs(*remote::local_sysfs(root), pf); }
std::vector<SysfsWrite> plan_bind(const stdfs::path& root, const PciAddress& pci, const std::string& driver) {
  return plan_bind(*remote::local_sysfs(root), pci, driver);
}
std::vector<SysfsWrite> plan_unbind(const stdfs::path& root, const PciAddress& pci, const std::string& original) {
  return plan_unbind(*remote::local_sysfs(root), pci, original);
}

std::map<int, std::string> parse_vf_macs(std::string_view text) {
  static const RE2 re(R"(^\s*vf\s+(\d{1,9})\s+(?:link/ether|MAC)\s+([0-9a-fA-F:]{17}))", regex::byte_options());
  std::map<int, std::string> out;
  std::istringstream in{std::string(text)};
  std::string line, index, mac;
  while (std::getline(in, line))
    if (RE2::PartialMatch(line, re, &index, &mac) && net::valid_mac(mac)) {
      for (auto& c : mac) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out[std::stoi(index)] = mac;
    }
  return out;
}

// --- Data path ---

std::string interface_by_mac(remote::Sysfs& sys, const std::string& mac) {
  std::string want = normalise_mac(mac);
  for (const auto& name : sys.list("/sys/class/net")) {
    auto addr = sys.read("/sys/class/net/" + name + "/address");
    if (addr && valid_mac(*addr) && normalise_mac(*addr) == want) return name;
  }
  return {};
}

std::optional<NetCounters> read_counters(remote::Sysfs& sys, const std::string& ifname) {
  if (ifname.empty() || ifname.find('/') != std::string::npos) return std::nullopt;
  NetCounters c;
  std::pair<const char*, std::uint64_t*> fields[] = {
      {"rx_bytes", &c.rx_bytes}, {"rx_packets", &c.rx_packets}, {"tx_bytes", &c.tx_bytes}, {"tx_packets", &c.tx_packets}};
  for (auto& [name, value] : fields) {
    auto text = sys.read("/sys/class/net/" + ifname + "/statistics/" + name);
    if (!text || text->empty() || text->find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    *value = std::stoull(*text);
  }
  return c;
}

DataPathVerdict check_data_path(const NetCounters& before, const NetCounters& after, const Traffic& moved) {
  DataPathVerdict v;
  if (after.rx_packets < before.rx_packets || after.tx_packets < before.tx_packets || after.rx_bytes < before.rx_bytes ||
      after.tx_bytes < before.tx_bytes) {
    v.ok = false;
    v.reason = "the VF's counters went backwards (was the interface reset during the run?)";
    return v;
  }
  auto rx_p = static_cast<double>(after.rx_packets - before.rx_packets);
  auto tx_p = static_cast<double>(after.tx_packets - before.tx_packets);
  auto bytes = static_cast<double>(after.rx_bytes - before.rx_bytes + after.tx_bytes - before.tx_bytes);
  v.expected_packets = moved.requests > 0 ? moved.requests / std::max(1, moved.pipeline) : moved.bytes > 0 ? 0 : 2;
  v.expected_bytes = moved.bytes / 2;
  char buf[256];
  if (moved.requests <= 0 && moved.bytes <= 0 && (rx_p < 1 || tx_p < 1)) {
    v.ok = false;
    std::snprintf(buf, sizeof buf, "the VF received %.0f and sent %.0f packets during the run", rx_p, tx_p);
    v.reason = buf;
  } else if (rx_p + tx_p < v.expected_packets) {
    v.ok = false;
    std::snprintf(buf, sizeof buf, "the VF moved %.0f packets (rx %.0f, tx %.0f) for %.0f requests (at least %.0f expected)",
                  rx_p + tx_p, rx_p, tx_p, moved.requests, v.expected_packets);
    v.reason = buf;
  } else if (bytes < v.expected_bytes) {
    v.ok = false;
    std::snprintf(buf, sizeof buf, "the VF moved %.0f bytes, less than half of the %.0f the load generator reports", bytes,
                  moved.bytes);
    v.reason = buf;
  }
  return v;
}

// --- MACs ---

bool valid_mac(std::string_view mac) {
  return net::valid_mac(std::string(mac)) && mac != "00:00:00:00:00:00";
}

std::string normalise_mac(std::string_view mac) {
  if (!valid_mac(mac)) throw InputError("bad MAC address '" + std::string(mac) + "' (expected a unicast xx:xx:xx:xx:xx:xx)");
  std::string s(mac);
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool locally_administered(std::string_view mac) {
  bool ok;
  check_hex_octets(mac, ok);
  return ok && (first_octet(mac) & 2);
}

std::string generate_vf_mac(std::string_view seed, int index, MacPrefix prefix) {
  if (index < 0 || index > 255) throw InputError("VF index " + std::to_string(index) + " out of range for a generated MAC");
  auto h = hash::sha256_hex(seed);
  char buf[18];
  if (prefix == MacPrefix::qemu)
    std::snprintf(buf, sizeof buf, "52:54:00:%.2s:%.2s:%02x", h.data(), h.data() + 2, static_cast<unsigned>(index));
  else
    std::snprintf(buf, sizeof buf, "02:%.2s:%.2s:%.2s:%.2s:%02x", h.data(), h.data() + 2, h.data() + 4, h.data() + 6,
                  static_cast<unsigned>(index));
  return buf;
}

std::vector<std::string> vf_macs(std::string_view seed, int count, const std::vector<std::string>& given,
                                 MacPrefix prefix) {
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) {
    if (static_cast<std::size_t>(i) < given.size() && !given[i].empty())
      out.push_back(normalise_mac(given[i]));
    else
      out.push_back(generate_vf_mac(seed, i, prefix));
  }
  if (auto d = find_duplicate_mac(out)) throw InputError("MAC address " + *d + " is used by more than one VF");
  return out;
}

std::optional<std::string> find_duplicate_mac(const std::vector<std::string>& macs) {
  std::set<std::string> seen;
  for (const auto& m : macs) {
    std::string key = m;
    if (valid_mac(m)) key = normalise_mac(m);
    if (!seen.insert(key).second) return key;
  }
  return std::nullopt;
}

// --- Subnets ---

bool in_subnet(std::string_view network, std::string_view ip) {
  auto n = net::parse_cidr(std::string(network));
  if (!n) throw InputError("bad network address '" + std::string(network) + "' (expected e.g. 10.10.1.1/24)");
  auto a = net::parse_cidr(std::string(ip));
  if (!a) throw InputError("bad IP address '" + std::string(ip) + "'");
  return net::in_subnet(*a, *n);
}

}  // namespace iommuvm::virt::sriov
