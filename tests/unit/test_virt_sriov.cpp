#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "iommuvm/remote/remote.hpp"
#include "iommuvm/util/error.hpp"
#include "iommuvm/util/fs.hpp"
#include "iommuvm/virt/pci.hpp"
#include "iommuvm/virt/sriov.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using namespace iommuvm::virt;
namespace stdfs = std::filesystem;

namespace {

void write(const stdfs::path& p, const std::string& content) {
  stdfs::create_directories(p.parent_path());
  std::ofstream(p) << content;
}

void link(const stdfs::path& at, const std::string& target) {
  stdfs::create_directories(at.parent_path());
  stdfs::create_directory_symlink(target, at);
}

// A sysfs tree shaped like the kernel's, with relative symlinks: a ConnectX-6 Dx PF at
// 0000:ca:00.0 (enp202s0f0np0) with NUM_VFS of 8 VFs at ca:00.2.., plus a NIC without SR-IOV.
class FakeSysfs {
 public:
  explicit FakeSysfs(int num_vfs) {
    auto sys = root() / "sys";
    auto bridge = sys / "devices/pci0000:c9/0000:c9:02.0";
    stdfs::create_directories(sys / "bus/pci/drivers/mlx5_core");
    stdfs::create_directories(sys / "bus/pci/drivers/vfio-pci");
    stdfs::create_directories(sys / "kernel/iommu_groups");
    add_device(bridge, "0000:ca:00.0", "mlx5_core", 40);
    auto pf = bridge / "0000:ca:00.0";
    write(pf / "sriov_totalvfs", "8\n");
    write(pf / "sriov_numvfs", std::to_string(num_vfs) + "\n");
    stdfs::create_directories(pf / "net/enp202s0f0np0");
    link(pf / "net/enp202s0f0np0/device", "../../../0000:ca:00.0");
    link(sys / "class/net/enp202s0f0np0", "../../devices/pci0000:c9/0000:c9:02.0/0000:ca:00.0/net/enp202s0f0np0");
    for (int i = 0; i < num_vfs; ++i) {
      std::string addr = "0000:ca:00." + std::to_string(i + 2);
      add_device(bridge, addr, "mlx5_core", 41 + i);
      link(pf / ("virtfn" + std::to_string(i)), "../" + addr);
      link(bridge / addr / "physfn", "../0000:ca:00.0");
    }
    // An onboard NIC without SR-IOV.
    auto other = sys / "devices/pci0000:00/0000:00:1f.6";
    stdfs::create_directories(other.parent_path());
    add_device(sys / "devices/pci0000:00", "0000:00:1f.6", "e1000e", 12);
    stdfs::create_directories(other / "net/eno1");
    link(other / "net/eno1/device", "../../../0000:00:1f.6");
    link(sys / "class/net/eno1", "../../devices/pci0000:00/0000:00:1f.6/net/eno1");
  }
  const stdfs::path& root() const { return dir_.path(); }

  void rebind(const std::string& addr, const std::string& driver) {
    auto l = root() / "sys/bus/pci/devices" / addr / "driver";
    stdfs::remove(l);
    stdfs::create_directory_symlink("../../../../bus/pci/drivers/" + driver, l);
  }

 private:
  void add_device(const stdfs::path& parent, const std::string& addr, const std::string& driver, int group) {
    auto dev = parent / addr;
    stdfs::create_directories(dev);
    write(dev / "driver_override", "(null)\n");
    stdfs::create_directories(root() / "sys/kernel/iommu_groups" / std::to_string(group));
    int depth = 0;
    for (auto p = dev.lexically_relative(root() / "sys"); !p.empty() && p != "."; p = p.parent_path()) ++depth;
    std::string up;
    for (int i = 0; i < depth - 1; ++i) up += "../";
    link(dev / "driver", up + "bus/pci/drivers/" + driver);
    link(dev / "iommu_group", up + "kernel/iommu_groups/" + std::to_string(group));
    link(root() / "sys/bus/pci/devices" / addr, "../../../" + dev.lexically_relative(root() / "sys").string());
  }

  test::TempDir dir_;
};

std::string read_trimmed(const stdfs::path& p) {
  auto s = fs::read_file(p);
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

}  // namespace

TEST(Pci, ParsesAndFormats) {
  auto a = PciAddress::parse("0000:ca:00.2");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->bus, 0xcau);
  EXPECT_EQ(a->function, 2u);
  EXPECT_EQ(a->str(), "0000:ca:00.2");
  EXPECT_EQ(a->node_device_name(), "pci_0000_ca_00_2");
  EXPECT_EQ(PciAddress::parse("CA:00.2"), a);
  EXPECT_EQ(PciAddress::parse("pci_0000_ca_00_2"), a);
  EXPECT_FALSE(PciAddress::parse("0000:ca:00.8"));
  EXPECT_FALSE(PciAddress::parse("0000:ca:20.0"));
  EXPECT_FALSE(PciAddress::parse("ca:00"));
  EXPECT_FALSE(PciAddress::parse("0000:ca:00.2 "));
  EXPECT_FALSE(PciAddress::parse(""));
}

TEST(Sriov, FindsThePfFromItsInterfaceOrAddress) {
  FakeSysfs sys(4);
  auto pf = sriov::find_pf_by_interface(sys.root(), "enp202s0f0np0");
  EXPECT_EQ(pf.pci.str(), "0000:ca:00.0");
  EXPECT_EQ(pf.ifname, "enp202s0f0np0");
  EXPECT_EQ(pf.total_vfs, 8);
  EXPECT_EQ(pf.num_vfs, 4);
  EXPECT_EQ(pf.driver, "mlx5_core");

  auto by_pci = sriov::find_pf(sys.root(), "", "0000:ca:00.0");
  EXPECT_EQ(by_pci.ifname, "enp202s0f0np0");
  EXPECT_EQ(by_pci.num_vfs, 4);
}

TEST(Sriov, ExplainsWhatIsMissing) {
  FakeSysfs sys(0);
  EXPECT_THROW(sriov::find_pf_by_interface(sys.root(), "enp99s0"), Error);
  EXPECT_THROW(sriov::find_pf_by_interface(sys.root(), "eno1"), InputError);  // no SR-IOV
  EXPECT_THROW(sriov::find_pf(sys.root(), "", ""), InputError);
  EXPECT_THROW(sriov::find_pf(sys.root(), "", "not-an-address"), InputError);
  try {
    sriov::find_pf(sys.root(), "", "0000:cb:00.0");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("0000:cb:00.0"), std::string::npos);
  }
}

TEST(Sriov, PlansTheVfCountWritingZeroFirst) {
  FakeSysfs sys(4);
  auto pf = sriov::find_pf_by_interface(sys.root(), "enp202s0f0np0");
  const std::string path = "/sys/bus/pci/devices/0000:ca:00.0/sriov_numvfs";
  EXPECT_TRUE(sriov::plan_set_num_vfs(pf, 4).empty());
  EXPECT_EQ(sriov::plan_set_num_vfs(pf, 2), (std::vector<sriov::SysfsWrite>{{path, "0"}, {path, "2"}}));
  EXPECT_EQ(sriov::plan_set_num_vfs(pf, 0), (std::vector<sriov::SysfsWrite>{{path, "0"}}));
  EXPECT_THROW(sriov::plan_set_num_vfs(pf, 9), InputError);
  EXPECT_THROW(sriov::plan_set_num_vfs(pf, -1), InputError);
  pf.num_vfs = 0;
  EXPECT_EQ(sriov::plan_set_num_vfs(pf, 4), (std::vector<sriov::SysfsWrite>{{path, "4"}}));

  // The local writer resolves machine paths under the root.
  sriov::apply(sriov::plan_set_num_vfs(sriov::find_pf_by_interface(sys.root(), "enp202s0f0np0"), 2),
               sriov::local_writer(sys.root()));
  EXPECT_EQ(read_trimmed(sys.root() / "sys/devices/pci0000:c9/0000:c9:02.0/0000:ca:00.0/sriov_numvfs"), "2");
}

TEST(Sriov, MapsVfIndexToAddressNodeDeviceGroupAndDriver) {
  FakeSysfs sys(4);
  auto pf = sriov::find_pf_by_interface(sys.root(), "enp202s0f0np0");
  auto vf = sriov::vf_info(sys.root(), pf, 1);
  EXPECT_EQ(vf.index, 1);
  EXPECT_EQ(vf.pci.str(), "0000:ca:00.3");
  EXPECT_EQ(vf.node_device, "pci_0000_ca_00_3");
  EXPECT_EQ(vf.iommu_group, 42);
  EXPECT_EQ(vf.driver, "mlx5_core");
  EXPECT_THROW(sriov::vf_info(sys.root(), pf, 4), Error);
  auto all = sriov::list_vfs(sys.root(), pf);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[3].pci.str(), "0000:ca:00.5");
  EXPECT_EQ(all[3].iommu_group, 44);
}

TEST(Sriov, PlansBindingToVfioAndBack) {
  FakeSysfs sys(4);
  auto vf = *PciAddress::parse("0000:ca:00.2");
  auto bind = sriov::plan_bind(sys.root(), vf, "vfio-pci");
  EXPECT_EQ(bind, (std::vector<sriov::SysfsWrite>{
                      {"/sys/bus/pci/devices/0000:ca:00.2/driver_override", "vfio-pci"},
                      {"/sys/bus/pci/drivers/mlx5_core/unbind", "0000:ca:00.2"},
                      {"/sys/bus/pci/drivers_probe", "0000:ca:00.2"},
                  }));
  std::vector<sriov::SysfsWrite> seen;
  sriov::apply(bind, [&](const sriov::SysfsWrite& w) { seen.push_back(w); });
  EXPECT_EQ(seen, bind);

  sys.rebind("0000:ca:00.2", "vfio-pci");
  EXPECT_EQ(sriov::bound_driver(sys.root(), vf), "vfio-pci");
  EXPECT_TRUE(sriov::plan_bind(sys.root(), vf, "vfio-pci").empty());
  EXPECT_EQ(sriov::plan_unbind(sys.root(), vf, "mlx5_core"),
            (std::vector<sriov::SysfsWrite>{
                {"/sys/bus/pci/devices/0000:ca:00.2/driver_override", "\n"},
                {"/sys/bus/pci/drivers/vfio-pci/unbind", "0000:ca:00.2"},
                {"/sys/bus/pci/drivers/mlx5_core/bind", "0000:ca:00.2"},
            }));
  EXPECT_EQ(sriov::plan_unbind(sys.root(), vf, "").back(),
            (sriov::SysfsWrite{"/sys/bus/pci/drivers_probe", "0000:ca:00.2"}));
  EXPECT_THROW(sriov::plan_bind(sys.root(), *PciAddress::parse("0000:cb:00.0"), "vfio-pci"), Error);
}

TEST(Sriov, WriteCommandSurvivesAShell) {
  test::TempDir dir;
  auto target = (dir / "attr").string();
  auto cmd = sriov::write_command({target, "0000:ca:00.2 $(id) 'x'"});
  EXPECT_TRUE(cmd.sudo);
  auto r = test::run_process({"sh", "-c", remote::render(cmd, false)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(fs::read_file(target), "0000:ca:00.2 $(id) 'x'");
}

TEST(Sriov, VfMacCommand) {
  auto cmd = sriov::vf_mac_command("enp202s0f0np0", 2, "52:54:00:AB:CD:02");
  EXPECT_EQ(cmd.argv, (std::vector<std::string>{"ip", "link", "set", "enp202s0f0np0", "vf", "2", "mac",
                                                "52:54:00:ab:cd:02"}));
  EXPECT_TRUE(cmd.sudo);
  EXPECT_THROW(sriov::vf_mac_command("enp202s0f0np0", 0, "zz:00:00:00:00:00"), InputError);
  EXPECT_THROW(sriov::vf_mac_command("", 0, "52:54:00:00:00:01"), InputError);
}

TEST(Mac, Validation) {
  EXPECT_TRUE(sriov::valid_mac("52:54:00:36:54:b4"));
  EXPECT_TRUE(sriov::valid_mac("B8:CE:F6:00:00:01"));
  EXPECT_FALSE(sriov::valid_mac("01:00:5e:00:00:01"));  // multicast
  EXPECT_FALSE(sriov::valid_mac("00:00:00:00:00:00"));
  EXPECT_FALSE(sriov::valid_mac("52:54:00:36:54"));
  EXPECT_FALSE(sriov::valid_mac("52-54-00-36-54-b4"));
  EXPECT_FALSE(sriov::valid_mac("52:54:00:36:54:bg"));
  EXPECT_EQ(sriov::normalise_mac("52:54:00:AA:BB:CC"), "52:54:00:aa:bb:cc");
  EXPECT_THROW(sriov::normalise_mac("nope"), InputError);
  EXPECT_TRUE(sriov::locally_administered("52:54:00:00:00:01"));
  EXPECT_TRUE(sriov::locally_administered("02:00:00:00:00:01"));
  EXPECT_FALSE(sriov::locally_administered("b8:ce:f6:00:00:01"));
}

TEST(Mac, GeneratedMacsAreDeterministicLocalAndDistinct) {
  auto a0 = sriov::generate_vf_mac("host/enp202s0f0np0", 0);
  EXPECT_EQ(a0, sriov::generate_vf_mac("host/enp202s0f0np0", 0));
  EXPECT_EQ(a0.substr(0, 9), "52:54:00:");
  EXPECT_EQ(a0.substr(15), "00");
  EXPECT_TRUE(sriov::valid_mac(a0));
  auto local = sriov::generate_vf_mac("host/enp202s0f0np0", 3, sriov::MacPrefix::local);
  EXPECT_EQ(local.substr(0, 3), "02:");
  EXPECT_EQ(local.substr(15), "03");
  EXPECT_TRUE(sriov::locally_administered(local));
  EXPECT_NE(sriov::generate_vf_mac("other/enp202s0f0np0", 0), a0);
  EXPECT_THROW(sriov::generate_vf_mac("x", 256), InputError);

  auto macs = sriov::vf_macs("host/pf", 4, {"52:54:00:00:00:AA", ""});
  ASSERT_EQ(macs.size(), 4u);
  EXPECT_EQ(macs[0], "52:54:00:00:00:aa");
  EXPECT_EQ(macs[1], sriov::generate_vf_mac("host/pf", 1));
  EXPECT_FALSE(sriov::find_duplicate_mac(macs));
  EXPECT_THROW(sriov::vf_macs("host/pf", 2, {"52:54:00:00:00:01", "52:54:00:00:00:01"}), InputError);
  EXPECT_THROW(sriov::vf_macs("host/pf", 1, {"bad"}), InputError);
}

TEST(Mac, DuplicatesAcrossGuestsAreFoundCaseInsensitively) {
  EXPECT_EQ(sriov::find_duplicate_mac({"52:54:00:00:00:01", "52:54:00:00:00:02", "52:54:00:00:00:01"}),
            "52:54:00:00:00:01");
  EXPECT_EQ(sriov::find_duplicate_mac({"52:54:00:00:00:AB", "52:54:00:00:00:ab"}), "52:54:00:00:00:ab");
  EXPECT_FALSE(sriov::find_duplicate_mac({}));
}

TEST(Subnet, Ipv4) {
  EXPECT_TRUE(sriov::in_subnet("10.10.1.1/24", "10.10.1.100/24"));
  EXPECT_TRUE(sriov::in_subnet("10.10.1.1/24", "10.10.1.255"));
  EXPECT_FALSE(sriov::in_subnet("10.10.1.1/24", "10.10.2.100/24"));
  EXPECT_TRUE(sriov::in_subnet("10.10.1.1/23", "10.10.0.7"));
  EXPECT_FALSE(sriov::in_subnet("10.10.1.1/25", "10.10.1.200"));
  EXPECT_TRUE(sriov::in_subnet("0.0.0.0/0", "192.168.1.1"));
  EXPECT_TRUE(sriov::in_subnet("10.10.1.1", "10.10.1.1"));
  EXPECT_FALSE(sriov::in_subnet("10.10.1.1", "10.10.1.2"));
  EXPECT_THROW(sriov::in_subnet("10.10.1.1/33", "10.10.1.2"), InputError);
  EXPECT_THROW(sriov::in_subnet("10.10.1.1/24", "10.10.1"), InputError);
  EXPECT_THROW(sriov::in_subnet("10.10.1.1/", "10.10.1.1"), InputError);
}

TEST(Subnet, Ipv6AndMixedFamilies) {
  EXPECT_TRUE(sriov::in_subnet("fd00:10:10:1::1/64", "fd00:10:10:1::100/64"));
  EXPECT_FALSE(sriov::in_subnet("fd00:10:10:1::1/64", "fd00:10:10:2::100"));
  EXPECT_TRUE(sriov::in_subnet("fd00::1/8", "fdff::1"));
  EXPECT_FALSE(sriov::in_subnet("fd00::1/7", "fe00::1"));
  EXPECT_TRUE(sriov::in_subnet("fd00::1/7", "fc00::1"));
  EXPECT_FALSE(sriov::in_subnet("10.10.1.1/24", "fd00::1"));
  EXPECT_FALSE(sriov::in_subnet("fd00::1/64", "10.10.1.1"));
  EXPECT_THROW(sriov::in_subnet("fd00::1/129", "fd00::1"), InputError);
}
