#pragma once

#include <CLI/CLI.hpp>

namespace iommuvm::cli {

// The whole command line: parse, dispatch, print errors as "iommuvm: error: ...", return the exit code.
int main(int argc, char** argv);

// Each subcommand lives in its own file and registers itself here.
// The callback it installs returns the exit code through `exit_code`.
struct Context {
  int exit_code = 0;
};
void add_validate(CLI::App& app, Context& ctx);
void add_plan(CLI::App& app, Context& ctx);
void add_run(CLI::App& app, Context& ctx);
void add_parse(CLI::App& app, Context& ctx);
void add_policy(CLI::App& app, Context& ctx);
void add_vm(CLI::App& app, Context& ctx);
void add_report(CLI::App& app, Context& ctx);
void add_restore(CLI::App& app, Context& ctx);
void add_doctor(CLI::App& app, Context& ctx);
void add_import(CLI::App& app, Context& ctx);

}  // namespace iommuvm::cli
