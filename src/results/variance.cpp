#include "iommuvm/results/variance.hpp"

#include <fmt/format.h>

#include "iommuvm/results/stats.hpp"
#include "iommuvm/util/numbers.hpp"

namespace iommuvm::results {

using nlohmann::json;

double cv_fraction(double max_cv) { return numbers::fraction_or_percent(max_cv); }

PrimaryValue primary_throughput(const json& run) {
  if (!run.is_object() || !run.contains("metrics") || !run["metrics"].is_object()) return {};
  const json& m = run["metrics"];
  for (const char* k : {"throughput_ops", "throughput_gbps"})
    if (m.contains(k) && m[k].is_number()) return {k, m[k].get<double>()};
  return {};
}

Repetition repetition_of(const json& run) {
  Repetition r;
  if (!run.is_object()) return r;
  if (run.contains("repetition") && run["repetition"].is_number_integer()) r.repetition = run["repetition"].get<int>();
  if (run.contains("status") && run["status"].is_string()) r.status = run["status"].get<std::string>();
  if (r.status == "ok") r.primary = primary_throughput(run);
  return r;
}

MoreDecision decide_more(const std::vector<Repetition>& done, int next, const VariancePolicy& policy) {
  MoreDecision d;
  double threshold = cv_fraction(policy.max_cv);
  if (policy.max_repetitions <= policy.repetitions || next <= policy.repetitions || next > policy.max_repetitions) {
    d.reason = fmt::format("repetition {} is not an extra repetition (repetitions {}, max_repetitions {})", next,
                           policy.repetitions, policy.max_repetitions);
    return d;
  }
  std::vector<double> values;
  for (const auto& r : done) {
    if (r.repetition >= next || r.status.empty()) continue;
    ++d.runs;
    if (r.status != "ok" || r.primary.metric.empty()) continue;
    // One metric per combination: the first one found (a workload's runs all report the same).
    if (d.metric.empty()) d.metric = r.primary.metric;
    if (r.primary.metric != d.metric) continue;
    values.push_back(r.primary.value);
  }
  d.ok = static_cast<int>(values.size());
  if (d.ok < 2) {
    d.reason = fmt::format("CV unknown: {} of {} earlier runs ok with a throughput (2 needed)", d.ok, d.runs);
    return d;
  }
  d.cv = describe(values).cv;
  if (!d.cv) {
    d.reason = fmt::format("CV unknown: mean {} is 0", d.metric);
    return d;
  }
  d.more = *d.cv > threshold;
  d.reason = fmt::format("CV of {} {:.2f} % {} max_cv {:.2f} % over {} ok of {} runs", d.metric, *d.cv * 100,
                         d.more ? ">" : "<=", threshold * 100, d.ok, d.runs);
  return d;
}

}  // namespace iommuvm::results
