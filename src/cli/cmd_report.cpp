// iommuvm report RESULTS_DIR: statistics, tables and figures of a campaign (docs/report.md).
#include <iostream>
#include <map>
#include <memory>

#include "iommuvm/cli/cli.hpp"
#include "iommuvm/report/report.hpp"
#include "iommuvm/results/variance.hpp"
#include "iommuvm/util/error.hpp"

namespace iommuvm::cli {

namespace {

struct ReportArgs {
  std::string dir;
  std::string format = "md";
  bool figures = false;
  std::string output;
  std::string gnuplot = "gnuplot";
  std::string baseline;
  double max_cv = -1;
};

}  // namespace

void add_report(CLI::App& app, Context& ctx) {
  auto* sub = app.add_subcommand("report", "Summarize a campaign: statistics, comparison with the baseline, tables, figures");
  auto a = std::make_shared<ReportArgs>();
  sub->add_option("results_dir", a->dir, "A campaign folder, or an experiment folder (its latest campaign)")->required();
  sub->add_option("--format", a->format, "What to print: md (the report), csv or json (the summary)")
      ->check(CLI::IsMember({"md", "csv", "json"}));
  sub->add_flag("--figures", a->figures, "Draw figures with gnuplot into <report>/figures");
  sub->add_option("--output", a->output, "Folder for report.md and figures/ (default: <campaign>/report)");
  sub->add_option("--gnuplot", a->gnuplot, "The gnuplot program (name on PATH or path)");
  sub->add_option("--baseline", a->baseline, "Baseline policy (default: the spec's baseline, else passthrough)")
      ->check(CLI::IsMember({"strict", "lazy", "passthrough", "off"}));
  sub->add_option("--max-cv", a->max_cv, "CV threshold flagging a combination, as a fraction (default: matrix.max_cv, else 0.10)")
      ->check(CLI::Range(0.0, 100.0));
  sub->callback([a, &ctx] {
    report::ReportOptions opts;
    opts.format = a->format == "csv"    ? report::ReportOptions::Format::csv
                  : a->format == "json" ? report::ReportOptions::Format::json
                                        : report::ReportOptions::Format::md;
    opts.figures = a->figures;
    opts.output = a->output;
    opts.gnuplot = a->gnuplot;
    if (!a->baseline.empty()) opts.summary.baseline = a->baseline;
    if (a->max_cv >= 0) opts.summary.max_cv = results::cv_fraction(a->max_cv);
    report::run_report(a->dir, opts, std::cout);
    ctx.exit_code = 0;
  });
}

}  // namespace iommuvm::cli
