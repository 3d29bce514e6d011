// The kernel-log read commands through a real shell: a kmsg file under a root prefix, and this
// machine's /dev/kmsg when it can be read (root).
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "iommuvm/audit/kmsg.hpp"
#include "test_support.hpp"

using namespace iommuvm;

TEST(AuditKmsg, MarkAndSinceOnAFile) {
  test::TempDir dir;
  auto f = dir / "kmsg";
  std::ofstream(f) << "6,7,1,-;one\n SUBSYSTEM=x\n6,8,2,-;two\n6,9,3,-;DMAR: DRHD: handling fault status reg 2\n";
  auto mark = test::run_process({"sh", "-c", audit::read_command(f.string(), std::nullopt)});
  ASSERT_EQ(mark.exit_code, 0) << mark.err;
  EXPECT_EQ(mark.out, "9\n");
  auto after = test::run_process({"sh", "-c", audit::read_command(f.string(), 7)});
  ASSERT_EQ(after.exit_code, 0) << after.err;
  auto m = audit::since("m", 7, after.out);
  ASSERT_EQ(m.records.size(), 2u);
  EXPECT_EQ(m.records[1].text, "DMAR: DRHD: handling fault status reg 2");
  auto missing = test::run_process({"sh", "-c", audit::read_command((dir / "none").string(), 1)});
  EXPECT_EQ(missing.exit_code, 3);
  EXPECT_NE(missing.err.find("cannot read"), std::string::npos);
}

// /dev/kmsg: the read ends at the end of the buffer instead of waiting, and a line written
// after the mark is found after it and only there.
TEST(AuditKmsg, RealDevKmsgDoesNotBlock) {
  if (::geteuid() != 0 || ::access("/dev/kmsg", R_OK | W_OK) != 0)
    GTEST_SKIP() << "needs root to read and write /dev/kmsg";
  auto mark = test::run_process({"sh", "-c", audit::read_command("/dev/kmsg", std::nullopt)});
  ASSERT_EQ(mark.exit_code, 0) << mark.err;
  std::uint64_t seq = std::stoull(mark.out);
  std::string tag = "iommuvm-audit-test " + std::to_string(::getpid());
  { std::ofstream("/dev/kmsg") << "<6>" << tag << "\n"; }
  auto after = test::run_process({"sh", "-c", audit::read_command("/dev/kmsg", seq)});
  ASSERT_EQ(after.exit_code, 0) << after.err;
  auto m = audit::since("local", seq, after.out);
  bool found = false;
  for (const auto& r : m.records) found = found || r.text == tag;
  EXPECT_TRUE(found) << after.out;
  for (const auto& r : m.records) EXPECT_GT(r.seq, seq);
}
