// Assertions shared by the host-VM long tests (tests/long/test_host_*.cpp): what every run of
// a host campaign must show, and the restore byte for byte.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "host_vm.hpp"

// In a test body: skip with the reason when the machine cannot run the VM; fail when it
// can but the VM does not come up.
#define IOMMUVM_REQUIRE_HOST_VM()                                  \
  do {                                                             \
    if (auto why = ::iommuvm::test::hostvm::unavailable(); !why.empty()) { \
      if (why.rfind("FAIL", 0) == 0) FAIL() << why;                \
      GTEST_SKIP() << why;                                         \
    }                                                              \
  } while (0)


namespace iommuvm::test::hostvm {

// A campaign NAME with spec spec(NAME, TMP/results, EXTRA) run with the built binary in the
// namespace; its output printed, its wall time recorded as the test property campaign_s.
struct CampaignResult {
  Timed run;
  std::vector<nlohmann::json> runs;
  std::filesystem::path dir;  // the campaign folder
};
inline CampaignResult run_campaign(const TempDir& tmp, const std::string& name, const std::string& extra) {
  CampaignResult c;
  auto path = tmp / (name + ".yaml");
  {
    std::ofstream(path) << spec(name, tmp / "results", extra);
  }
  c.run = run_iommuvm({"run", path.string()});
  std::printf("campaign %s took %.0f s\n%s\n%s\n", name.c_str(), c.run.seconds, c.run.result.out.c_str(),
              c.run.result.err.c_str());
  ::testing::Test::RecordProperty(name + "_s", fmt::format("{:.0f}", c.run.seconds));
  c.runs = campaign_runs(tmp / "results", name, &c.dir);
  return c;
}

inline nlohmann::json::json_pointer ptr(const std::string& p) { return nlohmann::json::json_pointer(p); }

// The group type of each policy, as the kernel writes it (docs/policy.md).
inline std::string type_of(const std::string& policy) {
  if (policy == "strict") return "DMA";
  if (policy == "lazy") return "DMA-FQ";
  if (policy == "passthrough") return "identity";
  return "";
}

// The IOMMU group number of the data NIC on the VM ("" when unreadable).
inline std::string data_group() {
  auto r = ssh(std::string("basename $(readlink /sys/bus/pci/devices/") + kDataPci + "/iommu_group)");
  std::string g = r.out;
  while (!g.empty() && (g.back() == '\n' || g.back() == ' ')) g.pop_back();
  return g;
}

// Every run ok with effective == requested; the data NIC's group has the policy's type; a
// reboot METHOD gives every policy its own boot and the policy's parameters on /proc/cmdline;
// invalidations per request: strict much more than lazy, passthrough none. Prints the table.
inline void expect_runs_switched(const std::vector<nlohmann::json>& runs, const std::string& group, bool rebooted) {
  std::map<std::string, double> inv;
  std::map<std::string, std::string> boots;
  std::printf("%-10s %-9s %-10s %9s %12s %12s %s\n", "requested", "effective", "group type", "ops/s", "inv/request",
              "QEMU us/req", "switch s (set + reboot + verify)");
  for (const auto& r : runs) {
    SCOPED_TRACE(r.dump(1).substr(0, 3000));
    std::string requested = r.value(ptr("/params/policy.host.policy"), std::string());
    nlohmann::json h = r.value(ptr("/policy/host"), nlohmann::json::object());
    EXPECT_EQ(r.value("status", std::string()), "ok") << r.value("reason", std::string());
    EXPECT_EQ(h.value("effective", std::string()), requested);
    EXPECT_EQ(h.value("match", false), true) << h.value("explanation", std::string());
    std::string type = h.value(ptr("/evidence/iommu_groups/" + group), std::string());
    EXPECT_EQ(type, type_of(requested)) << "group " << group << " (the data NIC)";
    if (rebooted) {
      std::string cmdline = h.value("cmdline", std::string());
      if (requested == "strict") {
        EXPECT_NE(cmdline.find("iommu.strict=1"), std::string::npos) << cmdline;
      }
      if (requested == "lazy") {
        EXPECT_NE(cmdline.find("iommu.strict=0"), std::string::npos) << cmdline;
      }
      if (requested == "passthrough") {
        EXPECT_NE(cmdline.find("iommu.passthrough=1"), std::string::npos) << cmdline;
      }
      std::string dmesg_line = h.value(ptr(requested == "passthrough" ? "/evidence/dmesg/default_domain"
                                                                     : "/evidence/dmesg/invalidation"),
                                       std::string());
      EXPECT_NE(dmesg_line.find(requested == "passthrough" ? "Passthrough" : requested + " mode"), std::string::npos)
          << dmesg_line;
      boots[requested] = h.value("boot_id", std::string());
    }
    nlohmann::json c = r.value("collectors", nlohmann::json::object());
    double per = c.value(ptr("/viommu-inv/per_request/total_per_request"), -1.0);
    double cpu_us = c.value(ptr("/qemu-cpu/per_request/cpu_s_per_request"), -1.0) * 1e6;
    inv[requested] = per;
    // The switch that preceded the run (run.json policy.host_switch), measured per method.
    nlohmann::json sw = r.value(ptr("/policy/host_switch"), nlohmann::json::object());
    std::printf("%-10s %-9s %-10s %9.0f %12.3f %12.1f %s %.1f (%.1f + %.1f + %.1f)\n", requested.c_str(),
                h.value("effective", std::string()).c_str(), type.c_str(), r.value(ptr("/metrics/throughput_ops"), 0.0), per,
                cpu_us, sw.value("method", std::string("-")).c_str(), sw.value("seconds", 0.0), sw.value("set_policy_s", 0.0),
                sw.value("reboot_s", 0.0), sw.value("verify_s", 0.0));
    EXPECT_GE(per, 0.0) << c.dump();
    EXPECT_GT(cpu_us, 1.0) << c.dump();
  }
  if (rebooted) {
    std::set<std::string> distinct;
    for (const auto& [p, b] : boots) distinct.insert(b);
    EXPECT_EQ(distinct.size(), boots.size()) << "each policy measured in its own boot";
  }
  if (inv.count("strict") && inv.count("lazy")) {
    EXPECT_GT(inv["strict"], 5 * inv["lazy"] + 0.5);
  }
  if (inv.count("passthrough")) {
    EXPECT_LT(inv["passthrough"], 0.01);
  }
}

// The GRUB files, grub.cfg and grubenv as before; no one-shot entry pending.
inline void expect_restored(const GrubState& before, const GrubState& after) {
  EXPECT_EQ(after.files, before.files);
  EXPECT_EQ(after.grubenv, before.grubenv);
  EXPECT_EQ(after.grubenv.find("next_entry"), std::string::npos) << after.grubenv;
  if (!after.backups.empty()) {
    std::string list;
    for (const auto& b : after.backups) list += " " + b;
    std::printf("iommuvm's GRUB backups left on the VM:%s\n", list.c_str());
  }
}

// A plain reboot boots the default entry with the command line of before.
inline void expect_plain_reboot_boots_default(const GrubState& before) {
  std::string id = plain_reboot();
  ASSERT_FALSE(id.empty()) << "the VM did not come back from a plain reboot";
  auto now = grub_state();
  EXPECT_EQ(now.cmdline, before.cmdline);
  EXPECT_EQ(now.grubenv.find("next_entry"), std::string::npos) << now.grubenv;
}

}  // namespace iommuvm::test::hostvm
