// The list of server kinds: the one place that names them all. Each is defined in
// servers/<kind>.cpp; adding one is a file there, a line here, and its tests.
#include "iommuvm/workload/servers.hpp"

#include <fmt/format.h>

namespace iommuvm::workload {

const ServerKind& redis_server_kind();
const ServerKind& memcached_server_kind();
const ServerKind& nginx_server_kind();
const ServerKind& iperf3_server_kind();
const ServerKind& custom_server_kind();

const std::vector<const ServerKind*>& server_kinds() {
  // Functions, not globals: the spec reader's tables may ask before main().
  static const std::vector<const ServerKind*> all = {&redis_server_kind(), &memcached_server_kind(),
                                                     &nginx_server_kind(), &iperf3_server_kind(),
                                                     &custom_server_kind()};
  return all;
}

const ServerKind* find_server_kind(std::string_view name) {
  for (const auto* k : server_kinds())
    if (k->name == name) return k;
  return nullptr;
}

const ServerProgram* server_program(std::string_view program) {
  for (const auto* k : server_kinds())
    for (const auto& p : k->programs)
      if (p.name == program) return &p;
  return nullptr;
}

const std::vector<std::string>& server_kind_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto* k : server_kinds()) out.push_back(k->name);
    return out;
  }();
  return names;
}

std::string server_kind_list() {
  return fmt::format("{}", fmt::join(server_kind_names(), ", "));
}

}  // namespace iommuvm::workload
