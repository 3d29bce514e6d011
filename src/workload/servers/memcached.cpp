// The memcached server kind: ready when a `version` request answers VERSION.
#include <fmt/format.h>

#include "../internal.hpp"
#include "iommuvm/workload/servers.hpp"

namespace iommuvm::workload {

using namespace detail;

namespace {

void build(const ServerArgs& a, ServerPlan& plan) {
  const auto& s = a.w.server;
  auto& argv = plan.command.argv;
  argv = {"memcached", "-p", a.port, "-U", "0"};
  if (!wildcard(a.address)) argv.insert(argv.end(), {"-l", a.address});
  if (s.threads > 0) argv.insert(argv.end(), {"-t", str(s.threads)});
  if (s.memory_mib > 0) argv.insert(argv.end(), {"-m", str(s.memory_mib)});
  if (s.max_connections > 0) argv.insert(argv.end(), {"-c", str(s.max_connections)});
  if (a.ctx.as_root) argv.insert(argv.end(), {"-u", "root"});
}

bool ready(const ReadyArgs& a, ReadyCheck& r) {
  r.description = fmt::format("memcached version on {}:{}", a.address, a.port);
  r.command.argv = {"bash", "-c", bash_tcp_script(" && printf 'version\\r\\n' >&3 && timeout 2 head -n 1 <&3"),
                    "iommuvm-ready", a.address, a.port};
  r.expect = "VERSION";
  return true;
}

}  // namespace

const ServerKind& memcached_server_kind() {
  static const ServerKind k{
      .name = "memcached",
      .programs = {{"memcached", {"-V"}, "memcached"}},
      .default_port = 11211,
      .build = build,
      .ready = ready,
  };
  return k;
}

}  // namespace iommuvm::workload
