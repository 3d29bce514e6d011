// The built iommuvm binary on the example specs: validate, plan, dry run, exit codes.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <regex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "iommuvm/util/text.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using nlohmann::json;
namespace stdfs = std::filesystem;

namespace {

test::ProcessResult cli(std::vector<std::string> args, const std::string& cwd = "") {
  std::vector<std::string> argv;
  if (!cwd.empty()) argv = {"sh", "-c", "cd \"$0\" && exec \"$@\"", cwd};
  argv.push_back(test::binary_path().string());
  argv.insert(argv.end(), args.begin(), args.end());
  return test::run_process(argv);
}

std::string fs_read(const stdfs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string example(const std::string& name) { return std::string(IOMMUVM_SOURCE_DIR) + "/configs/examples/" + name; }

}  // namespace

TEST(Cli, VersionAndHelp) {
  auto v = cli({"--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.out.find("iommuvm 0."), std::string::npos) << v.out;
  auto h = cli({"run", "--help"});
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.out.find("--dry-run"), std::string::npos);
  auto bad = cli({"frobnicate"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.err.rfind("iommuvm: error:", 0), 0u) << bad.err;
}

TEST(Cli, ExamplesValidate) {
  for (const char* f : {"loopback.yaml", "testbed.yaml"}) {
    auto r = cli({"validate", example(f)});
    EXPECT_EQ(r.exit_code, 0) << f << r.err;
    EXPECT_NE(r.out.find(": ok: campaign"), std::string::npos) << r.out;
  }
}

TEST(Cli, InvalidSpecExitsTwoWithEveryProblemLocated) {
  test::TempDir dir;
  auto p = dir / "bad.yaml";
  std::ofstream(p) << "name: bad\nmachines:\n  local: {local: true}\nworkloads:\n  redis:\n    client: {pipelin: 2}\n"
                      "policy: {host: strcit}\n";
  auto r = cli({"validate", p.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(p.string() + ":6:14: error: unknown key 'pipelin'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(p.string() + ":7:16: error: unknown value 'strcit'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("iommuvm: error: " + p.string() + ": 2 errors in the spec"), std::string::npos) << r.err;
  auto missing = cli({"validate", (dir / "nope.yaml").string()});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("no such spec file"), std::string::npos);
  std::ofstream(dir / "empty.json") << "";
  auto empty = cli({"plan", (dir / "empty.json").string()});
  EXPECT_EQ(empty.exit_code, 2) << empty.err;
}

TEST(Cli, PlanJsonOfTheTestbed) {
  auto r = cli({"plan", "--json", example("testbed.yaml")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = json::parse(r.out);
  // 3 host policies x 2 guest policies x (redis x 2 pipelines + nginx) x 3 repetitions.
  EXPECT_EQ(j["totals"]["runs"], 54);
  EXPECT_EQ(j["runs"].size(), 54u);
  EXPECT_EQ(j["totals"]["host_reboots"], 3) << "grouped by host policy: one boot configuration each";
  EXPECT_EQ(j["totals"]["guest_restarts"], 6);
  EXPECT_GT(j["totals"]["estimated_seconds"].get<double>(), 0);
  std::set<std::string> ids;
  for (const auto& run : j["runs"]) {
    ids.insert(run["id"].get<std::string>());
    EXPECT_TRUE(run["params"].contains("policy.host.policy"));
  }
  EXPECT_EQ(ids.size(), 54u);
  // Grouping: the host policy changes exactly twice along the run order.
  int changes = 0;
  for (std::size_t i = 1; i < j["runs"].size(); ++i)
    changes += j["runs"][i]["params"]["policy.host.policy"] != j["runs"][i - 1]["params"]["policy.host.policy"];
  EXPECT_EQ(changes, 2);
  std::map<std::string, int> kinds;
  for (const auto& s : j["steps"]) kinds[s["kind"].get<std::string>()]++;
  EXPECT_EQ(kinds["host.reboot"], 3);
  EXPECT_EQ(kinds["host.verify_policy"], 3);
  EXPECT_EQ(kinds["guest.start"], 6);
  EXPECT_EQ(kinds["nic.setup_vfs"], 3) << "VFs are set up again after every host boot";
  EXPECT_EQ(kinds["client.measure"], 54);
  EXPECT_EQ(kinds["client.warmup"], 54);
}

TEST(Cli, InterleavedOrderCostsMoreReboots) {
  test::TempDir dir;
  std::string text;
  {
    std::ifstream in(example("testbed.yaml"));
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  text = std::regex_replace(text, std::regex("template: \\.\\./domains/"), "template: " + std::string(IOMMUVM_SOURCE_DIR) + "/configs/domains/");
  text = std::regex_replace(text, std::regex("  cooldown: 5s"), "  cooldown: 5s\n  order: interleaved");
  std::ofstream(dir / "interleaved.yaml") << text;
  auto r = cli({"plan", "--json", (dir / "interleaved.yaml").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = json::parse(r.out);
  EXPECT_EQ(j["totals"]["runs"], 54);
  EXPECT_EQ(j["totals"]["host_reboots"], 9) << "3 rounds x 3 host policies";
  EXPECT_EQ(j["runs"][0]["repetition"], 1);
  EXPECT_EQ(j["runs"][53]["repetition"], 3);
}

TEST(Cli, JsonAndYamlFormsGiveTheSamePlan) {
  auto y = cli({"plan", "--json", test::data_path("specs/testbed-copy.yaml").string()});
  auto j = cli({"plan", "--json", test::data_path("specs/testbed.json").string()});
  ASSERT_EQ(y.exit_code, 0) << y.err;
  ASSERT_EQ(j.exit_code, 0) << j.err;
  EXPECT_EQ(json::parse(y.out), json::parse(j.out));
}

TEST(Cli, DryRunPrintsEveryActionAndTouchesNothing) {
  test::TempDir cwd;
  auto r = cli({"run", "--dry-run", example("testbed.yaml")}, cwd.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string& out = r.out;
  // Host policy through the one-shot GRUB entry, the reboot and the verification.
  // Written atomically through a temporary file mktemp makes next to it, the content on
  // stdin: no staging file in /tmp, no install(1) (which deletes before it writes).
  EXPECT_NE(out.find("mktemp -- \"$dir/.$(basename -- \"$target\").iommuvm-XXXXXX\")"), std::string::npos) << out.substr(0, 3000);
  EXPECT_NE(out.find("' sh /etc/grub.d/45_iommuvm 0755"), std::string::npos) << out.substr(0, 3000);
  EXPECT_EQ(out.find("install -m"), std::string::npos);
  EXPECT_EQ(out.find(".upload"), std::string::npos);
  EXPECT_NE(out.find("/etc/grub.d/45_iommuvm"), std::string::npos);
  EXPECT_NE(out.find("[host] $ update-grub"), std::string::npos);
  EXPECT_NE(out.find("[host] $ grub-reboot iommuvm-strict"), std::string::npos);
  EXPECT_NE(out.find("[host] $ systemctl reboot"), std::string::npos);
  // VFs, libvirt, the guest's network over the VF, servers and generators, exactly quoted.
  // The simulated host: the PF behind enp202s0f0np0 is nic.pci, with no VFs yet.
  EXPECT_NE(out.find("[host] $ readlink -- /sys/class/net/enp202s0f0np0/device"), std::string::npos);
  EXPECT_NE(out.find("sh 4 /sys/bus/pci/devices/0000:ca:00.0/sriov_numvfs"), std::string::npos);
  EXPECT_NE(out.find("[host] $ ip link set enp202s0f0np0 vf 0 mac 52:54:00:36:54:b4"), std::string::npos);
  // qemu:///system on the host reached over SSH: libvirtd there, through its SSH settings.
  const std::string lv = "[libvirt qemu+libssh://root@r650-host/system?keyfile=";
  EXPECT_EQ(out.find("[libvirt qemu:///system]"), std::string::npos);
  EXPECT_NE(out.find(lv), std::string::npos) << out;
  EXPECT_NE(out.find("sshauth=agent,privkey] virDomainDefineXML network-server"), std::string::npos);
  EXPECT_NE(out.find("sshauth=agent,privkey] virDomainCreate network-server"), std::string::npos);
  EXPECT_NE(out.find("[guest] $ sudo -n -- ip addr replace 10.10.1.100/24"), std::string::npos);
  EXPECT_NE(out.find("redis-server --port 6379 --bind 10.10.1.100"), std::string::npos);
  // The private work folder is made by mktemp -d on the machine at run time.
  EXPECT_NE(out.find("[client] $ sh -c 'umask 077 && mktemp -d -- \"${TMPDIR:-/tmp}/$1.XXXXXXXX\"' sh iommuvm-dry-run"), std::string::npos);
  EXPECT_NE(out.find("[client] $ cd /tmp/iommuvm-dry-run.XXXXXXXX/"), std::string::npos);
  EXPECT_NE(out.find("redis-benchmark -h 10.10.1.100 -p 6379 -n 2000000 -c 100 -P 16"), std::string::npos);
  EXPECT_NE(out.find("wrk -t 8 -c 256 -d 60s --latency"), std::string::npos);
  EXPECT_NE(out.find("keep-alive paused (measurement window)"), std::string::npos);
  EXPECT_NE(out.find("[54/54]"), std::string::npos);
  // Nothing written.
  EXPECT_TRUE(stdfs::is_empty(cwd.path())) << "a dry run created files";
}

TEST(Cli, VmRenderReadsTheVfAddressFromLibvirt) {
  test::TempDir dir;
  std::string text = fs_read(test::data_path("specs/testbed-copy.yaml"));
  text = std::regex_replace(text, std::regex("uri: qemu:///system"),
                            "uri: 'test://" + test::data_path("libvirt/libvirt-test-node.xml").string() + "'");
  text = std::regex_replace(text, std::regex("vf: 0"), "vf: 1");
  text = std::regex_replace(text, std::regex("\\.\\./\\.\\./\\.\\./configs"), std::string(IOMMUVM_SOURCE_DIR) + "/configs");
  std::ofstream(dir / "spec.yaml") << text;
  auto r = cli({"vm", "render", "--connect", (dir / "spec.yaml").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Two guest configurations (strict, passthrough), each with VF 1 = 0000:ca:00.3 from the node devices.
  std::size_t n = 0;
  for (std::size_t p = 0; (p = r.out.find("<!-- guest network-server", p)) != std::string::npos; ++p) ++n;
  EXPECT_EQ(n, 2u) << r.out.substr(0, 500);
  EXPECT_NE(r.out.find("<address type=\"pci\" domain=\"0x0000\" bus=\"0xca\" slot=\"0x00\" function=\"0x3\""), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("intel_iommu=on iommu.passthrough=1</cmdline>"), std::string::npos);
  EXPECT_EQ(r.out.find("assumed"), std::string::npos);
}

// `vm render --connect` opens the libvirtd of hypervisor.machine as run and doctor do: a
// local-form URI for a machine reached over SSH goes through that machine's SSH settings, never to
// the controller's own socket. Here the host is 127.0.0.1 on a port nothing listens on.
TEST(Cli, VmRenderConnectReachesTheHypervisorMachineOverSsh) {
  test::TempDir dir;
  std::string text = fs_read(test::data_path("specs/testbed-copy.yaml"));
  int port = test::free_port();
  text = std::regex_replace(text, std::regex("ssh: \\{host: r650-host, user: root, key: ~/.ssh/id_ed25519\\}"),
                            "ssh: {host: 127.0.0.1, port: " + std::to_string(port) + ", user: root}");
  text = std::regex_replace(text, std::regex("\\.\\./\\.\\./\\.\\./configs"), std::string(IOMMUVM_SOURCE_DIR) + "/configs");
  std::ofstream(dir / "spec.yaml") << text;
  auto r = cli({"vm", "render", "--connect", (dir / "spec.yaml").string()});
  EXPECT_NE(r.exit_code, 0) << r.out.substr(0, 300);
  EXPECT_NE(r.err.find(fmt::format("cannot connect to libvirt at qemu+libssh://root@127.0.0.1:{}/system?", port)), std::string::npos)
      << r.err;
}

// plan's estimates come from the switch times earlier campaigns of the experiment measured
// (their journal.jsonl), here the real TCG campaign's guest starts, where there are some.
TEST(Cli, PlanEstimatesFromMeasuredSwitchTimes) {
  test::TempDir cwd;
  auto sample = test::data_path("results/tcg-viommu-sample");
  auto before = cli({"plan", example("tcg-viommu.yaml")}, cwd.path().string());
  ASSERT_EQ(before.exit_code, 0) << before.err;
  EXPECT_EQ(before.out.find("estimated from measurements"), std::string::npos) << before.out;
  std::filesystem::create_directories(cwd / "results/tcg-viommu");
  std::filesystem::copy(sample, cwd / "results/tcg-viommu/20261101T000000Z", std::filesystem::copy_options::recursive);
  // The median of the sample's guest.start seconds, read here independently.
  std::vector<double> starts;
  std::ifstream in(sample / "journal.jsonl");
  for (std::string line; std::getline(in, line);) {
    auto j = json::parse(line);
    if (j["kind"] == "guest.start" && j["status"] == "ok") starts.push_back(j["seconds"].get<double>());
  }
  ASSERT_FALSE(starts.empty());
  std::sort(starts.begin(), starts.end());
  double median = starts.size() % 2 ? starts[starts.size() / 2] : (starts[starts.size() / 2 - 1] + starts[starts.size() / 2]) / 2;
  auto after = cli({"plan", "--json", example("tcg-viommu.yaml")}, cwd.path().string());
  ASSERT_EQ(after.exit_code, 0) << after.err;
  auto j = json::parse(after.out);
  ASSERT_TRUE(j["totals"].contains("measured")) << j["totals"].dump();
  std::string note = j["totals"]["measured"][0];
  EXPECT_NE(note.find(fmt::format("starts of guest tcg-viommu: {}", iommuvm::text::duration_text(median))), std::string::npos)
      << note;
  EXPECT_NE(note.find(fmt::format("median of {} measured", starts.size())), std::string::npos) << note;
  // A damaged journal in another campaign folder changes nothing and breaks nothing.
  std::filesystem::create_directories(cwd / "results/tcg-viommu/20261102T000000Z");
  std::ofstream(cwd / "results/tcg-viommu/20261102T000000Z/plan.json") << "{not json";
  std::ofstream(cwd / "results/tcg-viommu/20261102T000000Z/journal.jsonl") << "\x01\x02";
  auto damaged = cli({"plan", "--json", example("tcg-viommu.yaml")}, cwd.path().string());
  ASSERT_EQ(damaged.exit_code, 0) << damaged.err;
  EXPECT_EQ(json::parse(damaged.out)["totals"]["measured"], j["totals"]["measured"]);
}

// The kernel-log audit is in the dry run as in a run: the mark before each run and the read of
// what came after it at the run's end (outside the measurement window).
TEST(Cli, DryRunShowsBothKernelLogReadsOfEachRun) {
  test::TempDir cwd;
  auto r = cli({"run", "--dry-run", example("loopback.yaml")}, cwd.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto first = r.out.find("# run 1/6"), end = r.out.find("[1/6]");
  ASSERT_NE(first, std::string::npos);
  ASSERT_NE(end, std::string::npos);
  std::string run1 = r.out.substr(first, end - first);
  std::size_t n = 0;
  std::istringstream lines(run1);
  for (std::string line; std::getline(lines, line);) n += line.rfind("[local] $ ", 0) == 0 && line.find("/dev/kmsg") != std::string::npos;
  EXPECT_EQ(n, 2u) << run1;
  // The read at the end comes after the measurement and after the server stopped.
  EXPECT_GT(run1.rfind("/dev/kmsg"), run1.find("kill -TERM")) << run1;
}
