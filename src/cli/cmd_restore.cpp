#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "iommuvm/cli/cli.hpp"
#include "iommuvm/engine/connect.hpp"
#include "iommuvm/engine/restore.hpp"
#include "iommuvm/results/store.hpp"
#include "iommuvm/spec/load.hpp"
#include "iommuvm/util/error.hpp"
#include "iommuvm/virt/libvirt.hpp"

namespace iommuvm::cli {

void add_restore(CLI::App& app, Context& ctx) {
  auto* sub = app.add_subcommand("restore", "Put the machines of a campaign back as they were (from its undo log)");
  auto dir = std::make_shared<std::string>();
  sub->add_option("campaign", *dir, "Campaign folder (OUTPUT/<experiment>/<campaign-id>)")->required();
  sub->callback([dir, &ctx] {
    auto store = results::CampaignStore::at(*dir, "restore");
    auto c = store.campaign();
    std::string format = c.value("format", std::string("yaml"));
    auto loaded = spec::load_file(std::filesystem::path(*dir) / ("spec." + (format.empty() ? "yaml" : format)));
    if (!loaded.ok()) throw InputError(fmt::format("the spec saved in {} does not load", *dir));
    auto backends = engine::connect_all(loaded.spec);
    if (backends.hypervisor)
      for (const auto& g : loaded.spec.guests)
        if (backends.hypervisor->is_active(g.domain)) {
          std::cout << fmt::format("shutting down guest {}\n", g.domain);
          virt::stop_domain(*backends.hypervisor, g.domain, std::chrono::seconds(static_cast<long long>(g.boot_timeout_s)));
        }
    std::map<std::string, remote::Remote*> machines;
    for (auto& [name, r] : backends.machines) machines[name] = r.get();
    auto left = engine::restore_machines(store, machines, std::cout, backends.hypervisor.get());
    for (const auto& l : left) std::cout << "left as it is: " << l << "\n";
    std::cout << (left.empty() ? "restored\n" : fmt::format("{} change(s) could not be undone\n", left.size()));
    ctx.exit_code = left.empty() ? 0 : 1;
  });
}

}  // namespace iommuvm::cli
