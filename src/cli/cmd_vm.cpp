#include <iostream>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "iommuvm/cli/cli.hpp"
#include "iommuvm/cli/common.hpp"
#include "iommuvm/engine/connect.hpp"
#include "iommuvm/engine/guest_xml.hpp"
#include "iommuvm/plan/plan.hpp"
#include "iommuvm/util/error.hpp"
#include "iommuvm/virt/libvirt.hpp"

namespace iommuvm::cli {

void add_vm(CLI::App& app, Context& ctx) {
  auto* vm = app.add_subcommand("vm", "Guest VMs of a spec");
  vm->require_subcommand(1);
  auto* render = vm->add_subcommand("render", "Print the final domain XML of every guest configuration of a campaign");
  auto spec_path = std::make_shared<std::string>();
  auto guest = std::make_shared<std::string>();
  auto connect = std::make_shared<bool>(false);
  render->add_option("spec", *spec_path, "Experiment spec")->required();
  render->add_option("--guest", *guest, "Only this guest");
  render->add_flag("--connect", *connect, "Ask the spec's libvirt for the VF addresses (default: assume them)");
  render->callback([=, &ctx] {
    auto c = load_campaign(*spec_path);
    std::unique_ptr<virt::Hypervisor> hv;
    // The libvirtd of hypervisor.machine (over its SSH settings when it is not the controller),
    // as run and doctor open it.
    if (*connect && !c.loaded.spec.hypervisor.uri.empty()) hv = virt::connect_libvirt(engine::hypervisor_uri(c.loaded.spec));
    auto dir = std::filesystem::path(*spec_path).parent_path();
    std::set<std::string> seen;
    for (const auto& p : c.points)
      for (const auto& g : p.config.guests) {
        if (!guest->empty() && g.name != *guest) continue;
        auto key = plan::guest_key(p.config, g);
        if (!seen.insert(g.name + key.dump()).second) continue;
        std::string note;
        std::string xml = engine::render_guest_xml(p.config, g, hv.get(), dir.empty() ? "." : dir, hv ? nullptr : &note);
        std::cout << fmt::format("<!-- guest {}: guest policy {}, vIOMMU {}{} -->\n", g.name, key["policy"].get<std::string>(),
                                 key["viommu"]["model"].get<std::string>(), note.empty() ? "" : "; " + note);
        std::cout << xml << "\n";
      }
    if (seen.empty()) throw InputError(guest->empty() ? "the spec defines no guests" : "no guest named '" + *guest + "'");
    ctx.exit_code = 0;
  });
}

}  // namespace iommuvm::cli
