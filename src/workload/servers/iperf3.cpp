// The iperf3 server kind (iperf3 -s): ready when its port accepts a TCP connection.
#include "../internal.hpp"
#include "iommuvm/workload/servers.hpp"

namespace iommuvm::workload {

using namespace detail;

namespace {

void build(const ServerArgs& a, ServerPlan& plan) {
  auto& argv = plan.command.argv;
  argv = {"iperf3", "-s", "-p", a.port};
  if (!wildcard(a.address)) argv.insert(argv.end(), {"-B", a.address});
}

}  // namespace

const ServerKind& iperf3_server_kind() {
  static const ServerKind k{
      .name = "iperf3",
      .programs = {{"iperf3", {"--version"}, "iperf3"}},
      .default_port = 5201,
      .instances = true,
      .build = build,
  };
  return k;
}

}  // namespace iommuvm::workload
