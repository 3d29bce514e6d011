// Variance control (matrix.max_repetitions / matrix.max_cv, docs/spec.md): whether a
// combination gets another repetition, decided from the results of its earlier ones.
// Pure: the engine feeds it what is on disk, so a resumed campaign decides the same way.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace iommuvm::results {

// The CV threshold as a fraction: the spec's max_cv is a fraction, or a percent above 1.
double cv_fraction(double max_cv);

// The metric a combination's variance is judged on: throughput_ops, else throughput_gbps
// (the same as the report's high-CV flag).
struct PrimaryValue {
  std::string metric;  // "" when the run has neither
  double value = 0;
};
PrimaryValue primary_throughput(const nlohmann::json& run);

// One earlier repetition of the combination, as its run.json says.
struct Repetition {
  int repetition = 0;
  std::string status;  // ok | failed | skipped
  PrimaryValue primary;
};
Repetition repetition_of(const nlohmann::json& run);

struct VariancePolicy {
  int repetitions = 1;      // planned
  int max_repetitions = 0;  // <= repetitions: no variance control
  double max_cv = 0.10;     // as in the spec (fraction or percent)
};

struct MoreDecision {
  bool more = false;
  std::string reason;  // why (or why not), one sentence for run.json and the log
  std::optional<double> cv;
  std::string metric;
  int runs = 0;  // earlier repetitions with a result (ok, failed, skipped)
  int ok = 0;    // ... of which ok with the metric: the CV is over these
};

// Should repetition NEXT (> policy.repetitions) run, given the earlier repetitions DONE?
// Every attempt counts towards max_repetitions (failed runs included, so a failing
// combination cannot repeat forever); only ok runs with the metric count for the CV. With
// fewer than two such runs the CV is unknown and no extra repetition is run.
MoreDecision decide_more(const std::vector<Repetition>& done, int next, const VariancePolicy& policy);

}  // namespace iommuvm::results
