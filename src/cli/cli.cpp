#include "iommuvm/cli/cli.hpp"

#include <csignal>
#include <iostream>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "iommuvm/util/error.hpp"
#include "iommuvm/util/text.hpp"
#include "iommuvm/version.hpp"

namespace iommuvm::cli {

namespace {

void setup_logging(int verbosity, bool quiet, const std::string& log_file) {
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  console->set_pattern("iommuvm: %^%l%$: %v");
  spdlog::level::level_enum level = spdlog::level::warn;
  if (quiet) level = spdlog::level::err;
  else if (verbosity == 1) level = spdlog::level::info;
  else if (verbosity >= 2) level = spdlog::level::debug;
  if (verbosity >= 3) level = spdlog::level::trace;
  console->set_level(level);
  std::vector<spdlog::sink_ptr> sinks{console};
  if (!log_file.empty()) {
    auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_file);
    file->set_level(spdlog::level::debug);
    file->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
    sinks.push_back(file);
  }
  auto logger = std::make_shared<spdlog::logger>("iommuvm", sinks.begin(), sinks.end());
  logger->set_level(std::min(level, log_file.empty() ? level : spdlog::level::debug));
  spdlog::set_default_logger(logger);
}

}  // namespace

int main(int argc, char** argv) {
  // A command that exits before reading all its standard input (or a closed SSH channel)
  // is an error result of a write, not the end of iommuvm.
  ::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"iommuvm: measure what IOMMU protection costs applications, on bare metal and in VMs"};
  app.name("iommuvm");
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("iommuvm ") + kVersion);
  int verbosity = 0;
  bool quiet = false;
  std::string log_file;
  app.add_flag("-v,--verbose", verbosity, "More output (repeat for debug and trace)");
  app.add_flag("-q,--quiet", quiet, "Only errors");
  app.add_option("--log-file", log_file, "Also write a debug log to this file");

  Context ctx;
  add_validate(app, ctx);
  add_plan(app, ctx);
  add_run(app, ctx);
  add_parse(app, ctx);
  add_import(app, ctx);
  add_policy(app, ctx);
  add_vm(app, ctx);
  add_report(app, ctx);
  add_restore(app, ctx);
  add_doctor(app, ctx);

  app.parse_complete_callback([&] { setup_logging(verbosity, quiet, log_file); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "iommuvm: error: " << e.what() << "\n";
    std::cerr << "Run with --help for more information.\n";
    return static_cast<int>(ExitCode::bad_input);
  } catch (const Error& e) {
    std::cerr << "iommuvm: error: " << text::escape_invalid_utf8(text::bounded(e.what())) << "\n";
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    std::cerr << "iommuvm: error: internal: " << text::escape_invalid_utf8(text::bounded(e.what())) << "\n";
    return static_cast<int>(ExitCode::environment);
  }
  return ctx.exit_code;
}

}  // namespace iommuvm::cli
