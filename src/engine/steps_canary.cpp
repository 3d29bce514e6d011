// Canaries (spec canary:, docs/spec.md): a short run of a workload before the runs of each
// configuration (at the start and after every reboot, host switch or guest restart), with the
// same steps as a run on a cut-down copy of the first run's configuration (plan.cpp). Its end
// is not a run.json but a line in canaries.jsonl, compared with the previous canary of the
// same configuration; a drop beyond max_drop (or a canary that failed) flags the runs of that
// workload until its next canary.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "iommuvm/engine/engine.hpp"
#include "iommuvm/results/store.hpp"
#include "iommuvm/util/numbers.hpp"

namespace iommuvm::engine {

using nlohmann::json;

std::size_t Engine::planned_runs() const {
  std::size_t n = 0;
  for (const auto& r : plan_.runs) n += r.canary ? 0 : 1;
  return n;
}

bool Engine::canary_needed(const spec::RunPoint& canary) const {
  for (const auto& r : plan_.runs)
    if (!r.canary && r.combo == canary.combo && !done_runs_.count(r.id)) return true;
  return false;
}

void Engine::finish_canary(RunState& r, const std::string& status) {
  const auto& point = plan_.runs.at(static_cast<std::size_t>(r.index));
  const auto& m = r.record["metrics"];
  json entry = {{"id", r.id},           {"combo", point.combo}, {"workload", point.workload},
                {"params", point.params}, {"status", status},     {"at", results::now_iso8601()}};
  if (status != "ok") entry["reason"] = r.record.value("reason", std::string());
  std::optional<double> tput;
  if (m.contains("throughput_ops") && m["throughput_ops"].is_number()) tput = m["throughput_ops"].get<double>();
  if (tput) entry["throughput_ops"] = *tput;
  json previous;
  if (store_)
    for (const auto& c : store_->canaries())
      if (c.value("combo", std::string()) == point.combo && c.value("status", std::string()) == "ok" &&
          c.contains("throughput_ops") && c["throughput_ops"].is_number() && c["throughput_ops"].get<double>() > 0)
        previous = c;
  double max_drop = numbers::fraction_or_percent(point.config.canary.max_drop);
  std::string flag, line;
  if (status != "ok") {
    flag = fmt::format("canary {} failed: {}", r.id, entry.value("reason", std::string()));
  } else if (tput && previous.is_object()) {
    double before = previous["throughput_ops"].get<double>();
    double drop = 1 - *tput / before;
    entry["previous"] = {{"id", previous.value("id", std::string())},
                         {"at", previous.value("at", std::string())},
                         {"throughput_ops", before}};
    entry["drop"] = drop;
    line = fmt::format(" {:.0f} ops/s, {:+.1f} % against the previous canary", *tput, -drop * 100);
    if (drop > max_drop)
      flag = fmt::format("canary {}: {:.0f} ops/s, {:.1f} % below the previous canary of this configuration ({:.0f} ops/s at {}; "
                         "max_drop {:.1f} %)",
                         r.id, *tput, drop * 100, before, previous.value("at", std::string()), max_drop * 100);
  } else if (tput) {
    line = fmt::format(" {:.0f} ops/s (the first canary of this configuration: the reference)", *tput);
  }
  if (!flag.empty()) {
    entry["flag"] = flag;
    canary_flags_[point.workload] = flag;
    spdlog::warn("{}", flag);
  } else {
    canary_flags_.erase(point.workload);
  }
  if (store_) store_->append_canary(entry);
  progress_ << (flag.empty() ? fmt::format("[canary] {} {}{}\n", r.id, status, line) : fmt::format("[canary] {}\n", flag));
  progress_.flush();
}

void Engine::flag_from_canary(RunState& r) {
  auto it = canary_flags_.find(plan_.runs.at(static_cast<std::size_t>(r.index)).workload);
  if (it == canary_flags_.end()) return;
  if (!r.record.contains("flags")) r.record["flags"] = json::array();
  r.record["flags"].push_back({{"kind", "canary"}, {"text", it->second}});
}

}  // namespace iommuvm::engine
