// A real host (tests/long/test_host_grub.cpp has the set-up), `method: grub-oneshot`: the
// generated /etc/grub.d/45_iommuvm entries, update-grub, grub-reboot, a real reboot per policy,
// with software.host_kernel naming the installed kernel by its GRUB title (the one-shot entry
// must boot that kernel); then the restore byte for byte, no next_entry left in grubenv, and a
// plain reboot that returns to the default entry by itself.
// A title of a kernel that is not installed fails the switch before any reboot.
#include <gtest/gtest.h>

#include <fstream>

#include "host_vm.hpp"
#include "host_vm_checks.hpp"

using namespace iommuvm;
using namespace iommuvm::test::hostvm;

namespace {
std::string running_release() {
  auto r = ssh("uname -r");
  std::string s = r.out;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}
}  // namespace

TEST(HostOneshot, StrictLazyPassthroughThroughOneShotEntriesOfTheAskedKernel) {
  IOMMUVM_REQUIRE_HOST_VM();
  test::TempDir tmp;
  auto before = grub_state();
  std::string group = data_group();
  std::string rel = running_release();
  ASSERT_FALSE(rel.empty());
  std::string title = "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux " + rel;
  auto c = run_campaign(tmp, "host-oneshot",
                        "policy:\n  host: {policy: [strict, lazy, passthrough], method: grub-oneshot}\n"
                        "software: {host_kernel: \"" + title + "\"}\n" +
                            redis_workload_and_collectors(4000) + "matrix: {repetitions: 1}\ncleanup: restore\n");
  EXPECT_EQ(c.run.result.exit_code, 0);
  const auto& runs = c.runs;
  ASSERT_EQ(runs.size(), 3u);
  expect_runs_switched(runs, group, true);
  for (const auto& r : runs) {
    EXPECT_EQ(r.value(ptr("/policy/host/kernel"), std::string()), rel);
    // The one-shot entry booted (its title is on the command line GRUB passed: BOOT_IMAGE of it).
    EXPECT_NE(r.value(ptr("/policy/host/cmdline"), std::string()).find("BOOT_IMAGE=/boot/vmlinuz-" + rel), std::string::npos);
  }
  auto after = grub_state();
  expect_restored(before, after);
  expect_plain_reboot_boots_default(before);
}

TEST(HostOneshot, AKernelThatIsNotInstalledFailsTheSwitchWithoutAReboot) {
  IOMMUVM_REQUIRE_HOST_VM();
  test::TempDir tmp;
  auto before = grub_state();
  std::string boot = boot_id();
  auto c = run_campaign(tmp, "host-nokernel",
                        "policy:\n  host: {policy: strict, method: grub-oneshot}\n"
                        "software: {host_kernel: \"Advanced options for Debian GNU/Linux>Debian GNU/Linux, with "
                        "Linux 9.9.9-not-installed\"}\n" +
                            redis_workload_and_collectors(1000) + "matrix: {repetitions: 1}\n");
  EXPECT_EQ(c.run.result.exit_code, 1);
  const auto& runs = c.runs;
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].value("status", std::string()), "failed");
  EXPECT_NE(runs[0].value("reason", std::string()).find("/boot/vmlinuz-9.9.9-not-installed"), std::string::npos) << runs[0].dump(1);
  EXPECT_EQ(boot_id(), boot) << "no reboot";
  expect_restored(before, grub_state());
}
