// A spec becomes a plan: plain data, an ordered list of steps. Building it is a pure
// function of the spec; the engine executes it (for real, or recording for --dry-run).
#pragma once

#include <ostream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "iommuvm/spec/matrix.hpp"
#include "iommuvm/spec/step_kinds.hpp"

namespace iommuvm::plan {

// Step kinds, in the order they typically appear. Documented in docs/plan.md.
// The step kinds (their names match their values; all of them in kind::all): spec/step_kinds.hpp,
// where the spec's timeouts: section reads them too.
namespace kind = spec::step_kind;

struct Step {
  std::string kind;
  std::string machine;  // the machine it acts on; "" for the controller
  std::string run;      // id of the run it belongs to; "" for switches between runs
  int run_index = -1;   // index into Plan::runs, -1 when not part of a run
  nlohmann::json args = nlohmann::json::object();
  std::string summary;  // one line for people
};

struct Totals {
  int runs = 0;        // planned runs (matrix.repetitions)
  int canaries = 0;    // canary runs (spec canary:), in Plan::runs after the planned ones
  int extra_runs = 0;  // at most this many more: repetitions up to matrix.max_repetitions, run while the CV > max_cv
  double max_cv = 0;   // the CV threshold as a fraction
  double extra_seconds = 0;  // estimate for all extra runs (not in estimated_seconds)
  int host_reboots = 0;    // upper bound: the engine skips a reboot when the machine already matches
  int guest_restarts = 0;  // guest boots, the first one included
  double estimated_seconds = 0;
  std::vector<std::string> estimate_notes;  // the measured times the estimate used
};

struct Plan {
  std::string name;
  std::string spec_hash;  // sha256 of the spec text
  std::vector<spec::RunPoint> runs;  // in execution order, then the canaries (RunPoint::canary)
  std::vector<Step> steps;
  Totals totals;

  nlohmann::json to_json() const;
};

// Order the runs and lay out the steps. Pure: same input, same plan.
// Switch times measured in earlier campaigns of the same experiment (their journal.jsonl):
// "host.reboot|MACHINE|METHOD" and "guest.start|GUEST" -> median seconds and how many.
struct Measured {
  std::map<std::string, std::pair<double, int>> seconds;
};
std::string measured_key(const std::string& kind, const std::string& who, const std::string& how = "");
// MEASURED replaces the spec's expected times (reboot.expected, guests' expected_boot) in the
// estimate; Totals::estimate_notes says which.
Plan build(const spec::Spec& base, std::vector<spec::RunPoint> points, const Measured& measured = {});

// The plan for people: runs with their parameters, every switch, reboot and restart, totals.
void print(const Plan& plan, std::ostream& out);

// Helpers that resolve defaults the same way everywhere.
std::string server_machine(const spec::Spec& cfg, const spec::Workload& w);
// The first client machine (client.machine, client.machines[0], the client role, the host).
std::string client_machine(const spec::Spec& cfg, const spec::Workload& w);
// Boot configurations: equal keys need no switch between them.
nlohmann::json host_key(const spec::Spec& cfg);
nlohmann::json guest_key(const spec::Spec& cfg, const spec::GuestSpec& g);
// Seconds a run is expected to take (warm-up, measurement, cool-down, set-up).
double expected_run_seconds(const spec::Spec& cfg, const spec::Workload& w);

}  // namespace iommuvm::plan
