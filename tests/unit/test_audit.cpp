// Kernel-log audit: /dev/kmsg records parsed, classified and turned into a run's verdict.
// The lines are in the kernels' own formats (drivers/iommu/intel/dmar.c, drivers/iommu/amd,
// kernel/watchdog.c, mm/oom_kill.c, arch/x86/mm/fault.c, mlx5/e1000e link messages).
#include <gtest/gtest.h>

#include "iommuvm/audit/kmsg.hpp"

using namespace iommuvm;
using audit::Action;

TEST(AuditParse, RecordsWithSequenceNumbersContinuationLinesSkipped) {
  auto r = audit::parse(
      "6,343,1362226,-;tokio-rt-worker (72): drop_caches: 3\n"
      "3,344,1372229,-,caller=T1;DMAR: DRHD: handling fault status reg 2\n"
      " SUBSYSTEM=pci\n"
      " DEVICE=+pci:0000:ca:00.2\n"
      "garbage line\n"
      "x,345,1,-;bad priority\n"
      "14,18446744073709551615,1,-;largest sequence\n"
      "14,18446744073709551616,1,-;sequence overflows\n"
      "12,346,2945713522,-;no newline at the end");
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].seq, 343u);
  EXPECT_EQ(r[0].priority, 6);
  EXPECT_EQ(r[1].text, "DMAR: DRHD: handling fault status reg 2");
  EXPECT_EQ(r[1].priority, 3);
  EXPECT_EQ(r[2].seq, 18446744073709551615ull);
  EXPECT_EQ(r[2].facility, 1);
  EXPECT_EQ(r[3].text, "no newline at the end");
  EXPECT_EQ(r[3].ts_us, 2945713522u);
}

TEST(AuditClassify, EachClassFromRealKernelLines) {
  struct Case {
    const char* line;
    const char* cls;
  } cases[] = {
      {"DMAR: [DMA Read NO_PASID] Request device [ca:00.2] fault addr 0xfff0a000 [fault reason 0x06] PTE Read access is not set",
       "iommu_fault"},
      {"DMAR: [DMA Write NO_PASID] Request device [00:03.0] fault addr 0x7f0000 [fault reason 0x05] PTE Write access is not set",
       "iommu_fault"},
      {"DMAR: DRHD: handling fault status reg 2", "iommu_fault"},
      {"AMD-Vi: Event logged [IO_PAGE_FAULT device=65:00.2 domain=0x0012 address=0xfffffffdf8000000 flags=0x0020]",
       "iommu_fault"},
      {"DMAR: IOMMU batching disallowed due to virtualization", "iommu_mode"},
      {"mlx5_core 0000:ca:00.0 enp202s0f0np0: Link down", "link"},
      {"e1000e 0000:00:19.0 eth0: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx", "link"},
      {"watchdog: BUG: soft lockup - CPU#3 stuck for 23s! [redis-server:1234]", "lockup"},
      {"INFO: task kworker/0:1:12 blocked for more than 120 seconds.", "lockup"},
      {"Out of memory: Killed process 4242 (redis-server) total-vm:123456kB, anon-rss:1000kB", "oom"},
      {"redis-server[1234]: segfault at 0 ip 000055d0 sp 00007ffc error 4 in redis-server[55d0+1000]", "segfault"},
      {"mce: [Hardware Error]: Machine check events logged", "mce"},
  };
  for (const auto& c : cases) {
    auto got = audit::classify(c.line);
    ASSERT_TRUE(got) << c.line;
    EXPECT_EQ(*got, c.cls) << c.line;
  }
  for (const char* quiet : {"EXT4-fs (vda): mounted filesystem r/w without journal", "cpuset.memory_migrate is deprecated",
                            "DMAR: IOMMU enabled", "virtio_net virtio0 eth0: renamed"})
    EXPECT_FALSE(audit::classify(quiet)) << quiet;
}

TEST(AuditSince, OnlyRecordsAfterTheMarkAndTheGapIsCounted) {
  std::string read =
      "6,10,1,-;before the run\n"
      "6,14,2,-;DMAR: [DMA Read NO_PASID] Request device [ca:00.2] fault addr 0x1000 [fault reason 0x06] PTE Read access is not set\n"
      "6,15,3,-;after\n";
  auto m = audit::since("host", 11, read);
  ASSERT_EQ(m.records.size(), 2u);
  EXPECT_EQ(m.records[0].seq, 14u);
  EXPECT_EQ(m.lost, 2u);  // 12 and 13 were overwritten before the read
  auto none = audit::since("host", 12, "6,13,1,-;next\n");
  EXPECT_EQ(none.lost, 0u);
}

TEST(AuditFindings, SettingsDecideFailFlagIgnore) {
  audit::MachineLog host = audit::since("host", 0,
                                        "3,1,5,-;DMAR: [DMA Read NO_PASID] Request device [ca:00.2] fault addr 0x1000 "
                                        "[fault reason 0x06] PTE Read access is not set\n"
                                        "6,2,6,-;mlx5_core 0000:ca:00.0 enp202s0f0np0: Link up\n");
  audit::MachineLog guest = audit::since("guest", 0, "6,1,1,-;nothing\n");
  audit::Settings s;
  auto f = audit::findings({host, guest}, s);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].action, Action::fail);
  EXPECT_EQ(f[1].action, Action::flag);
  std::string why = audit::failure_reason(f);
  EXPECT_EQ(why.rfind("kernel-log: IOMMU fault on host: DMAR: [DMA Read NO_PASID]", 0), 0u) << why;

  s.actions["iommu_fault"] = Action::flag;
  s.actions["link"] = Action::ignore;
  f = audit::findings({host, guest}, s);
  EXPECT_EQ(f[0].action, Action::flag);
  EXPECT_EQ(f[1].action, Action::ignore);
  EXPECT_EQ(audit::failure_reason(f), "");

  s.enabled = false;
  EXPECT_TRUE(audit::findings({host, guest}, s).empty());
}

TEST(AuditClasses, NamesAndActionsRoundTrip) {
  for (const auto& c : audit::classes()) {
    EXPECT_EQ(audit::find_class(c.name), &c);
    EXPECT_FALSE(c.needles.empty()) << c.name;
  }
  for (auto a : {Action::fail, Action::flag, Action::ignore}) EXPECT_EQ(audit::parse_action(audit::to_string(a)), a);
  EXPECT_FALSE(audit::parse_action("warn"));
  EXPECT_EQ(audit::find_class("nope"), nullptr);
}
