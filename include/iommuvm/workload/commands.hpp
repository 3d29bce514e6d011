// Command builders for the workload servers and their load generators. Pure:
// from a spec::Workload plus the resolved address, port and a private work
// folder on the machine, they return argv vectors (remote::Command) and the
// files to write before starting. Nothing here runs anything.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "iommuvm/remote/remote.hpp"
#include "iommuvm/spec/spec.hpp"

namespace iommuvm::workload {

// A file to create on the machine before the command starts.
struct File {
  std::string path;
  std::string content;
};

// How to tell that a server accepts requests: run COMMAND (on the server's
// machine) until it exits 0 and its stdout contains EXPECT (empty: exit 0 is enough).
struct ReadyCheck {
  std::string description;  // e.g. "redis PING on 127.0.0.1:6379"
  remote::Command command;
  std::string expect;
};

struct ServerContext {
  std::string address;   // listen address (spec bind, resolved)
  int port = 0;          // resolved port (0: default_port(kind))
  std::string work_dir;  // private folder on the machine for config, pid, logs, static files
  bool as_root = false;  // the server is started as root (memcached -u root, nginx user root)
  int cpu = -1;          // >= 0: pinned to this CPU (taskset -c)
};

struct ServerPlan {
  remote::Command command;
  std::vector<std::string> dirs;  // folders to create first (mkdir -p)
  std::vector<File> files;        // then these files
  ReadyCheck ready;
  int port = 0;
};

struct ClientContext {
  std::string target;    // address the client connects to
  int port = 0;          // server port (0: default_port(kind))
  std::string work_dir;  // private folder on the client machine
  std::string program;   // wrk2: the binary that accepts -R (wrk2, or a wrk built from wrk2); empty: "wrk2"
};

struct ClientPlan {
  remote::Command command;
  std::vector<File> files;
  std::string parser;       // parse_output tool name for the output
  std::string output_file;  // non-empty: the output to parse is this file, not stdout
  std::uint64_t requests_per_test = 0;  // redis-benchmark -n: for ParseOptions (its output lacks it)
};

// The port a kind listens on by default: redis 6379, memcached 11211, nginx 8080,
// iperf3 5201. custom: 0 (the spec must give one). Unknown kind: InputError.
int default_port(std::string_view kind);

// The generated private-prefix nginx.conf (exposed for tests and docs).
std::string nginx_conf(const spec::Workload& w, const ServerContext& ctx);

// "4KiB" -> 4096. Units: none/B, KiB, MiB, GiB (1024), KB/kB, MB, GB (1000). InputError otherwise.
std::uint64_t parse_size(std::string_view text);

ServerPlan server_plan(const spec::Workload& w, const ServerContext& ctx);
// Kinds that run server.instances > 1 (one process per port): redis, iperf3.
bool supports_instances(std::string_view kind);
// The port of instance I (0-based): BASE + I.
inline int instance_port(int base, int i) { return base + i; }
// The CPU instance I is pinned to: CPUS[I % size], or -1 when CPUS is empty.
int instance_cpu(const std::vector<int>& cpus, int i);
ReadyCheck ready_check(const spec::Workload& w, const std::string& address, int port);
// The generator's command for the workload's client.tool (generators.hpp), checked against the kind.
ClientPlan client_plan(const spec::Workload& w, const ClientContext& ctx);

// True when a wrk binary's usage text (wrk --help) offers wrk2's -R/--rate option (generators/wrk2.cpp).
bool wrk_usage_has_rate(std::string_view usage);

// The wrk Lua script (share/wrk/summary.lua) whose done() prints one JSON line.
std::string_view wrk_lua_script();

}  // namespace iommuvm::workload
