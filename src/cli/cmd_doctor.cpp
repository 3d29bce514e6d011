#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "iommuvm/cli/cli.hpp"
#include "iommuvm/cli/common.hpp"
#include "iommuvm/doctor/doctor.hpp"
#include "iommuvm/engine/connect.hpp"
#include "iommuvm/engine/doctor.hpp"
#include "iommuvm/plan/plan.hpp"

namespace iommuvm::cli {

namespace {

struct Args {
  std::string spec;
  bool json = false;
  std::string output;
};

}  // namespace

void add_doctor(CLI::App& app, Context& ctx) {
  auto* sub = app.add_subcommand(
      "doctor", "Check every machine of a spec before a campaign and print what is missing and how to fix it");
  auto a = std::make_shared<Args>();
  sub->add_option("spec", a->spec, "Experiment spec (YAML or JSON)")->required();
  sub->add_flag("--json", a->json, "Print the checks as JSON");
  sub->add_option("--output,-o", a->output, "Results root whose free space is checked (default: the spec's 'output')");
  sub->callback([a, &ctx] {
    auto c = load_campaign(a->spec);
    const spec::Spec& spec = c.loaded.spec;
    auto plan = plan::build(spec, std::move(c.points));
    auto spec_dir = std::filesystem::path(a->spec).parent_path();
    if (spec_dir.empty()) spec_dir = ".";

    auto needs = doctor::needs(plan);
    // libvirt first: a guest that is not running is not expected to answer.
    auto hv = engine::gather_hypervisor(plan, spec_dir);
    std::map<std::string, doctor::MachineFacts> facts;
    for (const auto& n : needs) {
      const spec::Machine* m = spec.machine(n.machine);
      if (!m) continue;
      if (!n.guest_domain.empty() && hv.connected && !hv.domain_active[n.guest_domain]) {
        facts[n.machine].connect_error = "libvirt shows it shut off";
        continue;
      }
      auto r = engine::lazy_remote(spec, *m);
      facts[n.machine] = engine::gather_machine(*r, n);
    }
    auto controller = engine::gather_controller(a->output.empty() ? spec.output : a->output);
    auto checks = doctor::check_all(needs, facts, hv, controller);

    if (a->json) {
      std::cout << doctor::to_json(checks).dump(2) << "\n";
    } else {
      int ok = 0, warn = 0, fail = 0;
      for (const auto& check : checks) {
        std::cout << doctor::format_line(check) << "\n";
        (check.status == doctor::Status::ok ? ok : check.status == doctor::Status::warn ? warn : fail)++;
      }
      std::cout << fmt::format("{}: {} ok, {} warn, {} FAIL: {}\n", a->spec, ok, warn, fail,
                               fail ? "fix the FAIL lines before running the campaign" : "ready to run");
    }
    ctx.exit_code = doctor::passed(checks) ? 0 : 1;
  });
}

}  // namespace iommuvm::cli
