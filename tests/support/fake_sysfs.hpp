// A sysfs tree shaped like the kernel's, in a temporary folder (a machine's root prefix).
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include "test_support.hpp"

namespace iommuvm::test {

// A sysfs tree shaped like the kernel's, with relative symlinks: a ConnectX-6 Dx PF at
// 0000:ca:00.0 (enp202s0f0np0 unless PF_NETDEV is false) with NUM_VFS of 8 VFs at
// ca:00.2.., plus a NIC without SR-IOV. Writes land in plain files; nothing reacts to them.

class FakeSysfs {
 public:
  explicit FakeSysfs(int num_vfs, bool pf_netdev = true) {
    auto sys = root() / "sys";
    auto bridge = sys / "devices/pci0000:c9/0000:c9:02.0";
    std::filesystem::create_directories(sys / "bus/pci/drivers/mlx5_core");
    std::filesystem::create_directories(sys / "bus/pci/drivers/vfio-pci");
    std::filesystem::create_directories(sys / "kernel/iommu_groups");
    add_device(bridge, "0000:ca:00.0", "mlx5_core", 40);
    auto pf = bridge / "0000:ca:00.0";
    write(pf / "sriov_totalvfs", "8\n");
    write(pf / "sriov_numvfs", std::to_string(num_vfs) + "\n");
    if (pf_netdev) {
      std::filesystem::create_directories(pf / "net/enp202s0f0np0");
      link(pf / "net/enp202s0f0np0/device", "../../../0000:ca:00.0");
      link(sys / "class/net/enp202s0f0np0", "../../devices/pci0000:c9/0000:c9:02.0/0000:ca:00.0/net/enp202s0f0np0");
    }
    for (int i = 0; i < num_vfs; ++i) {
      std::string addr = "0000:ca:00." + std::to_string(i + 2);
      add_device(bridge, addr, "mlx5_core", 41 + i);
      link(pf / ("virtfn" + std::to_string(i)), "../" + addr);
      link(bridge / addr / "physfn", "../0000:ca:00.0");
    }
    // An onboard NIC without SR-IOV.
    auto other = sys / "devices/pci0000:00/0000:00:1f.6";
    std::filesystem::create_directories(other.parent_path());
    add_device(sys / "devices/pci0000:00", "0000:00:1f.6", "e1000e", 12);
    std::filesystem::create_directories(other / "net/eno1");
    link(other / "net/eno1/device", "../../../0000:00:1f.6");
    link(sys / "class/net/eno1", "../../devices/pci0000:00/0000:00:1f.6/net/eno1");
  }
  const std::filesystem::path& root() const { return dir_.path(); }

  void rebind(const std::string& addr, const std::string& driver) {
    auto l = root() / "sys/bus/pci/devices" / addr / "driver";
    std::filesystem::remove(l);
    std::filesystem::create_directory_symlink("../../../../bus/pci/drivers/" + driver, l);
  }

 private:
  using path = std::filesystem::path;
  static void write(const path& p, const std::string& content) {
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << content;
  }
  static void link(const path& at, const std::string& target) {
    std::filesystem::create_directories(at.parent_path());
    std::filesystem::create_directory_symlink(target, at);
  }
  void add_device(const std::filesystem::path& parent, const std::string& addr, const std::string& driver, int group) {
    auto dev = parent / addr;
    std::filesystem::create_directories(dev);
    write(dev / "driver_override", "(null)\n");
    std::filesystem::create_directories(root() / "sys/kernel/iommu_groups" / std::to_string(group));
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


}  // namespace iommuvm::test
