// The host VM of scripts/build-host.sh, booted by scripts/host-vm.sh in its network namespace,
// for the long tests that drive it as the spec's `host` (tests/long/test_host_*.cpp).
// One VM boot is shared by every test of a ctest invocation: the first test that finds it down
// starts it (scripts/host-vm.sh start), the ctest fixture cleanup `long.host_vm_stop` stops it.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_support.hpp"

namespace iommuvm::test::hostvm {

constexpr const char* kVmIp = "192.168.151.2";    // management NIC (SSH)
constexpr const char* kDataIp = "192.168.152.2";  // data NIC, behind the vIOMMU
constexpr const char* kDataNic = "enp0s4";        // its name in the VM (pcie.0 slot 4)
constexpr const char* kDataPci = "0000:00:04.0";

std::string ns();                       // IOMMUVM_HOST_NS or iommuvm-host
std::filesystem::path image_dir();      // $IOMMUVM_CACHE/host
std::filesystem::path run_dir();        // image_dir()/run-<ns>: QEMU's trace file, console
std::filesystem::path script();         // scripts/host-vm.sh of this source tree

// Empty when the VM answers over SSH (started here when it was not running); else why not,
// for GTEST_SKIP. Only a machine that cannot run QEMU (or build the image) gives a reason.
std::string unavailable();
std::string host_vm_mode();         // IOMMUVM_HOST_VM: "1" (the tests run) or not

// CMD as root on the VM; ARGV on this machine inside the namespace. ssh_argv: the ssh command
// line up to the remote command (the image's key and known_hosts, host keys verified).
std::vector<std::string> ssh_argv(int connect_timeout_s = 3);
ProcessResult ssh(const std::string& command, int connect_timeout_s = 3);
ProcessResult in_ns(const std::vector<std::string>& argv);

std::string boot_id();                  // "" when the VM does not answer
// Wait until the VM answers with a boot id other than BEFORE; "" after TIMEOUT_S.
std::string wait_for_new_boot(const std::string& before, int timeout_s = 400);

// What a campaign must leave as it found it: every file under /etc/default/grub, its
// drop-in folder and /etc/grub.d (name -> sha256, links as "-> target"), /boot/grub/grub.cfg,
// and `grub-editenv list`. iommuvm's own backups (*.iommuvm-*.bak) are listed apart.
struct GrubState {
  std::map<std::string, std::string> files;
  std::vector<std::string> backups;
  std::string grubenv;
  std::string cmdline;  // /proc/cmdline
};
GrubState grub_state();

// The spec's machines: the VM as `host` over SSH (key and known_hosts of the image), this
// machine as the local `client`. EXTRA is appended as is (policy, workloads, ...).
std::string spec(const std::string& name, const std::filesystem::path& output, const std::string& extra);
// Redis on the data NIC, loaded from the controller, with the vIOMMU invalidation and QEMU
// CPU collectors (QEMU's trace file of scripts/host-vm.sh, QEMU found by name).
std::string redis_workload_and_collectors(int requests);

// `iommuvm ARGS...` (the built binary) inside the namespace, with its wall time.
struct Timed {
  ProcessResult result;
  double seconds = 0;
};
Timed run_iommuvm(const std::vector<std::string>& args);

// The data NIC's IOMMU group type on the VM (DMA, DMA-FQ, identity), "" when unreadable.
std::string data_group_type();

// Runs of the one campaign under OUTPUT/NAME.
std::vector<nlohmann::json> campaign_runs(const std::filesystem::path& output, const std::string& name,
                                          std::filesystem::path* campaign = nullptr);

// Reboot the VM plainly (systemctl reboot) and wait for it; the new boot id ("" on timeout).
std::string plain_reboot();

}  // namespace iommuvm::test::hostvm
