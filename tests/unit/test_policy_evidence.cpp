#include <gtest/gtest.h>

#include "iommuvm/policy/evidence.hpp"
#include "iommuvm/util/fs.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using namespace iommuvm::policy;

using Lines = std::vector<std::string>;

namespace {

EvidenceInput from_dmesg(const std::string& fixture) {
  EvidenceInput in;
  in.dmesg = fs::read_file(test::data_path("dmesg/" + fixture));
  return in;
}

Verdict verdict_of(const EvidenceInput& in) { return derive_policy(parse_evidence(in)); }

}  // namespace

TEST(LogPrefix, LongPrefixesDoNotCrash) {
  // std::regex recursed once per character of "<ddd...>" and "[...]".
  std::string digits(300000, '4');
  EXPECT_EQ(strip_log_prefix("<" + digits + ">DMAR: IOMMU enabled"), "DMAR: IOMMU enabled");
  EXPECT_EQ(strip_log_prefix("[" + digits + "] DMAR: IOMMU enabled"), "DMAR: IOMMU enabled");
  EvidenceInput in;
  in.dmesg = "[" + digits + "] iommu: Default domain type: Passthrough" + std::string(1000, ' ') + "\n";
  EXPECT_EQ(parse_evidence(in).default_domain, "Passthrough");
}

TEST(LogPrefix, TimestampsAndJournalPrefixesGo) {
  EXPECT_EQ(strip_log_prefix("[    0.123456] DMAR: IOMMU enabled"), "DMAR: IOMMU enabled");
  EXPECT_EQ(strip_log_prefix("[12345.678901] iommu: Default domain type: Translated\r"),
            "iommu: Default domain type: Translated");
  EXPECT_EQ(strip_log_prefix("<6>[    1.000000] AMD-Vi: Interrupt remapping enabled"),
            "AMD-Vi: Interrupt remapping enabled");
  EXPECT_EQ(strip_log_prefix("[Fri Jan 10 10:20:01 2025] DMAR: IOMMU enabled"), "DMAR: IOMMU enabled");
  EXPECT_EQ(strip_log_prefix("Jan 10 10:20:01 guest kernel: DMAR: IOMMU enabled"), "DMAR: IOMMU enabled");
  EXPECT_EQ(strip_log_prefix("Jan  2 03:04:05 h kernel: [    0.5] DMAR: IOMMU enabled"), "DMAR: IOMMU enabled");
  EXPECT_EQ(strip_log_prefix("2025-01-10T10:20:01+0000 testbed kernel: DMAR: IOMMU enabled"), "DMAR: IOMMU enabled");
  EXPECT_EQ(strip_log_prefix("iommu: Default domain type: Passthrough"), "iommu: Default domain type: Passthrough");
}

TEST(Evidence, IntelHostStrict) {
  auto in = from_dmesg("intel-host-strict.txt");
  in.cmdline = "BOOT_IMAGE=/boot/vmlinuz-6.12.9-vanilla root=UUID=3f1c ro intel_iommu=on iommu.strict=1 iommu.passthrough=0\n";
  auto e = parse_evidence(in);
  EXPECT_EQ(e.vendor, Vendor::intel);
  EXPECT_EQ(e.cmdline_policy, Policy::strict);
  EXPECT_EQ(e.cmdline_params, (Lines{"intel_iommu=on", "iommu.strict=1", "iommu.passthrough=0"}));
  EXPECT_EQ(e.enabled_line, "DMAR: IOMMU enabled");
  EXPECT_EQ(e.default_domain, "Translated");
  EXPECT_EQ(e.invalidation, "strict");
  auto v = derive_policy(e);
  EXPECT_EQ(v.effective, Policy::strict);
  EXPECT_EQ(v.reasons, (Lines{"dmesg: DMAR: Intel(R) Virtualization Technology for Directed I/O",
                              "dmesg: iommu: Default domain type: Translated (set via kernel command line)",
                              "dmesg: iommu: DMA domain TLB invalidation policy: strict mode (set via kernel command line)"}));
}

TEST(Evidence, IntelHostLazyPassthroughOff) {
  EXPECT_EQ(verdict_of(from_dmesg("intel-host-lazy.txt")).effective, Policy::lazy);
  auto pt = verdict_of(from_dmesg("intel-host-passthrough.txt"));
  EXPECT_EQ(pt.effective, Policy::passthrough);
  EXPECT_EQ(pt.reasons.back(), "dmesg: iommu: Default domain type: Passthrough (set via kernel command line)");
  auto off = verdict_of(from_dmesg("intel-host-off.txt"));
  EXPECT_EQ(off.effective, Policy::off);
  EXPECT_EQ(off.reasons, Lines{"dmesg: DMAR: IOMMU disabled"});
}

TEST(Evidence, AmdHost) {
  auto e = parse_evidence(from_dmesg("amd-host-lazy.txt"));
  EXPECT_EQ(e.vendor, Vendor::amd);
  EXPECT_EQ(e.amd_line, "pci 0000:00:00.2: AMD-Vi: Found IOMMU cap 0x40");
  auto v = derive_policy(e);
  EXPECT_EQ(v.effective, Policy::lazy);
  EXPECT_EQ(v.reasons.front(), "dmesg: pci 0000:00:00.2: AMD-Vi: Found IOMMU cap 0x40");
}

TEST(Evidence, GuestCachingModeForcesStrictEvenWhenLazyWasAsked) {
  auto in = from_dmesg("guest-viommu-lazy-caching-mode.txt");
  auto e = parse_evidence(in);
  EXPECT_EQ(e.invalidation, "lazy");
  EXPECT_EQ(e.forced_strict_line, "DMAR: IOMMU batching disallowed due to virtualization");
  auto v = derive_policy(e);
  EXPECT_EQ(v.effective, Policy::strict);
  EXPECT_EQ(v.reasons.back(), "dmesg: DMAR: IOMMU batching disallowed due to virtualization");
  auto c = compare_policy(Policy::lazy, e, v);
  EXPECT_FALSE(c.match);
  EXPECT_NE(c.explanation.find("lazy needs scalable mode with first-level translation, e.g. -device "
                               "intel-iommu,x-scalable-mode=on"),
            std::string::npos)
      << c.explanation;
  // The same log as journalctl -k prints it gives the same verdict.
  auto j = verdict_of(from_dmesg("guest-viommu-lazy-caching-mode-journal.txt"));
  EXPECT_EQ(j.effective, Policy::strict);
  EXPECT_EQ(j.reasons, v.reasons);
}

TEST(Evidence, AmdUsingStrictModeDueToVirtualization) {
  EvidenceInput in;
  in.dmesg =
      "[    0.3] iommu: DMA domain TLB invalidation policy: lazy mode\n"
      "[    0.9] pci 0000:00:00.2: AMD-Vi: Found IOMMU cap 0x40\n"
      "[    0.9] AMD-Vi: Using strict mode due to virtualization\n";
  EXPECT_EQ(verdict_of(in).effective, Policy::strict);
}

TEST(Evidence, GuestStrictLazyScalablePassthrough) {
  EXPECT_EQ(verdict_of(from_dmesg("guest-viommu-strict.txt")).effective, Policy::strict);
  EXPECT_EQ(verdict_of(from_dmesg("guest-viommu-lazy-scalable.txt")).effective, Policy::lazy);
  EXPECT_EQ(verdict_of(from_dmesg("guest-viommu-passthrough.txt")).effective, Policy::passthrough);
}

TEST(Evidence, GuestWithoutVIommuIsOffDespiteTranslatedAndLazyLines) {
  auto in = from_dmesg("guest-no-viommu.txt");
  auto e = parse_evidence(in);
  EXPECT_EQ(e.default_domain, "Translated");
  EXPECT_EQ(e.invalidation, "lazy");
  auto v = derive_policy(e);
  EXPECT_EQ(v.effective, Policy::off);
  EXPECT_EQ(v.reasons.back(),
            "dmesg: iommu: Default domain type: Translated (set via kernel command line) (printed even without an "
            "IOMMU)");
  in.group_types = std::map<int, std::string>{};
  in.iommu_devices = Lines{};
  v = verdict_of(in);
  EXPECT_EQ(v.effective, Policy::off);
  EXPECT_EQ(v.reasons, (Lines{"sysfs: no IOMMU groups under /sys/kernel/iommu_groups",
                              "sysfs: no IOMMU under /sys/class/iommu",
                              "dmesg: no DMAR or AMD-Vi initialisation line (no IOMMU, or no vIOMMU in a guest)"}));
  auto c = compare_policy(Policy::lazy, parse_evidence(in), v);
  EXPECT_FALSE(c.match);
  EXPECT_NE(c.explanation.find("the VM has no vIOMMU"), std::string::npos);
}

TEST(Evidence, GroupTypesDecideOverTheLog) {
  auto in = from_dmesg("guest-viommu-lazy-caching-mode.txt");
  in.group_types = std::map<int, std::string>{{0, "DMA\n"}, {1, "DMA\n"}, {2, "DMA-FQ\n"}, {3, "DMA\n"}};
  in.iommu_devices = Lines{"dmar0"};
  auto v = verdict_of(in);
  EXPECT_EQ(v.effective, Policy::strict);
  EXPECT_EQ(v.reasons.front(), "sysfs: /sys/kernel/iommu_groups/*/type: DMA of 4 groups (3 DMA, 1 DMA-FQ)");
  in.group_types = std::map<int, std::string>{{0, "identity"}, {7, "identity"}};
  EXPECT_EQ(verdict_of(in).effective, Policy::passthrough);
  EvidenceInput only_sysfs;
  only_sysfs.group_types = std::map<int, std::string>{{0, "DMA-FQ"}};
  EXPECT_EQ(verdict_of(only_sysfs).effective, Policy::lazy);
}

// A runtime switch changes the group of the device under test only: the verdict is its type,
// not the type most groups have (captured on the host VM: 6 groups, the data NIC's is 3).
TEST(Evidence, TheGroupsOfTheDevicesUnderTestDecide) {
  EvidenceInput in;
  in.group_types = std::map<int, std::string>{{0, "DMA-FQ"}, {1, "DMA-FQ"}, {2, "DMA-FQ"}, {3, "identity\n"}, {4, "DMA-FQ"}};
  EXPECT_EQ(verdict_of(in).effective, Policy::lazy);
  in.groups_under_test = {3};
  auto v = verdict_of(in);
  EXPECT_EQ(v.effective, Policy::passthrough);
  EXPECT_EQ(v.reasons, (Lines{"sysfs: /sys/kernel/iommu_groups/N/type of the devices under test: 3 identity",
                              "sysfs: the other groups: 4 DMA-FQ"}));
  // Devices under test in groups of different types: nothing decides.
  in.groups_under_test = {3, 4};
  EXPECT_EQ(verdict_of(in).effective, std::nullopt);
  // A group that does not exist (no IOMMU group for the device): the majority rule.
  in.groups_under_test = {9};
  EXPECT_EQ(verdict_of(in).effective, Policy::lazy);
  in.groups_under_test = {3};
  auto e = parse_evidence(in);
  EXPECT_EQ(to_json(e, derive_policy(e))["evidence"]["groups_under_test"], nlohmann::json::array({3}));
}

TEST(Evidence, AWrappedLogProvesNothingByAbsence) {
  EvidenceInput in;
  in.dmesg = "[812345.000001] ice 0000:65:00.0 enp101s0f0: NIC Link is Up 100 Gbps Full Duplex\n";
  auto v = verdict_of(in);
  EXPECT_EQ(v.effective, std::nullopt);
  EXPECT_EQ(v.reasons, (Lines{"dmesg: the log does not reach back to the boot (no 'Linux version' or 'Command line:' "
                              "line): the absence of IOMMU lines proves nothing; use journalctl -k -b or give sysfs"}));
  in.dmesg = "[    0.000000] Linux version 6.1.0-28-amd64\n" + *in.dmesg;
  EXPECT_EQ(verdict_of(in).effective, Policy::off);
}

TEST(Evidence, NothingDecides) {
  EvidenceInput in;
  in.cmdline = "root=/dev/sda1 ro intel_iommu=on iommu.strict=0";
  auto e = parse_evidence(in);
  EXPECT_EQ(e.cmdline_policy, Policy::lazy);
  auto v = derive_policy(e);
  EXPECT_EQ(v.effective, std::nullopt);
  EXPECT_FALSE(compare_policy(Policy::lazy, e, v).match);
}

TEST(Evidence, CompareMatchAndOffMismatch) {
  auto e = parse_evidence(from_dmesg("intel-host-lazy.txt"));
  auto v = derive_policy(e);
  auto c = compare_policy(Policy::lazy, e, v);
  EXPECT_TRUE(c.match);
  EXPECT_EQ(c.explanation, "requested lazy, effective lazy");
  c = compare_policy(Policy::off, e, v);
  EXPECT_FALSE(c.match);
  EXPECT_EQ(c.explanation,
            "requested off, but the IOMMU is in use with lazy (dmesg: DMAR: Intel(R) Virtualization Technology for "
            "Directed I/O)");
}

TEST(Evidence, Json) {
  auto in = from_dmesg("intel-host-passthrough.txt");
  in.cmdline = "ro intel_iommu=on iommu.passthrough=1";
  in.group_types = std::map<int, std::string>{{3, "identity\n"}};
  auto e = parse_evidence(in);
  auto j = to_json(e, derive_policy(e));
  EXPECT_EQ(j["effective"], "passthrough");
  EXPECT_EQ(j["evidence"]["cmdline_policy"], "passthrough");
  EXPECT_EQ(j["evidence"]["iommu_groups"]["3"], "identity");
  EXPECT_EQ(j["evidence"]["dmesg"]["default_domain"],
            "iommu: Default domain type: Passthrough (set via kernel command line)");
  EXPECT_TRUE(j["evidence"]["dmesg"]["invalidation"].is_null());
  EXPECT_EQ(j["reasons"][0], "sysfs: /sys/kernel/iommu_groups/*/type: identity of 1 groups (1 identity)");
}
