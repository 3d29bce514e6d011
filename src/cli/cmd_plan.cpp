#include <iostream>
#include <memory>

#include "iommuvm/cli/cli.hpp"
#include "iommuvm/cli/common.hpp"
#include "iommuvm/plan/plan.hpp"

namespace iommuvm::cli {

void add_plan(CLI::App& app, Context& ctx) {
  auto* sub = app.add_subcommand("plan", "Print the ordered plan of a campaign: runs, switches, reboots, totals");
  auto spec_path = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  sub->add_option("spec", *spec_path, "Experiment spec (YAML or JSON)")->required();
  sub->add_flag("--json", *as_json, "Print the plan as JSON");
  sub->callback([spec_path, as_json, &ctx] {
    auto c = load_campaign(*spec_path);
    const auto& spec = c.loaded.spec;
    auto measured = measured_switch_times(std::filesystem::path(spec.output) / spec.name);
    auto p = plan::build(spec, std::move(c.points), measured);
    if (*as_json)
      std::cout << p.to_json().dump(2) << "\n";
    else
      plan::print(p, std::cout);
    ctx.exit_code = 0;
  });
}

}  // namespace iommuvm::cli
