// The custom server kind: server.command as given, server.port required; ready by server.ready
// (a command) when it gives one, else a TCP connect.
#include <fmt/format.h>

#include "../internal.hpp"
#include "iommuvm/util/error.hpp"
#include "iommuvm/util/shell.hpp"
#include "iommuvm/workload/servers.hpp"

namespace iommuvm::workload {

namespace {

void build(const ServerArgs& a, ServerPlan& plan) {
  const auto& s = a.w.server;
  if (s.command.empty())
    throw InputError(fmt::format("workload '{}': a custom server needs server.command", a.w.name));
  plan.command.argv = s.command;
}

bool ready(const ReadyArgs& a, ReadyCheck& r) {
  const std::string& ready = a.w.server.ready;
  if (ready.empty() || ready == "tcp") return false;
  r.description = fmt::format("custom readiness: {}", ready);
  r.command.argv = shell::split(ready);
  return true;
}

}  // namespace

const ServerKind& custom_server_kind() {
  static const ServerKind k{
      .name = "custom",
      .default_port = 0,
      .build = build,
      .ready = ready,
  };
  return k;
}

}  // namespace iommuvm::workload
