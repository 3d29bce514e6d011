// The redis server kind: redis-server, ready when redis-cli PING answers PONG.
#include <fmt/format.h>

#include "../internal.hpp"
#include "iommuvm/workload/servers.hpp"

namespace iommuvm::workload {

using namespace detail;

namespace {

void build(const ServerArgs& a, ServerPlan& plan) {
  const auto& s = a.w.server;
  auto& argv = plan.command.argv;
  argv = {"redis-server", "--port", a.port, "--bind", a.address, "--protected-mode", "no",
          "--save", "", "--appendonly", "no", "--daemonize", "no"};
  if (!a.ctx.work_dir.empty()) argv.insert(argv.end(), {"--dir", a.ctx.work_dir});
  if (s.threads > 1) argv.insert(argv.end(), {"--io-threads", str(s.threads), "--io-threads-do-reads", "yes"});
  if (s.max_connections > 0) argv.insert(argv.end(), {"--maxclients", str(s.max_connections)});
  if (s.memory_mib > 0) argv.insert(argv.end(), {"--maxmemory", str(s.memory_mib) + "mb"});
}

bool ready(const ReadyArgs& a, ReadyCheck& r) {
  r.description = fmt::format("redis PING on {}:{}", a.address, a.port);
  r.command.argv = {"redis-cli", "-h", a.address, "-p", a.port, "ping"};
  r.expect = "PONG";
  return true;
}

}  // namespace

const ServerKind& redis_server_kind() {
  static const ServerKind k{
      .name = "redis",
      .programs = {{"redis-server", {"--version"}, "redis-server"}, {"redis-cli", {}, "redis-tools"}},
      .default_port = 6379,
      .instances = true,
      .build = build,
      .ready = ready,
  };
  return k;
}

}  // namespace iommuvm::workload
