// Aggregation of a campaign's runs: one Combination per parameter combination (keyed by
// its parameters with the policy axes set to the EFFECTIVE policy), statistics for every
// numeric metric over its ok repetitions, and the comparison against the baseline policy.
// docs/report.md describes the statistics and the files written here.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "iommuvm/results/stats.hpp"
#include "iommuvm/spec/spec.hpp"

namespace iommuvm::results {

// What the report needs of a campaign folder, read but not interpreted.
struct CampaignData {
  std::filesystem::path dir;
  std::string id;              // the folder name
  nlohmann::json campaign;     // campaign.json
  // spec.yaml|json as spec::read_spec reads it (its defaults for what it leaves out); none
  // when absent or not a YAML/JSON document. A spec this version would refuse (an imported
  // campaign's spec.json has only name, baseline and figures) still gives what it has.
  std::optional<spec::Spec> spec;
  std::vector<nlohmann::json> runs;  // every runs/*/run.json, sorted by id
};

// DIR itself when it holds campaign.json; otherwise the latest campaign in it (an experiment
// folder: by campaign.json "created", then folder name). InputError when neither.
std::filesystem::path resolve_campaign_dir(const std::filesystem::path& dir);

// Read a campaign folder (through CampaignStore::at: InputError when it is not one).
CampaignData load_campaign(const std::filesystem::path& dir);

// Every numeric leaf of a run's "metrics" (path-named: throughput_ops, latency_us.p99,
// ops.GET.throughput_ops, extra.bytes_read) and of its "collectors" (collectors.<group>.<name>).
// exit_status is not a metric. "warmup" is never read.
std::map<std::string, double> run_metrics(const nlohmann::json& run);

// True for metrics where more is better (throughput_*, requests): their degradation is
// (1 - ratio) * 100; for all others (latency, errors, counters) it is (ratio - 1) * 100.
bool higher_is_better(const std::string& metric);

// A classified kernel-log line of a run (run.json kernel_log.findings).
struct KernelFinding {
  std::string machine;
  std::string cls;     // audit class name: iommu_fault, link, ...
  std::string action;  // fail | flag | ignore
  std::string text;
};

struct RunRecord {
  std::string id;
  std::string combo;
  std::string workload;
  int repetition = 0;
  std::string status;  // ok | failed | skipped | (anything else found)
  std::string reason;
  nlohmann::json params;            // as planned (requested policies)
  nlohmann::json effective_params;  // with the policy axes set to the effective policy
  std::string host_policy;          // effective host policy, "" when not recorded
  std::string guest_policy;         // effective guest policies: "lazy" or "vm1=lazy,vm2=strict"
  std::vector<std::string> mismatches;  // "host: requested lazy, effective strict"
  std::string extra_reason;  // an extra repetition (variance control): why it ran; "" otherwise
  std::map<std::string, double> metrics;
  std::vector<KernelFinding> kernel_log;
  std::vector<std::pair<std::string, std::string>> flags;  // run.json flags: kind ("canary"), text
};

struct Comparison {
  std::string metric;
  Ratio ratio;                // mean / baseline mean
  double degradation_pct = 0;  // positive = worse than the baseline (see higher_is_better)
  std::optional<double> degradation_low;
  std::optional<double> degradation_high;
};

struct Combination {
  std::string key;       // canonical JSON of the effective parameters and policies: unique
  std::string combo;     // combo hash of its runs (several joined by '+' when runs moved in)
  std::string workload;
  nlohmann::json params;  // effective parameters (axis path -> value)
  std::string host_policy;
  std::string guest_policy;
  std::vector<std::string> runs;        // ok runs counted, sorted
  std::vector<std::string> moved_runs;  // ok runs whose effective policy differs from the requested one
  std::map<std::string, Stats> metrics;
  std::string cv_metric;  // the throughput metric the CV threshold is checked on ("" none)
  bool high_cv = false;
  bool is_baseline = false;
  std::string baseline_key;  // the combination compared against ("" none)
  std::map<std::string, Comparison> vs_baseline;
  int extra_runs = 0;  // ok runs that were extra repetitions (variance control)
  // Collector overhead: a combination with `collectors: on` against the same one with
  // `off` (every other parameter and the policies equal); "degradation" is the cost of
  // the collectors: throughput lost, latency added.
  std::string collectors_off_key;  // "" none
  std::map<std::string, Comparison> vs_collectors_off;
};

// Ratio and degradation of every metric both A and B have, A against B (docs/report.md).
std::map<std::string, Comparison> compare_metrics(const Combination& a, const Combination& b);

struct SummaryOptions {
  std::optional<std::string> baseline;  // overrides the spec's `baseline:`
  std::optional<double> max_cv;         // overrides the spec's `matrix.max_cv`
};

struct FigureRequest {  // an entry of the spec's `figures:` list (docs/report.md, "Spec figures")
  std::string name;
  std::string kind;  // bars | lines | degradation | breakdown; "" = from what varies
  std::string x;
  std::string series;
  std::vector<std::string> groups;
  std::vector<std::string> panels;
  std::string metric;
  std::string workload;
  std::string baseline;  // degradation: the policy compared against ("" = the campaign's)
  std::string width;     // single | double | "" (from the content)
};

struct WorkloadInfo {  // what the figures' labels need of a workload, from its ok runs
  std::string tool;     // a load generator's name (redis-benchmark, wrk, ...)
  std::string primary;  // the operation whose figures are the top-level ones (GET), or ""
};

struct CollectorInfo {  // an entry of the spec's `collectors:` map, as the report needs it
  std::string kind;
  std::string process;  // pidstat
  std::string machine;  // "" = the host
};

struct Summary {
  std::string name;
  std::string id;
  std::string status;
  std::string spec_hash;
  std::string created;
  std::string baseline = "passthrough";
  double max_cv = 0.10;
  int repetitions = 0;      // the spec's matrix.repetitions (0: unknown)
  int max_repetitions = 0;  // the spec's matrix.max_repetitions (0: no variance control)
  bool collector_axis = false;  // the runs have the `collectors` (on/off) parameter
  std::string overhead_note;    // why there is no collector-overhead comparison ("" when there is one or no axis)
  std::string policy_axis;      // the params key compared across ("" none)
  std::string comparison_note;  // why there are no comparisons, or "" when there are some
  std::vector<RunRecord> runs;  // every run, sorted by id
  std::vector<Combination> combinations;  // sorted by workload, then parameters
  std::vector<std::string> param_columns;  // every params key except "workload", sorted
  std::vector<FigureRequest> figures;
  std::map<std::string, CollectorInfo> collectors;  // collector name -> kind etc. (from the spec)
  std::map<std::string, WorkloadInfo> workload_info;  // workload -> tool and primary operation
  nlohmann::json testbed;  // field -> sorted list of the distinct values seen in the runs
};

Summary summarize(const CampaignData& data, const SummaryOptions& opts = {});

// The text of a parameter value: strings as they are, anything else as compact JSON.
std::string param_text(const nlohmann::json& v);
// "strict", "host strict / guest lazy", or "" when no policy was recorded.
std::string policy_label(const Combination& c);

nlohmann::json to_json(const Summary& s);
// One row per combination and metric; see docs/report.md for the columns.
void write_csv(const Summary& s, std::ostream& out);
// One row per compared combination and metric.
void write_comparison_csv(const Summary& s, std::ostream& out);
// summary.json, summary.csv and comparison.csv into DIR, atomically.
void write_summary_files(const Summary& s, const std::filesystem::path& dir);

}  // namespace iommuvm::results
