// Placeholder until the policy subcommand lands; it says so instead of pretending.
#include "iommuvm/cli/cli.hpp"
#include "iommuvm/util/error.hpp"

namespace iommuvm::cli {

void add_policy(CLI::App& app, Context&) {
  auto* sub = app.add_subcommand("policy", "(not available yet in this build)");
  sub->allow_extras();
  sub->callback([] { throw Error("the 'policy' subcommand is not available yet in this build"); });
}

}  // namespace iommuvm::cli
