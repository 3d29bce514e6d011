// A real host (tests/long/test_host_grub.cpp has the set-up), `method: runtime`: the data NIC's
// IOMMU group type switched (DMA, identity, DMA-FQ) with its virtio-net driver unbound and bound
// again, no reboot; the verdict is about the NIC's group (the other groups keep the boot default);
// the NIC has no SR-IOV (no VF set-up step); the campaign's end puts the group type back.
// Then `iommuvm restore` of a runtime campaign left as it was, after a reboot already reset the
// group type, has nothing left to undo (exit 0).
#include <gtest/gtest.h>

#include <fstream>

#include "host_vm.hpp"
#include "host_vm_checks.hpp"

using namespace iommuvm;
using namespace iommuvm::test::hostvm;

namespace {
std::string runtime_extra(const std::string& cleanup, const std::string& policies = "[strict, passthrough, lazy]") {
  return fmt::format("nic: {{pf: {}}}\n", kDataNic) + "policy:\n  host: {policy: " + policies + ", method: runtime}\n" +
         redis_workload_and_collectors(4000) + "matrix: {repetitions: 1}\ncleanup: " + cleanup + "\n";
}
std::string runtime_spec(const std::string& name, const std::filesystem::path& out, const std::string& cleanup) {
  return test::hostvm::spec(name, out, runtime_extra(cleanup));
}
}  // namespace

TEST(HostRuntime, GroupTypeOfTheDataNicSwitchedWithoutReboot) {
  IOMMUVM_REQUIRE_HOST_VM();
  test::TempDir tmp;
  auto before = grub_state();
  std::string group = data_group();
  std::string type_before = data_group_type();
  std::string boot = boot_id();
  {
    std::ofstream(tmp / "rt.yaml") << runtime_spec("host-runtime", tmp / "results", "restore");
  }
  auto plan = run_iommuvm({"plan", (tmp / "rt.yaml").string()});
  EXPECT_EQ(plan.result.exit_code, 0) << plan.result.err;
  EXPECT_EQ(plan.result.out.find("VFs"), std::string::npos) << "a NIC without num_vfs has no VF set-up:\n" << plan.result.out;
  auto c = run_campaign(tmp, "host-runtime", runtime_extra("restore"));
  EXPECT_EQ(c.run.result.exit_code, 0);
  const auto& runs = c.runs;
  ASSERT_EQ(runs.size(), 3u);
  expect_runs_switched(runs, group, false);
  for (const auto& r : runs) {
    EXPECT_EQ(r.value(ptr("/policy/host/boot_id"), std::string()), boot) << "no reboot";
    // The other groups keep the boot default.
    int others_default = 0;
    nlohmann::json groups = r.value(ptr("/policy/host/evidence/iommu_groups"), nlohmann::json::object());
    for (const auto& [g, t] : groups.items())
      if (g != group) others_default += t == type_before;
    EXPECT_GT(others_default, 0);
  }
  EXPECT_EQ(data_group_type(), type_before) << "the campaign's end puts the group type back";
  EXPECT_EQ(ssh(std::string("ip -br link show ") + kDataNic).exit_code, 0) << "the NIC is back with its driver";
  expect_restored(before, grub_state());

  // Left as it was, then a reboot resets the group: `iommuvm restore` has nothing to undo.
  auto keep = run_campaign(tmp, "host-runtime-keep", runtime_extra("keep", "[passthrough, strict]"));
  EXPECT_EQ(keep.run.result.exit_code, 0);
  EXPECT_EQ(data_group_type(), "DMA") << "cleanup: keep leaves the last policy (strict)";
  ASSERT_FALSE(plain_reboot().empty());
  auto restore = run_iommuvm({"restore", keep.dir.string()});
  EXPECT_EQ(restore.result.exit_code, 0) << restore.result.out << restore.result.err;
  EXPECT_EQ(data_group_type(), type_before);
}
