#include <unistd.h>

#include <csignal>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "iommuvm/cli/cli.hpp"
#include "iommuvm/cli/common.hpp"
#include "iommuvm/engine/connect.hpp"
#include "iommuvm/engine/engine.hpp"
#include "iommuvm/engine/simulated.hpp"
#include "iommuvm/engine/status_line.hpp"
#include "iommuvm/plan/plan.hpp"
#include "iommuvm/results/store.hpp"

namespace iommuvm::cli {

namespace {

void on_signal(int) {
  // First: stop between steps and clean up. Second: stop at once.
  if (engine::g_interrupts.fetch_add(1) >= 1) {
    static const char msg[] = "\niommuvm: interrupted twice: exiting now, cleanup skipped\n";
    ssize_t n = ::write(2, msg, sizeof msg - 1);
    (void)n;
    ::_exit(static_cast<int>(ExitCode::interrupted));
  }
  static const char msg[] = "\niommuvm: interrupted: finishing the current step, then cleaning up (Ctrl-C again to stop at once)\n";
  ssize_t n = ::write(2, msg, sizeof msg - 1);
  (void)n;
}

struct Args {
  std::string spec;
  bool dry_run = false;
  bool fresh = false;
  bool fail_fast = false;
  bool plain = false;
  std::string output;
};

}  // namespace

void add_run(CLI::App& app, Context& ctx) {
  auto* sub = app.add_subcommand("run", "Run a campaign (or print exactly what it would do with --dry-run)");
  auto a = std::make_shared<Args>();
  sub->add_option("spec", a->spec, "Experiment spec (YAML or JSON)")->required();
  sub->add_flag("--dry-run,-n", a->dry_run, "Print every action in order and touch nothing");
  sub->add_flag("--fresh", a->fresh, "Start a new campaign folder instead of resuming");
  sub->add_flag("--fail-fast", a->fail_fast, "Stop at the first failed run");
  sub->add_flag("--plain", a->plain, "No live status line, even on a terminal (plain lines only)");
  sub->add_option("--output,-o", a->output, "Results root (default: the spec's 'output', relative to the current folder)");
  sub->callback([a, &ctx] {
    auto c = load_campaign(a->spec);
    const spec::Spec& spec = c.loaded.spec;
    std::filesystem::path out_root = a->output.empty() ? std::filesystem::path(spec.output) : std::filesystem::path(a->output);
    // Estimates from the switch times earlier campaigns of this experiment measured.
    auto plan = plan::build(spec, std::move(c.points), measured_switch_times(out_root / spec.name));
    engine::Options opts;
    opts.dry_run = a->dry_run;
    opts.fail_fast = a->fail_fast;
    opts.timeouts = spec.timeouts;
    opts.switch_retries = spec.switch_retries;
    opts.spec_dir = std::filesystem::path(a->spec).parent_path();
    if (opts.spec_dir.empty()) opts.spec_dir = ".";

    // The same campaign again, from anywhere: what the resume unit runs when the controller
    // reboots its own machine (never --fresh: that would start another campaign).
    {
      std::error_code ec;
      auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
      auto cwd = std::filesystem::current_path(ec);
      if (!exe.empty() && !cwd.empty()) {
        opts.resume_argv = {exe.string(), "run", std::filesystem::absolute(a->spec).lexically_normal().string(), "-o",
                            std::filesystem::absolute(out_root).lexically_normal().string()};
        if (a->fail_fast) opts.resume_argv.push_back("--fail-fast");
        opts.resume_cwd = cwd.string();
      }
    }

    if (a->dry_run) {
      std::cout << fmt::format("# dry run of campaign '{}': {} runs{}; nothing is touched\n", spec.name, plan.totals.runs,
                               plan.totals.extra_runs
                                   ? fmt::format(" (and up to {} extra repetitions, shown as such: they run only "
                                                 "while the CV is above {:g} %)",
                                                 plan.totals.extra_runs, plan.totals.max_cv * 100)
                                   : "");
      // The same engine over simulated machines (engine/simulated.hpp), with no store: nothing
      // is written on the controller.
      auto site = engine::simulate(spec, std::cout);
      engine::Backends b{site.by_name(), site.hypervisor.get()};
      opts.on_step = [](const plan::Step& s) { std::cout << fmt::format("# {}\n", s.summary); };
      opts.pause = [](double seconds) { std::cout << fmt::format("[controller] sleep {} s\n", seconds); };
      engine::Engine e(plan, b, opts, std::cout, nullptr);
      e.run();
      ctx.exit_code = 0;
      return;
    }

    auto store = results::CampaignStore::open(out_root, spec, plan.to_json(), {a->fresh});
    if (store.campaign().value("status", "") == "finished") {
      std::cout << fmt::format("campaign {} is already finished\n", store.dir().string());
      return;
    }
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    auto real = engine::connect_all(spec);
    engine::Backends b;
    for (auto& [name, r] : real.machines) b.machines[name] = r.get();
    b.hypervisor = real.hypervisor.get();
    // On a terminal, a live status line (the step in progress) under the plain per-run lines.
    std::unique_ptr<engine::LiveStatus> live;
    std::unique_ptr<std::ostream> live_out;
    if (!a->plain && ::isatty(STDOUT_FILENO)) {
      live = std::make_unique<engine::LiveStatus>(std::cout.rdbuf(), STDOUT_FILENO);
      live_out = std::make_unique<std::ostream>(live.get());
      opts.status = [l = live.get()](const std::string& text) { l->set_status(text); };
    }
    engine::Engine e(plan, b, opts, live_out ? *live_out : std::cout, &store);
    ctx.exit_code = static_cast<int>(e.run());
    if (live) live->clear();
    std::cout << fmt::format("Results: {}\n", store.dir().string());
  });
}

}  // namespace iommuvm::cli
