#include <gtest/gtest.h>

#include "iommuvm/policy/grub.hpp"
#include "iommuvm/util/error.hpp"
#include "iommuvm/util/fs.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using namespace iommuvm::policy;

namespace {

std::string data(const std::string& rel) { return fs::read_file(test::data_path(rel)); }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    std::size_t end = text.find('\n', start);
    out.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

// Every line but the 1-based lines in CHANGED is byte-identical.
void expect_only_lines_changed(const std::string& before, const std::string& after, std::vector<std::size_t> changed) {
  auto a = lines_of(before), b = lines_of(after);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    bool expect_change = std::find(changed.begin(), changed.end(), i + 1) != changed.end();
    if (expect_change)
      EXPECT_NE(a[i], b[i]) << "line " << i + 1;
    else
      EXPECT_EQ(a[i], b[i]) << "line " << i + 1;
  }
}

std::vector<GrubSource> dropins() {
  std::vector<GrubSource> s;
  for (std::string f : {"grub", "40-force-partuuid.cfg", "50-cloudimg-settings.cfg", "60-iommu.cfg"})
    s.push_back({f, data("grub/dropins/" + f)});
  return s;
}

}  // namespace

TEST(GrubParse, TestbedFileHasOneActiveCmdlineLine) {
  auto as = parse_grub_assignments(data("grub/grub-default-testbed"));
  std::vector<std::string> keys;
  for (const auto& a : as) keys.push_back(a.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"GRUB_DEFAULT", "GRUB_TIMEOUT", "GRUB_DISTRIBUTOR", "GRUB_CMDLINE_LINUX",
                                            "GRUB_CMDLINE_LINUX_DEFAULT"}));
  EXPECT_EQ(as[0].value, "1>Ubuntu, with Linux 6.12.9-vanilla");
  EXPECT_EQ(as[4].line, 76u);
  EXPECT_EQ(as[4].quote, '"');
  EXPECT_EQ(as[4].value, "intel_iommu=on iommu.strict=1 init_on_free=0 init_on_alloc=0 noresume");
  EXPECT_EQ(as[3].value, "");
}

TEST(GrubParse, QuotesEscapesAndTrailingComments) {
  auto as = parse_grub_assignments(
      "A='x \"y\" z'\n  export B=\"p \\\"q r\\\" \\\\s\"  # note\nC=bare # c\nD=\n#E=1\nF=\"$A ${B}x\"\n");
  ASSERT_EQ(as.size(), 5u);
  EXPECT_EQ(as[0].value, "x \"y\" z");
  EXPECT_EQ(as[0].quote, '\'');
  EXPECT_EQ(as[1].key, "B");
  EXPECT_EQ(as[1].value, "p \"q r\" \\s");
  EXPECT_EQ(as[1].raw_value, "\"p \\\"q r\\\" \\\\s\"");
  EXPECT_EQ(as[2].value, "bare");
  EXPECT_EQ(as[2].quote, 0);
  EXPECT_EQ(as[3].value, "");
  EXPECT_EQ(as[4].value, "$A ${B}x");
}

TEST(GrubParse, RefusesWhatItCannotEditSafely) {
  EXPECT_THROW(parse_grub_assignments("GRUB_CMDLINE_LINUX=\"a $(cat /etc/x)\"\n"), InputError);
  EXPECT_THROW(parse_grub_assignments("GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\n splash\"\n"), InputError);
  EXPECT_THROW(parse_grub_assignments("GRUB_CMDLINE_LINUX_DEFAULT=\"a\"'b'\n"), InputError);
  EXPECT_THROW(parse_grub_assignments("GRUB_CMDLINE_LINUX_DEFAULT='foo=\"a b'\n"), InputError);  // kernel quote
  EXPECT_THROW(parse_grub_assignments("GRUB_CMDLINE_LINUX_DEFAULT=\"x\" && echo\n"), InputError);
  // other keys with such values are not ours: skipped, not refused
  EXPECT_EQ(parse_grub_assignments("GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`\n").size(), 1u);
}

TEST(GrubEffectiveValue, LaterDropInsWinAndSelfReferencesChain) {
  auto s = dropins();
  auto d = grub_effective(s, kGrubCmdlineDefault);
  EXPECT_EQ(d.value, "console=tty1 console=ttyS0 intel_iommu=on iommu.strict=0 vfio-pci.ids=8086:1593");
  EXPECT_EQ(d.location, (GrubLocation{3, 2}));
  EXPECT_EQ(d.chain, (std::vector<GrubLocation>{{3, 2}, {2, 11}}));
  auto l = grub_effective(s, kGrubCmdline);
  EXPECT_EQ(l.value, " iommu.passthrough=0");
  EXPECT_EQ(l.chain, (std::vector<GrubLocation>{{3, 3}, {0, 8}}));
  EXPECT_EQ(grub_effective(s, "GRUB_NOPE").location, std::nullopt);
  EXPECT_EQ(grub_kernel_cmdline(s),
            "iommu.passthrough=0 console=tty1 console=ttyS0 intel_iommu=on iommu.strict=0 vfio-pci.ids=8086:1593");
}

TEST(GrubSet, TestbedFileOnlyTheActiveLineChanges) {
  std::string before = data("grub/grub-default-testbed");
  std::string after = grub_set_policy(before, Policy::lazy, Vendor::intel);
  expect_only_lines_changed(before, after, {76});
  EXPECT_EQ(lines_of(after)[75],
            "GRUB_CMDLINE_LINUX_DEFAULT=\"init_on_free=0 init_on_alloc=0 noresume intel_iommu=on iommu.strict=0 "
            "iommu.passthrough=0\"");
  // idempotent
  EXPECT_EQ(grub_set_policy(after, Policy::lazy, Vendor::intel), after);
  std::string off = grub_set_policy(after, Policy::off, Vendor::intel);
  EXPECT_EQ(lines_of(off)[75], "GRUB_CMDLINE_LINUX_DEFAULT=\"init_on_free=0 init_on_alloc=0 noresume intel_iommu=off\"");
}

TEST(GrubSet, ActiveLineLastWithCommentAndNoFinalNewline) {
  std::string before = data("grub/grub-ubuntu-active-last");
  std::string after = grub_set_policy(before, Policy::passthrough, Vendor::intel);
  expect_only_lines_changed(before, after, {10, 20});
  auto l = lines_of(after);
  EXPECT_EQ(l[9], "GRUB_CMDLINE_LINUX=\"net.ifnames=0 biosdevname=0\"");
  EXPECT_EQ(l[19],
            "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet splash hugepagesz=1G hugepages=16 isolcpus=\\\"2-7\\\" "
            "intel_iommu=on,sm_on iommu.passthrough=1\"   # testbed");
  EXPECT_NE(after.back(), '\n');
}

TEST(GrubSet, SingleQuotesAreKept) {
  std::string before = data("grub/grub-single-quoted");
  std::string after = grub_set_policy(before, Policy::strict, Vendor::amd);
  expect_only_lines_changed(before, after, {6});
  EXPECT_EQ(lines_of(after)[5],
            "GRUB_CMDLINE_LINUX_DEFAULT='console=tty0 console=ttyS1,115200n8 iommu=soft iommu.strict=1 "
            "iommu.passthrough=0'");
}

TEST(GrubSet, EmptyLinuxLineStaysUntouched) {
  std::string before = data("grub/grub-linux-empty");
  std::string after = grub_set_policy(before, Policy::off, Vendor::amd);
  expect_only_lines_changed(before, after, {4});
  EXPECT_EQ(lines_of(after)[3], "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet amd_iommu=off\"");
  EXPECT_EQ(lines_of(after)[4], "GRUB_CMDLINE_LINUX=\"\"");
}

TEST(GrubSet, SelfReferenceRewritesTheWholeChain) {
  std::string before = data("grub/grub-self-reference");
  std::string after = grub_set_policy(before, Policy::strict, Vendor::intel);
  expect_only_lines_changed(before, after, {3, 6});
  EXPECT_EQ(lines_of(after)[2], "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"");
  EXPECT_EQ(lines_of(after)[5],
            "GRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT mitigations=off intel_iommu=on iommu.strict=1 "
            "iommu.passthrough=0\"");
}

TEST(GrubSet, DropInsEditTheFilesThatHoldTheValue) {
  auto s = dropins();
  auto out = grub_set_policy(s, Policy::passthrough, Vendor::intel);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0], s[0].text);
  EXPECT_EQ(out[1], s[1].text);
  expect_only_lines_changed(s[2].text, out[2], {11});
  EXPECT_EQ(lines_of(out[2])[10], "GRUB_CMDLINE_LINUX_DEFAULT=\"console=tty1 console=ttyS0\"");
  expect_only_lines_changed(s[3].text, out[3], {2, 3});
  EXPECT_EQ(lines_of(out[3])[1],
            "GRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT vfio-pci.ids=8086:1593 intel_iommu=on "
            "iommu.passthrough=1\"");
  EXPECT_EQ(lines_of(out[3])[2], "GRUB_CMDLINE_LINUX=\"${GRUB_CMDLINE_LINUX}\"");
}

TEST(GrubSet, MissingDefaultLineIsAppended) {
  EXPECT_EQ(grub_set_policy("GRUB_TIMEOUT=5\n", Policy::lazy, Vendor::amd),
            "GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX_DEFAULT=\"iommu.strict=0 iommu.passthrough=0\"\n");
  EXPECT_EQ(grub_set_policy("GRUB_TIMEOUT=5", Policy::off, Vendor::intel),
            "GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX_DEFAULT=\"intel_iommu=off\"");
}

TEST(GrubSet, BareValuesGetQuotesWhenTheyNeedThem) {
  EXPECT_EQ(grub_set_policy("GRUB_CMDLINE_LINUX_DEFAULT=quiet\n", Policy::off, Vendor::intel),
            "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet intel_iommu=off\"\n");
}

TEST(GrubSet, RefusesWhenAnotherVariableDecidesThePolicy) {
  // $EXTRA comes from outside the files: iommuvm cannot see through it, but the
  // validation sees that the literal result does not request what was asked.
  std::string text = "EXTRA=\"iommu.strict=1\"\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_CMDLINE_LINUX=\"$EXTRA\"\n";
  EXPECT_THROW(grub_set_policy(text, Policy::lazy, Vendor::intel), Error);
}

TEST(GrubBackup, TimestampedTemplateNextToTheFile) {
  // The XXXXXX is made unique when the backup is created (mkstemps / mktemp --suffix=.bak).
  auto t = std::chrono::system_clock::from_time_t(1736504553);  // 2025-01-10 10:22:33 UTC
  EXPECT_EQ(grub_backup_template("/etc/default/grub", t), "/etc/default/grub.iommuvm-20250110T102233Z-XXXXXX");
  EXPECT_EQ(grub_backup_template("/etc/default/grub.d/60-iommu.cfg", t),
            "/etc/default/grub.d/60-iommu.cfg.iommuvm-20250110T102233Z-XXXXXX");
  EXPECT_EQ(kGrubBackupSuffix, ".bak");
}

// Shell code iommuvm does not fully understand is refused with the line, never edited as
// if it were a plain assignment, and never reported as the policy in effect.
TEST(GrubParse, RefusesConditionalsMultiLineValuesAndCommands) {
  const std::string testbed = data("grub/grub-default-testbed");
  auto refused = [](const std::string& text, const std::string& line_and_why) {
    try {
      parse_grub_assignments(text);
      ADD_FAILURE() << "accepted:\n" << text;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(line_and_why), std::string::npos) << e.what();
    }
    EXPECT_THROW(grub_set_policy(text, Policy::strict, Vendor::intel), InputError);
    EXPECT_THROW(grub_kernel_cmdline({{"grub", text}}), InputError);
  };
  // The examples, appended to the users' real file (line 81 on).
  refused(testbed + "[ -e /etc/iommu-off ] && GRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT intel_iommu=off\"\n",
          "line 81: shell code that may set or change the kernel command line");
  refused(testbed + "GRUB_TERMINAL_OUTPUT=\"console\nGRUB_CMDLINE_LINUX_DEFAULT=intel_iommu=off\"\n",
          "line 81: a value or command spanning lines");
  refused(testbed + "if [ -e /etc/iommu-off ]; then\n  GRUB_CMDLINE_LINUX_DEFAULT=\"intel_iommu=off\"\nfi\n",
          "line 82: GRUB_CMDLINE_LINUX_DEFAULT is assigned inside an if");
  refused(testbed + "GRUB_CMDLINE_LINUX_DEFAULT=\"$(cat /etc/iommu)\"\n", "line 81: cannot edit GRUB_CMDLINE_LINUX_DEFAULT safely");
  refused(testbed + "GRUB_TIMEOUT=3; GRUB_CMDLINE_LINUX_DEFAULT=intel_iommu=off\n", "line 81: shell code");
  refused(testbed + "unset GRUB_CMDLINE_LINUX_DEFAULT\n", "line 81: shell code");
  refused(testbed + ". /etc/default/grub.local\n", "line 81: the file sources");
  refused(testbed + "GRUB_CMDLINE_LINUX=\"a \\\n b\"\n", "line 81: a value or command spanning lines");
  refused(testbed + "test -e /x &&\n  GRUB_CMDLINE_LINUX=intel_iommu=off\n", "line 81: a value or command spanning lines");
  refused("if true; then EXTRA=intel_iommu=off; fi\nGRUB_CMDLINE_LINUX_DEFAULT=\"$EXTRA\"\n",
          "line 2: GRUB_CMDLINE_LINUX_DEFAULT uses $EXTRA");
  refused("if true; then\n  EXTRA=intel_iommu=off\nfi\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet $EXTRA\"\n",
          "line 4: GRUB_CMDLINE_LINUX_DEFAULT uses $EXTRA");
  // What stays fine: commands and conditionals that leave the command line alone, command
  // substitution in other variables, references in comments.
  std::string fine = testbed + "if [ -e /x ]; then GRUB_TIMEOUT=5; fi\n# GRUB_CMDLINE_LINUX_DEFAULT=off && x\n"
                               "FOO=\"$GRUB_CMDLINE_LINUX\"\n";
  EXPECT_NO_THROW(parse_grub_assignments(fine));
  EXPECT_EQ(grub_kernel_cmdline({{"grub", fine}}), "intel_iommu=on iommu.strict=1 init_on_free=0 init_on_alloc=0 noresume");
}
