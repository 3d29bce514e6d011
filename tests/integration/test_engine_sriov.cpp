// SR-IOV changes of the engine over a real SSH connection (the test sshd on 127.0.0.1) to a
// machine whose root prefix is a fake sysfs tree: nic.setup_vfs (VF count through sysfs, MACs
// through `ip link`, here a fake `ip` first on the session's PATH that logs its arguments),
// binding a VF to vfio-pci for iommufd, the undo log written before each change, and the
// restore (`iommuvm restore` and cleanup: restore) that puts everything back.
#include <gtest/gtest.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "../../src/engine/sriov_io.hpp"
#include "fake_sysfs.hpp"
#include "iommuvm/engine/restore.hpp"
#include "iommuvm/remote/ssh.hpp"
#include "iommuvm/results/store.hpp"
#include "iommuvm/util/error.hpp"
#include "iommuvm/util/fs.hpp"
#include "sshd_fixture.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using nlohmann::json;
namespace stdfs = std::filesystem;

namespace {

std::string read(const stdfs::path& p) { return fs::read_file(p); }

class SriovOverSsh : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = test::Sshd::unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    // A fake `ip`: logs its arguments; `ip link show` prints a PF with two VFs.
    stdfs::create_directories(bin_.path());
    fs::atomic_write(bin_ / "ip",
                     "#!/bin/sh\nprintf '%s\\n' \"$*\" >> \"$FAKE_IP_LOG\"\n"
                     "if [ \"$1 $2\" = 'link show' ]; then\n"
                     "  echo '6: enp202s0f0np0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP'\n"
                     "  echo '    link/ether b8:ce:f6:00:00:01 brd ff:ff:ff:ff:ff:ff'\n"
                     "  echo '    vf 0     link/ether 52:54:00:00:00:aa brd ff:ff:ff:ff:ff:ff, spoof checking off'\n"
                     "  echo '    vf 1     link/ether 00:00:00:00:00:00 brd ff:ff:ff:ff:ff:ff, spoof checking off'\n"
                     "fi\n");
    stdfs::permissions(bin_ / "ip", stdfs::perms::owner_all);
    sshd_.set_env("PATH", bin_.path().string() + ":/usr/sbin:/usr/bin:/sbin:/bin");
    sshd_.set_env("FAKE_IP_LOG", (bin_ / "ip.log").string());
    sshd_.restart();
    stdfs::create_directories(campaign_.path());
    fs::atomic_write(campaign_ / "campaign.json", R"({"name": "t", "status": "running"})");
    store_ = std::make_unique<results::CampaignStore>(results::CampaignStore::at(campaign_.path()));
  }

  std::unique_ptr<remote::Remote> connect(const stdfs::path& root) {
    auto o = sshd_.options("host");
    o.root = root;
    return remote::make_ssh(o);
  }
  engine::UndoLog undo() {
    return [this](json e) {
      e["machine"] = "host";
      e["at"] = results::now_iso8601();
      store_->undo(e);
    };
  }
  std::vector<json> undo_entries() { return store_->undo_entries(); }
  std::vector<std::string> restore(remote::Remote& r) {
    std::ostringstream out;
    return engine::restore_machines(*store_, {{"host", &r}}, out);
  }
  std::string ip_log() { return stdfs::exists(bin_ / "ip.log") ? read(bin_ / "ip.log") : ""; }

  test::Sshd sshd_;
  test::TempDir bin_, campaign_;
  std::unique_ptr<results::CampaignStore> store_;
};

const char* kDev = "sys/devices/pci0000:c9/0000:c9:02.0/";

TEST_F(SriovOverSsh, SetsTheVfCountThroughZeroAndPutsItBack) {
  test::FakeSysfs sys(2);
  auto r = connect(sys.root());
  spec::NicSpec nic;
  nic.pf = "enp202s0f0np0";
  nic.num_vfs = 4;
  std::vector<std::string> macs = {"52:54:00:00:00:01", "52:54:00:00:00:02", "52:54:00:00:00:03", "52:54:00:00:00:04"};
  std::ostringstream progress;
  auto out = engine::setup_vfs(*r, nic, macs, undo(), progress);
  EXPECT_EQ(read(sys.root() / kDev / "0000:ca:00.0/sriov_numvfs"), "4");
  EXPECT_EQ(out["pf"]["pci"], "0000:ca:00.0");
  EXPECT_EQ(out["pf"]["num_vfs_before"], 2);
  EXPECT_EQ(out["vfs"].size(), 2u);  // the fake kernel creates no virtfn links
  // The old count is journaled; the VFs were re-created, so their old MACs are not.
  auto entries = undo_entries();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0]["action"], "num_vfs");
  EXPECT_EQ(entries[0]["value"], 2);
  EXPECT_EQ(entries[0]["path"], "/sys/bus/pci/devices/0000:ca:00.0/sriov_numvfs");
  EXPECT_EQ(ip_log(),
            "link show dev enp202s0f0np0\n"
            "link set enp202s0f0np0 vf 0 mac 52:54:00:00:00:01\n"
            "link set enp202s0f0np0 vf 1 mac 52:54:00:00:00:02\n"
            "link set enp202s0f0np0 vf 2 mac 52:54:00:00:00:03\n"
            "link set enp202s0f0np0 vf 3 mac 52:54:00:00:00:04\n");
  EXPECT_TRUE(restore(*r).empty());
  EXPECT_EQ(read(sys.root() / kDev / "0000:ca:00.0/sriov_numvfs"), "2");
  EXPECT_TRUE(restore(*r).empty());
}

TEST_F(SriovOverSsh, JournalsTheMacsOfVfsThatExistedAndRestoresThem) {
  test::FakeSysfs sys(2);
  auto r = connect(sys.root());
  spec::NicSpec nic;
  nic.pci = "0000:ca:00.0";
  nic.num_vfs = 2;
  std::ostringstream progress;
  // VF 0 already has its MAC: nothing is done to it.
  engine::setup_vfs(*r, nic, {"52:54:00:00:00:aa", "52:54:00:00:00:bb"}, undo(), progress);
  EXPECT_EQ(read(sys.root() / kDev / "0000:ca:00.0/sriov_numvfs"), "2\n");  // untouched
  auto entries = undo_entries();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0]["action"], "vf_mac");
  EXPECT_EQ(entries[0]["vf"], 1);
  EXPECT_EQ(entries[0]["value"], "00:00:00:00:00:00");
  EXPECT_EQ(ip_log(), "link show dev enp202s0f0np0\nlink set enp202s0f0np0 vf 1 mac 52:54:00:00:00:bb\n");
  EXPECT_TRUE(restore(*r).empty());
  EXPECT_EQ(ip_log(),
            "link show dev enp202s0f0np0\nlink set enp202s0f0np0 vf 1 mac 52:54:00:00:00:bb\n"
            "link set enp202s0f0np0 vf 1 mac 00:00:00:00:00:00\n");
}

TEST_F(SriovOverSsh, RefusesMoreVfsThanTheNicOffers) {
  test::FakeSysfs sys(0);
  auto r = connect(sys.root());
  spec::NicSpec nic;
  nic.pf = "enp202s0f0np0";
  nic.num_vfs = 9;
  std::ostringstream progress;
  try {
    engine::setup_vfs(*r, nic, std::vector<std::string>(9, "52:54:00:00:00:01"), undo(), progress);
    FAIL() << "9 VFs of 8 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("mlxconfig"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(undo_entries().empty());
  EXPECT_EQ(read(sys.root() / kDev / "0000:ca:00.0/sriov_numvfs"), "0\n");
}

TEST_F(SriovOverSsh, BindsTheVfToVfioPciAndBindsItBackOnRestore) {
  test::FakeSysfs sys(4);
  auto r = connect(sys.root());
  spec::NicSpec nic;
  nic.pf = "enp202s0f0np0";
  nic.num_vfs = 4;
  auto out = engine::bind_vf_to_vfio(*r, nic, 1, undo());
  EXPECT_EQ(out["pci"], "0000:ca:00.3");
  EXPECT_EQ(out["driver_before"], "mlx5_core");
  // The three writes, each recorded as the file's content.
  EXPECT_EQ(read(sys.root() / kDev / "0000:ca:00.3/driver_override"), "vfio-pci");
  EXPECT_EQ(read(sys.root() / "sys/bus/pci/drivers/mlx5_core/unbind"), "0000:ca:00.3");
  EXPECT_EQ(read(sys.root() / "sys/bus/pci/drivers_probe"), "0000:ca:00.3");
  EXPECT_EQ(read(sys.root() / kDev / "0000:ca:00.2/driver_override"), "(null)\n");  // VF 0 untouched
  auto entries = undo_entries();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0]["action"], "pci_driver");
  EXPECT_EQ(entries[0]["pci"], "0000:ca:00.3");
  EXPECT_EQ(entries[0]["value"], "mlx5_core");

  // The kernel binds it (simulated); binding again changes and journals nothing.
  sys.rebind("0000:ca:00.3", "vfio-pci");
  stdfs::remove(sys.root() / "sys/bus/pci/drivers_probe");
  engine::bind_vf_to_vfio(*r, nic, 1, undo());
  EXPECT_EQ(undo_entries().size(), 1u);
  EXPECT_FALSE(stdfs::exists(sys.root() / "sys/bus/pci/drivers_probe"));

  // Restore: override cleared, unbound from vfio-pci, bound to mlx5_core again.
  EXPECT_TRUE(restore(*r).empty());
  EXPECT_EQ(read(sys.root() / kDev / "0000:ca:00.3/driver_override"), "\n");
  EXPECT_EQ(read(sys.root() / "sys/bus/pci/drivers/vfio-pci/unbind"), "0000:ca:00.3");
  EXPECT_EQ(read(sys.root() / "sys/bus/pci/drivers/mlx5_core/bind"), "0000:ca:00.3");
  // Undone once: a second restore does nothing.
  stdfs::remove(sys.root() / "sys/bus/pci/drivers/mlx5_core/bind");
  EXPECT_TRUE(restore(*r).empty());
  EXPECT_FALSE(stdfs::exists(sys.root() / "sys/bus/pci/drivers/mlx5_core/bind"));
}

}  // namespace
