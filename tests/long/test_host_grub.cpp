// A real host: the VM of scripts/build-host.sh (Debian 12, GRUB on its disk, QEMU's emulated
// Intel IOMMU; docs/host-vm.md) driven as `host` over SSH by the built binary, `method: grub`:
// the real /etc/default/grub and its drop-in (the VM's command line lives in
// /etc/default/grub.d/50-cloudimg-settings.cfg, as on cloud images), update-grub, a real
// reboot per policy, the policy verified from the real /proc/cmdline, kernel log and group
// types; then the restore byte for byte and a plain reboot into the default entry.
// Label long; skips with the reason when QEMU cannot run (tests/support/host_vm.hpp).
#include <gtest/gtest.h>

#include "host_vm.hpp"
#include "host_vm_checks.hpp"

using namespace iommuvm;
using namespace iommuvm::test::hostvm;

TEST(HostGrub, StrictLazyPassthroughThroughGrubAndBack) {
  IOMMUVM_REQUIRE_HOST_VM();
  test::TempDir tmp;
  auto before = grub_state();
  ASSERT_TRUE(before.files.count("/etc/default/grub.d/50-cloudimg-settings.cfg"));
  std::string group = data_group();
  ASSERT_FALSE(group.empty());

  auto c = run_campaign(tmp, "host-grub",
                        "policy:\n  host: {policy: [strict, lazy, passthrough], method: grub}\n" +
                            redis_workload_and_collectors(4000) + "matrix: {repetitions: 1}\ncleanup: restore\n");
  EXPECT_EQ(c.run.result.exit_code, 0);
  ASSERT_EQ(c.runs.size(), 3u);
  expect_runs_switched(c.runs, group, true);
  expect_restored(before, grub_state());
  expect_plain_reboot_boots_default(before);
}
