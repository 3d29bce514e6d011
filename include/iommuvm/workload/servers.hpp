// The server kinds, one descriptor each (src/workload/servers/<kind>.cpp), listed once in
// src/workload/servers.cpp. Everything that knows a server kind reads it here: the spec reader
// (kind names, which kinds run several instances), the command builders (server_plan,
// ready_check, default_port), `doctor` (Debian packages) and the engine (version flags). Pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "iommuvm/workload/commands.hpp"

namespace iommuvm::workload {

// A program a server kind runs: the server itself or the client its readiness check uses.
struct ServerProgram {
  std::string name;                       // the file name
  std::vector<std::string> version_args;  // what follows it to print its version (empty: not probed)
  std::string package;                    // the Debian package with it ("": none)
};

// What a server command builder gets: the workload, the context, and the resolved address and port.
struct ServerArgs {
  const spec::Workload& w;
  const ServerContext& ctx;
  const std::string& address;
  const std::string& port;
};

// What a readiness builder gets: the workload and the address (a wildcard made local) and port to probe.
struct ReadyArgs {
  const spec::Workload& w;
  const std::string& address;
  const std::string& port;
};

struct ServerKind {
  std::string name;                     // workload.kind in a spec
  std::vector<ServerProgram> programs;  // the server first, then its readiness check's client; empty: custom
  int default_port = 0;                 // 0: none, the spec must give server.port
  bool instances = false;               // runs server.instances > 1 (one process per port)
  // Fills PLAN.command.argv (before taskset and cwd), and the folders and files to write first.
  void (*build)(const ServerArgs& a, ServerPlan& plan) = nullptr;
  // Fills R and returns true; false: the generic TCP connect check.
  bool (*ready)(const ReadyArgs& a, ReadyCheck& r) = nullptr;
};

// Every server kind, in the order that names are listed in messages and docs.
const std::vector<const ServerKind*>& server_kinds();
// The kind named NAME; nullptr when none.
const ServerKind* find_server_kind(std::string_view name);
// The kind one of whose programs is PROGRAM (a file name) and that program; nullptrs when none.
const ServerProgram* server_program(std::string_view program);
// The kinds' names (for the spec reader's choice) and joined with ", " (for messages).
const std::vector<std::string>& server_kind_names();
std::string server_kind_list();

}  // namespace iommuvm::workload
