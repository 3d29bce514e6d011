// Matrix expansion: one spec becomes the list of its runs.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "iommuvm/spec/load.hpp"

namespace iommuvm::spec {

// Upper bound on runs per campaign; beyond it the spec is refused (likely a mistake).
inline constexpr std::size_t kMaxRuns = 20000;

struct RunPoint {
  std::string id;        // <slug>-<combo>-r<repetition>, stable across resumes
  std::string combo;     // hash of the parameters: the same for every repetition
  std::string workload;  // name of the workload
  int repetition = 1;    // 1-based
  bool extra = false;    // past matrix.repetitions: run only while the CV is above matrix.max_cv
  bool canary = false;   // a canary (spec canary:): a short run before the runs of its configuration,
                         // kept in canaries.jsonl, not in runs/; combo is the configuration's
  nlohmann::json params;  // axis path -> value, "workload" included; sorted keys
  Spec config;            // the spec with this run's values, reduced to its workload
};

// Expand the matrix of LOADED (which must be free of errors). Every point is type-checked
// and checked for contradictions; problems go to DIAG, reported once even when many
// points share them. The order is the spec's (first axis slowest); plan::build reorders.
std::vector<RunPoint> expand(const Loaded& loaded, Diagnostics& diag);

// Run id and combination hash from canonical parameters.
std::string combo_hash(const nlohmann::json& params);
std::string run_id(const nlohmann::json& params, int repetition);

}  // namespace iommuvm::spec
