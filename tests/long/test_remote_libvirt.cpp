// libvirtd on hypervisor.machine reached over that machine's SSH settings (engine::hypervisor_uri):
// a spec with `hypervisor: {uri: qemu:///system, machine: host}` and `host` reached over SSH
// (a real sshd on 127.0.0.1, its key and known_hosts) talks to libvirtd through libvirt's libssh
// transport, defines, reads back and undefines a domain there. Here the SSH server and libvirtd
// are on the same machine (scripts/libvirtd.sh start), so the test also checks that the
// connection really went through SSH: sshd logs the session. Label long: it needs libvirtd.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fmt/format.h>

#include "iommuvm/engine/connect.hpp"
#include "iommuvm/spec/load.hpp"
#include "iommuvm/virt/libvirt.hpp"
#include "sshd_fixture.hpp"
#include "test_support.hpp"

using namespace iommuvm;

TEST(RemoteLibvirt, LocalFormUriOfAnSshHostReachesItsLibvirtdOverSsh) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (qemu:///system)";
  if (auto why = test::Sshd::unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
  if (test::run_process({"virsh", "-c", "qemu:///system", "version"}).exit_code != 0)
    GTEST_SKIP() << "libvirtd does not answer on qemu:///system: run scripts/libvirtd.sh start";
  // The spec: host = the sshd ON, with its client key, and the known_hosts file of KNOWN.
  auto spec_text = [](const test::Sshd& on, const test::Sshd& known) {
    return fmt::format(
        "name: t\nmachines:\n  host:\n    ssh: {{host: 127.0.0.1, port: {}, user: {}, key: {}, known_hosts: {}, agent: false}}\n"
        "hypervisor: {{uri: 'qemu:///system', machine: host}}\nworkloads:\n  redis: {{}}\n",
        on.port(), on.user(), on.client_key().string(), known.known_hosts().string());
  };
  test::Sshd sshd;
  sshd.start();
  auto l = spec::load_text(spec_text(sshd, sshd), "t.yaml");
  ASSERT_FALSE(l.diag.has_errors());
  std::string uri = engine::hypervisor_uri(l.spec);
  ASSERT_EQ(uri.rfind("qemu+libssh://", 0), 0u) << uri;

  auto hv = virt::connect_libvirt(uri);
  const std::string name = fmt::format("iommuvm-remote-libvirt-{}", ::getpid());
  hv->define(fmt::format("<domain type='qemu'><name>{}</name><memory unit='MiB'>64</memory>"
                         "<os><type arch='x86_64'>hvm</type></os></domain>",
                         name));
  auto xml = hv->domain_xml(name, true);
  hv->undefine(name);
  ASSERT_TRUE(xml.has_value());
  EXPECT_NE(xml->find("<name>" + name + "</name>"), std::string::npos) << *xml;
  EXPECT_FALSE(hv->domain_xml(name, true).has_value());
  // It went through SSH: sshd accepted the key for this session.
  EXPECT_NE(sshd.log().find("Accepted publickey"), std::string::npos) << sshd.log();

  // An unknown host key is refused (host_key_check strict by default): no libvirt session.
  test::Sshd other;
  other.start();
  auto l2 = spec::load_text(spec_text(other, sshd), "t.yaml");
  EXPECT_THROW(virt::connect_libvirt(engine::hypervisor_uri(l2.spec)), std::exception);
}
