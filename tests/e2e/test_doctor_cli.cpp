// `iommuvm doctor` through the real binary: machines reached over SSH (a real sshd on
// 127.0.0.1, host keys verified) with fake roots, libvirt's test driver, real tools.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "campaign_fixture.hpp"
#include "sshd_fixture.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using nlohmann::json;
namespace stdfs = std::filesystem;

namespace {

void write(const stdfs::path& p, const std::string& s) { test::write_text(p, s); }

// An Intel host as a fake root: ACPI tables (DMAR when VTD), IOMMU devices when the kernel
// drives it, its kernel log and command line, and an SR-IOV NIC eth9 bound to mlx5_core.
void make_host(const stdfs::path& root, bool vtd, int total_vfs) {
  std::string cmdline = "BOOT_IMAGE=/boot/vmlinuz-6.1.0-fake root=/dev/vda1 ro" + std::string(vtd ? " intel_iommu=on iommu.strict=1" : "");
  write(root / "proc/cmdline", cmdline + "\n");
  write(root / "proc/sys/kernel/osrelease", "6.1.0-fake\n");
  write(root / "proc/sys/kernel/random/boot_id", "00000000-0000-4000-8000-000000000001\n");
  write(root / "sys/firmware/acpi/tables/APIC", "");
  write(root / "sys/firmware/acpi/tables/FACP", "");
  std::string log = "[    0.000000] Linux version 6.1.0-fake\n[    0.000000] Command line: " + cmdline + "\n";
  if (vtd) {
    write(root / "sys/firmware/acpi/tables/DMAR", "");
    stdfs::create_directories(root / "sys/class/iommu/dmar0");
    write(root / "sys/kernel/iommu_groups/0/type", "DMA\n");
    log += "[    0.010000] DMAR: IOMMU enabled\n";
  }
  write(root / "var/log/dmesg", log);
  stdfs::create_directories(root / "sys/bus/pci/drivers/mlx5_core");
  auto dev = root / "sys/class/net/eth9/device";
  stdfs::create_directories(dev);
  stdfs::create_directory_symlink("../../../../bus/pci/drivers/mlx5_core", dev / "driver");
  if (total_vfs > 0) write(dev / "sriov_totalvfs", std::to_string(total_vfs) + "\n");
  write(dev / "sriov_numvfs", "0\n");
  stdfs::create_directories(root / "etc/default");
  write(root / "etc/default/grub", "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n");
}

class Doctor : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = test::Sshd::unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    for (const char* p : {"redis-server", "redis-benchmark", "redis-cli"})
      if (!test::have_program(p)) GTEST_SKIP() << p << " is not installed (scripts/setup.sh installs it)";
    sshd_.start();
  }

  std::string machine(const std::string& name, const std::string& role, const stdfs::path& root) {
    return "  " + name + ":\n    role: " + role + "\n    ssh: {host: 127.0.0.1, port: " + std::to_string(sshd_.port()) +
           ", user: " + sshd_.user() + ", key: " + sshd_.client_key().string() + ", known_hosts: " +
           sshd_.known_hosts().string() + "}\n    root: " + root.string() + "\n";
  }

  // Host (redis server, NIC eth9, host policy switched with grub), a guest on libvirt's test
  // driver, and a client running CLIENT_TOOL.
  std::string spec(const std::string& client) {
    std::string s = "name: doc\noutput: " + (dir_ / "results").string() + "\nmachines:\n";
    s += machine("host", "host", dir_ / "roots/host") + "    grub_update: \"true\"\n";
    s += machine("guest", "guest", dir_ / "roots/guest");
    s += machine("client", "client", dir_ / "roots/client");
    s += "hypervisor: {uri: 'test://" + test::data_path("libvirt/libvirt-test-node.xml").string() + "', machine: host}\n";
    s += "guests:\n  vm:\n    machine: guest\n    domain: doc-guest\n    template: " +
         test::data_path("domains/network-server.xml").string() + "\n";
    s += "nic: {pf: eth9, num_vfs: 4}\n";
    s += "policy:\n  host: {policy: strict, method: grub}\n";
    s += "workloads:\n  redis:\n    server: {machine: host, bind: 127.0.0.1, port: 6399}\n    client: {machine: client, " + client +
         "}\n";
    return s;
  }

  test::ProcessResult doctor(const std::string& spec_text, bool as_json = false) {
    write(dir_ / "doc.yaml", spec_text);
    std::vector<std::string> argv = {test::binary_path().string(), "doctor", (dir_ / "doc.yaml").string()};
    if (as_json) argv.push_back("--json");
    return test::run_process(argv);
  }

  test::TempDir dir_;
  test::Sshd sshd_;
};

const json* check(const json& report, const std::string& machine, const std::string& name) {
  for (const auto& c : report["checks"])
    if (c["machine"] == machine && c["check"] == name) return &c;
  return nullptr;
}

TEST_F(Doctor, AReadyTestbedPasses) {
  make_host(dir_ / "roots/host", true, 8);
  make_host(dir_ / "roots/client", true, 0);
  stdfs::create_directories(dir_ / "roots/guest");
  auto r = doctor(spec("requests: 1000"));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("ok    host: reachable: ssh " + sshd_.user() + "@127.0.0.1:" + std::to_string(sshd_.port()) +
                       ", host key verified"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("ok    host: iommu.firmware: DMAR ACPI table present"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ok    host: iommu.kernel:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ok    host: nic.sriov: eth9 (driver mlx5_core) offers 8 VFs; the spec uses 4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ok    host: tool redis-server"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ok    client: tool redis-benchmark"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ok    libvirt: connect: test://"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ok    libvirt: domain vm: the domain XML template renders"), std::string::npos) << r.out;
  // The guest is not running yet: the campaign starts it, so it is a warning, not a failure.
  EXPECT_NE(r.out.find("warn  guest: reachable: guest domain doc-guest is not running"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("\nFAIL "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(", 0 FAIL: ready to run"), std::string::npos) << r.out;

  auto j = doctor(spec("requests: 1000"), true);
  EXPECT_EQ(j.exit_code, 0) << j.err;
  auto report = json::parse(j.out);
  EXPECT_EQ(report["ok"], true);
  ASSERT_NE(check(report, "controller", "disk"), nullptr);
  EXPECT_EQ((*check(report, "host", "root"))["status"], "ok");
}

TEST_F(Doctor, MissingPiecesFailWithTheirFix) {
  make_host(dir_ / "roots/host", false, 0);  // VT-d off in the firmware; NIC without SR-IOV
  make_host(dir_ / "roots/client", true, 0);
  stdfs::create_directories(dir_ / "roots/guest");
  auto r = doctor(spec("tool: custom, command: [iommuvm-no-such-generator, '-n', '10'], metrics: {throughput_ops: 'ops=([0-9]+)'}"));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("FAIL  host: iommu.firmware: no DMAR ACPI table under /sys/firmware/acpi/tables (fix: enable VT-d"),
            std::string::npos)
      << r.out;
  // The grub switch boots with intel_iommu=on: the kernel being off now is only a warning.
  EXPECT_NE(r.out.find("warn  host: iommu.kernel: no entries under /sys/class/iommu"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("FAIL  host: nic.sriov: eth9 (driver mlx5_core) is not SR-IOV capable"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("SRIOV_EN=1 NUM_OF_VFS=4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("FAIL  client: tool iommuvm-no-such-generator: not installed, needed for load generator of workload redis "
                       "(fix: install iommuvm-no-such-generator on client (it must be in PATH))"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("ok    host: tool redis-server"), std::string::npos) << r.out;

  auto j = doctor(spec("tool: custom, command: [iommuvm-no-such-generator], metrics: {throughput_ops: 'ops=([0-9]+)'}"), true);
  EXPECT_EQ(j.exit_code, 1);
  auto report = json::parse(j.out);
  EXPECT_EQ(report["ok"], false);
  ASSERT_NE(check(report, "host", "iommu.firmware"), nullptr);
  EXPECT_EQ((*check(report, "host", "iommu.firmware"))["status"], "fail");
}

TEST_F(Doctor, AnUnknownHostKeyIsRefused) {
  make_host(dir_ / "roots/host", true, 8);
  make_host(dir_ / "roots/client", true, 0);
  std::string s = spec("requests: 1000");
  // The host is reached with a known_hosts file that does not know this sshd.
  write(dir_ / "empty_known_hosts", "");
  auto kh = sshd_.known_hosts().string();
  auto at = s.find(kh);
  ASSERT_NE(at, std::string::npos);
  s.replace(at, kh.size(), (dir_ / "empty_known_hosts").string());
  auto r = doctor(s);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("FAIL  host: reachable:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("known_hosts"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ok    client: reachable"), std::string::npos) << r.out;
}

TEST(DoctorCli, BadSpecIsExit2WithFileLineCol) {
  test::TempDir dir;
  write(dir / "bad.yaml", "name: x\nmachines:\n  local: {local: true, sudo: maybe}\nworkloads: {redis: {}}\n");
  auto r = test::run_process({test::binary_path().string(), "doctor", (dir / "bad.yaml").string()});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("bad.yaml:3:"), std::string::npos) << r.err;
}

TEST(DoctorCli, TheLoopbackExampleOnThisMachine) {
  for (const char* p : {"redis-server", "memcached", "nginx", "redis-benchmark", "memcaslap", "wrk"})
    if (!test::have_program(p)) GTEST_SKIP() << p << " is not installed (scripts/setup.sh installs it)";
  auto r = test::run_process({test::binary_path().string(), "doctor", "--json",
                              (stdfs::path(IOMMUVM_SOURCE_DIR) / "configs/examples/loopback.yaml").string()});
  auto report = json::parse(r.out);
  // Every tool is there and nothing needs root; the machine's IOMMU may be anything.
  for (const auto& c : report["checks"]) {
    if (c["check"].get<std::string>().rfind("tool ", 0) == 0) {
      EXPECT_EQ(c["status"], "ok") << c;
    }
    EXPECT_NE(c["check"], "root") << c;
  }
  EXPECT_EQ((*check(report, "local", "reachable"))["status"], "ok");
}

}  // namespace
