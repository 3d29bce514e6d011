// A real host (tests/long/test_host_grub.cpp has the set-up), `method: kexec`: the running
// kernel reloaded with each policy's command line (kexec -l, systemctl kexec), no firmware; GRUB
// untouched; a plain reboot afterwards boots the default entry with the original command line.
#include <gtest/gtest.h>

#include "host_vm.hpp"
#include "host_vm_checks.hpp"

using namespace iommuvm;
using namespace iommuvm::test::hostvm;

TEST(HostKexec, StrictLazyPassthroughThroughKexec) {
  IOMMUVM_REQUIRE_HOST_VM();
  test::TempDir tmp;
  auto before = grub_state();
  std::string group = data_group();
  auto c = run_campaign(tmp, "host-kexec",
                        "policy:\n  host: {policy: [strict, lazy, passthrough], method: kexec}\n" +
                            redis_workload_and_collectors(4000) + "matrix: {repetitions: 1}\ncleanup: restore\n");
  EXPECT_EQ(c.run.result.exit_code, 0);
  ASSERT_EQ(c.runs.size(), 3u);
  expect_runs_switched(c.runs, group, true);
  for (const auto& r : c.runs) {
    // kexec passes no BOOT_IMAGE= (GRUB does): the kernel came from kexec, not from a firmware boot.
    std::string cmdline = r.value(ptr("/policy/host/cmdline"), std::string());
    EXPECT_EQ(cmdline.find("BOOT_IMAGE="), std::string::npos) << cmdline;
  }
  expect_restored(before, grub_state());
  expect_plain_reboot_boots_default(before);
}
