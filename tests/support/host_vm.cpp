#include "host_vm.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "campaign_fixture.hpp"
#include "iommuvm/util/fs.hpp"

namespace iommuvm::test::hostvm {

namespace stdfs = std::filesystem;
using clock_type = std::chrono::steady_clock;

std::string ns() {
  const char* n = std::getenv("IOMMUVM_HOST_NS");
  return n && *n ? n : "iommuvm-host";
}

stdfs::path image_dir() {
  if (const char* c = std::getenv("IOMMUVM_CACHE"); c && *c) return stdfs::path(c) / "host";
  const char* home = std::getenv("HOME");
  return stdfs::path(home ? home : "/root") / ".cache/iommuvm/host";
}

stdfs::path run_dir() { return image_dir() / ("run-" + ns()); }

stdfs::path script() { return stdfs::path(IOMMUVM_SOURCE_DIR) / "scripts/host-vm.sh"; }

std::string host_vm_mode() {
  const char* e = std::getenv("IOMMUVM_HOST_VM");
  return e ? e : "";
}

std::string unavailable() {
  // IOMMUVM_HOST_VM=1 (what .ci/run sets): every host-VM test; unset: none, they boot a VM
  // several times (docs/host-vm.md has the measured times).
  if (host_vm_mode() != "1")
    return "the host-VM long tests run with IOMMUVM_HOST_VM=1, with IOMMUVM_LONG=1 scripts/test.sh (docs/host-vm.md)";
  if (::geteuid() != 0) return "needs root (network namespace, tap devices)";
  if (!have_program("qemu-system-x86_64")) return "qemu-system-x86_64 missing (scripts/setup.sh --vm-deps)";
  if (!have_program("ip")) return "ip (iproute2) missing";
  if (!have_program("ssh")) return "the ssh client is missing";
  if (!stdfs::exists(image_dir() / "disk.raw"))
    return fmt::format("host image not built ({} missing): run scripts/build-host.sh", (image_dir() / "disk.raw").string());
  auto probe = run_process({"ip", "netns", "list"});
  if (probe.exit_code != 0) return "cannot list network namespaces: " + probe.err;
  if (run_process({"bash", script().string(), "status"}).exit_code == 0) return "";
  auto start = run_process({"bash", script().string(), "start"});
  std::printf("%s%s", start.out.c_str(), start.err.c_str());
  if (start.exit_code != 0) {
    // A namespace that cannot be made is a machine that cannot run the test; anything else
    // (QEMU started, the VM did not come up) is a failure of the image or the VM.
    if (start.err.find("netns") != std::string::npos || start.err.find("Operation not permitted") != std::string::npos)
      return "cannot create the network namespace " + ns() + ": " + start.err;
    return "FAIL: scripts/host-vm.sh start: " + start.out + start.err;
  }
  return "";
}

ProcessResult in_ns(const std::vector<std::string>& argv) {
  std::vector<std::string> full = {"ip", "netns", "exec", ns()};
  full.insert(full.end(), argv.begin(), argv.end());
  return run_process(full);
}

std::vector<std::string> ssh_argv(int connect_timeout_s) {
  return {"ssh", "-i", (image_dir() / "id_ed25519").string(), "-o", "BatchMode=yes", "-o",
          "UserKnownHostsFile=" + (image_dir() / "known_hosts").string(), "-o", "StrictHostKeyChecking=yes", "-o",
          "LogLevel=ERROR", "-o", fmt::format("ConnectTimeout={}", connect_timeout_s), std::string("root@") + kVmIp};
}

ProcessResult ssh(const std::string& command, int connect_timeout_s) {
  auto argv = ssh_argv(connect_timeout_s);
  argv.push_back(command);
  return in_ns(argv);
}

namespace {
std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}
}  // namespace

std::string boot_id() {
  auto r = ssh("cat /proc/sys/kernel/random/boot_id");
  return r.exit_code == 0 ? trim(r.out) : "";
}

std::string wait_for_new_boot(const std::string& before, int timeout_s) {
  auto t0 = clock_type::now();
  while (clock_type::now() - t0 < std::chrono::seconds(timeout_s)) {
    std::string id = boot_id();
    if (!id.empty() && id != before) return id;
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
  return "";
}

GrubState grub_state() {
  GrubState s;
  // One line per file: sha256 and name; links: "-> target".
  auto r = ssh(
      "for f in /etc/default/grub /etc/default/grub.d/* /etc/grub.d/* /boot/grub/grub.cfg; do "
      "[ -e \"$f\" ] || [ -L \"$f\" ] || continue; "
      "if [ -L \"$f\" ]; then echo \"$f -> $(readlink \"$f\")\"; else echo \"$f $(sha256sum < \"$f\" | cut -d' ' -f1) "
      "$(stat -c %a \"$f\")\"; fi; done");
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    auto sp = line.find(' ');
    if (sp == std::string::npos) continue;
    std::string path = line.substr(0, sp);
    if (path.find(".iommuvm-") != std::string::npos && path.size() > 4 && path.compare(path.size() - 4, 4, ".bak") == 0)
      s.backups.push_back(path);
    else
      s.files[path] = line.substr(sp + 1);
  }
  s.grubenv = ssh("grub-editenv /boot/grub/grubenv list").out;
  s.cmdline = trim(ssh("cat /proc/cmdline").out);
  return s;
}

std::string spec(const std::string& name, const stdfs::path& output, const std::string& extra) {
  auto img = image_dir();
  return fmt::format(
      "name: {}\n"
      "output: {}\n"
      "machines:\n"
      "  host:\n"
      "    role: host\n"
      "    ssh: {{host: {}, user: root, key: {}, known_hosts: {}, connect_timeout: 3s}}\n"
      "    sudo: false\n"
      "    vendor: intel\n"
      "    reboot: {{command: systemctl reboot, timeout: 10m, expected: 70s}}\n"
      "  client:\n"
      "    role: client\n"
      "    local: true\n"
      "    sudo: false\n"
      "{}",
      name, output.string(), kVmIp, (img / "id_ed25519").string(), (img / "known_hosts").string(), extra);
}

std::string redis_workload_and_collectors(int requests) {
  return fmt::format(
      "workloads:\n"
      "  redis:\n"
      "    server: {{machine: host, bind: {0}, port: 6379, threads: 1}}\n"
      "    client:\n"
      "      machine: client\n"
      "      tool: redis-benchmark\n"
      "      target: {0}\n"
      "      requests: {1}\n"
      "      connections: 10\n"
      "      pipeline: 1\n"
      "      data_size: 64\n"
      "      tests: [set, get]\n"
      "      primary: get\n"
      "collectors:\n"
      "  viommu-inv:\n"
      "    kind: qemu-trace\n"
      "    machine: client\n"
      "    trace_file: {2}\n"
      "    events: [vtd_inv_desc_iotlb*, vtd_inv_desc_cc*, vtd_inv_desc_iec]\n"
      "  qemu-cpu:\n"
      "    kind: pidstat\n"
      "    machine: client\n"
      "    process: iommuvm-host\n",
      kDataIp, requests, (run_dir() / "vtd.log").string());
}

Timed run_iommuvm(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {binary_path().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto t0 = clock_type::now();
  Timed t;
  t.result = in_ns(argv);
  t.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
  return t;
}

std::string data_group_type() {
  auto r = ssh(fmt::format("cat /sys/bus/pci/devices/{}/iommu_group/type", kDataPci));
  return r.exit_code == 0 ? trim(r.out) : "";
}

std::vector<nlohmann::json> campaign_runs(const stdfs::path& output, const std::string& name, stdfs::path* campaign) {
  if (!stdfs::exists(output / name)) return {};
  auto c = only_campaign(output, name);
  if (campaign) *campaign = c;
  return runs_of(c);
}

std::string plain_reboot() {
  std::string before = boot_id();
  ssh("systemctl reboot");
  return wait_for_new_boot(before);
}

}  // namespace iommuvm::test::hostvm
