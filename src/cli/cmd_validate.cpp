#include "iommuvm/cli/cli.hpp"
#include "iommuvm/util/error.hpp"

namespace iommuvm::cli {

void add_validate(CLI::App& app, Context&) {
  auto* sub = app.add_subcommand("validate", "(not available yet in this build)");
  sub->allow_extras();
  sub->callback([] { throw Error("the 'validate' subcommand is not available yet in this build"); });
}

}  // namespace iommuvm::cli
