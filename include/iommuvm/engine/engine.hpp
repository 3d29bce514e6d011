// The engine executes a plan, step by step, against backends. A real run and
// --dry-run are the same code: only the backends differ (SSH/local remotes and
// libvirt, or the recording ones).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "iommuvm/plan/plan.hpp"
#include "iommuvm/remote/remote.hpp"
#include "iommuvm/results/store.hpp"
#include "iommuvm/results/variance.hpp"
#include "iommuvm/util/error.hpp"
#include "iommuvm/virt/hypervisor.hpp"

namespace iommuvm::engine {

struct Backends {
  std::map<std::string, remote::Remote*> machines;  // by machine name in the spec
  virt::Hypervisor* hypervisor = nullptr;           // one connection for the whole campaign
};

struct Options {
  // A dry run (simulated machines, no store): the engine's few differences are commented
  // where they are (engine.cpp, steps_workload.cpp, steps_host.cpp, collect::Base).
  bool dry_run = false;
  bool fail_fast = false;
  int switch_retries = 1;  // retries of a failed step between runs (reboot, guest start, ...)
  // Per step kind (plan::kind), seconds: a step that takes longer fails with reason "timeout: ...".
  // Waits inside a step (readiness, reboot, guest boot, the load generator) end at the deadline.
  std::map<std::string, double> timeouts;
  std::filesystem::path spec_dir;  // relative paths in the spec (templates) are resolved here
  // How to start this campaign again: the resume unit runs it after the controller rebooted
  // its own machine. Absolute program path first; the working folder it runs in.
  std::vector<std::string> resume_argv;
  std::string resume_cwd;
  // Called with a one-line status at the start of every executed step (the live status line
  // on a terminal); unset: nothing.
  std::function<void(const std::string&)> status;
  // Called with every step as it begins (the dry run prints "# <summary>"); unset: nothing.
  std::function<void(const plan::Step&)> on_step;
  // How the controller waits SECONDS (cool-downs, between retries); unset: it sleeps,
  // ending early on an interrupt. The dry run prints the wait instead.
  std::function<void(double)> pause;
};

// Incremented by the SIGINT/SIGTERM handler; the engine stops between steps when it is
// non-zero and cleans up.
extern std::atomic<int> g_interrupts;

// What happened to one run; becomes runs/<id>/run.json.
struct RunState {
  std::string id;
  int index = -1;
  nlohmann::json record;  // the run.json being built
  std::vector<std::pair<std::string, remote::Process>> processes;  // machine, process
  std::filesystem::path raw_dir;
  std::chrono::steady_clock::time_point started;
  double active_seconds = 0;  // warm-up + measurement
  bool failed = false;
  std::map<std::string, std::string> kmsg_marks;  // machine -> last kernel-log sequence number at the start, or "!why"
};

struct MachineFacts;  // src/engine/machine_facts.hpp
struct StepContext;  // step_context.hpp
class Capabilities;  // step_context.hpp

class Engine {
 public:
  Engine(const plan::Plan& plan, Backends backends, Options options, std::ostream& progress,
         results::CampaignStore* store);
  ~Engine();
  // Execute the plan. Returns the process exit code (0, 1 when runs failed, 130 when interrupted,
  // 75 when the controller is rebooting its own machine and resumes after the boot).
  ExitCode run();
  // Whether the engine has a handler for steps of KIND (spec/step_kinds.hpp).
  bool handles(const std::string& kind) const { return handlers_.count(kind) > 0; }

  struct Summary {
    int ok = 0, failed = 0, skipped = 0, resumed = 0;
    int extra = 0;        // extra repetitions run (variance control)
    int extra_saved = 0;  // extra repetitions found unnecessary (CV low enough)
    std::vector<std::pair<std::string, std::string>> failures;  // run id, reason
  };
  const Summary& summary() const { return summary_; }

 private:
  using Handler = void (Engine::*)(const plan::Step&, const StepContext&);

  // Core (engine.cpp).
  void execute(std::size_t index);
  // The context of one attempt of a step: DEADLINE from timeouts: (none: no limit).
  StepContext step_context(std::optional<std::chrono::steady_clock::time_point> deadline);
  bool needed(std::size_t index) const;
  // Variance control: should the extra repetition RUN_INDEX run? From the combination's
  // earlier run.json files (so a resumed campaign decides the same way). Without a store
  // (dry run) the answer is unknown and the run is shown.
  void pause(double seconds);
  // Journals one change on MACHINE (an undo.jsonl entry) before it is made; nothing without a store.
  void undo(const std::string& machine, nlohmann::json entry);
  results::MoreDecision decide_extra(int run_index) const;
  void fail_run(const std::string& reason);
  void finish_run(std::string status);
  void note_host_switch(const plan::Step& s, double seconds, const std::string& status);
  // Kernel-log audit (steps_audit.cpp): the mark at the run's start, the verdict at its end.
  void audit_mark(RunState& r, const spec::Spec& cfg);
  void audit_collect(RunState& r, const spec::Spec& cfg);
  // Canaries (steps_canary.cpp): the end of a canary run (kept in canaries.jsonl, compared
  // with the previous canary of its configuration), and the flags it leaves on later runs.
  void finish_canary(RunState& r, const std::string& status);
  void flag_from_canary(RunState& r);
  bool canary_needed(const spec::RunPoint& canary) const;
  std::size_t planned_runs() const;  // Plan::runs without the canaries
  void stop_processes(RunState& run);
  void cleanup_all();
  remote::Remote& machine(const std::string& name);
  virt::Hypervisor& hypervisor();
  const spec::Spec& config(const plan::Step& s) const;
  void print_progress(const RunState& run, const std::string& status);

  void on_campaign_begin(const plan::Step& s, const StepContext& ctx);
  void on_campaign_end(const plan::Step& s, const StepContext& ctx);
  void on_run_begin(const plan::Step& s, const StepContext& ctx);
  void on_run_end(const plan::Step& s, const StepContext& ctx);
  void on_cooldown(const plan::Step& s, const StepContext& ctx);

  // Host policy (steps_host.cpp).
  void on_host_set_policy(const plan::Step& s, const StepContext& ctx);
  void on_host_reboot(const plan::Step& s, const StepContext& ctx);
  void on_host_verify_policy(const plan::Step& s, const StepContext& ctx);
  // GRUB switch on a host or a guest (steps_host.cpp): the one-shot entry (grub-oneshot,
  // auto) or the persistent edit of the GRUB default file (grub), then the update command;
  // journaled for undo. KERNEL_CHOICE: a kernel path, a GRUB menu title, or empty (the running one).
  void switch_by_grub(const StepContext& ctx, const std::string& name, remote::Remote& r, const spec::Machine* m, policy::Policy pol,
                      policy::Method method, const std::string& kernel_choice, const MachineFacts& facts);
  // Reboot machine R with CMD (hooks around it) and wait until it answers with a new boot id.
  void reboot_and_wait(const StepContext& ctx, const std::string& name, remote::Remote& r, const spec::Machine& m,
                       const remote::Command& cmd);
  // The controller's own machine (steps_host.cpp): resume unit and state before its reboot,
  // their removal and the boot id check after it.
  void prepare_self_reboot(const StepContext& ctx, const plan::Step& s, remote::Remote& r, const std::string& boot_id_before);
  void remove_resume_unit(remote::Remote& r, const nlohmann::json& state);
  void finish_self_reboot(const plan::Step& s, remote::Remote& r);
  void on_machine_tune(const plan::Step& s, const StepContext& ctx);
  void on_nic_setup_vfs(const plan::Step& s, const StepContext& ctx);

  // Guests (steps_guest.cpp).
  void on_guest_shutdown(const plan::Step& s, const StepContext& ctx);
  void on_guest_define(const plan::Step& s, const StepContext& ctx);
  void on_guest_start(const plan::Step& s, const StepContext& ctx);
  void on_guest_verify_policy(const plan::Step& s, const StepContext& ctx);
  void on_guest_network(const plan::Step& s, const StepContext& ctx);

  // Workloads (steps_workload.cpp).
  void on_server_start(const plan::Step& s, const StepContext& ctx);
  void on_client_warmup(const plan::Step& s, const StepContext& ctx);
  void on_client_measure(const plan::Step& s, const StepContext& ctx);
  void on_server_stop(const plan::Step& s, const StepContext& ctx);

  // The VF's counters in the guests of a run, before the warm-up and after the measurement
  // (steps_datapath.cpp); a VF that did not carry the traffic fails the run (data-path).
  void data_path_read(const plan::Step& s, bool before);

  const plan::Plan& plan_;
  Backends backends_;
  Options options_;
  std::ostream& progress_;
  results::CampaignStore* store_;
  std::map<std::string, Handler> handlers_;

  std::set<std::string> done_runs_;          // finished before this invocation (resume)
  std::set<std::string> unneeded_runs_;      // extra repetitions the CV made unnecessary
  std::optional<results::MoreDecision> extra_decision_;  // why the run beginning now is an extra repetition
  std::optional<RunState> run_;              // the run in progress
  std::string blocked_host_;                 // non-empty: runs fail with this reason until the next host switch
  std::map<std::string, std::string> blocked_guest_;  // per guest, until its next define
  std::string switch_skip_until_;
  std::string step_note_;
  bool switch_failed_ = false;  // a switch step failed: the rest of its sequence is skipped  // set by a handler that found nothing to do; goes to the journal            // set when a switch step found the machine already right
  nlohmann::json host_evidence_ = nlohmann::json::object();
  // The last host switch: method, policy and seconds per step (set_policy, reboot, verify),
  // copied into every run.json of its configuration (policy.host_switch).
  nlohmann::json host_switch_ = nlohmann::json::object();
  std::string nic_pci_;  // the NIC's PCI address as last found (nic.pf may vanish during a rebind)
  std::map<std::string, nlohmann::json> guest_evidence_;
  nlohmann::json system_ = nlohmann::json::object();
  std::map<std::string, nlohmann::json> tuning_applied_;
  std::unique_ptr<Capabilities> caps_;  // the machines' programs and versions, asked once per campaign
  std::map<std::string, std::string> canary_flags_;  // combo -> why its last canary flags the runs that follow
  // The current run's folder for ROLE (server, client, collect) on MACHINE, inside this
  // invocation's private work folder there: made once per machine by `mktemp -d` run on
  // it ($TMPDIR or /tmp, mode 0700, an unguessable name starting with iommuvm-<work id>.).
  // TIMEOUT: for making the folder (mktemp -d) the first time, capped by the step deadline.
  std::string work_dir(const std::string& machine, const std::string& role,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(30000));
  std::map<std::string, std::string> work_roots_;  // machine -> its private work folder
  Summary summary_;
  std::chrono::steady_clock::time_point campaign_start_;
  int runs_done_this_invocation_ = 0;
  nlohmann::json resume_;        // resume.json of a campaign whose controller rebooted its machine
  bool rebooting_self_ = false;  // the reboot of the controller's machine was issued: stop here
};

}  // namespace iommuvm::engine
