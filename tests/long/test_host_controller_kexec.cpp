// A real host (tests/long/test_host_grub.cpp has the set-up) that is also the controller
// (`local: true`, so `controller: true`): iommuvm runs inside the VM, kexecs the VM it runs on
// (systemctl kexec: systemd's shutdown, then the new kernel and a new systemd), and the resume
// unit it left (/etc/systemd/system/iommuvm-resume.service) starts `iommuvm run` again after
// the boot, which checks the new boot id and the policy and finishes the campaign.
//
// The binary is the one built here: this machine and the VM are both Debian 12, so it runs
// there once the shared libraries the VM lacks are copied to its /usr/local/lib.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <sstream>
#include <thread>

#include "host_vm.hpp"
#include "host_vm_checks.hpp"

using namespace iommuvm;
using namespace iommuvm::test::hostvm;
using json = nlohmann::json;

namespace {

// Copies the built binary to the VM's /usr/local/bin/iommuvm and the libraries it links that
// the VM does not have to /usr/local/lib (in ld.so's path on Debian). Empty, or what failed.
std::string install_iommuvm_in_vm() {
  auto ldd = test::run_process({"ldd", test::binary_path().string()});
  if (ldd.exit_code != 0) return "ldd failed: " + ldd.err;
  std::vector<std::string> libs;
  std::istringstream in(ldd.out);
  std::string line;
  while (std::getline(in, line)) {
    auto arrow = line.find("=> /");
    if (arrow == std::string::npos) continue;
    std::string path = line.substr(arrow + 3);
    path = path.substr(0, path.find(' '));
    libs.push_back(path);
  }
  // Which of them the VM lacks (same distribution: the ones it has are the same packages).
  std::string probe = "for f in";
  for (const auto& l : libs) probe += " '" + l + "'";
  probe += "; do [ -e \"$f\" ] || printf '%s\\n' \"$f\"; done";
  auto missing = ssh(probe);
  if (missing.exit_code != 0) return "probing the VM's libraries failed: " + missing.err;
  std::vector<std::string> copy;
  std::istringstream m(missing.out);
  while (std::getline(m, line))
    if (!line.empty()) copy.push_back(line);
  std::printf("libraries the VM lacks: %zu of %zu\n", copy.size(), libs.size());
  // One tar stream: the binary as usr/local/bin/iommuvm, the libraries under usr/local/lib.
  // sh -c SCRIPT sh BINARY N LIB... SSH-ARGV...: the ssh command line is the tests' own (ssh_argv).
  std::string script = "set -e; d=$(mktemp -d); trap 'rm -rf \"$d\"' EXIT; mkdir -p \"$d/usr/local/bin\" \"$d/usr/local/lib\"; "
                       "cp -L \"$1\" \"$d/usr/local/bin/iommuvm\"; n=$2; shift 2; "
                       "while [ \"$n\" -gt 0 ]; do cp -L \"$1\" \"$d/usr/local/lib/\"; shift; n=$((n - 1)); done; "
                       "tar -C \"$d\" -cf - usr | \"$@\" 'tar -C / -xf - && ldconfig'";
  std::vector<std::string> argv = {"sh", "-c", script, "sh", test::binary_path().string(), std::to_string(copy.size())};
  argv.insert(argv.end(), copy.begin(), copy.end());
  auto ssh_words = ssh_argv();
  argv.insert(argv.end(), ssh_words.begin(), ssh_words.end());
  auto put = in_ns(argv);
  if (put.exit_code != 0) return "copying iommuvm to the VM failed: " + put.err;
  auto version = ssh("iommuvm --version");
  if (version.exit_code != 0) return "iommuvm does not start in the VM: " + version.out + version.err;
  std::printf("in the VM: %s", version.out.c_str());
  return "";
}

constexpr const char* kSpec =
    "name: self-kexec\n"
    "output: /root/self/results\n"
    "machines:\n"
    "  host:\n"
    "    role: host\n"
    "    local: true          # the machine iommuvm runs on: controller: true\n"
    "    sudo: false\n"
    "    vendor: intel\n"
    "    reboot: {command: systemctl reboot, timeout: 8m, expected: 60s}\n"
    "  client: {role: client, local: true, sudo: false}\n"
    "nic: {pf: enp0s4}\n"
    "policy:\n"
    "  host: {policy: [lazy, strict], method: kexec}\n"
    "workloads:\n"
    "  redis:\n"
    "    server: {machine: host, bind: 127.0.0.1, port: 6379, threads: 1}\n"
    "    client: {machine: client, tool: redis-benchmark, target: 127.0.0.1, requests: 2000, connections: 5,\n"
    "             pipeline: 1, data_size: 64, tests: [get], primary: get}\n"
    "matrix: {repetitions: 1}\n"
    "cleanup: restore\n";

// The JSON files FOLDER/*/NAME on the VM (the campaign's one folder), or FOLDER/NAME.
std::vector<json> vm_json(const std::string& pattern) {
  auto r = ssh("for f in " + pattern + "; do [ -f \"$f\" ] && { cat \"$f\"; printf '\\n\\036\\n'; }; done; exit 0");
  std::vector<json> out;
  std::string::size_type at = 0;
  while (true) {
    auto end = r.out.find("\n\036\n", at);
    if (end == std::string::npos) break;
    out.push_back(json::parse(r.out.substr(at, end - at), nullptr, false));
    at = end + 3;
  }
  return out;
}

}  // namespace

TEST(HostControllerKexec, IommuvmInsideTheHostKexecsItsOwnMachineAndTheResumeUnitFinishes) {
  IOMMUVM_REQUIRE_HOST_VM();
  auto before = grub_state();
  ASSERT_EQ(install_iommuvm_in_vm(), "");
  std::string boot_before = boot_id();
  ASSERT_FALSE(boot_before.empty());
  ASSERT_EQ(ssh("rm -rf /root/self && mkdir -p /root/self && cat > /root/self/spec.yaml <<'EOF'\n" + std::string(kSpec) +
                "EOF\n")
                .exit_code,
            0);

  // First half: the lazy runs (or, when the VM does not run lazy, nothing), then the kexec into
  // strict, which takes the campaign down with the machine: exit 75 (or the SSH session dies).
  auto t0 = std::chrono::steady_clock::now();
  auto first = ssh("cd /root/self && iommuvm run spec.yaml");
  std::printf("first half: exit %d\n%s\n%s\n", first.exit_code, first.out.c_str(), first.err.c_str());
  EXPECT_TRUE(first.exit_code == 75 || first.exit_code == 255) << first.exit_code;
  if (first.exit_code == 75) {
    EXPECT_NE(first.out.find("resumes after the boot"), std::string::npos) << first.out;
  }

  std::string boot_after = wait_for_new_boot(boot_before, 480);
  ASSERT_FALSE(boot_after.empty()) << "the VM did not come back from its own kexec";
  // Second half: systemd runs the unit; wait until the campaign says it finished.
  std::string status;
  for (int i = 0; i < 150; ++i) {
    auto c = vm_json("/root/self/results/self-kexec/*/campaign.json");
    if (c.size() == 1 && c[0].is_object()) status = c[0].value("status", "");
    if (status == "finished" || status == "failed") break;
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ::testing::Test::RecordProperty("self_kexec_s", fmt::format("{:.0f}", seconds));
  auto unit_log = ssh("journalctl -b --no-pager -o cat -u iommuvm-resume");
  std::printf("the resume unit's log (%.0f s after the start):\n%s\n", seconds, unit_log.out.c_str());
  ASSERT_EQ(status, "finished") << unit_log.out;
  EXPECT_NE(unit_log.out.find("Resuming"), std::string::npos) << unit_log.out;
  EXPECT_NE(unit_log.out.find("is back (boot id "), std::string::npos) << unit_log.out;
  // The VM may have kexec'd itself more than once (each policy whose parameters are not on the
  // running command line): strict ran in the last boot.
  std::string boot_now = boot_id();
  EXPECT_NE(boot_now, boot_before);

  // Both runs ok, each with the policy asked for; strict in the boot the kexec made.
  auto runs = vm_json("/root/self/results/self-kexec/*/runs/*/run.json");
  ASSERT_EQ(runs.size(), 2u);
  std::set<std::string> policies;
  for (const auto& r : runs) {
    SCOPED_TRACE(r.dump(1).substr(0, 2000));
    ASSERT_TRUE(r.is_object());
    EXPECT_EQ(r["status"], "ok");
    std::string requested = r["params"]["policy.host.policy"];
    policies.insert(requested);
    EXPECT_EQ(r["policy"]["host"]["effective"], requested);
    EXPECT_EQ(r["policy"]["host"]["match"], true);
    if (requested == "strict") {
      EXPECT_EQ(r.value(ptr("/policy/host/boot_id"), std::string()), boot_now);
      EXPECT_NE(r.value(ptr("/policy/host/cmdline"), std::string()).find("iommu.strict=1"), std::string::npos);
    }
  }
  EXPECT_EQ(policies, (std::set<std::string>{"lazy", "strict"}));
  // The journal: the reboot of the controller's own machine, then its second half in the new boot.
  auto journal = ssh("cat /root/self/results/self-kexec/*/journal.jsonl");
  // Each reboot of its own machine stopped the campaign, and the unit started it once more.
  auto count = [&](const std::string& what) {
    int n = 0;
    for (auto at = journal.out.find(what); at != std::string::npos; at = journal.out.find(what, at + 1)) ++n;
    return n;
  };
  int reboots = count("\"kind\":\"host.reboot\"");
  int self = count("\"status\":\"rebooting\"");
  std::printf("self reboots: %d, campaign starts: %d\n", self, count("\"kind\":\"campaign.begin\""));
  EXPECT_GE(self, 1) << journal.out;
  EXPECT_EQ(count("\"kind\":\"campaign.begin\""), self + 1) << journal.out;
  EXPECT_GE(reboots, 2 * self) << journal.out;  // each: "rebooting", then "ok" in the new boot
  // The unit and its enabling link are gone, and so is the resume state.
  EXPECT_EQ(ssh("test -e /etc/systemd/system/iommuvm-resume.service || test -L "
                "/etc/systemd/system/multi-user.target.wants/iommuvm-resume.service")
                .exit_code,
            1);
  EXPECT_EQ(ssh("ls /root/self/results/self-kexec/*/resume.json").exit_code, 2);
  expect_restored(before, grub_state());
  // A kexec changes nothing on disk: a plain reboot boots the default entry again.
  expect_plain_reboot_boots_default(before);
}
