// Whole campaigns through the real iommuvm binary. Host, guest and client are three
// simulated machines, all reached over SSH on 127.0.0.1 (a real sshd this test starts),
// each with its own root prefix (a fake /proc, /sys, /etc). The guest is defined on
// libvirt's test driver; host policies are switched by editing the fake GRUB file and a
// simulated reboot (tests/data/fake-reboot.sh: new /proc/cmdline, kernel log, IOMMU
// groups, boot id; sshd killed and started again). Servers and load generators are real.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
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

// A machine's root prefix as a freshly booted Debian host shows it.
void make_root(const stdfs::path& root, const std::string& cmdline, const std::string& group_type) {
  write(root / "proc/cmdline", cmdline + "\n");
  write(root / "proc/sys/kernel/osrelease", "6.1.0-fake\n");
  write(root / "proc/sys/kernel/random/boot_id", "00000000-0000-4000-8000-000000000001\n");
  write(root / "proc/cpuinfo", "processor\t: 0\nmodel name\t: Test CPU @ 2.00GHz\n");
  write(root / "var/log/dmesg", "[    0.000000] Linux version 6.1.0-fake\n[    0.000000] Command line: " + cmdline +
                                    "\n[    0.010000] DMAR: IOMMU enabled\n"
                                    "[    1.000000] iommu: Default domain type: Translated (set via kernel command line)\n"
                                    "[    1.000001] iommu: DMA domain TLB invalidation policy: strict mode (set via kernel command line)\n");
  if (!group_type.empty()) {
    write(root / "sys/kernel/iommu_groups/0/type", group_type + "\n");
    stdfs::create_directories(root / "sys/class/iommu/dmar0");
  }
  stdfs::create_directories(root / "etc/grub.d");
  stdfs::create_directories(root / "etc/default");
  stdfs::copy_file(test::data_path("grub/grub-default-testbed"), root / "etc/default/grub");
}

// The host's ConnectX-6 PF in sysfs (no VFs yet, no net interface: MACs are then left to libvirt).
void make_sriov_host(const stdfs::path& root) {
  auto pf = root / "sys/bus/pci/devices/0000:ca:00.0";
  write(pf / "sriov_totalvfs", "8\n");
  write(pf / "sriov_numvfs", "0\n");
  stdfs::create_directories(root / "sys/bus/pci/drivers/mlx5_core");
  stdfs::create_directory_symlink("../../../../bus/pci/drivers/mlx5_core", pf / "driver");
}

constexpr const char* kVfMac = "52:54:00:36:54:b4";

// The guest's VF, found by its MAC. Its counters are those of this machine's real loopback
// interface, which the load to 127.0.0.1 really crosses (FROZEN: fixed counters that nothing moves,
// as a VF the traffic bypassed).
void make_guest_vf(const stdfs::path& root, bool frozen) {
  auto vf = root / "sys/class/net/enp8s0";
  write(vf / "address", std::string(kVfMac) + "\n");
  write(root / "sys/class/net/enp1s0/address", "52:54:00:ba:6d:b5\n");
  if (frozen)
    for (const char* f : {"rx_bytes", "rx_packets", "tx_bytes", "tx_packets"}) write(vf / "statistics" / f, "1234\n");
  else
    stdfs::create_directory_symlink("/sys/class/net/lo/statistics", vf / "statistics");
}

using test::only_campaign;
using test::read_json;
using test::runs_of;

// Processes whose command line mentions NEEDLE (our servers and generators live under
// /tmp/iommuvm/<campaign-id>/).
std::vector<std::string> processes_matching(const std::string& needle) {
  std::vector<std::string> out;
  for (const auto& e : stdfs::directory_iterator("/proc")) {
    auto name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "cmdline");
    std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::replace(cmd.begin(), cmd.end(), '\0', ' ');
    if (cmd.find(needle) != std::string::npos && cmd.find("pgrep") == std::string::npos) out.push_back(name + ": " + cmd);
  }
  return out;
}

class Campaign : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = test::Sshd::unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    for (const char* p : {"redis-server", "redis-benchmark", "nginx", "wrk", "memcached", "memcaslap"})
      if (!test::have_program(p)) GTEST_SKIP() << p << " is not installed (scripts/setup.sh installs it)";
    if (auto why = test::jsonschema_unavailable(); !why.empty()) GTEST_SKIP() << why;
    sshd_.supervise();
    sshd_.start();
    roots_ = dir_ / "roots";
    make_root(roots_ / "host", "BOOT_IMAGE=/boot/vmlinuz-6.1.0-fake root=/dev/vda1 ro intel_iommu=on iommu.strict=1", "DMA");
    make_root(roots_ / "guest", "BOOT_IMAGE=/boot/vmlinuz root=/dev/vda1 console=ttyS0", "");
    make_root(roots_ / "client", "BOOT_IMAGE=/boot/vmlinuz root=/dev/sda1", "");
    make_sriov_host(roots_ / "host");
  }

  std::string machine(const std::string& name, const std::string& role) {
    return "  " + name + ":\n    role: " + role + "\n    ssh: {host: 127.0.0.1, port: " + std::to_string(sshd_.port()) +
           ", user: " + sshd_.user() + ", key: " + sshd_.client_key().string() + ", known_hosts: " +
           sshd_.known_hosts().string() + "}\n    root: " + (roots_ / name).string() + "\n";
  }

  // Two host policies x redis and nginx (and memcached with memaslap) x two repetitions.
  std::string spec(int repetitions = 2, const std::string& nginx_duration = "2s", bool memcached = false) {
    std::string s = "name: e2e\noutput: " + (dir_ / "results").string() + "\nmachines:\n";
    s += machine("host", "host");
    s += "    grub_update: \"true\"\n    reboot:\n      command: [sh, " + test::data_path("fake-reboot.sh").string() + ", " +
         (roots_ / "host").string() + ", " + sshd_.pid_file().string() + "]\n      timeout: 60s\n      expected: 2s\n";
    s += machine("guest", "guest");
    s += machine("client", "client");
    s += "hypervisor: {uri: 'test://" + test::data_path("libvirt/libvirt-test-node.xml").string() + "', machine: host}\n";
    s += "nic: {pci: '0000:ca:00.0', num_vfs: 4, vf_macs: ['" + std::string(kVfMac) + "']}\n";
    s += "guests:\n  vm:\n    machine: guest\n    domain: e2e-guest\n    template: " +
         test::data_path("domains/network-server.xml").string() + "\n    vcpus: 2\n    memory_mib: 1024\n    vf: 0\n";
    s += "policy:\n  host: {policy: [strict, passthrough], method: grub}\n";
    s += "workloads:\n  redis:\n    server: {machine: guest, bind: 127.0.0.1, port: " + std::to_string(test::free_port()) +
         "}\n    client: {machine: client, target: 127.0.0.1, requests: 20000, connections: 10, tests: [set, get], primary: get}\n";
    s += "  nginx:\n    server: {machine: guest, bind: 127.0.0.1, port: " + std::to_string(test::free_port()) +
         ", threads: 1, file_size: 4KiB}\n    client: {machine: client, target: 127.0.0.1, duration: " + nginx_duration +
         ", threads: 1, connections: 8}\n";
    if (memcached)
      s += "  memcached:\n    server: {machine: guest, bind: 127.0.0.1, port: " + std::to_string(test::free_port()) +
           ", threads: 1, memory_mib: 64}\n    client: {machine: client, tool: memaslap, target: 127.0.0.1, duration: 2s, "
           "threads: 1, connections: 4}\n";
    s += "matrix: {repetitions: " + std::to_string(repetitions) + "}\n";
    return s;
  }

  test::ProcessResult iommuvm(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {test::binary_path().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return test::run_process(argv);
  }

  test::TempDir dir_;
  test::Sshd sshd_;
  stdfs::path roots_;
};

TEST_F(Campaign, RunsEndToEndSwitchingHostPoliciesWithSimulatedReboots) {
  if (!stdfs::exists("/sys/class/net/lo/statistics/rx_packets")) GTEST_SKIP() << "no /sys/class/net/lo/statistics here";
  make_guest_vf(roots_ / "guest", false);
  auto spec_path = dir_ / "e2e.yaml";
  write(spec_path, spec(2, "2s", true));
  auto r = iommuvm({"run", spec_path.string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;

  auto campaign = only_campaign(dir_ / "results", "e2e");
  // Every run.json, campaign.json, plan.json and journal/undo line against docs/*.schema.json.
  EXPECT_EQ(test::schema_problems(campaign), "");
  auto cj = read_json(campaign / "campaign.json");
  EXPECT_EQ(cj["status"], "finished");
  EXPECT_TRUE(stdfs::exists(campaign / "spec.yaml"));
  EXPECT_TRUE(stdfs::exists(campaign / "plan.json"));

  auto runs = runs_of(campaign);
  ASSERT_EQ(runs.size(), 12u);
  std::map<std::string, int> per_policy, per_workload;
  for (const auto& run : runs) {
    SCOPED_TRACE(run.dump(1).substr(0, 2000));
    EXPECT_EQ(run["schema"], "iommuvm.run/1");
    EXPECT_EQ(run["status"], "ok");
    const auto& m = run["metrics"];
    ASSERT_TRUE(m.contains("throughput_ops"));
    EXPECT_GT(m["throughput_ops"].get<double>(), 0);
    // memaslap prints no latency figures unless asked for statistics (-S): none to check.
    if (run["workload"] != "memcached") {
      ASSERT_TRUE(m.contains("latency_us") && m["latency_us"].contains("p50")) << m;
    }
    if (m.contains("latency_us") && m["latency_us"].contains("p99")) {
      EXPECT_LE(m["latency_us"]["p50"].get<double>(), m["latency_us"]["p99"].get<double>());
    }
    // The effective host policy was verified from the fake machine after its "reboot".
    std::string requested = run["params"]["policy.host.policy"];
    EXPECT_EQ(run["policy"]["host"]["requested"], requested);
    EXPECT_EQ(run["policy"]["host"]["effective"], requested);
    EXPECT_EQ(run["policy"]["host"]["match"], true);
    EXPECT_NE(run["policy"]["host"]["cmdline"].get<std::string>().find(requested == "strict" ? "iommu.strict=1" : "iommu.passthrough=1"),
              std::string::npos);
    EXPECT_TRUE(run["system"]["domain_xml"].contains("vm"));
    // Versions of the server and the load generator, as the tools print them.
    std::string w = run["workload"];
    per_workload[w]++;
    EXPECT_NE(run["server"]["version"].get<std::string>().find(w == "redis" ? "Redis server v=" : w == "memcached" ? "memcached 1." : "nginx version"),
              std::string::npos) << run["server"];
    EXPECT_NE(run["client"]["version"].get<std::string>().find(w == "redis" ? "redis-benchmark" : w == "memcached" ? "memaslap" : "wrk"),
              std::string::npos) << run["client"];
    if (w == "memcached") {
      EXPECT_EQ(m["tool"], "memaslap");
      EXPECT_GT(m["requests"].get<double>(), 0);
    }
    EXPECT_GE(run["overhead_s"].get<double>(), 0);
    EXPECT_FALSE(run["raw"].empty());
    // The load crossed the guest's "VF" (found by its MAC; its counters are the real loopback's).
    const auto& dp = run["data_path"]["vm"];
    EXPECT_EQ(dp["interface"], "enp8s0");
    EXPECT_EQ(dp["mac"], kVfMac);
    EXPECT_EQ(dp["ok"], true);
    EXPECT_GE(dp["delta"]["rx_packets"].get<double>() + dp["delta"]["tx_packets"].get<double>(),
              dp["expected_packets"].get<double>());
    // Every request counted (redis-benchmark: 20,000 per test, set and get; no warm-up here).
    EXPECT_GE(dp["expected_packets"].get<double>(), run["workload"] == "redis" ? 40000 : m["requests"].get<double>());
    // VFs were created through the host's (fake) sysfs over SSH (the first group found none).
    EXPECT_EQ(run["system"]["vfs"]["num_vfs"], 4);
    if (requested == "strict") {
      EXPECT_EQ(run["system"]["vfs"]["pf"]["num_vfs_before"], 0);
    }
    per_policy[requested]++;
  }
  EXPECT_EQ(per_policy["strict"], 6);
  EXPECT_EQ(per_policy["passthrough"], 6);
  EXPECT_EQ(per_workload["memcached"], 4);

  // The host started strict: no reboot for the strict group, one for passthrough.
  int reboots = 0, skipped = 0;
  std::ifstream journal(campaign / "journal.jsonl");
  std::string line;
  while (std::getline(journal, line)) {
    auto j = json::parse(line);
    if (j["kind"] == "host.reboot" && j["status"] == "ok") ++reboots;
    if (j["kind"] == "host.reboot" && j["status"] == "skipped") ++skipped;
  }
  EXPECT_EQ(reboots, 1);
  EXPECT_EQ(skipped, 1);
  // GRUB was edited with a backup (a unique name) journaled for undo; restore removed it.
  auto backups = test::journaled_backups(campaign, "host");
  ASSERT_EQ(backups.size(), 1u);
  EXPECT_EQ(backups[0].rfind("/etc/default/grub.iommuvm-", 0), 0u) << backups[0];
  EXPECT_TRUE(backups[0].ends_with(".bak")) << backups[0];
  EXPECT_FALSE(stdfs::exists(roots_ / "host" / backups[0].substr(1))) << "removed once restored";
  for (const auto& e : stdfs::directory_iterator(roots_ / "host/etc/default"))
    EXPECT_EQ(e.path().filename().string().find("iommuvm"), std::string::npos) << "left behind: " << e.path();
  EXPECT_NE(fs::read_file(campaign / "undo.jsonl").find("\"num_vfs\""), std::string::npos);
  // cleanup: restore put the VF count back.
  EXPECT_EQ(fs::read_file(roots_ / "host/sys/bus/pci/devices/0000:ca:00.0/sriov_numvfs"), "0");
  // cleanup: restore (the default) put the host's GRUB file back as it was.
  EXPECT_EQ(fs::read_file(roots_ / "host/etc/default/grub"), fs::read_file(test::data_path("grub/grub-default-testbed")));
  // Nothing left running.
  EXPECT_TRUE(processes_matching(cj["work_dir"]).empty());
}

TEST_F(Campaign, RunsWhoseTrafficBypassedTheVfFail) {
  make_guest_vf(roots_ / "guest", true);
  auto spec_path = dir_ / "bypass.yaml";
  write(spec_path, spec(1, "1s"));
  auto r = iommuvm({"run", spec_path.string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  auto runs = runs_of(only_campaign(dir_ / "results", "e2e"));
  ASSERT_EQ(runs.size(), 4u);
  for (const auto& run : runs) {
    SCOPED_TRACE(run.dump(1).substr(0, 2000));
    EXPECT_EQ(run["status"], "failed");
    EXPECT_EQ(run["reason"].get<std::string>().rfind("data-path: guest e2e-guest: the VF moved 0 packets", 0), 0u);
    EXPECT_EQ(run["data_path"]["vm"]["ok"], false);
    EXPECT_EQ(run["data_path"]["vm"]["delta"]["rx_packets"], 0);
    EXPECT_GT(run["metrics"]["throughput_ops"].get<double>(), 0);  // the load itself ran
  }
}

TEST_F(Campaign, InterruptKeepsFinishedRunsLeavesNothingRunningAndResumes) {
  make_guest_vf(roots_ / "guest", false);
  auto spec_path = dir_ / "e2e.yaml";
  write(spec_path, spec(2, "3s"));
  pid_t pid = ::fork();
  if (pid == 0) {
    int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::execl(test::binary_path().c_str(), "iommuvm", "run", spec_path.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Wait until some runs are finished and an nginx measurement (wrk) is going on.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  stdfs::path campaign;
  bool in_window = false;
  while (std::chrono::steady_clock::now() < deadline && !in_window) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (campaign.empty() && stdfs::exists(dir_ / "results/e2e"))
      for (const auto& e : stdfs::directory_iterator(dir_ / "results/e2e")) campaign = e.path();
    if (campaign.empty()) continue;
    if (!stdfs::exists(campaign / "campaign.json")) continue;
    std::string work = read_json(campaign / "campaign.json")["work_dir"];
    for (const auto& p : processes_matching(work))
      in_window = in_window || (runs_of(campaign).size() >= 2 && p.find("wrk") != std::string::npos);
  }
  ASSERT_TRUE(in_window) << "never saw a measurement in progress";
  auto before = runs_of(campaign);
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  EXPECT_EQ(read_json(campaign / "campaign.json")["status"], "interrupted");
  auto left = processes_matching(read_json(campaign / "campaign.json")["work_dir"]);
  EXPECT_TRUE(left.empty()) << left.front();
  auto after_interrupt = runs_of(campaign);
  ASSERT_GE(after_interrupt.size(), before.size());
  ASSERT_LT(after_interrupt.size(), 8u);
  for (const auto& r : after_interrupt) EXPECT_EQ(r["status"], "ok");

  // A changed spec is refused; the same spec resumes and does not repeat finished runs.
  write(dir_ / "changed.yaml", spec(3, "3s"));
  auto refused = iommuvm({"run", (dir_ / "changed.yaml").string()});
  EXPECT_EQ(refused.exit_code, 2) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("--fresh"), std::string::npos) << refused.err;

  auto resumed = iommuvm({"run", spec_path.string()});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  EXPECT_NE(resumed.out.find("Resuming"), std::string::npos) << resumed.out;
  auto all = runs_of(campaign);
  ASSERT_EQ(all.size(), 8u);
  for (const auto& old : after_interrupt)
    for (const auto& now : all)
      if (now["id"] == old["id"]) {
        EXPECT_EQ(now["started_at"], old["started_at"]) << "run " << old["id"] << " was repeated";
      }
  EXPECT_EQ(read_json(campaign / "campaign.json")["status"], "finished");
}

TEST_F(Campaign, RestorePutsTheHostBackFromTheUndoLog) {
  make_guest_vf(roots_ / "guest", false);
  auto spec_path = dir_ / "keep.yaml";
  write(spec_path, spec(1, "1s") + "cleanup: keep\n");
  auto r = iommuvm({"run", spec_path.string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto original = fs::read_file(test::data_path("grub/grub-default-testbed"));
  ASSERT_NE(fs::read_file(roots_ / "host/etc/default/grub"), original) << "cleanup: keep leaves the last policy in GRUB";
  EXPECT_EQ(fs::read_file(roots_ / "host/sys/bus/pci/devices/0000:ca:00.0/sriov_numvfs"), "4");
  auto campaign = only_campaign(dir_ / "results", "e2e");
  auto restored = iommuvm({"restore", campaign.string()});
  EXPECT_EQ(restored.exit_code, 0) << restored.out << restored.err;
  EXPECT_EQ(fs::read_file(roots_ / "host/etc/default/grub"), original);
  EXPECT_EQ(fs::read_file(roots_ / "host/sys/bus/pci/devices/0000:ca:00.0/sriov_numvfs"), "0");
  // A second restore has nothing left to do.
  auto again = iommuvm({"restore", campaign.string()});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(again.out.find("restored:"), std::string::npos) << again.out;
}

// nic.restore: false keeps the VFs at the end of a campaign that otherwise restores the host;
// `iommuvm restore` still removes them.
TEST_F(Campaign, NicRestoreFalseKeepsTheVfsUntilAnExplicitRestore) {
  make_guest_vf(roots_ / "guest", false);
  auto spec_path = dir_ / "keepvfs.yaml";
  std::string s = spec(1, "1s");
  auto at = s.find("num_vfs: 4,");
  ASSERT_NE(at, std::string::npos);
  s.replace(at, 11, "num_vfs: 4, restore: false,");
  write(spec_path, s);
  auto r = iommuvm({"run", spec_path.string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto original = fs::read_file(test::data_path("grub/grub-default-testbed"));
  EXPECT_EQ(fs::read_file(roots_ / "host/etc/default/grub"), original) << "cleanup: restore still restores GRUB";
  EXPECT_EQ(fs::read_file(roots_ / "host/sys/bus/pci/devices/0000:ca:00.0/sriov_numvfs"), "4");
  EXPECT_NE(r.out.find("left as it is: num_vfs"), std::string::npos) << r.out;
  auto campaign = only_campaign(dir_ / "results", "e2e");
  EXPECT_EQ(test::schema_problems(campaign), "");
  auto restored = iommuvm({"restore", campaign.string()});
  EXPECT_EQ(restored.exit_code, 0) << restored.out << restored.err;
  EXPECT_EQ(fs::read_file(roots_ / "host/sys/bus/pci/devices/0000:ca:00.0/sriov_numvfs"), "0");
}

}  // namespace

// A server that dies during the measurement fails that run only; the campaign goes on.
TEST(CampaignLocal, ServerCrashFailsOnlyThatRun) {
  test::TempDir dir;
  std::string s = "name: crash\noutput: " + (dir / "results").string() +
                  "\nmachines:\n  local: {local: true}\n"
                  "workloads:\n"
                  "  steady:\n    kind: custom\n    server: {command: [sleep, '30'], ready: none}\n"
                  "    client: {command: [sh, -c, 'sleep 1.5; echo ops=1234'], metrics: {throughput_ops: 'ops=([0-9]+)'}}\n"
                  "  crashy:\n    kind: custom\n    server: {command: [sleep, '0.5'], ready: none}\n"
                  "    client: {command: [sh, -c, 'sleep 1.5; echo ops=99'], metrics: {throughput_ops: 'ops=([0-9]+)'}}\n";
  write(dir / "crash.yaml", s);
  auto r = test::run_process({test::binary_path().string(), "run", (dir / "crash.yaml").string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  auto campaign = only_campaign(dir / "results", "crash");
  auto runs = runs_of(campaign);
  ASSERT_EQ(runs.size(), 2u);
  for (const auto& run : runs) {
    if (run["workload"] == "steady") {
      EXPECT_EQ(run["status"], "ok") << run.dump(1);
      EXPECT_EQ(run["metrics"]["throughput_ops"], 1234);
    } else {
      EXPECT_EQ(run["status"], "failed") << run.dump(1);
      EXPECT_NE(run["reason"].get<std::string>().find("died during the measurement"), std::string::npos) << run["reason"];
    }
  }
  EXPECT_NE(r.out.find("failed: crashy"), std::string::npos) << r.out;

  // A failed run's record is valid too; and the validator does catch a record that is not.
  if (auto why = test::jsonschema_unavailable(); !why.empty()) GTEST_SKIP() << why;
  EXPECT_EQ(test::schema_problems(campaign), "");
  auto bad = runs.front();
  bad["status"] = "finished-ish";
  bad["started_at"] = "yesterday";
  write(campaign / "runs" / bad["id"].get<std::string>() / "run.json", bad.dump(2));
  auto problems = test::schema_problems(campaign);
  EXPECT_NE(problems.find("status: 'finished-ish' is not one of"), std::string::npos) << problems;
  EXPECT_NE(problems.find("started_at: 'yesterday' is not a 'date-time'"), std::string::npos) << problems;
}

// Variance control: a combination whose throughput is random cannot reach an impossibly
// low max_cv and gets extra repetitions up to max_repetitions, each recording why; a
// steady one gets none. A campaign resumed after a crash decides again from the results
// on disk: it neither repeats the extra runs already done nor adds any to the steady one.
TEST(CampaignLocal, VarianceControlRepeatsUpToMaxAndResumesWithoutRepeating) {
  test::TempDir dir;
  std::string s = "name: cv\noutput: " + (dir / "results").string() +
                  "\nmachines:\n  local: {local: true}\n"
                  "workloads:\n"
                  "  noisy:\n    kind: custom\n    server: {command: [sleep, '30'], ready: none}\n"
                  "    client: {command: [sh, -c, 'echo ops=$(( $(od -An -N4 -tu4 /dev/urandom) + 1000 ))'], "
                  "metrics: {throughput_ops: 'ops=([0-9]+)'}}\n"
                  "  steady:\n    kind: custom\n    server: {command: [sleep, '30'], ready: none}\n"
                  "    client: {command: [sh, -c, 'echo ops=1000'], metrics: {throughput_ops: 'ops=([0-9]+)'}}\n"
                  "matrix: {repetitions: 2, max_repetitions: 4, max_cv: 0.000001}\n";
  write(dir / "cv.yaml", s);
  auto plan = test::run_process({test::binary_path().string(), "plan", (dir / "cv.yaml").string()});
  EXPECT_EQ(plan.exit_code, 0) << plan.err;
  EXPECT_NE(plan.out.find("Variance control: up to 4 more repetitions"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("(extra repetition: only if the CV of r1..r3 is above 0.0001 %)"), std::string::npos) << plan.out;

  auto r = test::run_process({test::binary_path().string(), "run", (dir / "cv.yaml").string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("(2 extra repetitions for variance, 2 not needed)"), std::string::npos) << r.out;
  auto campaign = only_campaign(dir / "results", "cv");
  auto runs = runs_of(campaign);
  std::map<std::string, std::vector<json>> by_workload;
  for (const auto& run : runs) by_workload[run["workload"]].push_back(run);
  ASSERT_EQ(by_workload["noisy"].size(), 4u) << "repeated up to max_repetitions";
  ASSERT_EQ(by_workload["steady"].size(), 2u) << "CV 0: no extra repetition";
  for (const auto& run : by_workload["noisy"]) {
    EXPECT_EQ(run["status"], "ok") << run.dump(1);
    int rep = run["repetition"];
    EXPECT_EQ(run.contains("extra_repetition"), rep > 2) << run.dump(1);
    if (rep > 2) {
      EXPECT_EQ(run["extra_repetition"]["ok_runs"], rep - 1);
      EXPECT_GT(run["extra_repetition"]["cv"].get<double>(), 0.000001);
      EXPECT_NE(run["extra_repetition"]["reason"].get<std::string>().find("> max_cv"), std::string::npos) << run.dump(1);
    }
  }
  for (const auto& run : by_workload["steady"]) EXPECT_FALSE(run.contains("extra_repetition"));

  // A crash while r4 of the noisy combination was running: no run.json for it, status running.
  std::string r3_started = by_workload["noisy"][2]["started_at"];
  ASSERT_EQ(by_workload["noisy"][3]["repetition"], 4);
  stdfs::remove_all(campaign / "runs" / by_workload["noisy"][3]["id"].get<std::string>());
  auto c = read_json(campaign / "campaign.json");
  c["status"] = "running";
  fs::atomic_write(campaign / "campaign.json", c.dump(2));

  auto again = test::run_process({test::binary_path().string(), "run", (dir / "cv.yaml").string()});
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_NE(again.out.find("Resuming"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("Done: 1 ok, 0 failed, 0 skipped, 5 from before"), std::string::npos) << again.out;
  auto after = runs_of(campaign);
  EXPECT_EQ(after.size(), 6u);
  for (const auto& run : after) {
    if (run["workload"] == "noisy" && run["repetition"] == 3) {
      EXPECT_EQ(run["started_at"], r3_started) << "the extra repetition done before is not run again";
    }
    if (run["workload"] == "noisy" && run["repetition"] == 4) {
      EXPECT_TRUE(run.contains("extra_repetition"));
    }
  }

  // The report flags the noisy combination: CV still above max_cv after the extra runs.
  auto rep = test::run_process({test::binary_path().string(), "report", campaign.string()});
  EXPECT_EQ(rep.exit_code, 0) << rep.err;
  EXPECT_NE(rep.out.find("still after 2 extra repetition(s) (max_repetitions 4)"), std::string::npos) << rep.out;
}

// Collector overhead measured: `matrix.collector_overhead: true` runs every combination with
// and without the collectors (real Redis and redis-benchmark on 127.0.0.1, the interrupts
// collector); the off runs have no collector output, and the report compares the two.
TEST(CampaignLocal, CollectorOverheadRunsWithAndWithoutCollectorsAndReportsTheDifference) {
  for (const char* p : {"redis-server", "redis-benchmark"})
    if (!test::have_program(p)) GTEST_SKIP() << p << " is not installed (scripts/setup.sh installs it)";
  test::TempDir dir;
  std::string s = "name: overhead\noutput: " + (dir / "results").string() +
                  "\nmachines:\n  local: {role: host, local: true, sudo: false}\n"
                  "policy: {host: as-is}\n"
                  "workloads:\n  redis:\n    server: {bind: 127.0.0.1, threads: 1}\n"
                  "    client: {requests: 20000, connections: 10, tests: [set, get], primary: get}\n"
                  "collectors:\n  irq: {kind: interrupts}\n"
                  "matrix: {repetitions: 2, collector_overhead: true}\n";
  write(dir / "overhead.yaml", s);
  auto r = test::run_process({test::binary_path().string(), "run", (dir / "overhead.yaml").string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto campaign = only_campaign(dir / "results", "overhead");
  auto runs = runs_of(campaign);
  ASSERT_EQ(runs.size(), 4u);
  int on = 0, off = 0;
  for (const auto& run : runs) {
    EXPECT_EQ(run["status"], "ok") << run.dump(1);
    if (run["params"]["collectors"] == "on") {
      ++on;
      ASSERT_TRUE(run.contains("collectors")) << run.dump(1);
      EXPECT_TRUE(run["collectors"]["irq"].contains("total")) << run["collectors"].dump(1);
    } else {
      ++off;
      EXPECT_EQ(run["params"]["collectors"], "off");
      EXPECT_FALSE(run.contains("collectors")) << run["collectors"].dump(1);
    }
  }
  EXPECT_EQ(on, 2);
  EXPECT_EQ(off, 2);
  auto rep = test::run_process({test::binary_path().string(), "report", campaign.string()});
  ASSERT_EQ(rep.exit_code, 0) << rep.err;
  auto at = rep.out.find("## Collector overhead");
  ASSERT_NE(at, std::string::npos) << rep.out;
  EXPECT_NE(rep.out.find("| 2/2 |", at), std::string::npos) << rep.out.substr(at);
  auto summary = read_json(campaign / "summary.json");
  bool compared = false;
  for (const auto& c : summary["combinations"])
    if (c.contains("vs_collectors_off")) {
      compared = true;
      EXPECT_TRUE(c["vs_collectors_off"].contains("throughput_ops")) << c.dump(1);
      EXPECT_EQ(c["collectors_off"]["params"]["collectors"], "off");
    }
  EXPECT_TRUE(compared) << summary.dump(1);
}
