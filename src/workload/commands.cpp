#include "iommuvm/workload/commands.hpp"

#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "iommuvm/util/error.hpp"
#include "iommuvm/util/shell.hpp"
#include "iommuvm/workload/generators.hpp"
#include "iommuvm/workload/servers.hpp"
#include "internal.hpp"

namespace iommuvm::workload {

namespace detail {

std::string str(long v) { return std::to_string(v); }

long whole_seconds(double s) { return std::max(1L, static_cast<long>(std::ceil(s))); }

bool wildcard(const std::string& a) { return a.empty() || a == "0.0.0.0" || a == "::" || a == "[::]"; }

std::string host_for_url(const std::string& a) {
  return a.find(':') != std::string::npos && a.front() != '[' ? "[" + a + "]" : a;
}

std::string http_path(const spec::Workload& w) {
  std::string p = w.client.path.empty() ? "/" : w.client.path;
  if (p.front() != '/') throw InputError(fmt::format("workload '{}': client.path '{}' must start with /", w.name, p));
  for (char c : p) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '.' || c == '-' || c == '_'))
      throw InputError(fmt::format("workload '{}': client.path '{}' may only hold letters, digits, / . - _", w.name, p));
  }
  if (p.find("/../") != std::string::npos || p.ends_with("/..") || p.find("//") != std::string::npos)
    throw InputError(fmt::format("workload '{}': client.path '{}' must not contain .. or //", w.name, p));
  return p;
}

int resolve_port(const spec::Workload& w, int port) {
  if (port > 0) return port;
  if (w.server.port > 0) return w.server.port;
  int p = default_port(w.kind);
  if (p == 0) throw InputError(fmt::format("workload '{}': a custom server needs server.port", w.name));
  return p;
}

std::string resolve_address(const spec::Workload& w, const std::string& address) {
  if (!address.empty()) return address;
  if (!w.server.bind.empty()) return w.server.bind;
  return "0.0.0.0";
}

std::string bash_tcp_script(const char* body) { return std::string("exec 3<>\"/dev/tcp/$1/$2\"") + body; }

}  // namespace detail

using namespace detail;

int default_port(std::string_view kind) {
  if (const auto* k = find_server_kind(kind)) return k->default_port;
  throw InputError(fmt::format("unknown workload kind '{}' ({})", kind, server_kind_list()));
}

std::uint64_t parse_size(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  std::uint64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + i, n);
  if (i == 0 || ec != std::errc() || p != text.data() + i)
    throw InputError(fmt::format("size '{}': expected a whole number with an optional unit", text));
  std::string_view unit = text.substr(i);
  static const std::pair<const char*, std::uint64_t> units[] = {
      {"", 1},           {"B", 1},        {"KiB", 1ULL << 10}, {"MiB", 1ULL << 20}, {"GiB", 1ULL << 30},
      {"KB", 1000},      {"kB", 1000},    {"MB", 1000000},     {"GB", 1000000000}};
  for (const auto& [u, f] : units)
    if (unit == u) return n * f;
  throw InputError(fmt::format("size '{}': unknown unit '{}' (B, KiB, MiB, GiB, KB, MB, GB)", text, unit));
}

ReadyCheck ready_check(const spec::Workload& w, const std::string& address, int port) {
  const std::string a = wildcard(address) ? (address.find(':') != std::string::npos ? "::1" : "127.0.0.1") : address;
  const std::string p = str(resolve_port(w, port));
  ReadyCheck r;
  // The kind's own check when it has one; otherwise a TCP connect.
  const auto* k = find_server_kind(w.kind);
  if (k && k->ready && k->ready(ReadyArgs{w, a, p}, r)) return r;
  r.description = fmt::format("TCP connect to {}:{}", a, p);
  r.command.argv = {"bash", "-c", bash_tcp_script(""), "iommuvm-ready", a, p};
  return r;
}

bool supports_instances(std::string_view kind) {
  const auto* k = find_server_kind(kind);
  return k && k->instances;
}

int instance_cpu(const std::vector<int>& cpus, int i) {
  return cpus.empty() ? -1 : cpus[static_cast<std::size_t>(i) % cpus.size()];
}

ServerPlan server_plan(const spec::Workload& w, const ServerContext& ctx) {
  ServerPlan plan;
  const std::string address = resolve_address(w, ctx.address);
  plan.port = resolve_port(w, ctx.port);
  const std::string port = str(plan.port);
  const auto* k = find_server_kind(w.kind);
  if (!k) default_port(w.kind);  // throws the unknown-kind error
  k->build(ServerArgs{w, ctx, address, port}, plan);
  auto& argv = plan.command.argv;
  if (ctx.cpu >= 0) argv.insert(argv.begin(), {"taskset", "-c", str(ctx.cpu)});
  if (!ctx.work_dir.empty()) plan.command.cwd = ctx.work_dir;
  plan.ready = ready_check(w, address, plan.port);
  return plan;
}

ClientPlan client_plan(const spec::Workload& w, const ClientContext& ctx) {
  const auto& c = w.client;
  ClientPlan plan;
  const std::string tool = c.tool.empty() ? default_tool(w.kind) : c.tool;
  const Generator* g = find_generator(tool);
  if (g && g->name != tool) g = nullptr;  // an alias names a parser, not a client.tool
  const bool needs_target = !g || g->needs_target;
  const std::string target = !ctx.target.empty() ? ctx.target : c.target;
  if (target.empty() && needs_target)
    throw InputError(fmt::format("workload '{}': no address for the client to connect to", w.name));
  const std::string port = !needs_target && ctx.port == 0 && w.server.port == 0 ? "" : str(resolve_port(w, ctx.port));
  if (!g) throw InputError(fmt::format("workload '{}': unknown client tool '{}'", w.name, tool));
  if (!g->drives(w.kind))
    throw InputError(fmt::format("workload '{}': client tool {} does not drive a {} server", w.name, tool, w.kind));
  plan.parser = tool;
  g->build(ClientArgs{w, ctx, target, port}, plan);
  if (!ctx.work_dir.empty()) plan.command.cwd = ctx.work_dir;
  return plan;
}

}  // namespace iommuvm::workload
