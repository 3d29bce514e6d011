// What a step handler gets from the engine for one step: the machines' remotes, the undo
// journal, the step's deadline, the progress stream, the machines' programs. Built once per
// attempt of a step in Engine::execute. Internal to the engine.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "iommuvm/remote/remote.hpp"
#include "iommuvm/spec/spec.hpp"

namespace iommuvm::engine {

using MachineOf = std::function<remote::Remote&(const std::string&)>;

// What the engine learns of the machines' programs, asked once per campaign (outside
// measurement windows) and kept for the campaign.
class Capabilities {
 public:
  explicit Capabilities(MachineOf machine_of) : machine_of_(std::move(machine_of)) {}
  // The first line of PROGRAM's version output on MACHINE ("" for a program without a known
  // version flag); TIMEOUT bounds the one probe.
  std::string version_of(const std::string& machine, const std::string& program, std::chrono::milliseconds timeout);
  // The wrk2 binary on MACHINE (wrk2, or wrk built from wrk2), found once; Error when none.
  std::string wrk2_program(const std::string& machine, std::chrono::milliseconds timeout);

 private:
  MachineOf machine_of_;
  std::map<std::string, std::string> versions_;  // "machine|program" -> first line of its version output
};

struct StepContext {
  using Clock = std::chrono::steady_clock;

  MachineOf machine_of;
  // Journals one change on a machine (an undo.jsonl entry) before it is made; nothing without a store.
  std::function<void(const std::string& machine, nlohmann::json entry)> undo;
  // The step's timeout (timeouts: in the spec) as a time point; none: no limit.
  std::optional<Clock::time_point> deadline;
  std::ostream* progress = nullptr;
  Capabilities* caps = nullptr;
  // The current run's folder for ROLE on MACHINE (Engine::work_dir).
  std::function<std::string(const std::string& machine, const std::string& role)> work_dir;
  // The current run's raw/ folder: empty without a run or store (a dry run).
  std::filesystem::path raw_dir;

  remote::Remote& machine(const std::string& name) const { return machine_of(name); }
  // OWN shortened to what is left of the deadline (at least 1 ms); OWN <= 0 (no limit of
  // its own) becomes what is left.
  std::chrono::milliseconds cap(std::chrono::milliseconds own) const { return cap_by(deadline, own); }
  static std::chrono::milliseconds cap_by(const std::optional<Clock::time_point>& deadline, std::chrono::milliseconds own);
  Clock::time_point cap(Clock::time_point own) const;
  // Clock::now() + SECONDS, capped.
  Clock::time_point deadline_in(double seconds) const;
  bool past_deadline() const { return deadline && Clock::now() >= *deadline; }

  std::string version_of(const std::string& machine, const std::string& program) const;
  std::string wrk2_program(const std::string& machine) const;
  // Per client machine of W, the binary to run when it is not the tool's name (wrk2).
  std::map<std::string, std::string> client_programs(const spec::Workload& w, const std::string& first_machine) const;
};

}  // namespace iommuvm::engine
