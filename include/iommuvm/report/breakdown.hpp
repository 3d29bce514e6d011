// Where the time goes, per request: the per-request figures the collectors produced
// (invalidations, unmaps, VM exits, cycles, QEMU CPU time, IOMMU function time) per
// combination of a workload, with their statistics over repetitions, and the per-request time
// split into components for the stacked-bar figure. Pure; docs/report.md explains the choices.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "iommuvm/results/summary.hpp"

namespace iommuvm::report {

struct BreakdownRow {
  const results::Combination* combination = nullptr;
  std::vector<std::optional<results::Stats>> values;  // one per column; nullopt: no value
};

struct Breakdown {
  std::vector<std::string> columns;  // "vIOMMU invalidations/req", "QEMU CPU µs/req", ...
  std::vector<std::string> sources;  // per column: where it comes from (Markdown: `metric path`)
  std::vector<BreakdownRow> rows;    // one per combination of the workload with any value

  // The stacked figure: components of the per-request time in µs, means over the runs.
  std::vector<std::string> components;  // "iommu_map", "IOTLB flush (qi_submit_sync)", ...
  std::string components_source;        // one sentence: which collectors, how combined
  std::vector<std::pair<const results::Combination*, std::vector<double>>> stacks;

  bool empty() const { return rows.empty(); }
};

// The breakdown of WORKLOAD from the collectors the spec declared (Summary::collectors) and
// the per-request fields in the runs (collectors.<name>.per_request.*). Each value is computed
// per run, then described over the combination's ok runs (mean, 95 % CI).
Breakdown breakdown(const results::Summary& s, const std::string& workload);

}  // namespace iommuvm::report
