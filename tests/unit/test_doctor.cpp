// `iommuvm doctor`: what a campaign needs of its machines (from the plan), and the pure
// checks over fact sets.
#include <gtest/gtest.h>

#include "iommuvm/doctor/doctor.hpp"
#include "iommuvm/spec/matrix.hpp"
#include "iommuvm/workload/generators.hpp"
#include "iommuvm/workload/servers.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using doctor::Status;

namespace {

plan::Plan plan_of(const std::string& text) {
  auto loaded = spec::load_text(text, "t.yaml");
  EXPECT_FALSE(loaded.diag.has_errors());
  for (const auto& d : loaded.diag.sorted()) ADD_FAILURE() << d.format();
  auto points = spec::expand(loaded, loaded.diag);
  return plan::build(loaded.spec, std::move(points));
}

const std::string kTestbed = R"(name: t
machines:
  host: {ssh: root@r650:22, vendor: intel}
  guest: {ssh: {host: 10.0.0.2, user: schai}}
  client: {ssh: {host: client1, user: alice}, sudo: true, tuning: {interface: eth1, mtu: 9000}}
hypervisor: {uri: 'qemu:///system', machine: host}
nic: {pf: enp202s0f0np0, pci: '0000:ca:00.0', num_vfs: 4, host_ip: 10.10.1.1/24}
guests:
  vm: {machine: guest, template: vm.xml, viommu: intel, vf: 0, data_ip: 10.10.1.100/24}
policy:
  host: {policy: [strict, passthrough], method: grub}
  guest: strict
workloads:
  memcached:
    server: {machine: guest, port: 11211}
    client: {machine: client, tool: memaslap, duration: 5s}
collectors:
  cpu: {kind: mpstat, machine: host}
)";

const doctor::Needs& of(const std::vector<doctor::Needs>& v, const std::string& name) {
  for (const auto& n : v)
    if (n.machine == name) return n;
  throw std::runtime_error("no needs for " + name);
}

doctor::Needs intel_host() {
  doctor::Needs n;
  n.machine = "host";
  n.login = "ssh root@h:22";
  n.iommu_host = true;
  n.iommu_required = true;
  n.vendor = policy::Vendor::intel;
  return n;
}

doctor::MachineFacts healthy_intel() {
  doctor::MachineFacts f;
  f.reachable = true;
  f.is_root = true;
  f.acpi_tables = std::vector<std::string>{"APIC", "DMAR", "FACP"};
  f.evidence.cmdline = "BOOT_IMAGE=/vmlinuz root=/dev/sda1 intel_iommu=on iommu.strict=1";
  f.evidence.dmesg = "[    0.010000] DMAR: IOMMU enabled\n";
  f.evidence.iommu_devices = std::vector<std::string>{"dmar0", "dmar1"};
  return f;
}

const doctor::Check* find(const std::vector<doctor::Check>& v, const std::string& machine, const std::string& name) {
  for (const auto& c : v)
    if (c.machine == machine && c.name == name) return &c;
  return nullptr;
}

}  // namespace

TEST(DoctorNeeds, FollowTheStepsOfThePlan) {
  auto needs = doctor::needs(plan_of(kTestbed));
  ASSERT_EQ(needs.size(), 3u);
  const auto& host = of(needs, "host");
  EXPECT_TRUE(host.iommu_host);
  EXPECT_TRUE(host.iommu_required);
  EXPECT_TRUE(host.iommu_switched) << "grub switches turn the IOMMU on by themselves";
  EXPECT_FALSE(host.root.empty());
  EXPECT_EQ(host.nic_pf, "enp202s0f0np0");
  EXPECT_EQ(host.num_vfs, 4);
  EXPECT_TRUE(host.programs.count("update-grub"));
  EXPECT_TRUE(host.optional_programs.count("mpstat"));
  EXPECT_EQ(host.login, "ssh root@r650:22");

  const auto& guest = of(needs, "guest");
  EXPECT_EQ(guest.guest_domain, "vm");
  EXPECT_FALSE(guest.iommu_host);
  EXPECT_TRUE(guest.programs.count("memcached")) << "the server runs on the guest";
  EXPECT_FALSE(guest.root.empty()) << "the VF gets its address as root";
  EXPECT_TRUE(guest.programs.count("ip"));

  const auto& client = of(needs, "client");
  EXPECT_TRUE(client.programs.count("memcaslap")) << "Debian's memaslap is called memcaslap";
  EXPECT_FALSE(client.programs.count("memcached")) << "servers only where they run";
  EXPECT_EQ(client.root, std::vector<std::string>{"tuning"});
}

// A NIC without SR-IOV (num_vfs absent or 0: the PF itself is measured, e.g. by the runtime
// method) plans no VF set-up, so doctor asks nothing about VFs either.
TEST(DoctorNeeds, ANicWithoutVfsPlansNoVfSetup) {
  std::string spec = R"(name: t
machines:
  host: {ssh: root@h:22, vendor: intel}
nic: {pf: enp0s4}
policy:
  host: {policy: [strict, passthrough], method: runtime}
workloads:
  redis:
    server: {machine: host}
    client: {machine: host, tool: redis-benchmark}
)";
  auto p = plan_of(spec);
  for (const auto& s : p.steps) EXPECT_NE(s.kind, plan::kind::nic_setup_vfs) << s.summary;
  auto all = doctor::needs(p);  // kept: `of` returns a reference into it
  const auto& host = of(all, "host");
  EXPECT_EQ(host.num_vfs, 0);
  EXPECT_TRUE(host.nic_pf.empty());
  std::string two = spec;
  two.replace(two.find("nic: {pf: enp0s4}"), 17, "nic: {pf: enp0s4, num_vfs: 2}");
  int setups = 0;
  for (const auto& s : plan_of(two).steps) setups += s.kind == plan::kind::nic_setup_vfs;
  EXPECT_EQ(setups, 1);
}

TEST(DoctorNeeds, AsIsOnALocalMachineNeedsNoRootAndNoIommu) {
  auto needs = doctor::needs(plan_of(R"(name: l
machines: {local: {local: true}}
workloads:
  redis: {client: {requests: 1000}}
  nginx: {client: {duration: 1s}}
)"));
  ASSERT_EQ(needs.size(), 1u);
  const auto& n = needs.front();
  EXPECT_TRUE(n.local);
  EXPECT_TRUE(n.root.empty());
  EXPECT_TRUE(n.iommu_host) << "the machine's policy is recorded";
  EXPECT_FALSE(n.iommu_required);
  for (const char* p : {"redis-server", "redis-benchmark", "redis-cli", "nginx", "wrk"}) EXPECT_TRUE(n.programs.count(p)) << p;
}

TEST(DoctorChecks, AHealthyIntelHostPasses) {
  auto checks = doctor::check_iommu(intel_host(), healthy_intel());
  ASSERT_EQ(checks.size(), 4u);
  for (const auto& c : checks) EXPECT_EQ(c.status, Status::ok) << doctor::format_line(c);
  EXPECT_NE(find(checks, "host", "iommu.log")->detail.find("DMAR: IOMMU enabled"), std::string::npos);
  EXPECT_NE(find(checks, "host", "iommu.cmdline")->detail.find("requests strict"), std::string::npos);
  EXPECT_NE(find(checks, "host", "iommu.kernel")->detail.find("dmar0 dmar1"), std::string::npos);
}

TEST(DoctorChecks, NoDmarTableMeansVtdIsOffInTheFirmware) {
  auto f = healthy_intel();
  f.acpi_tables = std::vector<std::string>{"APIC", "FACP"};
  f.evidence.iommu_devices = std::vector<std::string>{};
  f.evidence.dmesg = "[    0.0] Linux version 6.1\n";
  auto checks = doctor::check_iommu(intel_host(), f);
  const auto* fw = find(checks, "host", "iommu.firmware");
  ASSERT_NE(fw, nullptr);
  EXPECT_EQ(fw->status, Status::fail);
  EXPECT_NE(fw->detail.find("no DMAR ACPI table"), std::string::npos);
  EXPECT_NE(fw->fix.find("enable VT-d"), std::string::npos);
  // The kernel check also fails, and its fix says the firmware comes first.
  const auto* k = find(checks, "host", "iommu.kernel");
  EXPECT_EQ(k->status, Status::fail);
  EXPECT_NE(k->fix.find("intel_iommu=on"), std::string::npos);
  EXPECT_NE(k->fix.find("firmware"), std::string::npos);
  EXPECT_EQ(find(checks, "host", "iommu.log")->status, Status::warn);
}

TEST(DoctorChecks, AnAmdTableOnAnIntelMachineSaysWhichVendor) {
  auto f = healthy_intel();
  f.acpi_tables = std::vector<std::string>{"IVRS"};
  auto fw = *find(doctor::check_iommu(intel_host(), f), "host", "iommu.firmware");
  EXPECT_EQ(fw.status, Status::fail);
  EXPECT_NE(fw.fix.find("vendor: amd"), std::string::npos);
}

TEST(DoctorChecks, IommuOffInTheKernelIsOnlyAWarningWhenTheCampaignSwitchesItOn) {
  auto f = healthy_intel();
  f.evidence.cmdline = "root=/dev/sda1 intel_iommu=off";
  f.evidence.iommu_devices = std::vector<std::string>{};
  f.evidence.dmesg = "[    0.0] DMAR: IOMMU disabled\n";
  auto n = intel_host();
  n.iommu_switched = true;
  auto k = *find(doctor::check_iommu(n, f), "host", "iommu.kernel");
  EXPECT_EQ(k.status, Status::warn);
  EXPECT_NE(k.detail.find("intel_iommu=off on the command line"), std::string::npos);
  n.iommu_switched = false;  // as-is or runtime: nothing will turn it on
  EXPECT_EQ(find(doctor::check_iommu(n, f), "host", "iommu.kernel")->status, Status::fail);
  n.iommu_required = false;  // nothing needs it at all
  EXPECT_EQ(find(doctor::check_iommu(n, f), "host", "iommu.kernel")->status, Status::warn);
}

TEST(DoctorChecks, SriovNicAndDriver) {
  doctor::Needs n = intel_host();
  n.nic_pf = "enp202s0f0np0";
  n.num_vfs = 4;
  doctor::MachineFacts f;
  f.reachable = true;
  EXPECT_FALSE(doctor::check_nic(doctor::Needs{}, f).has_value());
  f.nic_present = false;
  auto c = *doctor::check_nic(n, f);
  EXPECT_EQ(c.status, Status::fail);
  EXPECT_NE(c.fix.find("ip link"), std::string::npos);
  f.nic_present = true;
  EXPECT_NE(doctor::check_nic(n, f)->detail.find("no driver bound"), std::string::npos);
  f.nic_driver = "mlx5_core";
  c = *doctor::check_nic(n, f);
  EXPECT_EQ(c.status, Status::fail);
  EXPECT_NE(c.fix.find("SRIOV_EN=1 NUM_OF_VFS=4"), std::string::npos);
  f.sriov_totalvfs = "2";
  c = *doctor::check_nic(n, f);
  EXPECT_EQ(c.status, Status::fail);
  EXPECT_NE(c.detail.find("offers 2 VFs"), std::string::npos);
  f.sriov_totalvfs = "8";
  c = *doctor::check_nic(n, f);
  EXPECT_EQ(c.status, Status::ok);
  EXPECT_NE(c.detail.find("mlx5_core"), std::string::npos);
}

TEST(DoctorChecks, RootThroughSudo) {
  doctor::Needs n;
  n.machine = "client";
  doctor::MachineFacts f;
  f.reachable = true;
  f.is_root = false;
  EXPECT_FALSE(doctor::check_root(n, f).has_value()) << "nothing needs root";
  n.root = {"tuning"};
  f.sudo_ok = false;
  f.sudo_error = "sudo on client needs a password";
  auto c = *doctor::check_root(n, f);
  EXPECT_EQ(c.status, Status::fail);
  EXPECT_NE(c.fix.find("NOPASSWD"), std::string::npos);
  EXPECT_NE(c.detail.find("tuning"), std::string::npos);
  f.sudo_ok = true;
  EXPECT_EQ(doctor::check_root(n, f)->status, Status::ok);
  n.sudo_allowed = false;
  c = *doctor::check_root(n, f);
  EXPECT_EQ(c.status, Status::fail);
  EXPECT_NE(c.fix.find("sudo: true"), std::string::npos);
  f.is_root = true;
  EXPECT_EQ(doctor::check_root(n, f)->status, Status::ok);
}

TEST(DoctorChecks, MissingToolsNameTheirPackage) {
  doctor::Needs n;
  n.machine = "client";
  n.programs = {{"memcaslap", "load generator of workload memcached"}};
  n.optional_programs = {{"perf", "collector p (perf-stat)"}};
  doctor::MachineFacts f;
  f.reachable = true;
  f.programs = {{"memcaslap", false}, {"perf", false}};
  auto checks = doctor::check_programs(n, f);
  ASSERT_EQ(checks.size(), 2u);
  const auto* gen = find(checks, "client", "tool memcaslap");
  EXPECT_EQ(gen->status, Status::fail);
  EXPECT_EQ(gen->fix, "apt-get install libmemcached-tools on client");
  EXPECT_EQ(find(checks, "client", "tool perf")->status, Status::warn);
  f.programs["memcaslap"] = true;
  EXPECT_EQ(find(doctor::check_programs(n, f), "client", "tool memcaslap")->status, Status::ok);
}

TEST(DoctorChecks, UnreachableMachinesAndGuestsThatAreNotUp) {
  doctor::Needs n;
  n.machine = "host";
  n.login = "ssh root@h:22";
  doctor::MachineFacts f;
  f.connect_error = "the host key of root@h:22 does not match known_hosts";
  auto c = doctor::check_reachable(n, f, false);
  EXPECT_EQ(c.status, Status::fail);
  EXPECT_NE(c.fix.find("known_hosts"), std::string::npos);
  f.connect_error = "cannot connect to root@h:22 (h:22): Connection refused";
  EXPECT_NE(doctor::check_reachable(n, f, false).fix.find("sshd"), std::string::npos);
  n.guest_domain = "vm";
  c = doctor::check_reachable(n, f, false);
  EXPECT_EQ(c.status, Status::warn) << "the campaign starts the guest";
  EXPECT_EQ(doctor::check_reachable(n, f, true).status, Status::fail) << "a running guest must answer";
  f.reachable = true;
  EXPECT_EQ(doctor::check_reachable(n, f, true).status, Status::ok);

  // check_all gives an unreachable machine only its reachability line.
  doctor::Needs host = intel_host();
  doctor::MachineFacts down;
  down.connect_error = "Connection refused";
  auto all = doctor::check_all({host}, {{"host", down}}, {}, {"results", 10ull << 30});
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "reachable");
  EXPECT_EQ(all[1].name, "disk");
  EXPECT_FALSE(doctor::passed(all));
}

TEST(DoctorChecks, LibvirtAndDisk) {
  doctor::HypervisorFacts h;
  EXPECT_TRUE(doctor::check_hypervisor(h).empty());
  h.needed = true;
  h.uri = "qemu:///system";
  h.error = "Failed to connect socket";
  h.template_errors = {{"vm", "not a domain XML"}};
  auto c = doctor::check_hypervisor(h);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].status, Status::fail);
  EXPECT_NE(c[0].fix.find("libvirtd"), std::string::npos);
  EXPECT_EQ(c[1].status, Status::fail);
  EXPECT_EQ(c[1].name, "domain vm");

  EXPECT_EQ(doctor::check_disk({"r", 50ull << 20}).status, Status::fail);
  EXPECT_EQ(doctor::check_disk({"r", 500ull << 20}).status, Status::warn);
  EXPECT_EQ(doctor::check_disk({"r", 5ull << 30}).status, Status::ok);
  EXPECT_EQ(doctor::check_disk({"r", std::nullopt}).status, Status::warn);
}

TEST(DoctorOutput, OneLinePerCheckAndJson) {
  std::vector<doctor::Check> checks = {{"host", "reachable", Status::ok, "local", ""},
                                       {"host", "tool wrk", Status::fail, "not installed", "apt-get install wrk on host"}};
  EXPECT_EQ(doctor::format_line(checks[0]), "ok    host: reachable: local");
  EXPECT_EQ(doctor::format_line(checks[1]), "FAIL  host: tool wrk: not installed (fix: apt-get install wrk on host)");
  auto j = doctor::to_json(checks);
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["checks"][1]["status"], "fail");
  EXPECT_EQ(j["checks"][1]["fix"], "apt-get install wrk on host");
  EXPECT_FALSE(j["checks"][0].contains("fix"));
}

// The fix doctor prints for a missing load generator names its descriptor's Debian package.
TEST(Doctor, GeneratorPackagesComeFromTheRegistry) {
  EXPECT_EQ(doctor::debian_package("redis-benchmark"), "redis-tools");
  EXPECT_EQ(doctor::debian_package("memcaslap"), "libmemcached-tools");
  EXPECT_EQ(doctor::debian_package("wrk"), "wrk");
  EXPECT_EQ(doctor::debian_package("wrk2"), "");  // none in Debian: doctor says to install it in PATH
  EXPECT_EQ(doctor::debian_package("nginx"), "nginx");  // a server, from its kind's descriptor
  for (const auto* g : iommuvm::workload::generators())
    for (const auto& p : g->programs) EXPECT_EQ(doctor::debian_package(p), g->package) << p;
  for (const auto* k : iommuvm::workload::server_kinds())  // the servers' packages from their descriptors
    for (const auto& p : k->programs) EXPECT_EQ(doctor::debian_package(p.name), p.package) << p.name;
  EXPECT_EQ(doctor::debian_package("redis-cli"), "redis-tools");
}
