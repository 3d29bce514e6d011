// iommuvm parse --tool TOOL FILE [--primary OP] [--metric NAME=REGEX ...]:
// the normalized metrics of one raw load-generator output, as JSON on stdout.
#include <fstream>
#include <iostream>
#include <sstream>

#include <fmt/format.h>

#include "iommuvm/cli/cli.hpp"
#include "iommuvm/util/error.hpp"
#include "iommuvm/util/fs.hpp"
#include "iommuvm/workload/generators.hpp"
#include "iommuvm/workload/parsers.hpp"

namespace iommuvm::cli {

namespace {

struct ParseArgs {
  std::string tool;
  std::string file;
  std::string primary;
  std::vector<std::string> metrics;
};

int run_parse(const ParseArgs& a) {
  std::string text;
  try {
    text = fs::read_file(a.file);
  } catch (const InputError&) {
    throw;
  } catch (const Error& e) {
    throw InputError(e.what());
  }
  workload::ParseOptions opts;
  opts.primary = a.primary;
  for (const auto& m : a.metrics) {
    auto eq = m.find('=');
    if (eq == std::string::npos || eq == 0) throw InputError(fmt::format("--metric '{}': expected NAME=REGEX", m));
    opts.custom[m.substr(0, eq)] = m.substr(eq + 1);
  }
  try {
    auto metrics = workload::parse_output(a.tool, text, opts);
    std::cout << workload::to_json(metrics).dump(2) << "\n";
  } catch (const workload::ParseError& e) {
    throw InputError(fmt::format("{}: {}", a.file, e.what()));
  }
  return 0;
}

}  // namespace

void add_parse(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<ParseArgs>();
  auto* sub = app.add_subcommand("parse", "Print the normalized metrics of one raw load-generator output as JSON");
  sub->add_option("--tool", args->tool, "Tool that wrote FILE: " + workload::generator_names())
      ->required();
  sub->add_option("file", args->file, "Raw output file")->required();
  sub->add_option("--primary", args->primary, "Operation whose figures are the top-level ones (e.g. get)");
  sub->add_option("--metric", args->metrics, "custom: NAME=REGEX with one capture group (repeatable)");
  sub->callback([args, &ctx] { ctx.exit_code = run_parse(*args); });
}

}  // namespace iommuvm::cli
