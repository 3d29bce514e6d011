// iommuvm import DIR|FILES --tool TOOL [--param k=v ...] [--pattern P]: old logs become a
// results folder that `iommuvm report` reads (docs/results.md, "Imported results").
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "iommuvm/cli/cli.hpp"
#include "iommuvm/results/import.hpp"
#include "iommuvm/spec/node.hpp"
#include "iommuvm/util/diagnostic.hpp"
#include "iommuvm/util/error.hpp"
#include "iommuvm/util/fs.hpp"
#include "iommuvm/workload/generators.hpp"

namespace iommuvm::cli {

namespace {

struct ImportArgs {
  std::vector<std::string> inputs;
  results::ImportOptions opts;
  std::vector<std::string> params;
  std::string output = "results";
  std::string spec;
};

int run_import(ImportArgs& a) {
  for (const auto& p : a.params) {
    auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0) throw InputError(fmt::format("--param '{}': expected KEY=VALUE", p));
    a.opts.params[p.substr(0, eq)] = p.substr(eq + 1);
  }
  if (!a.spec.empty()) {  // figures: and baseline: of a spec, for the report
    // Raw nodes, not spec::read_spec, on purpose: only these two sections are wanted, as written.
    // The logs were not made by iommuvm, so the spec given here need not be a whole valid one
    // (machines, workloads), which read_spec would require; the results folder stores `figures:`
    // as JSON, which is what to_json gives; and read_spec's Spec cannot tell an absent
    // `baseline:` (keep --baseline) from one that names the default (passthrough).
    Diagnostics diag;
    auto n = spec::parse_document(fs::read_file(a.spec), a.spec, diag);
    if (diag.has_errors()) throw InputError(diag.sorted().front().format());
    auto j = spec::to_json(n);
    if (j.is_object() && j.contains("figures")) a.opts.figures = j["figures"];
    if (j.is_object() && j.contains("baseline") && j["baseline"].is_string()) a.opts.baseline = j["baseline"];
  }
  std::vector<std::filesystem::path> paths(a.inputs.begin(), a.inputs.end());
  auto r = results::import_logs(results::import_inputs(paths), a.output, a.opts);
  std::cout << fmt::format("imported {} run(s) into {}\n", r.runs, r.dir.string());
  return 0;
}

}  // namespace

void add_import(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<ImportArgs>();
  auto* sub = app.add_subcommand("import", "Turn a folder of raw load-generator logs into a results folder for `iommuvm report`");
  sub->add_option("inputs", a->inputs, "Log files, or folders of them")->required();
  sub->add_option("--tool", a->opts.tool, "Tool that wrote the logs: " + workload::generator_names(true))
      ->required();
  sub->add_option("--workload", a->opts.workload, "Workload name (default: from the tool: redis, memcached, nginx)");
  sub->add_option("--param", a->params, "KEY=VALUE for every log, e.g. policy.host=strict (repeatable)");
  sub->add_option("--pattern", a->opts.pattern,
                  "Parameters from each file name: {KEY} fields, {rep} the repetition, {*} anything, "
                  "e.g. 'redis-{policy.host}-c{workloads.redis.client.connections}-{rep}.txt'");
  sub->add_option("--primary", a->opts.primary, "Operation whose figures are the top-level ones (e.g. get)");
  sub->add_option("--requests", a->opts.requests_per_test, "redis-benchmark -n of the logs (--csv and -q omit it)");
  sub->add_option("--name", a->opts.name, "Experiment name (default: imported)");
  sub->add_option("--baseline", a->opts.baseline, "Baseline policy of the report")
      ->check(CLI::IsMember({"strict", "lazy", "passthrough", "off"}));
  sub->add_option("--spec", a->spec, "A spec whose figures: (and baseline:) the report draws");
  sub->add_option("-o,--output", a->output, "Results root (default: results): writes OUTPUT/NAME/<id>/");
  sub->callback([a, &ctx] { ctx.exit_code = run_import(*a); });
}

}  // namespace iommuvm::cli
