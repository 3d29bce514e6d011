#include "iommuvm/cli/cli.hpp"
#include "iommuvm/util/error.hpp"

namespace iommuvm::cli {

void add_run(CLI::App& app, Context&) {
  auto* sub = app.add_subcommand("run", "(not available yet in this build)");
  sub->allow_extras();
  sub->callback([] { throw Error("the 'run' subcommand is not available yet in this build"); });
}

}  // namespace iommuvm::cli
