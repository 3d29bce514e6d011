#include "iommuvm/report/breakdown.hpp"

#include <algorithm>
#include <functional>
#include <map>

#include <fmt/format.h>

#include "iommuvm/spec/spec.hpp"

namespace iommuvm::report {

using results::Combination;
using results::Stats;
using results::Summary;
using Metrics = std::map<std::string, double>;
using Value = std::function<std::optional<double>(const Metrics&)>;

namespace {

// The per-request copy of a collector's result: collectors.<name>.per_request.<field>_per_request.
std::string per_request(const std::string& collector, const std::string& field) {
  return "collectors." + collector + ".per_request." + field + "_per_request";
}

std::optional<double> get(const Metrics& m, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end()) return std::nullopt;
  return it->second;
}

Value scaled(std::string key, double factor) {
  return [key = std::move(key), factor](const Metrics& m) -> std::optional<double> {
    auto v = get(m, key);
    if (!v) return std::nullopt;
    return *v * factor;
  };
}

// The first of FUNCTIONS the bpftrace collector reported, its FIELD per request.
std::optional<double> first_function(const Metrics& m, const std::string& collector,
                                     const std::vector<std::string>& functions, const std::string& field) {
  for (const auto& f : functions)
    if (auto v = get(m, per_request(collector, "functions." + f + "." + field))) return v;
  return std::nullopt;
}

// Inclusive kprobe times nest: the IOTLB flush (qi_submit_sync) runs inside iommu_unmap in strict
// mode (and inside the map's sync in caching mode). The unmap share without the flush is
// therefore unmap - flush, clamped at 0.
const std::vector<std::string> kMap = {"iommu_map", "__iommu_map"};
const std::vector<std::string> kUnmap = {"iommu_unmap", "__iommu_unmap"};
const std::vector<std::string> kFlush = {"qi_submit_sync", "cache_tag_flush_range", "intel_iommu_tlb_sync"};

struct Column {
  std::string label;
  std::string source;
  Value value;
};

struct Component {
  std::string label;
  Value value;  // µs per request
};

std::string pidstat_label(const std::string& process) { return process == "qemu" ? "QEMU" : process; }

}  // namespace

Breakdown breakdown(const Summary& s, const std::string& workload) {
  std::map<std::string, int> per_kind;
  for (const auto& [name, c] : s.collectors) ++per_kind[c.kind];
  // Column labels carry the collector's name when several collectors share a kind.
  auto label = [&](const std::string& text, const std::string& name, const std::string& kind) {
    return per_kind[kind] > 1 ? fmt::format("{} ({})", text, name) : text;
  };

  std::vector<Column> cols;
  auto bpf_time = [](std::string name) -> Value {
    return [name](const Metrics& m) -> std::optional<double> {
      auto mp = first_function(m, name, kMap, "total_ns"), un = first_function(m, name, kUnmap, "total_ns"),
           fl = first_function(m, name, kFlush, "total_ns");
      if (!mp && !un && !fl) return std::nullopt;
      return (mp.value_or(0) + std::max(un.value_or(0), fl.value_or(0))) / 1000;
    };
  };
  for (const auto& [name, c] : s.collectors) {
    // The simple per-request columns of a kind, from its one description (spec::collector_kinds).
    if (const auto* k = spec::collector_kind(c.kind))
      for (const auto& col : k->columns) {
        std::string field(col.field);
        cols.push_back({label(spec::column_text(col.label, c.machine), name, c.kind), "`" + per_request(name, field) + "`",
                        scaled(per_request(name, field), 1)});
      }
    if (c.kind == "bpftrace-iommu") {
      auto calls = [name](const std::vector<std::string>& fns) -> Value {
        return [name, fns](const Metrics& m) { return first_function(m, name, fns, "calls"); };
      };
      std::string p = "collectors." + name + ".per_request.functions.";
      cols.push_back({label("Maps/req", name, c.kind), "`" + p + "iommu_map.calls_per_request`", calls(kMap)});
      cols.push_back({label("Unmaps/req", name, c.kind), "`" + p + "iommu_unmap.calls_per_request`", calls(kUnmap)});
      cols.push_back({label("IOTLB flushes/req", name, c.kind), "`" + p + "qi_submit_sync.calls_per_request`", calls(kFlush)});
      cols.push_back({label("IOMMU µs/req", name, c.kind),
                      fmt::format("(iommu_map + max(iommu_unmap, qi_submit_sync)) `total_ns_per_request` / 1000 of `{}`", name),
                      bpf_time(name)});
    } else if (c.kind == "pidstat")
      cols.push_back({fmt::format("{} CPU µs/req", pidstat_label(c.process)) +
                          (per_kind["pidstat"] > 1 && c.process.empty() ? " (" + name + ")" : ""),
                      "`" + per_request(name, "cpu_s") + "` × 10⁶", scaled(per_request(name, "cpu_s"), 1e6)});
  }
  // The cross-check: the IOTLB invalidations a kernel counted (tracepoints) against those
  // QEMU's vIOMMU received (qemu-trace), per run, as their ratio (1 = they agree).
  for (const auto& [tname, t] : s.collectors) {
    if (t.kind != "tracepoints") continue;
    for (const auto& [qname, q] : s.collectors) {
      if (q.kind != "qemu-trace") continue;
      std::string a = per_request(tname, "iotlb_invalidations"), b = per_request(qname, "iotlb_invalidations");
      std::string who = t.machine.empty() ? "host" : t.machine;
      cols.push_back({per_kind["tracepoints"] > 1 || per_kind["qemu-trace"] > 1
                          ? fmt::format("{} ÷ vIOMMU IOTLB inv. ({} / {})", who, tname, qname)
                          : fmt::format("{} ÷ vIOMMU IOTLB inv.", who),
                      fmt::format("`{}` / `{}`", a, b),
                      [a, b](const Metrics& m) -> std::optional<double> {
                        auto x = get(m, a), y = get(m, b);
                        if (!x || !y || *y <= 0) return std::nullopt;
                        return *x / *y;
                      }});
    }
  }

  // Components of the stacked figure (µs per request): the bpftrace profile (with the rest of
  // the machine's CPU time from perf-stat's task-clock on the same machine), else the CPU time
  // of the processes pidstat measured, split into user and kernel time.
  std::vector<Component> comps;
  std::string comps_source;
  for (const auto& [name, c] : s.collectors) {
    if (c.kind != "bpftrace-iommu") continue;
    comps.push_back({"iommu_map", [name](const Metrics& m) -> std::optional<double> {
                       auto v = first_function(m, name, kMap, "total_ns");
                       return v ? std::optional(*v / 1000) : std::nullopt;
                     }});
    comps.push_back({"iommu_unmap without flush", [name](const Metrics& m) -> std::optional<double> {
                       auto un = first_function(m, name, kUnmap, "total_ns");
                       if (!un) return std::nullopt;
                       return std::max(0.0, *un - first_function(m, name, kFlush, "total_ns").value_or(0)) / 1000;
                     }});
    comps.push_back({"IOTLB flush (qi_submit_sync)", [name](const Metrics& m) -> std::optional<double> {
                       auto v = first_function(m, name, kFlush, "total_ns");
                       return v ? std::optional(*v / 1000) : std::nullopt;
                     }});
    comps_source = fmt::format("bpftrace-iommu '{}': inclusive times, unmap minus flush", name);
    for (const auto& [pname, pc] : s.collectors) {
      if (pc.kind != "perf-stat" || pc.machine != c.machine) continue;
      std::string key = per_request(pname, "events.task-clock_msec");
      auto total = bpf_time(name);
      comps.push_back({"rest of CPU time (task-clock)", [key, total](const Metrics& m) -> std::optional<double> {
                         auto t = get(m, key);
                         if (!t) return std::nullopt;
                         return std::max(0.0, *t * 1000 - total(m).value_or(0));
                       }});
      comps_source += fmt::format("; rest = perf-stat '{}' task-clock per request minus the IOMMU time", pname);
      break;
    }
    break;
  }
  if (comps.empty()) {
    std::vector<std::string> names;
    for (const auto& [name, c] : s.collectors) {
      if (c.kind != "pidstat") continue;
      std::string who = pidstat_label(c.process.empty() ? name : c.process);
      comps.push_back({who + " user", scaled(per_request(name, "user_s"), 1e6)});
      comps.push_back({who + " kernel", scaled(per_request(name, "system_s"), 1e6)});
      names.push_back("'" + name + "'");
    }
    if (!names.empty())
      comps_source = fmt::format("pidstat {}: user and kernel CPU time per request", fmt::join(names, ", "));
  }

  std::map<std::string, const results::RunRecord*> by_id;
  for (const auto& r : s.runs) by_id[r.id] = &r;

  Breakdown b;
  std::vector<bool> col_used(cols.size(), false), comp_used(comps.size(), false);
  std::vector<BreakdownRow> rows;
  std::vector<std::pair<const Combination*, std::vector<std::optional<double>>>> stacks;
  for (const auto& c : s.combinations) {
    if (c.workload != workload) continue;
    std::vector<const Metrics*> runs;
    for (const auto& id : c.runs)
      if (auto it = by_id.find(id); it != by_id.end()) runs.push_back(&it->second->metrics);
    BreakdownRow row{&c, {}};
    bool any = false;
    for (std::size_t i = 0; i < cols.size(); ++i) {
      std::vector<double> vals;
      for (const auto* m : runs)
        if (auto v = cols[i].value(*m)) vals.push_back(*v);
      if (vals.empty()) {
        row.values.emplace_back();
        continue;
      }
      row.values.push_back(results::describe(vals));
      col_used[i] = any = true;
    }
    if (any) rows.push_back(std::move(row));
    std::vector<std::optional<double>> stack;
    bool any_comp = false;
    for (std::size_t i = 0; i < comps.size(); ++i) {
      std::vector<double> vals;
      for (const auto* m : runs)
        if (auto v = comps[i].value(*m)) vals.push_back(*v);
      if (vals.empty()) {
        stack.emplace_back();
        continue;
      }
      stack.push_back(results::describe(vals).mean);
      comp_used[i] = any_comp = true;
    }
    if (any_comp) stacks.emplace_back(&c, std::move(stack));
  }
  // Only the columns and components some combination has.
  for (std::size_t i = 0; i < cols.size(); ++i)
    if (col_used[i]) {
      b.columns.push_back(cols[i].label);
      b.sources.push_back(cols[i].source);
    }
  for (auto& r : rows) {
    BreakdownRow kept{r.combination, {}};
    for (std::size_t i = 0; i < cols.size(); ++i)
      if (col_used[i]) kept.values.push_back(r.values[i]);
    b.rows.push_back(std::move(kept));
  }
  for (std::size_t i = 0; i < comps.size(); ++i)
    if (comp_used[i]) b.components.push_back(comps[i].label);
  if (!b.components.empty()) b.components_source = comps_source;
  for (auto& [c, st] : stacks) {
    std::vector<double> kept;
    for (std::size_t i = 0; i < comps.size(); ++i)
      if (comp_used[i]) kept.push_back(st[i].value_or(0));
    b.stacks.emplace_back(c, std::move(kept));
  }
  return b;
}

}  // namespace iommuvm::report
