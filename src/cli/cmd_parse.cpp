// Placeholder until the parse subcommand lands; it says so instead of pretending.
#include "iommuvm/cli/cli.hpp"
#include "iommuvm/util/error.hpp"

namespace iommuvm::cli {

void add_parse(CLI::App& app, Context&) {
  auto* sub = app.add_subcommand("parse", "(not available yet in this build)");
  sub->allow_extras();
  sub->callback([] { throw Error("the 'parse' subcommand is not available yet in this build"); });
}

}  // namespace iommuvm::cli
