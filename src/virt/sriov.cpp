#include "iommuvm/virt/sriov.hpp"

#include "iommuvm/util/net.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <set>
#include <system_error>

#include "iommuvm/util/error.hpp"
#include "iommuvm/util/fs.hpp"
#include "iommuvm/util/hash.hpp"

namespace iommuvm::virt::sriov {

namespace stdfs = std::filesystem;

namespace {

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

std::optional<std::string> read_attr(const stdfs::path& p) {
  std::ifstream in(p);
  if (!in) return std::nullopt;
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return trim(s);
}

int read_int_attr(const stdfs::path& p) {
  auto s = read_attr(p);
  if (!s) throw Error("cannot read " + p.string());
  try {
    return std::stoi(*s);
  } catch (const std::exception&) {
    throw Error("unexpected content in " + p.string() + ": '" + *s + "'");
  }
}

// Basename of a symlink's target, empty when P is not a symlink.
std::string link_basename(const stdfs::path& p) {
  std::error_code ec;
  auto target = stdfs::read_symlink(p, ec);
  if (ec) return {};
  return target.filename().string();
}

std::string pci_dev_path(const PciAddress& pci) { return "/sys/bus/pci/devices/" + pci.str(); }

stdfs::path pci_dir(const stdfs::path& root, const PciAddress& pci) {
  return fs::under_root(root, pci_dev_path(pci));
}

// First entry of DIR/net, empty when none.
std::string first_net_interface(const stdfs::path& dir) {
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& e : stdfs::directory_iterator(dir / "net", ec)) names.push_back(e.path().filename().string());
  if (names.empty()) return {};
  std::sort(names.begin(), names.end());
  return names.front();
}

PfInfo read_pf(const stdfs::path& dir, const PciAddress& pci, const std::string& ifname) {
  PfInfo pf;
  pf.pci = pci;
  pf.ifname = ifname.empty() ? first_net_interface(dir) : ifname;
  auto what = ifname.empty() ? pci.str() : ifname + " (" + pci.str() + ")";
  if (!stdfs::exists(dir / "sriov_totalvfs"))
    throw InputError(what + " cannot do SR-IOV: no " + (dir / "sriov_totalvfs").string());
  pf.total_vfs = read_int_attr(dir / "sriov_totalvfs");
  pf.num_vfs = read_int_attr(dir / "sriov_numvfs");
  pf.driver = link_basename(dir / "driver");
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
  return [root](const SysfsWrite& w) {
    auto p = fs::under_root(root, w.path);
    std::ofstream out(p, std::ios::out | std::ios::trunc);
    if (!out) throw Error("cannot open " + p.string() + " for writing");
    out << w.value;
    out.flush();
    if (!out) throw Error("writing '" + w.value + "' to " + p.string() + " failed");
  };
}

remote::Command write_command(const SysfsWrite& w) {
  remote::Command c;
  c.argv = {"sh", "-c", "printf %s \"$1\" > \"$2\"", "sh", w.value, w.path};
  c.sudo = true;
  return c;
}

PfInfo find_pf_by_interface(const stdfs::path& root, const std::string& ifname) {
  if (ifname.empty() || ifname.find('/') != std::string::npos) throw InputError("bad interface name '" + ifname + "'");
  auto dev = fs::under_root(root, "/sys/class/net/" + ifname + "/device");
  std::error_code ec;
  if (!stdfs::is_symlink(dev, ec))
    throw Error("network interface " + ifname + " not found or not a PCI device (no " + dev.string() + ")");
  auto name = link_basename(dev);
  auto pci = PciAddress::parse(name);
  if (!pci) throw Error(dev.string() + " points to '" + name + "', not a PCI address");
  return read_pf(dev, *pci, ifname);
}

PfInfo find_pf_by_pci(const stdfs::path& root, const PciAddress& pci) {
  auto dir = pci_dir(root, pci);
  std::error_code ec;
  if (!stdfs::exists(dir, ec)) throw Error("PCI device " + pci.str() + " not found (no " + dir.string() + ")");
  return read_pf(dir, pci, "");
}

PfInfo find_pf(const stdfs::path& root, const std::string& ifname, const std::string& pci) {
  if (!ifname.empty()) return find_pf_by_interface(root, ifname);
  if (pci.empty()) throw InputError("the NIC needs a PF interface name or a PCI address");
  auto addr = PciAddress::parse(pci);
  if (!addr) throw InputError("bad PCI address '" + pci + "' (expected e.g. 0000:ca:00.0)");
  return find_pf_by_pci(root, *addr);
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

std::string bound_driver(const stdfs::path& root, const PciAddress& pci) {
  return link_basename(pci_dir(root, pci) / "driver");
}

std::optional<int> iommu_group(const stdfs::path& root, const PciAddress& pci) {
  auto name = link_basename(pci_dir(root, pci) / "iommu_group");
  if (name.empty()) return std::nullopt;
  try {
    return std::stoi(name);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

VfInfo vf_info(const stdfs::path& root, const PfInfo& pf, int index) {
  auto link = pci_dir(root, pf.pci) / ("virtfn" + std::to_string(index));
  auto name = link_basename(link);
  if (name.empty()) throw Error("VF " + std::to_string(index) + " of " + pf.pci.str() + " not found (no " + link.string() + ")");
  auto pci = PciAddress::parse(name);
  if (!pci) throw Error(link.string() + " points to '" + name + "', not a PCI address");
  VfInfo vf;
  vf.index = index;
  vf.pci = *pci;
  vf.node_device = pci->node_device_name();
  vf.iommu_group = iommu_group(root, *pci);
  vf.driver = bound_driver(root, *pci);
  vf.ifname = first_net_interface(pci_dir(root, *pci));
  return vf;
}

std::vector<VfInfo> list_vfs(const stdfs::path& root, const PfInfo& pf) {
  std::vector<VfInfo> out;
  auto dir = pci_dir(root, pf.pci);
  std::error_code ec;
  for (int i = 0; stdfs::is_symlink(dir / ("virtfn" + std::to_string(i)), ec); ++i) out.push_back(vf_info(root, pf, i));
  return out;
}

std::vector<SysfsWrite> plan_bind(const stdfs::path& root, const PciAddress& pci, const std::string& driver) {
  if (driver.empty() || driver.find('/') != std::string::npos) throw InputError("bad driver name '" + driver + "'");
  auto dir = pci_dir(root, pci);
  std::error_code ec;
  if (!stdfs::exists(dir, ec)) throw Error("PCI device " + pci.str() + " not found (no " + dir.string() + ")");
  auto current = bound_driver(root, pci);
  if (current == driver) return {};
  std::vector<SysfsWrite> w;
  w.push_back({pci_dev_path(pci) + "/driver_override", driver});
  if (!current.empty()) w.push_back({"/sys/bus/pci/drivers/" + current + "/unbind", pci.str()});
  w.push_back({"/sys/bus/pci/drivers_probe", pci.str()});
  return w;
}

std::vector<SysfsWrite> plan_unbind(const stdfs::path& root, const PciAddress& pci, const std::string& original) {
  if (original.find('/') != std::string::npos) throw InputError("bad driver name '" + original + "'");
  auto current = bound_driver(root, pci);
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
