// The quiet-machine profile through the real binary: on a fake /sys and /proc tree (every
// knob present, as on a bare-metal host), on this machine's own kernel (numa_balancing and
// C-states for real, as root; SMT "notsupported" and no cpufreq: not applicable), and a
// spec error. Applied, read back, recorded in run.json, undone at the end and by restore.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "campaign_fixture.hpp"
#include "iommuvm/util/fs.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using nlohmann::json;
namespace stdfs = std::filesystem;

namespace {

// The knob files of a two-CPU Intel host with its values before the campaign.
std::map<std::string, std::string> host_tree(const stdfs::path& root) {
  std::map<std::string, std::string> files;
  for (int c = 0; c < 2; ++c) {
    std::string cpu = "sys/devices/system/cpu/cpu" + std::to_string(c);
    files[cpu + "/cpufreq/scaling_governor"] = "powersave\n";
    for (int st = 0; st < 3; ++st) files[cpu + "/cpuidle/state" + std::to_string(st) + "/disable"] = "0\n";
  }
  files["sys/devices/system/cpu/intel_pstate/no_turbo"] = "0\n";
  files["sys/devices/system/cpu/smt/control"] = "on\n";
  files["proc/sys/kernel/numa_balancing"] = "1\n";
  for (const auto& [p, v] : files) test::write_text(root / p, v);
  return files;
}

std::string first_line(const stdfs::path& p) {
  std::string s = fs::read_file(p);
  return s.substr(0, s.find('\n'));
}

const std::string kWorkload =
    "workloads:\n  w:\n    kind: custom\n    server: {command: [sleep, '30'], ready: none}\n"
    "    client: {command: [sh, -c, 'echo ops=1'], metrics: {throughput_ops: 'ops=([0-9]+)'}}\n";

}  // namespace

TEST(QuietProfile, FakeHostTreeIsQuietedRecordedAndRestored) {
  test::TempDir dir;
  auto root = dir / "root";
  auto before = host_tree(root);
  auto spec = dir / "quiet.yaml";
  test::write_text(spec, "name: quiet\noutput: " + (dir / "results").string() + "\ncleanup: keep\n" +
                  "machines:\n  local: {local: true, sudo: false, root: " + root.string() +
                  ", tuning: {profile: quiet}}\n" + kWorkload);
  auto plan = test::run_process({test::binary_path().string(), "plan", spec.string()});
  EXPECT_NE(plan.out.find("\"cstates\":false"), std::string::npos) << "the plan shows what the profile sets: " << plan.out;
  auto r = test::run_process({test::binary_path().string(), "run", "--plain", spec.string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  for (int c = 0; c < 2; ++c) {
    std::string cpu = "sys/devices/system/cpu/cpu" + std::to_string(c);
    EXPECT_EQ(first_line(root / (cpu + "/cpufreq/scaling_governor")), "performance");
    EXPECT_EQ(first_line(root / (cpu + "/cpuidle/state0/disable")), "0") << "POLL stays";
    EXPECT_EQ(first_line(root / (cpu + "/cpuidle/state1/disable")), "1");
    EXPECT_EQ(first_line(root / (cpu + "/cpuidle/state2/disable")), "1");
  }
  EXPECT_EQ(first_line(root / "sys/devices/system/cpu/intel_pstate/no_turbo"), "1");
  EXPECT_EQ(first_line(root / "sys/devices/system/cpu/smt/control"), "off");
  EXPECT_EQ(first_line(root / "proc/sys/kernel/numa_balancing"), "0");

  auto campaign = test::only_campaign(dir / "results", "quiet");
  auto runs = test::runs_of(campaign);
  ASSERT_EQ(runs.size(), 1u);
  const json& t = runs[0]["tuning"]["local"];
  EXPECT_EQ(t["governor"]["value"], "performance") << t.dump(1);
  EXPECT_EQ(t["governor"]["files"], 2);
  EXPECT_EQ(t["cstates"]["files"], 4);
  EXPECT_EQ(t["cstates"]["read_back"], "ok");
  EXPECT_EQ(t["turbo"]["value"], "1");
  EXPECT_EQ(t["smt"]["value"], "off");
  EXPECT_EQ(t["numa_balancing"]["read_back"], "ok");
  EXPECT_TRUE(t.contains("irqbalance")) << t.dump(1);

  auto restore = test::run_process({test::binary_path().string(), "restore", campaign.string()});
  EXPECT_EQ(restore.exit_code, 0) << restore.out << restore.err;
  for (const auto& [p, v] : before) EXPECT_EQ(first_line(root / p) + "\n", v) << p;

  // An explicit key wins over the profile, and the default cleanup undoes the rest itself.
  test::write_text(spec, "name: quiet2\noutput: " + (dir / "results").string() + "\n" +
                  "machines:\n  local: {local: true, sudo: false, root: " + root.string() +
                  ", tuning: {profile: quiet, smt: true, governor: schedutil}}\n" + kWorkload);
  auto again = test::run_process({test::binary_path().string(), "run", "--plain", spec.string()});
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  auto runs2 = test::runs_of(test::only_campaign(dir / "results", "quiet2"));
  ASSERT_EQ(runs2.size(), 1u);
  EXPECT_EQ(runs2[0]["tuning"]["local"]["smt"]["value"], "on");
  EXPECT_EQ(runs2[0]["tuning"]["local"]["governor"]["value"], "schedutil");
  for (const auto& [p, v] : before) EXPECT_EQ(first_line(root / p) + "\n", v) << "after cleanup: restore, " << p;
}

TEST(QuietProfile, ThisMachinesKernelForReal) {
  if (::geteuid() != 0) GTEST_SKIP() << "writes /proc/sys/kernel/numa_balancing: needs root (CI runs as root)";
  const stdfs::path numa = "/proc/sys/kernel/numa_balancing";
  if (!stdfs::exists(numa)) GTEST_SKIP() << "this kernel has no " << numa;
  std::string original = first_line(numa);
  // Start from "on", so that the campaign has something to change.
  { std::ofstream(numa) << "1"; }
  if (first_line(numa) != "1") GTEST_SKIP() << numa << " cannot be set to 1 here (it reads " << first_line(numa) << ")";
  std::vector<std::pair<stdfs::path, std::string>> idle;
  for (int c = 0; stdfs::exists("/sys/devices/system/cpu/cpu" + std::to_string(c)); ++c)
    for (int st = 1; st < 10; ++st) {
      stdfs::path p = "/sys/devices/system/cpu/cpu" + std::to_string(c) + "/cpuidle/state" + std::to_string(st) + "/disable";
      if (stdfs::exists(p)) idle.emplace_back(p, first_line(p));
    }
  test::TempDir dir;
  auto spec = dir / "real.yaml";
  test::write_text(spec, "name: real\noutput: " + (dir / "results").string() + "\n" +
                  "machines:\n  local: {local: true, sudo: false, tuning: {profile: quiet}}\n" + kWorkload);
  auto r = test::run_process({test::binary_path().string(), "run", "--plain", spec.string()});
  std::string numa_after = first_line(numa);
  { std::ofstream(numa) << original; }
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto runs = test::runs_of(test::only_campaign(dir / "results", "real"));
  ASSERT_EQ(runs.size(), 1u);
  const json& t = runs[0]["tuning"]["local"];
  EXPECT_EQ(t["numa_balancing"]["value"], "0") << t.dump(1);
  EXPECT_EQ(t["numa_balancing"]["read_back"], "ok") << "the kernel took it: " << t.dump(1);
  EXPECT_EQ(numa_after, "1") << "put back at the campaign's end";
  if (!idle.empty()) {
    EXPECT_EQ(t["cstates"]["files"], idle.size()) << t.dump(1);
    EXPECT_EQ(t["cstates"]["read_back"], "ok") << t.dump(1);
  }
  for (const auto& [p, v] : idle) EXPECT_EQ(first_line(p), v) << p << " put back";
  // What this machine does not have is said, not failed.
  for (const char* k : {"governor", "smt"})
    if (!t[k].contains("value")) EXPECT_TRUE(t[k].contains("not_applicable")) << k << ": " << t.dump(1);
}

TEST(QuietProfile, NicSettingsWithoutAnInterfaceAreASpecError) {
  test::TempDir dir;
  auto spec = dir / "bad.yaml";
  test::write_text(spec, "name: bad\nmachines:\n  local: {local: true, tuning: {pause_frames: false}}\n" + kWorkload);
  auto r = test::run_process({test::binary_path().string(), "validate", spec.string()});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find("bad.yaml:3:"), std::string::npos) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find("pause_frames and coalesce need 'interface'"), std::string::npos) << r.out << r.err;
}

// doctor reads the knobs' files and says what the profile would change, and that nothing
// is left to change once a campaign (cleanup: keep) has applied it.
TEST(QuietProfile, DoctorSaysWhatItWouldChange) {
  test::TempDir dir;
  auto root = dir / "root";
  host_tree(root);
  auto spec = dir / "doc.yaml";
  test::write_text(spec, "name: doc\noutput: " + (dir / "results").string() + "\ncleanup: keep\n" +
                  "machines:\n  local: {local: true, sudo: false, root: " + root.string() +
                  ", tuning: {profile: quiet}}\n" + kWorkload);
  auto d = test::run_process({test::binary_path().string(), "doctor", spec.string()});
  EXPECT_NE(d.out.find("local: tuning.governor: would change 2 of 2 file(s) of "
                       "/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor from powersave to performance"),
            std::string::npos) << d.out << d.err;
  EXPECT_NE(d.out.find("local: tuning.cstates: would change 4 of 4 file(s)"), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("local: tuning.turbo: would change 1 of 1 file(s) of /sys/devices/system/cpu/intel_pstate/no_turbo "
                       "from 0 to 1"), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("local: tuning.smt: would change 1 of 1 file(s) of /sys/devices/system/cpu/smt/control from on to off"),
            std::string::npos) << d.out;
  stdfs::remove(root / "sys/devices/system/cpu/intel_pstate/no_turbo");
  auto run = test::run_process({test::binary_path().string(), "run", "--plain", spec.string()});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  auto after = test::run_process({test::binary_path().string(), "doctor", spec.string()});
  EXPECT_NE(after.out.find("local: tuning.governor: already performance (2 file(s))"), std::string::npos) << after.out;
  EXPECT_NE(after.out.find("local: tuning.numa_balancing: already 0 (1 file(s))"), std::string::npos) << after.out;
  EXPECT_NE(after.out.find("local: tuning.turbo: not applicable: no /sys/devices/system/cpu/intel_pstate/no_turbo or "
                           "/sys/devices/system/cpu/cpufreq/boost on this machine"), std::string::npos) << after.out;
}
