// libvirt on the host, from a controller elsewhere: the spec says `hypervisor: {uri: qemu:///system,
// machine: host}` with `host` the VM of scripts/build-host.sh reached over SSH, as the shipped
// configs/examples/testbed.yaml does. iommuvm must reach the libvirtd running inside the VM over
// that machine's SSH settings (engine::hypervisor_uri: qemu+libssh://root@VM/system with the
// image's key and known_hosts), never the controller's own. The VM is reachable only inside its
// network namespace, so the binary runs there (ip netns exec) and the in-process part runs on a
// thread that joined it (test::run_in_netns).
#include <gtest/gtest.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "host_vm.hpp"
#include "campaign_fixture.hpp"
#include "host_vm_checks.hpp"
#include "iommuvm/engine/connect.hpp"
#include "iommuvm/engine/guest_xml.hpp"
#include "iommuvm/spec/load.hpp"
#include "iommuvm/virt/libvirt.hpp"
#include "netns.hpp"

using namespace iommuvm;
using namespace iommuvm::test::hostvm;

namespace {

// The VM as host, a guest of the TCG template whose domain libvirt on the VM is to hold. The
// guest machine's address is never contacted (the guest is defined, not started).
std::string libvirt_spec(const test::TempDir& tmp, const std::string& domain) {
  return test::hostvm::spec("host-libvirt", tmp.path() / "results",
              fmt::format("  guest:\n"
                          "    role: guest\n"
                          "    ssh: {{host: 192.168.150.2, user: root, connect_timeout: 1s}}\n"
                          "    sudo: false\n"
                          "hypervisor: {{uri: 'qemu:///system', machine: host}}\n"
                          "guests:\n"
                          "  g:\n"
                          "    machine: guest\n"
                          "    domain: {}\n"
                          "    template: {}/configs/domains/tcg-viommu.xml\n"
                          "    domain_type: qemu\n"
                          "    vcpus: 1\n"
                          "    memory_mib: 256\n"
                          "    kernel: /var/lib/iommuvm-test/vmlinuz\n"
                          "    initrd: /var/lib/iommuvm-test/initrd.img\n"
                          "    cmdline: console=ttyS0\n"
                          "    viommu: {{model: intel, caching_mode: true, intremap: true}}\n"
                          "policy: {{host: as-is, guest: strict}}\n"
                          "workloads:\n"
                          "  redis:\n"
                          "    server: {{machine: guest, port: 6379}}\n"
                          "    client: {{machine: client, tool: redis-benchmark, requests: 100}}\n",
                          domain, IOMMUVM_SOURCE_DIR));
}

// The names of the domains the VM's libvirtd holds (virsh on the VM, over plain ssh).
std::string vm_domains() { return ssh("virsh -c qemu:///system list --all --name").out; }

}  // namespace

TEST(HostLibvirt, LocalFormUriForTheHostDefinesDumpsAndUndefinesInTheVmsLibvirtd) {
  IOMMUVM_REQUIRE_HOST_VM();
  auto version = ssh("virsh -c qemu:///system version --daemon");
  ASSERT_EQ(version.exit_code, 0) << "libvirtd in the host VM (scripts/build-host.sh installs libvirt-daemon-system): "
                                  << version.out << version.err;
  test::TempDir tmp;
  const std::string domain = fmt::format("iommuvm-host-libvirt-{}", ::getpid());
  auto spec_path = tmp.path() / "spec.yaml";
  test::write_text(spec_path, libvirt_spec(tmp, domain));
  auto l = spec::load_file(spec_path.string());
  ASSERT_FALSE(l.diag.has_errors());
  const std::string uri = engine::hypervisor_uri(l.spec);
  EXPECT_EQ(uri.rfind(fmt::format("qemu+libssh://root@{}/system?", kVmIp), 0), 0u) << uri;

  // The binary: doctor connects to that libvirtd (its libvirt line names the derived URI).
  auto doc = run_iommuvm({"doctor", "--json", spec_path.string()});
  auto checks = nlohmann::json::parse(doc.result.out, nullptr, false);
  ASSERT_FALSE(checks.is_discarded()) << doc.result.out << doc.result.err;
  bool connect_seen = false;
  for (const auto& c : checks.value("checks", nlohmann::json::array())) {
    if (c.value("machine", "") != "libvirt" || c.value("check", "") != "connect") continue;
    connect_seen = true;
    EXPECT_EQ(c.value("status", ""), "ok") << c.dump();
    EXPECT_NE(c.value("detail", "").find("qemu+libssh://root@" + std::string(kVmIp)), std::string::npos) << c.dump();
  }
  EXPECT_TRUE(connect_seen) << doc.result.out;
  // `vm render --connect` asks the same libvirtd (before, it opened hypervisor.uri as written).
  auto render = run_iommuvm({"vm", "render", "--connect", spec_path.string()});
  EXPECT_EQ(render.result.exit_code, 0) << render.result.err;
  EXPECT_NE(render.result.out.find("<name>" + domain + "</name>"), std::string::npos) << render.result.out;

  // The engine's own path to a guest definition (hypervisor_uri, connect_libvirt, the rendered
  // template with its vIOMMU, define_if_changed), from inside the VM's namespace.
  std::string dumped, listed_while_defined, after_undefine;
  bool defined = false, defined_again = true;
  test::run_in_netns(ns(), [&] {
    auto hv = virt::connect_libvirt(uri);
    const auto& g = l.spec.guests.front();
    std::string xml = engine::render_guest_xml(l.spec, g, hv.get(), spec_path.parent_path(), nullptr);
    defined = virt::define_if_changed(*hv, xml);
    defined_again = virt::define_if_changed(*hv, xml);  // same content hash: no second define
    dumped = hv->domain_xml(domain, true).value_or("");
    listed_while_defined = vm_domains();
    hv->undefine(domain);
    after_undefine = vm_domains();
  });
  EXPECT_TRUE(defined);
  EXPECT_FALSE(defined_again);
  EXPECT_NE(dumped.find("<name>" + domain + "</name>"), std::string::npos) << dumped;
  EXPECT_NE(dumped.find("<iommu model='intel'>"), std::string::npos) << dumped;
  EXPECT_NE(dumped.find("caching_mode='on'"), std::string::npos) << dumped;
  // It was the VM's libvirtd: virsh on the VM lists it while defined, and not after.
  EXPECT_NE(listed_while_defined.find(domain), std::string::npos) << listed_while_defined;
  EXPECT_EQ(after_undefine.find(domain), std::string::npos) << after_undefine;
  // The controller's own libvirtd (when one answers here) never saw it.
  auto local = test::run_process({"virsh", "-c", "qemu:///system", "list", "--all", "--name"});
  if (local.exit_code == 0) {
    EXPECT_EQ(local.out.find(domain), std::string::npos) << local.out;
  }
}
