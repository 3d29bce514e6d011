#include "iommuvm/cli/cli.hpp"
#include "iommuvm/util/error.hpp"

namespace iommuvm::cli {

void add_plan(CLI::App& app, Context&) {
  auto* sub = app.add_subcommand("plan", "(not available yet in this build)");
  sub->allow_extras();
  sub->callback([] { throw Error("the 'plan' subcommand is not available yet in this build"); });
}

}  // namespace iommuvm::cli
