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
#include "fake_sysfs.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using namespace iommuvm::virt;
namespace stdfs = std::filesystem;

namespace {

void write(const stdfs::path& p, const std::string& content) {
  stdfs::create_directories(p.parent_path());
  std::ofstream(p) << content;
}

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
  test::FakeSysfs sys(4);
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
  test::FakeSysfs sys(0);
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
  test::FakeSysfs sys(4);
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
  test::FakeSysfs sys(4);
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
  test::FakeSysfs sys(4);
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

TEST(Sriov, ReadersWorkThroughASysfsView) {
  test::FakeSysfs sys(2);
  auto view = remote::local_sysfs(sys.root());
  auto pf = sriov::find_pf(*view, "", "0000:ca:00.0");
  EXPECT_EQ(pf.ifname, "enp202s0f0np0");
  EXPECT_EQ(pf.num_vfs, 2);
  auto vfs = sriov::list_vfs(*view, pf);
  ASSERT_EQ(vfs.size(), 2u);
  EXPECT_EQ(vfs[1].pci.str(), "0000:ca:00.3");
  view->write_all(sriov::plan_set_num_vfs(pf, 4));
  EXPECT_EQ(view->read("/sys/bus/pci/devices/0000:ca:00.0/sriov_numvfs"), "4");
  EXPECT_FALSE(view->read("/sys/nothing"));
  EXPECT_TRUE(view->list("/sys/nothing").empty());
}

TEST(Sriov, ParsesVfMacsFromIpLinkShow) {
  const char* text =
      "6: enp202s0f0np0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP mode DEFAULT group default qlen 1000\n"
      "    link/ether b8:ce:f6:00:00:01 brd ff:ff:ff:ff:ff:ff\n"
      "    vf 0     link/ether 52:54:00:36:54:B4 brd ff:ff:ff:ff:ff:ff, spoof checking off, link-state auto, trust off\n"
      "    vf 1     link/ether 00:00:00:00:00:00 brd ff:ff:ff:ff:ff:ff, spoof checking off, link-state auto, trust off\n"
      "    vf 2 MAC 52:54:00:00:00:02, spoof checking off, link-state auto\n";
  auto macs = sriov::parse_vf_macs(text);
  ASSERT_EQ(macs.size(), 3u);
  EXPECT_EQ(macs[0], "52:54:00:36:54:b4");
  EXPECT_EQ(macs[1], "00:00:00:00:00:00");
  EXPECT_EQ(macs[2], "52:54:00:00:00:02");
  EXPECT_TRUE(sriov::parse_vf_macs("1: lo: <LOOPBACK> mtu 65536\n    link/loopback 00:00:00:00:00:00\n").empty());
}

TEST(DataPath, FindsTheVfByMacAndReadsItsCounters) {
  test::TempDir dir;
  auto net = dir / "sys/class/net";
  write(net / "lo/address", "00:00:00:00:00:00\n");
  write(net / "enp1s0/address", "52:54:00:ba:6d:b5\n");
  write(net / "enp8s0/address", "52:54:00:36:54:b4\n");
  for (auto [f, v] : {std::pair{"rx_bytes", "1000"}, {"rx_packets", "10"}, {"tx_bytes", "2000"}, {"tx_packets", "20"}})
    write(net / "enp8s0/statistics" / f, std::string(v) + "\n");
  auto view = remote::local_sysfs(dir.path());
  EXPECT_EQ(sriov::interface_by_mac(*view, "52:54:00:36:54:B4"), "enp8s0");
  EXPECT_EQ(sriov::interface_by_mac(*view, "52:54:00:36:54:b5"), "");
  auto c = sriov::read_counters(*view, "enp8s0");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->rx_bytes, 1000u);
  EXPECT_EQ(c->tx_packets, 20u);
  EXPECT_FALSE(sriov::read_counters(*view, "enp1s0"));  // no statistics
  write(net / "enp8s0/statistics/rx_packets", "many\n");
  EXPECT_FALSE(sriov::read_counters(*view, "enp8s0"));
}

TEST(DataPath, TheVfMustCarryAtLeastOnePacketPerBatchOfRequests) {
  sriov::NetCounters before{1000, 10, 1000, 10};
  // 22,000 requests without pipelining: at least 22,000 packets in and out.
  sriov::NetCounters busy{3'000'000, 22'010, 5'000'000, 22'010};
  auto ok = sriov::check_data_path(before, busy, {22000, 1, 0});
  EXPECT_TRUE(ok.ok) << ok.reason;
  EXPECT_EQ(ok.expected_packets, 22000);
  // The load went elsewhere: only a few packets (ARP, the readiness check) crossed the VF.
  auto idle = sriov::check_data_path(before, {1500, 14, 1500, 13}, {22000, 1, 0});
  EXPECT_FALSE(idle.ok);
  EXPECT_NE(idle.reason.find("7 packets"), std::string::npos) << idle.reason;
  // Pipelining sends 16 requests per packet: 22,000 / 16 packets suffice.
  EXPECT_TRUE(sriov::check_data_path(before, {1'000'000, 1400, 1'000'000, 1400}, {22000, 16, 0}).ok);
  EXPECT_FALSE(sriov::check_data_path(before, {1'000'000, 600, 1'000'000, 600}, {22000, 16, 0}).ok);
  // iperf3 counts bytes: the VF must carry at least half of them.
  EXPECT_TRUE(sriov::check_data_path(before, {9'000'000'000, 900'000, 1000, 10}, {0, 1, 10e9}).ok);
  EXPECT_FALSE(sriov::check_data_path(before, {3'000'000'000, 900'000, 1000, 200'000}, {0, 1, 10e9}).ok);
  // A tool that counts nothing: at least one packet each way.
  EXPECT_FALSE(sriov::check_data_path(before, before, {}).ok);
  EXPECT_TRUE(sriov::check_data_path(before, {1100, 11, 1100, 11}, {}).ok);
  // Counters that went backwards: the interface was reset.
  EXPECT_FALSE(sriov::check_data_path(busy, before, {22000, 1, 0}).ok);
}
