// The load generators, one descriptor each (src/workload/generators/<tool>.cpp), listed once
// in src/workload/generators.cpp. Everything that knows a generator reads it here: the spec
// reader (tool names, defaults, which server kinds it drives), the command builder
// (client_plan), the parser dispatch (parse_output, `iommuvm parse --tool`), `import`,
// `doctor` (programs, Debian package) and the engine (program, version flag). Pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "iommuvm/workload/commands.hpp"
#include "iommuvm/workload/parsers.hpp"

namespace iommuvm::workload {

// What a command builder gets: the workload, the client context, and the resolved target
// address and port (port is "" only for a custom client when no port is given anywhere).
struct ClientArgs {
  const spec::Workload& w;
  const ClientContext& ctx;
  const std::string& target;
  const std::string& port;
};

struct Generator {
  std::string name;                       // client.tool in a spec, `iommuvm parse --tool`
  std::vector<std::string> aliases;       // other names parse_output takes (the program's own name)
  std::vector<std::string> programs;      // its binaries, the one it runs first; empty: none (custom)
  std::vector<std::string> version_args;  // what follows the program to print its version
  std::string package;                    // the Debian package with the programs ("": none)
  std::vector<std::string> kinds;         // server kinds it drives; empty: any (custom)
  std::vector<std::string> default_for;   // kinds whose client.tool defaults to it
  std::string ops_unit = "operations/s";  // what its throughput_ops counts, in report labels
  bool needs_target = true;               // its command needs an address to connect to
  bool importable = true;                 // `iommuvm import --tool` takes its logs
  // Fills PLAN.command.argv, and the files to write, the output file, requests_per_test.
  void (*build)(const ClientArgs& a, ClientPlan& plan) = nullptr;
  // The output's metrics (ParseError when it cannot be read).
  Metrics (*parse)(std::string_view text, const ParseOptions& opts) = nullptr;

  // The program it runs ("" for custom).
  std::string program() const { return programs.empty() ? std::string() : programs.front(); }
  // Whether it drives a server of KIND.
  bool drives(std::string_view kind) const;
};

// Every generator, in the order that names are listed in messages and docs.
const std::vector<const Generator*>& generators();
// The generator named NAME (or one of its aliases); nullptr when none.
const Generator* find_generator(std::string_view name);
// The generator one of whose programs is PROGRAM (a file name); nullptr when none.
const Generator* generator_of_program(std::string_view program);
// The client.tool a workload of KIND gets when it names none ("custom" when none fits).
std::string default_tool(std::string_view kind);
// The generators' names joined with ", " (only the importable ones when IMPORTABLE).
std::string generator_names(bool importable_only = false);

}  // namespace iommuvm::workload
