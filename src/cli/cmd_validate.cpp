#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "iommuvm/cli/cli.hpp"
#include "iommuvm/cli/common.hpp"

namespace iommuvm::cli {

void add_validate(CLI::App& app, Context& ctx) {
  auto* sub = app.add_subcommand("validate", "Check a spec: print every problem as FILE:LINE:COL, exit 2 if any");
  auto spec_path = std::make_shared<std::string>();
  sub->add_option("spec", *spec_path, "Experiment spec (YAML or JSON)")->required();
  sub->callback([spec_path, &ctx] {
    auto c = load_campaign(*spec_path);
    std::cout << fmt::format("{}: ok: campaign '{}', {} runs\n", *spec_path, c.loaded.spec.name, c.points.size());
    ctx.exit_code = 0;
  });
}

}  // namespace iommuvm::cli
