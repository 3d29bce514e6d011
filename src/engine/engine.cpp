#include "iommuvm/engine/engine.hpp"
#include "iommuvm/engine/status_line.hpp"

#include <csignal>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "iommuvm/util/text.hpp"
#include "iommuvm/version.hpp"
#include "iommuvm/virt/libvirt.hpp"
#include "iommuvm/engine/restore.hpp"
#include "step_context.hpp"

namespace iommuvm::engine {

using nlohmann::json;
namespace kind = plan::kind;

std::atomic<int> g_interrupts{0};

namespace {

std::string step_key(const plan::Step& s) {
  std::string guest = s.args.is_object() && s.args.contains("guest") ? s.args["guest"].dump() : "";
  return s.kind + "|" + s.machine + "|" + guest;
}

}  // namespace

Engine::Engine(const plan::Plan& plan, Backends backends, Options options, std::ostream& progress,
               results::CampaignStore* store)
    : plan_(plan), backends_(std::move(backends)), options_(std::move(options)), progress_(progress), store_(store) {
  handlers_ = {
      {kind::campaign_begin, &Engine::on_campaign_begin}, {kind::campaign_end, &Engine::on_campaign_end},
      {kind::host_set_policy, &Engine::on_host_set_policy}, {kind::host_reboot, &Engine::on_host_reboot},
      {kind::host_verify_policy, &Engine::on_host_verify_policy},       {kind::nic_setup_vfs, &Engine::on_nic_setup_vfs},
      {kind::machine_tune, &Engine::on_machine_tune},     {kind::guest_shutdown, &Engine::on_guest_shutdown},
      {kind::guest_define, &Engine::on_guest_define},     {kind::guest_start, &Engine::on_guest_start},
      {kind::guest_verify_policy, &Engine::on_guest_verify_policy},     {kind::guest_network, &Engine::on_guest_network},
      {kind::run_begin, &Engine::on_run_begin},           {kind::server_start, &Engine::on_server_start},
      {kind::client_warmup, &Engine::on_client_warmup},   {kind::client_measure, &Engine::on_client_measure},
      {kind::server_stop, &Engine::on_server_stop},       {kind::run_end, &Engine::on_run_end},
      {kind::cooldown, &Engine::on_cooldown},
  };
  if (store_) done_runs_ = store_->finished_runs();
  caps_ = std::make_unique<Capabilities>([this](const std::string& m) -> remote::Remote& { return machine(m); });
}

Engine::~Engine() = default;

StepContext Engine::step_context(std::optional<std::chrono::steady_clock::time_point> deadline) {
  StepContext ctx;
  ctx.machine_of = [this](const std::string& m) -> remote::Remote& { return machine(m); };
  ctx.undo = [this](const std::string& m, json entry) { undo(m, std::move(entry)); };
  ctx.deadline = deadline;
  ctx.progress = &progress_;
  ctx.caps = caps_.get();
  // The first use makes the folder: that command's wait ends at the step deadline too.
  ctx.work_dir = [this, deadline](const std::string& m, const std::string& role) {
    return work_dir(m, role, StepContext::cap_by(deadline, std::chrono::milliseconds(30000)));
  };
  if (run_) ctx.raw_dir = run_->raw_dir;
  return ctx;
}

remote::Remote& Engine::machine(const std::string& name) {
  auto it = backends_.machines.find(name);
  if (it == backends_.machines.end() || !it->second) throw Error(fmt::format("no connection to machine '{}'", name));
  return *it->second;
}

virt::Hypervisor& Engine::hypervisor() {
  if (!backends_.hypervisor) throw Error("no libvirt connection (the spec has no 'hypervisor')");
  return *backends_.hypervisor;
}

const spec::Spec& Engine::config(const plan::Step& s) const {
  if (s.run_index >= 0) return plan_.runs.at(static_cast<std::size_t>(s.run_index)).config;
  if (plan_.runs.empty()) throw Error("the plan has no runs");
  // A switch step configures what the next run needs.
  auto index = static_cast<std::size_t>(&s - plan_.steps.data());
  for (std::size_t j = index; j < plan_.steps.size(); ++j)
    if (plan_.steps[j].run_index >= 0) return plan_.runs.at(static_cast<std::size_t>(plan_.steps[j].run_index)).config;
  return plan_.runs.back().config;
}

bool Engine::needed(std::size_t index) const {
  const auto& s = plan_.steps[index];
  if (s.kind == kind::campaign_begin || s.kind == kind::campaign_end) return true;
  std::string key = step_key(s);
  for (std::size_t j = index + 1; j < plan_.steps.size(); ++j) {
    const auto& t = plan_.steps[j];
    if (t.run.empty() && step_key(t) == key) return false;  // the next step like this one serves the runs after it
    if (t.kind == kind::run_begin && !done_runs_.count(t.run) && !unneeded_runs_.count(t.run)) {
      const auto& point = plan_.runs.at(static_cast<std::size_t>(t.run_index));
      if (point.canary) continue;  // a canary serves the runs after it, it needs nothing itself
      if (!point.extra || !store_ || decide_extra(t.run_index).more) return true;
    }
  }
  return false;
}

results::MoreDecision Engine::decide_extra(int run_index) const {
  const auto& point = plan_.runs.at(static_cast<std::size_t>(run_index));
  const auto& m = point.config.matrix;
  results::VariancePolicy policy{m.repetitions, m.max_repetitions, m.max_cv};
  if (!store_) {
    results::MoreDecision d;
    d.more = true;
    d.reason = "dry run: decided from the CV of the earlier repetitions";
    return d;
  }
  std::vector<results::Repetition> done;
  for (const auto& other : plan_.runs)
    if (other.combo == point.combo && other.workload == point.workload && other.repetition < point.repetition)
      if (auto r = store_->read_run(other.id); r.is_object()) done.push_back(results::repetition_of(r));
  return results::decide_more(done, point.repetition, policy);
}

ExitCode Engine::run() {
  campaign_start_ = std::chrono::steady_clock::now();
  if (!done_runs_.empty())
    progress_ << fmt::format("Resuming {}: {} of {} runs already finished\n", store_ ? store_->dir().string() : "",
                             done_runs_.size(), planned_runs());
  summary_.resumed = static_cast<int>(done_runs_.size());
  // After the controller rebooted its own machine: the steps up to that reboot are done
  // (its runs are finished, the switch happened); the reboot step itself checks the boot.
  std::size_t resume_step = 0;
  if (store_) resume_ = store_->resume_state();
  if (resume_.is_object()) {
    auto k = resume_.value("step", std::size_t{0});
    std::string mname = resume_.value("machine", std::string());
    if (k < plan_.steps.size() && plan_.steps[k].kind == kind::host_reboot && plan_.steps[k].machine == mname) {
      resume_step = k;
      progress_ << fmt::format("Resuming after the reboot of {} (step {}: {})\n", mname, k, plan_.steps[k].summary);
    } else {
      spdlog::warn("resume.json names step {} on {}, which is not a reboot in this plan: ignored", k, mname);
    }
    remove_resume_unit(machine(mname), resume_);
    if (resume_step == 0) {
      store_->clear_resume_state();
      resume_ = nullptr;
    }
  }
  bool interrupted = false;
  for (std::size_t i = 0; i < plan_.steps.size(); ++i) {
    if (g_interrupts.load() > 0) {
      interrupted = true;
      break;
    }
    const auto& s = plan_.steps[i];
    if (i < resume_step && s.kind != kind::campaign_begin) continue;
    if (!s.run.empty() && (done_runs_.count(s.run) || unneeded_runs_.count(s.run))) continue;
    extra_decision_.reset();
    if (s.kind == kind::run_begin && plan_.runs.at(static_cast<std::size_t>(s.run_index)).canary &&
        !canary_needed(plan_.runs.at(static_cast<std::size_t>(s.run_index)))) {
      unneeded_runs_.insert(s.run);  // every run of its configuration is finished (resume)
      continue;
    }
    if (s.kind == kind::run_begin && plan_.runs.at(static_cast<std::size_t>(s.run_index)).extra) {
      auto d = decide_extra(s.run_index);
      if (!d.more) {
        unneeded_runs_.insert(s.run);
        ++summary_.extra_saved;
        spdlog::info("no extra repetition {}: {}", s.run, d.reason);
        continue;
      }
      progress_ << fmt::format("Extra repetition {}: {}\n", s.run, d.reason);
      extra_decision_ = d;
    }
    if (s.kind == kind::run_begin) switch_failed_ = false;
    if (switch_failed_ && s.run.empty() && s.kind != kind::campaign_end) {
      spdlog::info("skip {} (an earlier switch step failed)", s.summary);
      continue;
    }
    if (s.run.empty() && !needed(i)) {
      spdlog::debug("skip {} (every run it serves is finished)", s.summary);
      continue;
    }
    if (!s.run.empty() && s.kind != kind::run_begin && (!run_ || run_->id != s.run || run_->failed) && s.kind != kind::run_end &&
        s.kind != kind::server_stop)
      continue;  // the run failed or was blocked earlier: go straight to its end
    if (!s.run.empty() && s.kind == kind::run_end && !run_) continue;
    if (options_.status) {
      std::size_t n = planned_runs() - unneeded_runs_.size();
      int done = summary_.ok + summary_.failed + summary_.skipped + summary_.resumed;
      options_.status(status_line(done, n, s.run, s.summary, 0));
    }
    execute(i);
    if (rebooting_self_) break;
    if (options_.fail_fast && summary_.failed > 0) break;
  }
  if (rebooting_self_) {
    progress_ << fmt::format("Rebooting {}: the campaign stops here and resumes after the boot ({} runs of {} finished); "
                             "follow it with: journalctl -b -fu iommuvm-resume\n",
                             resume_.value("machine", std::string()), summary_.ok + summary_.failed + summary_.skipped + summary_.resumed,
                             planned_runs());
    progress_.flush();
    return ExitCode::rebooting;
  }
  if (g_interrupts.load() > 0) interrupted = true;
  if (interrupted) {
    progress_ << "Interrupted: stopping what this campaign started\n";
    if (run_) {
      stop_processes(*run_);
      run_.reset();  // a half-finished run is run again from the start on resume
    }
    cleanup_all();
    if (store_) store_->set_status("interrupted");
  }

  progress_ << fmt::format("Done: {} ok, {} failed, {} skipped{}{} in {}\n", summary_.ok, summary_.failed, summary_.skipped,
                           summary_.resumed ? fmt::format(", {} from before", summary_.resumed) : "",
                           summary_.extra || summary_.extra_saved
                               ? fmt::format(" ({} extra repetitions for variance, {} not needed)", summary_.extra,
                                             summary_.extra_saved)
                               : "",
                           text::duration_text(std::chrono::duration<double>(std::chrono::steady_clock::now() - campaign_start_).count()));
  for (const auto& [id, reason] : summary_.failures) progress_ << fmt::format("  failed: {}: {}\n", id, reason);
  if (interrupted) return ExitCode::interrupted;
  return summary_.failed > 0 ? ExitCode::run_failed : ExitCode::ok;
}

void Engine::execute(std::size_t index) {
  const auto& s = plan_.steps[index];
  auto handler = handlers_.find(s.kind);
  if (handler == handlers_.end()) throw Error(fmt::format("internal: no handler for step kind '{}'", s.kind));
  if (options_.on_step) options_.on_step(s);
  int attempts = 1 + (s.run.empty() ? options_.switch_retries : 0);
  auto t0 = std::chrono::steady_clock::now();
  std::string error;
  step_note_.clear();
  auto limit = options_.timeouts.find(s.kind);
  bool timed_out = false;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    auto started = std::chrono::steady_clock::now();
    std::optional<std::chrono::steady_clock::time_point> deadline;
    // A dry run takes no time: a deadline would only shorten the timeouts it prints.
    if (limit != options_.timeouts.end() && !options_.dry_run)
      deadline = started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(limit->second));
    const StepContext ctx = step_context(deadline);
    try {
      (this->*(handler->second))(s, ctx);
      error.clear();
    } catch (const Error& e) {
      error = e.what();
    } catch (const std::exception& e) {
      error = fmt::format("internal error: {}", e.what());
    }
    // A step that ran past its timeout failed, whatever it returned.
    timed_out = ctx.past_deadline();
    if (timed_out)
      error = fmt::format("timeout: {} did not finish within {} s (timeouts.{}){}", s.summary, limit->second, s.kind,
                          error.empty() ? "" : ": " + error);
    if (error.empty()) break;
    if (attempt < attempts && g_interrupts.load() == 0) {
      spdlog::warn("{} failed ({}); retrying ({}/{})", s.summary, error, attempt, attempts - 1);
      pause(2);
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!error.empty()) {
    if (!s.run.empty()) {
      fail_run(timed_out ? error : fmt::format("{}: {}", s.summary, error));
    } else if (s.kind == kind::campaign_begin || s.kind == kind::campaign_end) {
      throw Error(error);
    } else {
      // A switch failed: the runs that needed it cannot be measured as asked.
      bool guest_step = s.kind.rfind("guest.", 0) == 0;
      std::string reason = timed_out ? error : fmt::format("{} failed: {}", s.summary, error);
      if (guest_step)
        blocked_guest_[s.args.value("guest", std::string())] = reason;
      else
        blocked_host_ = reason;
      switch_failed_ = true;
      spdlog::error("{}", reason);
      progress_ << fmt::format("! {}\n", reason);
    }
  }
  note_host_switch(s, secs, error.empty() ? (step_note_.empty() ? "ok" : "skipped") : "failed");
  if (store_)
    store_->journal({{"step", index},
                     {"kind", s.kind},
                     {"machine", s.machine},
                     {"run", s.run},
                     {"status", !error.empty()      ? "failed"
                                : rebooting_self_     ? "rebooting"
                                : step_note_.empty()  ? "ok"
                                                      : "skipped"},
                     {"note", step_note_},
                     {"error", error},
                     {"seconds", secs},
                     {"at", results::now_iso8601()}});
}

void Engine::on_campaign_begin(const plan::Step&, const StepContext&) {
  system_["iommuvm_version"] = kVersion;
  system_["spec_hash"] = plan_.spec_hash;
  if (store_) progress_ << fmt::format("Campaign folder: {}\n", store_->dir().string());
}

void Engine::on_campaign_end(const plan::Step& s, const StepContext&) {
  if (run_) stop_processes(*run_);
  std::string cleanup = s.args.value("cleanup", std::string("restore"));
  if (cleanup != "keep") {
    // Before the guests are shut down, whose folders they also are. The private work folders (mktemp -d: server logs, uploaded files, collectors' output):
    // what the campaign keeps was copied into its folder as each run ended.
    for (const auto& [m, dir] : work_roots_) {
      if (dir.empty() || dir.front() != '/' || dir.find("/iommuvm-") == std::string::npos) continue;
      // A machine that cannot be reached (a guest that stopped itself) keeps its folder: said, not fatal.
      try {
        auto res = machine(m).run({{"rm", "-rf", "--", dir}, true, "", {}}, {std::chrono::milliseconds(60000)});
        if (!res.ok()) progress_ << fmt::format("! could not remove the work folder {} on {}: {}\n", dir, m, res.err);
      } catch (const std::exception& e) {
        progress_ << fmt::format("! could not remove the work folder {} on {}: {}\n", dir, m, e.what());
      }
    }
    work_roots_.clear();
  }
  if (cleanup != "keep" && !plan_.runs.empty()) {
    // Guests are shut down for both 'shutdown' and 'restore'.
    if (backends_.hypervisor)
      for (const auto& g : plan_.runs.back().config.guests) {
        try {
          if (backends_.hypervisor->is_active(g.domain))
            virt::stop_domain(*backends_.hypervisor, g.domain, std::chrono::seconds(static_cast<long long>(g.boot_timeout_s)));
        } catch (const std::exception& e) {
          progress_ << fmt::format("! could not shut down guest {}: {}\n", g.domain, e.what());
        }
      }
  }
  if (cleanup == "restore" && store_) {
    auto left = restore_machines(*store_, backends_.machines, progress_, backends_.hypervisor, true);
    for (const auto& l : left) progress_ << "  left as it is: " << l << "\n";
  }
  if (store_) store_->set_status("finished");
}

void Engine::on_run_begin(const plan::Step& s, const StepContext&) {
  const auto& point = plan_.runs.at(static_cast<std::size_t>(s.run_index));
  RunState r;
  r.id = point.id;
  r.index = s.run_index;
  r.started = std::chrono::steady_clock::now();
  r.record = {{"schema", results::kRunSchema},
              {"id", point.id},
              {"combo", point.combo},
              {"workload", point.workload},
              {"repetition", point.repetition},
              {"params", point.params},
              {"status", "running"},
              {"started_at", results::now_iso8601()},
              {"spec_hash", plan_.spec_hash},
              {"iommuvm_version", kVersion},
              {"metrics", json::object()},
              {"raw", json::array()}};
  if (point.extra) {
    // Why this repetition is run: the CV over the earlier ones (docs/results.md).
    json why = {{"reason", extra_decision_ ? extra_decision_->reason : std::string("dry run")}};
    if (extra_decision_) {
      why["metric"] = extra_decision_->metric;
      why["cv"] = extra_decision_->cv ? json(*extra_decision_->cv) : json(nullptr);
      why["ok_runs"] = extra_decision_->ok;
      why["runs"] = extra_decision_->runs;
    }
    why["max_cv"] = results::cv_fraction(point.config.matrix.max_cv);
    why["planned_repetitions"] = point.config.matrix.repetitions;
    why["max_repetitions"] = point.config.matrix.max_repetitions;
    r.record["extra_repetition"] = why;
    ++summary_.extra;
  }
  if (point.canary) r.record["canary"] = true;
  if (store_) r.raw_dir = point.canary ? store_->canary_raw_dir(point.id) : store_->raw_dir(point.id);
  audit_mark(r, point.config);
  run_ = std::move(r);
  // A configuration whose switch failed or whose policy did not take effect is not measured.
  std::string reason = blocked_host_;
  if (reason.empty())
    for (const auto& [g, why] : blocked_guest_)
      if (!why.empty()) reason = why;
  if (!reason.empty()) fail_run(reason);
}

void Engine::fail_run(const std::string& reason) {
  if (!run_) return;
  if (!run_->failed) {
    run_->failed = true;
    run_->record["status"] = "failed";
    run_->record["reason"] = reason;
    spdlog::warn("run {} failed: {}", run_->id, reason);
  }
}

void Engine::on_run_end(const plan::Step&, const StepContext&) {
  if (!run_) return;
  finish_run(run_->failed ? "failed" : "ok");
}

void Engine::note_host_switch(const plan::Step& s, double seconds, const std::string& status) {
  const char* part = s.kind == kind::host_set_policy ? "set_policy_s"
                     : s.kind == kind::host_reboot   ? "reboot_s"
                     : s.kind == kind::host_verify_policy   ? "verify_s"
                                                     : nullptr;
  if (!part) return;
  if (s.kind == kind::host_set_policy) {
    host_switch_ = {{"method", s.args.value("method", std::string())}, {"policy", s.args.value("policy", std::string())}};
  } else if (host_switch_.empty()) {
    return;  // a verification of the policy as it is: no switch
  }
  if (s.kind == kind::host_reboot && status == "skipped") return;
  host_switch_[part] = seconds;
  if (status != "ok") host_switch_["status"] = status;
  double total = 0;
  for (const char* k : {"set_policy_s", "reboot_s", "verify_s"}) total += host_switch_.value(k, 0.0);
  host_switch_["seconds"] = total;
}

void Engine::finish_run(std::string status) {
  RunState& r = *run_;
  stop_processes(r);
  audit_collect(r, plan_.runs.at(static_cast<std::size_t>(r.index)).config);
  if (r.failed && status == "ok") status = "failed";
  double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - r.started).count();
  r.record["status"] = status;
  r.record["finished_at"] = results::now_iso8601();
  r.record["duration_s"] = total;
  r.record["overhead_s"] = std::max(0.0, total - r.active_seconds);
  r.record["policy"] = {{"host", host_evidence_}, {"guests", guest_evidence_}};
  if (!host_switch_.empty()) r.record["policy"]["host_switch"] = host_switch_;
  r.record["system"] = system_;
  if (!tuning_applied_.empty()) r.record["tuning"] = tuning_applied_;
  if (plan_.runs.at(static_cast<std::size_t>(r.index)).canary) {
    finish_canary(r, status);
    run_.reset();
    return;
  }
  flag_from_canary(r);
  if (store_) store_->write_run(r.record);
  if (status == "ok") ++summary_.ok;
  else if (status == "failed") {
    ++summary_.failed;
    summary_.failures.emplace_back(r.id, r.record.value("reason", std::string()));
  } else ++summary_.skipped;
  ++runs_done_this_invocation_;
  print_progress(r, status);
  run_.reset();
}

void Engine::print_progress(const RunState& r, const std::string& status) {
  std::size_t n = planned_runs() - unneeded_runs_.size();  // extra repetitions not ruled out yet included
  int done = summary_.ok + summary_.failed + summary_.skipped + summary_.resumed;
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - campaign_start_).count();
  double eta = runs_done_this_invocation_ > 0
                   ? elapsed / runs_done_this_invocation_ * static_cast<double>(static_cast<int>(n) - done)
                   : 0;
  std::string last;
  const auto& m = r.record["metrics"];
  if (m.contains("throughput_ops")) last += fmt::format(" {:.0f} ops/s", m["throughput_ops"].get<double>());
  if (m.contains("latency_us") && m["latency_us"].contains("p99"))
    last += fmt::format(" p99 {:.1f} us", m["latency_us"]["p99"].get<double>());
  if (status != "ok") last += " (" + r.record.value("reason", std::string()) + ")";
  // A dry run's pace says nothing about a run's: no ETA.
  progress_ << fmt::format("[{}/{}] {} {}{}{}\n", done, n, r.id, status, last,
                           options_.dry_run ? "" : fmt::format(" ETA {}", text::duration_text(eta)));
  progress_.flush();
}

void Engine::on_cooldown(const plan::Step& s, const StepContext&) {
  pause(s.args.value("seconds", 0.0));
}

void Engine::pause(double secs) {
  if (options_.pause) return options_.pause(secs);
  auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(secs);
  while (std::chrono::steady_clock::now() < until && g_interrupts.load() == 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

void Engine::undo(const std::string& machine, json entry) {
  if (!store_) return;
  entry["machine"] = machine;
  if (!entry.contains("at")) entry["at"] = results::now_iso8601();
  store_->undo(entry);
}

void Engine::stop_processes(RunState& r) {
  for (auto it = r.processes.rbegin(); it != r.processes.rend(); ++it) {
    try {
      machine(it->first).stop(it->second, SIGTERM, std::chrono::milliseconds(5000));
    } catch (const std::exception& e) {
      spdlog::error("could not stop pid {} on {}: {}", it->second.pid, it->first, e.what());
    }
  }
  r.processes.clear();
}

void Engine::cleanup_all() {
  // Processes are stopped per run; what is left is the campaign's own state (guests,
  // host configuration), restored according to the spec by `iommuvm restore` and the
  // campaign.end step.
}

}  // namespace iommuvm::engine
