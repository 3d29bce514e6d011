// Reboot paths through the real iommuvm binary on fake roots:
//  - the controller reboots its own machine (a local host): the campaign stops with exit 75
//    after writing a one-shot systemd resume unit, and the unit's own command line resumes it;
//  - kexec: a fake kexec (tests/data/fake-kexec.sh) records its arguments and "boots" the
//    loaded command line on a host reached over SSH (a real sshd on 127.0.0.1);
//  - runtime: the NIC's IOMMU group type written in a fake sysfs, no reboot.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "campaign_fixture.hpp"
#include "iommuvm/util/fs.hpp"
#include "sshd_fixture.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using nlohmann::json;
namespace stdfs = std::filesystem;

namespace {

void write(const stdfs::path& p, const std::string& s) {
  stdfs::create_directories(p.parent_path());
  std::ofstream(p) << s;
}

// A host's root prefix as a freshly booted Debian host shows it, booted strict.
void make_host_root(const stdfs::path& root) {
  std::string cmdline = "BOOT_IMAGE=/boot/vmlinuz-6.1.0-fake root=/dev/vda1 ro intel_iommu=on iommu.strict=1";
  write(root / "proc/cmdline", cmdline + "\n");
  write(root / "proc/sys/kernel/osrelease", "6.1.0-fake\n");
  write(root / "proc/sys/kernel/random/boot_id", "00000000-0000-4000-8000-000000000001\n");
  write(root / "proc/cpuinfo", "processor\t: 0\nmodel name\t: Test CPU @ 2.00GHz\n");
  write(root / "var/log/dmesg", "[    0.000000] Linux version 6.1.0-fake\n[    0.000000] Command line: " + cmdline +
                                    "\n[    0.010000] DMAR: IOMMU enabled\n"
                                    "[    1.000000] iommu: Default domain type: Translated (set via kernel command line)\n"
                                    "[    1.000001] iommu: DMA domain TLB invalidation policy: strict mode (set via kernel command line)\n"
                                    "[    1.100000] DMAR: Intel(R) Virtualization Technology for Directed I/O\n");
  write(root / "sys/kernel/iommu_groups/0/type", "DMA\n");
  stdfs::create_directories(root / "sys/class/iommu/dmar0");
  write(root / "boot/vmlinuz-6.1.0-fake", "not really a kernel\n");
  write(root / "boot/initrd.img-6.1.0-fake", "not really an initrd\n");
  stdfs::create_directories(root / "etc/grub.d");
  stdfs::create_directories(root / "etc/default");
  stdfs::copy_file(test::data_path("grub/grub-default-testbed"), root / "etc/default/grub");
}

using test::only_campaign;
using test::read_json;
using test::runs_of;

std::vector<json> journal_of(const stdfs::path& campaign, const std::string& kind) {
  std::vector<json> out;
  std::ifstream in(campaign / "journal.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    auto j = json::parse(line);
    if (j["kind"] == kind) out.push_back(j);
  }
  return out;
}

// A custom workload on the host: a server that sleeps, a client that prints a number.
const char* kWorkload =
    "workloads:\n"
    "  steady:\n    kind: custom\n    server: {command: [sleep, '30'], ready: none}\n"
    "    client: {command: [sh, -c, 'sleep 0.2; echo ops=1234'], metrics: {throughput_ops: 'ops=([0-9]+)'}}\n";

// The words of a systemd Exec*= line, unquoted the way systemd does it for what
// shell::systemd_quote writes: double-quoted words with \" and \\ escapes, %% and $$.
std::vector<std::string> systemd_words(const std::string& line) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    if (i >= line.size()) break;
    EXPECT_EQ(line[i], '"') << "every word is quoted: " << line;
    std::string w;
    for (++i; i < line.size() && line[i] != '"'; ++i) {
      if (line[i] == '\\' && i + 1 < line.size()) w += line[++i];
      else if ((line[i] == '%' || line[i] == '$') && i + 1 < line.size() && line[i + 1] == line[i]) w += line[i++];
      else w += line[i];
    }
    ++i;
    out.push_back(w);
  }
  return out;
}

std::string percent_doubled(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '%' ? std::string("%%") : std::string(1, c);
  return out;
}

std::string unit_setting(const std::string& unit, const std::string& key) {
  std::istringstream in(unit);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + "=", 0) == 0) return line.substr(key.size() + 1);
  return "";
}

void wait_for_boot_id_change(const stdfs::path& root, const std::string& before) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::read_file(root / "proc/sys/kernel/random/boot_id") != before) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL() << "the fake reboot never changed the boot id";
}

// The controller runs on the host it reboots. Two host policies; the host boots strict, so
// the first group needs no reboot and the second one reboots the controller's own machine.
TEST(SelfReboot, StopsWithAResumeUnitAndTheUnitResumesTheCampaign) {
  test::TempDir dir;
  auto root = dir / "root";
  make_host_root(root);
  // A folder name the unit has to quote: a space, '%' (a systemd specifier) and '$'.
  auto work = dir / "my campaign 100% $HOME";
  stdfs::create_directories(work);
  std::string spec = "name: selfboot\noutput: results\nmachines:\n  host:\n    local: true\n    root: " + root.string() +
                     "\n    grub_update: \"true\"\n    reboot:\n      command: [sh, " +
                     test::data_path("fake-reboot.sh").string() + ", " + root.string() + "]\n" +
                     "      after: [\"touch " + (root / "after-hook-ran").string() + "\"]\n" +
                     "policy:\n  host: {policy: [strict, passthrough], method: grub}\n" + kWorkload +
                     "matrix: {repetitions: 2}\n";
  write(work / "specs/self reboot.yaml", spec);
  // Started from WORK with a relative spec path, as a user would.
  auto first = test::run_process({"sh", "-c", "cd \"$1\" && exec \"$2\" run \"specs/self reboot.yaml\"", "sh", work.string(),
                                  test::binary_path().string()});
  ASSERT_EQ(first.exit_code, 75) << first.out << first.err;
  EXPECT_NE(first.out.find("resumes after the boot"), std::string::npos) << first.out;

  auto campaign = only_campaign(work / "results", "selfboot");
  EXPECT_EQ(read_json(campaign / "campaign.json")["status"], "rebooting");
  auto state = read_json(campaign / "resume.json");
  EXPECT_EQ(state["machine"], "host");
  EXPECT_EQ(state["boot_id_before"], "00000000-0000-4000-8000-000000000001");
  // The strict runs were measured before the reboot; the passthrough ones were not.
  auto before = runs_of(campaign);
  ASSERT_EQ(before.size(), 2u);
  for (const auto& r : before) EXPECT_EQ(r["params"]["policy.host.policy"], "strict") << r.dump(1);
  // The strict group needed no reboot (skipped); the passthrough one is rebooting.
  auto reboots = journal_of(campaign, "host.reboot");
  ASSERT_EQ(reboots.size(), 2u);
  EXPECT_EQ(reboots[0]["status"], "skipped");
  EXPECT_EQ(reboots[1]["status"], "rebooting");

  // The unit, enabled the way `systemctl enable` does it.
  auto unit_path = root / "etc/systemd/system/iommuvm-resume.service";
  auto wants = root / "etc/systemd/system/multi-user.target.wants/iommuvm-resume.service";
  ASSERT_TRUE(stdfs::exists(unit_path));
  ASSERT_TRUE(stdfs::is_symlink(wants));
  EXPECT_EQ(stdfs::read_symlink(wants), unit_path);
  std::string unit = fs::read_file(unit_path);
  SCOPED_TRACE(unit);
  EXPECT_EQ(unit_setting(unit, "Type"), "oneshot");
  EXPECT_EQ(unit_setting(unit, "WantedBy"), "multi-user.target");
  EXPECT_EQ(unit_setting(unit, "After"), "network-online.target");
  EXPECT_EQ(unit_setting(unit, "TimeoutStartSec"), "infinity");
  // Specifiers are escaped in plain settings too.
  EXPECT_EQ(unit_setting(unit, "WorkingDirectory"), dir.path().string() + "/my campaign 100%% $HOME");
  EXPECT_EQ(unit_setting(unit, "ConditionPathExists"), percent_doubled(stdfs::absolute(campaign / "resume.json").string()));
  EXPECT_EQ(systemd_words(unit_setting(unit, "ExecStartPre").substr(std::string("+/bin/rm -f ").size())),
            std::vector<std::string>{wants.string()});
  auto argv = systemd_words(unit_setting(unit, "ExecStart"));
  EXPECT_NE(unit_setting(unit, "ExecStart").find("\"" + dir.path().string() + "/my campaign 100%% $$HOME/specs/self reboot.yaml\""),
            std::string::npos);
  std::vector<std::string> expected = {stdfs::canonical(test::binary_path()).string(), "run",
                                       (work / "specs/self reboot.yaml").string(), "-o", (work / "results").string()};
  EXPECT_EQ(argv, expected);
  // Every change is in the undo log.
  std::string undo = fs::read_file(campaign / "undo.jsonl");
  EXPECT_NE(undo.find("/etc/systemd/system/iommuvm-resume.service"), std::string::npos);
  EXPECT_NE(undo.find("multi-user.target.wants"), std::string::npos);

  // The machine "reboots" (fake-reboot.sh: /proc/cmdline from GRUB, new boot id).
  wait_for_boot_id_change(root, "00000000-0000-4000-8000-000000000001\n");
  EXPECT_NE(fs::read_file(root / "proc/cmdline").find("iommu.passthrough=1"), std::string::npos);

  // systemd starts the unit: its command, in its working folder, from somewhere else.
  std::vector<std::string> resume = {"sh", "-c", "cd \"$1\" && shift && exec \"$@\"", "sh", work.string()};
  resume.insert(resume.end(), argv.begin(), argv.end());
  auto second = test::run_process(resume);
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  EXPECT_NE(second.out.find("Resuming"), std::string::npos) << second.out;
  EXPECT_NE(second.out.find("is back (boot id 00000000"), std::string::npos) << second.out;
  EXPECT_TRUE(stdfs::exists(root / "after-hook-ran")) << "reboot.after runs after the resumed boot";

  EXPECT_FALSE(stdfs::exists(unit_path));
  EXPECT_FALSE(stdfs::exists(wants) || stdfs::is_symlink(wants));
  EXPECT_FALSE(stdfs::exists(campaign / "resume.json"));
  EXPECT_EQ(read_json(campaign / "campaign.json")["status"], "finished");
  auto all = runs_of(campaign);
  ASSERT_EQ(all.size(), 4u);
  int passthrough = 0;
  for (const auto& r : all) {
    SCOPED_TRACE(r.dump(1).substr(0, 1500));
    EXPECT_EQ(r["status"], "ok");
    std::string requested = r["params"]["policy.host.policy"];
    EXPECT_EQ(r["policy"]["host"]["effective"], requested);
    EXPECT_EQ(r["policy"]["host"]["match"], true);
    if (requested == "passthrough") {
      ++passthrough;
      EXPECT_NE(r["policy"]["host"]["boot_id"], "00000000-0000-4000-8000-000000000001");
    }
    for (const auto& old : before)
      if (old["id"] == r["id"]) {
        EXPECT_EQ(old["started_at"], r["started_at"]) << "run " << r["id"] << " was repeated";
      }
  }
  EXPECT_EQ(passthrough, 2);
  // One reboot only: rebooting, then ok in the new boot; the GRUB edit was not made twice.
  reboots = journal_of(campaign, "host.reboot");
  ASSERT_EQ(reboots.size(), 3u);
  EXPECT_EQ(reboots[2]["status"], "ok");
  int set_policy_ok = 0;
  for (const auto& j : journal_of(campaign, "host.set_policy")) set_policy_ok += j["status"] == "ok";
  EXPECT_EQ(set_policy_ok, 1);
  // cleanup: restore put GRUB back.
  EXPECT_EQ(fs::read_file(root / "etc/default/grub"), fs::read_file(test::data_path("grub/grub-default-testbed")));
}

// A resumed start in the same boot (the reboot never happened) does not measure under the
// old policy: the reboot counts as failed and is retried, which stops the campaign again.
TEST(SelfReboot, UnchangedBootIdIsNotTakenForAReboot) {
  test::TempDir dir;
  auto root = dir / "root";
  make_host_root(root);
  // A "reboot" that does nothing.
  std::string spec = "name: noboot\noutput: " + (dir / "results").string() + "\nmachines:\n  host:\n    local: true\n    root: " +
                     root.string() + "\n    grub_update: \"true\"\n    reboot: {command: \"true\"}\n" +
                     "policy:\n  host: {policy: passthrough, method: grub}\n" + kWorkload;
  write(dir / "noboot.yaml", spec);
  auto first = test::run_process({test::binary_path().string(), "run", (dir / "noboot.yaml").string()});
  ASSERT_EQ(first.exit_code, 75) << first.out << first.err;
  auto second = test::run_process({test::binary_path().string(), "run", (dir / "noboot.yaml").string()});
  EXPECT_EQ(second.exit_code, 75) << second.out << second.err;
  EXPECT_NE((second.out + second.err).find("did not reboot"), std::string::npos) << second.out << second.err;
  auto campaign = only_campaign(dir / "results", "noboot");
  EXPECT_TRUE(runs_of(campaign).empty());
  EXPECT_TRUE(stdfs::exists(root / "etc/systemd/system/iommuvm-resume.service"));
  EXPECT_EQ(read_json(campaign / "campaign.json")["status"], "rebooting");
}

class SshHost : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = test::Sshd::unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    sshd_.supervise();
    sshd_.start();
    make_host_root(dir_ / "host");
  }
  // A campaign NAME switching the host (over SSH, under its root prefix) to passthrough with
  // the persistent GRUB method and the fake reboot; EXTRA: more top-level keys.
  std::string persistent_grub_spec(const std::string& name, const std::string& extra) {
    auto root = dir_ / "host";
    return "name: " + name + "\noutput: " + (dir_ / "results").string() + "\n" + extra +
           "machines:\n  host:\n    ssh: {host: 127.0.0.1, port: " + std::to_string(sshd_.port()) + ", user: " + sshd_.user() +
           ", key: " + sshd_.client_key().string() + ", known_hosts: " + sshd_.known_hosts().string() + "}\n    root: " +
           root.string() + "\n    grub_update: \"true\"\n    reboot:\n      command: [sh, " +
           test::data_path("fake-reboot.sh").string() + ", " + root.string() + ", " + sshd_.pid_file().string() +
           "]\n      timeout: 60s\n      expected: 2s\n" +
           "  client: {local: true}\n"
           "policy:\n  host: {policy: passthrough, method: grub}\n" +
           "workloads:\n  steady:\n    kind: custom\n    server: {machine: host, port: " + std::to_string(test::free_port()) +
           ", command: [sleep, '30'], ready: none}\n"
           "    client: {machine: client, command: [sh, -c, 'echo ops=77'], metrics: {throughput_ops: 'ops=([0-9]+)'}}\n";
  }
  test::TempDir dir_;
  test::Sshd sshd_;
};

// kexec into the running kernel with each policy's command line, over SSH; the fake kexec
// "boots" what was loaded.
TEST_F(SshHost, LoadsTheRewrittenCommandLineAndBootsIt) {
  auto root = dir_ / "host";
  std::string fake = "[sh, " + test::data_path("fake-kexec.sh").string() + ", " + root.string() + ", " +
                     sshd_.pid_file().string();
  std::string spec = "name: kexec\noutput: " + (dir_ / "results").string() + "\nmachines:\n  host:\n    ssh: {host: 127.0.0.1, port: " +
                     std::to_string(sshd_.port()) + ", user: " + sshd_.user() + ", key: " + sshd_.client_key().string() +
                     ", known_hosts: " + sshd_.known_hosts().string() + "}\n    root: " + root.string() +
                     "\n    kexec: {command: " + fake + "], exec: " + fake + ", -e]}\n    reboot: {timeout: 60s}\n" +
                     "  client: {local: true}\n"
                     "policy:\n  host: {policy: [passthrough, lazy], method: kexec}\n" +
                     "workloads:\n  steady:\n    kind: custom\n    server: {machine: host, port: " + std::to_string(test::free_port()) + ", command: [sleep, '30'], ready: none}\n"
                     "    client: {machine: client, command: [sh, -c, 'echo ops=77'], metrics: {throughput_ops: 'ops=([0-9]+)'}}\n";
  write(dir_ / "kexec.yaml", spec);
  auto r = test::run_process({test::binary_path().string(), "run", (dir_ / "kexec.yaml").string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;

  // Two loads and two jumps, in order, with the kernel and initrd from /boot under the root.
  std::vector<std::vector<std::string>> calls(1);
  {
    std::ifstream in(root / "var/log/kexec.log");
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) calls.emplace_back();
      else calls.back().push_back(line);
    }
    calls.pop_back();
  }
  std::string kernel = (root / "boot/vmlinuz-6.1.0-fake").string();
  std::string initrd = "--initrd=" + (root / "boot/initrd.img-6.1.0-fake").string();
  std::vector<std::vector<std::string>> expected = {
      {"-l", kernel, initrd, "--command-line=root=/dev/vda1 ro intel_iommu=on iommu.passthrough=1"},
      {"-e"},
      // From the kexec'd boot (no BOOT_IMAGE= any more), rewritten for lazy.
      {"-l", kernel, initrd, "--command-line=root=/dev/vda1 ro intel_iommu=on iommu.strict=0 iommu.passthrough=0"},
      {"-e"}};
  EXPECT_EQ(calls, expected);

  auto campaign = only_campaign(dir_ / "results", "kexec");
  auto runs = runs_of(campaign);
  ASSERT_EQ(runs.size(), 2u);
  for (const auto& run : runs) {
    SCOPED_TRACE(run.dump(1).substr(0, 1500));
    EXPECT_EQ(run["status"], "ok");
    std::string requested = run["params"]["policy.host.policy"];
    EXPECT_EQ(run["policy"]["host"]["effective"], requested);
    EXPECT_EQ(run["policy"]["host"]["match"], true);
    EXPECT_EQ(run["policy"]["host"]["cmdline"].get<std::string>().rfind("root=/dev/vda1 ro intel_iommu=on", 0), 0u);
  }
  int reboots = 0;
  for (const auto& j : journal_of(campaign, "host.reboot")) reboots += j["status"] == "ok";
  EXPECT_EQ(reboots, 2);
  // Nothing persistent changed: GRUB is as it was.
  EXPECT_EQ(fs::read_file(root / "etc/default/grub"), fs::read_file(test::data_path("grub/grub-default-testbed")));
}

TEST_F(SshHost, MissingKernelFailsTheSwitchNotTheCampaign) {
  auto root = dir_ / "host";
  stdfs::remove(root / "boot/vmlinuz-6.1.0-fake");
  std::string spec = "name: nokernel\noutput: " + (dir_ / "results").string() + "\nmachines:\n  host:\n    local: true\n    root: " +
                     root.string() + "\n    kexec: {command: [sh, " + test::data_path("fake-kexec.sh").string() + ", " +
                     root.string() + ", '']}\n"
                     "policy:\n  host: {policy: passthrough, method: kexec}\n" + kWorkload;
  write(dir_ / "nokernel.yaml", spec);
  auto r = test::run_process({test::binary_path().string(), "run", (dir_ / "nokernel.yaml").string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  auto runs = runs_of(only_campaign(dir_ / "results", "nokernel"));
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["status"], "failed");
  EXPECT_NE(runs[0]["reason"].get<std::string>().find("boot/vmlinuz-6.1.0-fake does not exist"), std::string::npos) << runs[0]["reason"];
  EXPECT_FALSE(stdfs::exists(root / "var/log/kexec.log")) << "kexec was not called";
}

// A guest that boots from its own disk: its policy goes through its GRUB over SSH (the
// persistent edit), a reboot inside it (fake-reboot.sh on its root), its new boot id, and
// the verification. The domain lives on libvirt's test driver.
TEST_F(SshHost, GuestPolicyThroughItsOwnGrubOverSsh) {
  auto host = dir_ / "host";
  auto guest = dir_ / "guest";
  make_host_root(guest);
  std::string ssh = "{host: 127.0.0.1, port: " + std::to_string(sshd_.port()) + ", user: " + sshd_.user() +
                    ", key: " + sshd_.client_key().string() + ", known_hosts: " + sshd_.known_hosts().string() + "}";
  std::string spec = "name: guestgrub\noutput: " + (dir_ / "results").string() + "\nmachines:\n  host: {local: true, root: " +
                     host.string() + "}\n  guest:\n    ssh: " + ssh + "\n    root: " + guest.string() +
                     "\n    grub_update: \"true\"\n    reboot:\n      command: [sh, " + test::data_path("fake-reboot.sh").string() +
                     ", " + guest.string() + ", " + sshd_.pid_file().string() + "]\n      timeout: 60s\n" +
                     "hypervisor: {uri: 'test://" + test::data_path("libvirt/libvirt-test-node.xml").string() + "', machine: host}\n" +
                     "guests:\n  vm: {machine: guest, domain: e2e-guestgrub, template: " +
                     test::data_path("domains/network-server.xml").string() + ", vcpus: 2, memory_mib: 1024, viommu: intel}\n" +
                     "policy:\n  guest: {policy: [strict, passthrough], method: grub}\n" +
                     "workloads:\n  steady:\n    kind: custom\n    server: {machine: guest, port: " + std::to_string(test::free_port()) + ", command: [sleep, '30'], ready: none}\n"
                     "    client: {machine: host, command: [sh, -c, 'echo ops=5'], metrics: {throughput_ops: 'ops=([0-9]+)'}}\n";
  write(dir_ / "guestgrub.yaml", spec);
  auto r = test::run_process({test::binary_path().string(), "run", (dir_ / "guestgrub.yaml").string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("guest e2e-guestgrub already boots with strict"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("guest is back (boot id 00000000"), std::string::npos) << r.out;

  auto campaign = only_campaign(dir_ / "results", "guestgrub");
  auto runs = runs_of(campaign);
  ASSERT_EQ(runs.size(), 2u);
  std::map<std::string, std::string> boot_ids;
  for (const auto& run : runs) {
    SCOPED_TRACE(run.dump(1).substr(0, 2500));
    EXPECT_EQ(run["status"], "ok");
    std::string requested = run["params"]["policy.guest.policy"];
    const auto& ev = run["policy"]["guests"]["vm"];
    EXPECT_EQ(ev["requested"], requested);
    EXPECT_EQ(ev["effective"], requested);
    EXPECT_EQ(ev["match"], true);
    boot_ids[requested] = ev["boot_id"];
    // The direct-boot command line was left alone: the guest's GRUB carries the policy.
    EXPECT_EQ(run["system"]["domain_xml"]["vm"].get<std::string>().find("intel_iommu="), std::string::npos);
  }
  // strict was in effect already (no reboot); passthrough needed the GRUB edit and a reboot.
  EXPECT_EQ(boot_ids["strict"], "00000000-0000-4000-8000-000000000001");
  EXPECT_NE(boot_ids["passthrough"], boot_ids["strict"]);
  EXPECT_NE(fs::read_file(guest / "proc/cmdline").find("iommu.passthrough=1"), std::string::npos);
  // The edit was backed up and journaled on the guest, and cleanup put the file back and
  // removed the backup.
  auto backups = test::journaled_backups(campaign, "guest");
  ASSERT_EQ(backups.size(), 1u);
  EXPECT_EQ(backups[0].rfind("/etc/default/grub.iommuvm-", 0), 0u) << backups[0];
  EXPECT_FALSE(stdfs::exists(guest / backups[0].substr(1))) << "removed once restored";
  auto undo = fs::read_file(campaign / "undo.jsonl");
  EXPECT_NE(undo.find("\"machine\":\"guest\""), std::string::npos) << undo;
  EXPECT_EQ(fs::read_file(guest / "etc/default/grub"), fs::read_file(test::data_path("grub/grub-default-testbed")));
}

// The runtime method on a fake sysfs: the NIC's group type is rewritten between unbind and
// bind, no reboot, and verified from the group types.
TEST(Runtime, WritesTheGroupTypeOfTheNicAndVerifiesIt) {
  test::TempDir dir;
  auto root = dir / "root";
  make_host_root(root);
  const std::string bdf = "0000:65:00.0";
  stdfs::remove_all(root / "sys/kernel/iommu_groups");
  write(root / "sys/kernel/iommu_groups/7/type", "DMA\n");
  stdfs::create_directories(root / "sys/kernel/iommu_groups/7/devices");
  stdfs::create_directories(root / "sys/bus/pci/drivers/ice");
  write(root / "sys/bus/pci/drivers/ice/bind", "");
  write(root / "sys/bus/pci/drivers/ice/unbind", "");
  auto dev = root / "sys/devices/pci0000:64" / bdf;
  write(dev / "sriov_totalvfs", "0\n");
  write(dev / "sriov_numvfs", "0\n");
  stdfs::create_directories(root / "sys/bus/pci/devices");
  stdfs::create_directory_symlink("../../../devices/pci0000:64/" + bdf, root / "sys/bus/pci/devices" / bdf);
  stdfs::create_directory_symlink("../../../kernel/iommu_groups/7", dev / "iommu_group");
  stdfs::create_directory_symlink("../../../bus/pci/drivers/ice", dev / "driver");
  stdfs::create_directory_symlink("../../../../devices/pci0000:64/" + bdf, root / "sys/kernel/iommu_groups/7/devices" / bdf);

  // lazy first (a switch), then strict (a switch back: /proc/cmdline still says strict,
  // but the group does not).
  std::string spec = "name: runtime\noutput: " + (dir / "results").string() + "\nmachines:\n  host:\n    local: true\n    root: " +
                     root.string() + "\n    reboot: {command: \"false\"}\nnic: {pci: \"" + bdf + "\"}\n" +
                     "policy:\n  host: {policy: [lazy, strict], method: runtime}\n" + kWorkload;
  write(dir / "runtime.yaml", spec);
  auto r = test::run_process({test::binary_path().string(), "run", (dir / "runtime.yaml").string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto campaign = only_campaign(dir / "results", "runtime");
  auto runs = runs_of(campaign);
  ASSERT_EQ(runs.size(), 2u);
  for (const auto& run : runs) {
    SCOPED_TRACE(run.dump(1).substr(0, 1500));
    EXPECT_EQ(run["status"], "ok");
    std::string requested = run["params"]["policy.host.policy"];
    EXPECT_EQ(run["policy"]["host"]["effective"], requested);
    EXPECT_EQ(run["policy"]["host"]["match"], true);
    EXPECT_EQ(run["policy"]["host"]["boot_id"], "00000000-0000-4000-8000-000000000001") << "no reboot";
  }
  EXPECT_EQ(fs::read_file(root / "sys/kernel/iommu_groups/7/type"), "DMA");
  EXPECT_EQ(fs::read_file(root / "sys/bus/pci/drivers/ice/unbind"), bdf);
  EXPECT_EQ(fs::read_file(root / "sys/bus/pci/drivers/ice/bind"), bdf);
  // The writes, in order, in the undo log: unbind, type, bind; twice.
  std::vector<std::string> writes;
  for (const auto& line : [&] {
         std::vector<std::string> v;
         std::ifstream in(campaign / "undo.jsonl");
         for (std::string l; std::getline(in, l);) v.push_back(l);
         return v;
       }()) {
    auto j = json::parse(line);
    if (j["action"] == "sysfs_write") writes.push_back(j["path"].get<std::string>() + "=" + j["value"].get<std::string>());
  }
  std::vector<std::string> expected = {"/sys/bus/pci/drivers/ice/unbind=" + bdf, "/sys/kernel/iommu_groups/7/type=DMA-FQ",
                                       "/sys/bus/pci/drivers/ice/bind=" + bdf,   "/sys/bus/pci/drivers/ice/unbind=" + bdf,
                                       "/sys/kernel/iommu_groups/7/type=DMA",    "/sys/bus/pci/drivers/ice/bind=" + bdf};
  EXPECT_EQ(writes, expected);
  EXPECT_TRUE(journal_of(campaign, "host.reboot").empty()) << "the runtime method does not reboot";
}

}  // namespace

// The persistent GRUB method on a host whose command line comes from a drop-in
// (/etc/default/grub.d/*.cfg, sourced after /etc/default/grub, as on cloud images): the drop-in's
// assignment is the one in effect, so that is the one edited (with a backup), the main file is
// left alone, the fake reboot sources both as grub-mkconfig does, and the end of the campaign
// puts the drop-in back.
TEST_F(SshHost, PersistentGrubEditsTheDropInInEffect) {
  auto root = dir_ / "host";
  const std::string dropin = "# cloud image settings\nGRUB_CMDLINE_LINUX_DEFAULT=\"console=ttyS0 intel_iommu=on iommu.strict=1\"\n";
  write(root / "etc/default/grub.d/50-cloudimg.cfg", dropin);
  write(root / "etc/default/grub.d/README", "not sourced: no .cfg\n");
  write(dir_ / "dropin.yaml", persistent_grub_spec("dropin", ""));
  auto r = test::run_process({test::binary_path().string(), "run", (dir_ / "dropin.yaml").string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;

  auto campaign = only_campaign(dir_ / "results", "dropin");
  auto runs = runs_of(campaign);
  ASSERT_EQ(runs.size(), 1u);
  SCOPED_TRACE(runs[0].dump(1).substr(0, 1500));
  EXPECT_EQ(runs[0]["status"], "ok");
  EXPECT_EQ(runs[0]["policy"]["host"]["effective"], "passthrough");
  // Booted from the edited drop-in: its other parameter is still there, the policy replaced.
  std::string cmdline = runs[0]["policy"]["host"]["cmdline"];
  EXPECT_NE(cmdline.find("console=ttyS0"), std::string::npos) << cmdline;
  EXPECT_NE(cmdline.find("iommu.passthrough=1"), std::string::npos) << cmdline;
  EXPECT_EQ(cmdline.find("iommu.strict=1"), std::string::npos) << cmdline;

  // The main file was never touched; the drop-in was backed up (a name grub-mkconfig does not
  // source) and restored at the end.
  EXPECT_EQ(fs::read_file(root / "etc/default/grub"), fs::read_file(test::data_path("grub/grub-default-testbed")));
  EXPECT_EQ(fs::read_file(root / "etc/default/grub.d/50-cloudimg.cfg"), dropin);
  auto backups = test::journaled_backups(campaign, "host");
  ASSERT_EQ(backups.size(), 1u);
  EXPECT_EQ(backups[0].rfind("/etc/default/grub.d/50-cloudimg.cfg.iommuvm-", 0), 0u) << backups[0];
  EXPECT_FALSE(backups[0].ends_with(".cfg"));
  EXPECT_FALSE(stdfs::exists(root / backups[0].substr(1))) << "removed once restored";
  for (const auto& e : stdfs::directory_iterator(root / "etc/default/grub.d"))
    EXPECT_EQ(e.path().filename().string().find("iommuvm"), std::string::npos) << "left behind: " << e.path();
  std::ifstream undo(campaign / "undo.jsonl");
  std::string line, paths;
  while (std::getline(undo, line)) {
    auto j = json::parse(line);
    if (j.value("action", "") == "restore_file") paths += j.value("path", "") + ";";
  }
  EXPECT_EQ(paths, "/etc/default/grub.d/50-cloudimg.cfg;") << "only the drop-in was changed";
}

// A symlinked /etc/default/grub (a relative link here, under the root prefix) is edited
// through the link over SSH: the link stays, its target gets the new text and keeps its
// mode; restore puts the target's text back through the link and removes the backup.
TEST_F(SshHost, PersistentGrubWritesThroughASymlinkKeepingTheTarget) {
  auto root = dir_ / "host";
  auto target = root / "etc/grub-files/grub";
  write(target, fs::read_file(root / "etc/default/grub"));
  stdfs::permissions(target, stdfs::perms::owner_read | stdfs::perms::owner_write | stdfs::perms::group_read);
  stdfs::remove(root / "etc/default/grub");
  stdfs::create_symlink("../grub-files/grub", root / "etc/default/grub");
  const std::string original = fs::read_file(target);
  write(dir_ / "link.yaml", persistent_grub_spec("link", "cleanup: keep\n"));
  auto r = test::run_process({test::binary_path().string(), "run", (dir_ / "link.yaml").string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto campaign = only_campaign(dir_ / "results", "link");
  EXPECT_EQ(runs_of(campaign).at(0)["policy"]["host"]["effective"], "passthrough");
  EXPECT_TRUE(stdfs::is_symlink(root / "etc/default/grub")) << "the link stays a link";
  EXPECT_NE(fs::read_file(target).find("iommu.passthrough=1"), std::string::npos);
  EXPECT_EQ(stdfs::status(target).permissions() & stdfs::perms::all,
            stdfs::perms::owner_read | stdfs::perms::owner_write | stdfs::perms::group_read);
  int in_target_folder = 0;
  for ([[maybe_unused]] const auto& e : stdfs::directory_iterator(target.parent_path())) ++in_target_folder;
  EXPECT_EQ(in_target_folder, 1) << "no temporary file left next to the target";
  auto backups = test::journaled_backups(campaign, "host");
  ASSERT_EQ(backups.size(), 1u);
  EXPECT_EQ(fs::read_file(root / backups[0].substr(1)), original);

  auto restore = test::run_process({test::binary_path().string(), "restore", campaign.string()});
  EXPECT_EQ(restore.exit_code, 0) << restore.out << restore.err;
  EXPECT_NE(restore.out.find("removed backup " + backups[0] + " on host"), std::string::npos) << restore.out;
  EXPECT_TRUE(stdfs::is_symlink(root / "etc/default/grub"));
  EXPECT_EQ(fs::read_file(target), original);
  EXPECT_FALSE(stdfs::exists(root / backups[0].substr(1)));
}

// A GRUB file that iommuvm's editor accepts but sh does not parse (`if then fi`), or whose
// sourcing stops grub-mkconfig (`exit 3`): the edit is checked on the machine in its
// temporary file and refused; the old file stays byte for byte and nothing reboots.
TEST(GrubCheck, AnEditThatShDoesNotAcceptReplacesNothing) {
  for (const std::string bad : {"if then fi", "exit 3"}) {
    SCOPED_TRACE(bad);
    test::TempDir dir;
    auto root = dir / "root";
    make_host_root(root);
    std::string original = "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n" + bad + "\n";
    write(root / "etc/default/grub", original);
    std::string spec = "name: shcheck\noutput: " + (dir / "results").string() + "\nmachines:\n  host:\n    local: true\n    root: " +
                       root.string() + "\n    grub_update: \"true\"\n    reboot: {command: \"true\"}\n" +
                       "policy:\n  host: {policy: passthrough, method: grub}\n" + kWorkload;
    write(dir / "shcheck.yaml", spec);
    auto r = test::run_process({test::binary_path().string(), "run", "--plain", (dir / "shcheck.yaml").string()});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    std::string all = r.out + r.err;
    auto campaign = only_campaign(dir / "results", "shcheck");
    for (const auto& run : runs_of(campaign)) all += run.dump();
    EXPECT_NE(all.find(bad == "exit 3" ? "sourcing the edited" : "does not parse as sh; nothing written"), std::string::npos)
        << all.substr(0, 3000);
    EXPECT_EQ(fs::read_file(root / "etc/default/grub"), original);
    for (const auto& e : stdfs::directory_iterator(root / "etc/default"))
      EXPECT_EQ(e.path().filename().string().find(".grub.iommuvm-"), std::string::npos) << "no temporary file left: " << e.path();
  }
}
