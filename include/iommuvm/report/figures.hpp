// Figures as gnuplot scripts and data files: built as text (pure), then drawn by running gnuplot
// in the figures folder. Every figure NAME gives NAME.gp, NAME.dat, NAME.pdf, NAME.svg and
// NAME.png; the script reads only NAME.dat and can be re-run by hand (`gnuplot NAME.gp`) after
// restyling. Policies are the series (colours, labels.hpp) in canonical order, the other
// varying parameters the groups on the x axis or the panels, a numeric one the x axis of a
// line plot; sizes fit one column (3.3 in) or two (7 in). docs/report.md, "Figures".
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "iommuvm/results/summary.hpp"

namespace iommuvm::report {

struct Figure {
  std::string name;    // file stem, e.g. throughput-redis
  std::string title;   // the caption: what is plotted, its metric path, what groups what
  std::string script;  // the .gp text
  std::string data;    // the .dat text
  std::string skipped_reason;  // non-empty: nothing to draw (e.g. a spec figure matching no run)
};

// Parameters (not the workload, not the policy axes) that take several values among the
// combinations of WORKLOAD ("" = all workloads).
std::vector<std::string> varying_params(const results::Summary& s, const std::string& workload);
// How a combination is named in tables and figures: its policy, then its varying parameters
// (short names: pipeline=16), or the workload when nothing varies.
std::string combination_label(const results::Summary& s, const results::Combination& c);

// Per workload: throughput-<w>, degradation-<w> (when compared to a baseline), latency-<w>
// (p99, else the highest percentile), viommu-<collector>-<w> (qemu-trace collectors),
// breakdown-<w> (with collectors); then one per entry of the spec's figures: list
// (spec-<name>). Sorted as listed; deterministic.
std::vector<Figure> build_figures(const results::Summary& s);

struct RenderOutcome {
  bool gnuplot_found = false;
  std::string note;                   // one sentence for the report
  std::vector<std::string> rendered;  // figure names drawn
  std::vector<std::string> failed;    // "name: gnuplot's message"
  std::vector<Figure> figures;        // what was written
};

// Write every figure's .gp and .dat into DIR (always, so they can be drawn later), then run
// GNUPLOT (a program on PATH or a path) on each. A missing gnuplot is reported, not thrown.
RenderOutcome render_figures(const std::vector<Figure>& figures, const std::filesystem::path& dir,
                             const std::string& gnuplot);

// Whether PROGRAM is an executable path or is found on PATH.
bool find_program(const std::string& program);

}  // namespace iommuvm::report
