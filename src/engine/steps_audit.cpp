// Kernel-log audit around each run (audit/kmsg.hpp). At the run's start, the last sequence
// number of each machine's kernel log (the mark); at its end, the records after the mark,
// stored in run.json under kernel_log and classified. Both reads happen outside the
// measurement window (run.begin is before the server starts, finish_run after the window
// and after the servers stopped), so nothing polls a machine while it is measured.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "iommuvm/audit/kmsg.hpp"
#include "iommuvm/engine/engine.hpp"
#include "machine_files.hpp"

namespace iommuvm::engine {

using nlohmann::json;

namespace {

constexpr std::chrono::milliseconds kReadTimeout{15000};
constexpr std::size_t kMaxStoredRecords = 2000;  // per machine and run; the rest is counted

// The machines a run involves: every machine of the spec but guests whose guest is not part of
// this configuration (they are not running).
std::vector<std::string> run_machines(const spec::Spec& cfg) {
  std::vector<std::string> out;
  for (const auto& m : cfg.machines) {
    bool used = m.role != spec::Role::guest;
    for (const auto& g : cfg.guests) used = used || g.machine == m.name;
    if (used) out.push_back(m.name);
  }
  return out;
}

}  // namespace

void Engine::audit_mark(RunState& r, const spec::Spec& cfg) {
  if (!cfg.audit.enabled) return;
  for (const auto& name : run_machines(cfg)) {
    auto it = backends_.machines.find(name);
    if (it == backends_.machines.end() || !it->second) continue;
    remote::Remote& m = *it->second;
    std::string why;
    try {
      auto res = m.run({{"sh", "-c", audit::read_command(machine_path(m, "/dev/kmsg"), std::nullopt)}, true}, {kReadTimeout});
      std::string out = res.out;
      while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
      if (res.ok() && !out.empty() && out.find_first_not_of("0123456789") == std::string::npos && out.size() < 20) {
        r.kmsg_marks[name] = out;
        continue;
      }
      why = res.timed_out ? "timed out" : (res.err.empty() ? fmt::format("exit {}", res.exit_status) : res.err);
    } catch (const std::exception& e) {
      why = e.what();
    }
    while (!why.empty() && why.back() == '\n') why.pop_back();
    r.kmsg_marks[name] = "!" + why;
  }
}

void Engine::audit_collect(RunState& r, const spec::Spec& cfg) {
  if (!cfg.audit.enabled || r.kmsg_marks.empty()) return;
  std::vector<audit::MachineLog> logs;
  json machines = json::object();
  for (const auto& [name, mark] : r.kmsg_marks) {
    audit::MachineLog log;
    log.machine = name;
    if (mark.rfind('!', 0) == 0) {
      log.unavailable = mark.substr(1);
    } else {
      std::uint64_t seq = std::stoull(mark);
      try {
        remote::Remote& m = machine(name);
        auto res = m.run({{"sh", "-c", audit::read_command(machine_path(m, "/dev/kmsg"), seq)}, true}, {kReadTimeout});
        if (res.ok()) log = audit::since(name, seq, res.out);
        else log.unavailable = res.timed_out ? "timed out" : fmt::format("exit {}: {}", res.exit_status, res.err);
      } catch (const std::exception& e) {
        log.unavailable = e.what();
      }
    }
    json mj = json::object();
    if (!log.unavailable.empty()) {
      mj["unavailable"] = audit::printable(log.unavailable);
    } else {
      mj["after_seq"] = std::stoull(mark);
      mj["records"] = log.records.size();
      mj["lost"] = log.lost;
      json lines = json::array();
      for (std::size_t i = 0; i < log.records.size() && i < kMaxStoredRecords; ++i) {
        const auto& rec = log.records[i];
        lines.push_back({{"seq", rec.seq}, {"level", rec.priority}, {"ts_us", rec.ts_us}, {"text", audit::printable(rec.text)}});
      }
      mj["lines"] = lines;
      if (log.records.size() > kMaxStoredRecords) mj["not_stored"] = log.records.size() - kMaxStoredRecords;
    }
    machines[name] = mj;
    logs.push_back(std::move(log));
  }
  auto found = audit::findings(logs, cfg.audit);
  json fj = json::array();
  for (const auto& f : found)
    fj.push_back({{"machine", f.machine},
                  {"class", f.cls},
                  {"action", std::string(audit::to_string(f.action))},
                  {"seq", f.record.seq},
                  {"ts_us", f.record.ts_us},
                  {"text", audit::printable(f.record.text)}});
  r.record["kernel_log"] = {{"machines", machines}, {"findings", fj}};
  for (const auto& l : logs)
    if (l.lost > 0) spdlog::warn("run {}: {} kernel-log record(s) of {} were overwritten before they could be read", r.id, l.lost, l.machine);
  if (std::string why = audit::failure_reason(found); !why.empty()) fail_run(why);
}

}  // namespace iommuvm::engine
