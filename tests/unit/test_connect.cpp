// engine::hypervisor_uri: which libvirtd a spec's hypervisor means. A local-form URI for a
// machine reached over SSH must reach that machine's libvirtd, never the controller's own.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "iommuvm/engine/connect.hpp"
#include "iommuvm/spec/load.hpp"
#include "iommuvm/util/error.hpp"

using namespace iommuvm;

namespace {

spec::Spec spec_of(const std::string& machines, const std::string& hypervisor) {
  auto l = spec::load_text("name: t\nmachines:\n" + machines + "hypervisor: " + hypervisor +
                               "\nworkloads:\n  redis: {}\n",
                           "t.yaml");
  for (const auto& d : l.diag.sorted()) ADD_FAILURE() << d.format();
  return l.spec;
}

}  // namespace

TEST(HypervisorUri, ALocalFormUriForAnSshMachineGoesThroughItsSsh) {
  auto s = spec_of("  host:\n    ssh: {host: r650.lab, user: alice, port: 2222, key: /keys/id_ed25519, known_hosts: /kh/hosts}\n",
                   "{uri: 'qemu:///system', machine: host}");
  EXPECT_EQ(engine::hypervisor_uri(s),
            "qemu+libssh://alice@r650.lab:2222/system?keyfile=/keys/id_ed25519&known_hosts=/kh/hosts&known_hosts_verify=normal"
            "&sshauth=agent,privkey");
  // accept-new and off map to libssh's auto and ignore; port 22 and no user stay out; no agent.
  auto t = spec_of("  host:\n    ssh: {host: 10.0.0.5, host_key_check: accept-new, agent: false, known_hosts: '/a b/k'}\n",
                   "{uri: 'qemu:///session', machine: host}");
  EXPECT_EQ(engine::hypervisor_uri(t),
            "qemu+libssh://10.0.0.5/session?known_hosts=/a%20b/k&known_hosts_verify=auto&sshauth=privkey");
}

TEST(HypervisorUri, WrittenInFullOrLocalStaysAsIs) {
  const std::string ssh_host = "  host:\n    ssh: {host: r650}\n";
  for (const char* uri : {"qemu+ssh://root@r650/system", "qemu+tls://r650/system", "qemu://r650/system",
                          "test:///abs/node.xml"})
    EXPECT_EQ(engine::hypervisor_uri(spec_of(ssh_host, fmt::format("{{uri: '{}', machine: host}}", uri))), uri) << uri;
  // The controller's own libvirtd: a local machine, or no hypervisor.machine.
  EXPECT_EQ(engine::hypervisor_uri(spec_of("  host: {local: true}\n", "{uri: 'qemu:///system', machine: host}")),
            "qemu:///system");
  EXPECT_EQ(engine::hypervisor_uri(spec_of(ssh_host, "{uri: 'qemu:///system'}")), "qemu:///system");
}

TEST(HypervisorUri, AJumpHostIsRefusedWithWhatToDo) {
  auto s = spec_of("  gw:\n    ssh: {host: gw.lab}\n  host:\n    ssh: {host: r650, jump: gw}\n",
                   "{uri: 'qemu:///system', machine: host}");
  try {
    engine::hypervisor_uri(s);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("through the jump host 'gw': give hypervisor.uri in full"), std::string::npos) << e.what();
  }
}
