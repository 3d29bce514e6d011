// The Markdown report of a campaign summary, and the whole `iommuvm report` pipeline.
#pragma once

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "iommuvm/report/figures.hpp"
#include "iommuvm/results/summary.hpp"

namespace iommuvm::report {

// Numbers as the tables show them: at most 4 significant digits before the point, no exponent
// (47824, 533.2, 5.33, 0.0533); "-0.0" never appears.
std::string format_number(double v);
// "47824 ± 312", or "47824" when the interval is absent (n < 2).
std::string format_mean_ci(const results::Stats& s);

// The report: campaign, testbed, one section per workload (throughput and latency tables with
// mean ± 95 % CI and the change vs the baseline), failed and flagged runs, figures.
// FIGURES: the outcome of drawing them (nullptr: figures were not asked for).
void write_markdown(const results::Summary& s, const RenderOutcome* figures, std::ostream& out);

struct ReportOptions {
  enum class Format { md, csv, json };
  Format format = Format::md;
  bool figures = false;
  std::filesystem::path output;   // report folder; empty: <campaign>/report
  std::string gnuplot = "gnuplot";  // program name (searched on PATH) or path
  results::SummaryOptions summary;
};

// Resolve RESULTS_DIR (campaign or experiment folder), summarize, write summary.json/.csv and
// comparison.csv into the campaign folder, report.md (and figures/) into the report folder,
// and print the chosen format to OUT.
void run_report(const std::filesystem::path& results_dir, const ReportOptions& opts, std::ostream& out);

}  // namespace iommuvm::report
