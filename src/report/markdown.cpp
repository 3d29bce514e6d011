#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "iommuvm/audit/kmsg.hpp"
#include "iommuvm/report/breakdown.hpp"
#include "iommuvm/report/report.hpp"
#include "iommuvm/spec/spec.hpp"

namespace iommuvm::report {

using json = nlohmann::json;
using results::Combination;
using results::Stats;
using results::Summary;

namespace {

const char* kLatencyCols[] = {"avg", "p50", "p75", "p90", "p95", "p99", "p99.9", "p99.99"};

std::string no_negative_zero(std::string s) {
  if (!s.empty() && s[0] == '-' && s.find_first_of("123456789") == std::string::npos) s.erase(0, 1);
  return s;
}

std::string pct(double v) { return no_negative_zero(fmt::format("{:.1f}", v)); }

// Table cells: no pipes, no newlines.
std::string cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n' || c == '\r')
      out += ' ';
    else
      out += c;
  }
  return out;
}

void table_row(std::ostream& out, const std::vector<std::string>& cells) {
  out << '|';
  for (const auto& c : cells) out << ' ' << cell(c) << " |";
  out << '\n';
}

void table_head(std::ostream& out, const std::vector<std::string>& cells) {
  table_row(out, cells);
  out << '|';
  for (std::size_t i = 0; i < cells.size(); ++i) out << "---|";
  out << '\n';
}

std::string short_name(const std::string& path) {
  auto dot = path.rfind('.');
  return dot == std::string::npos ? path : path.substr(dot + 1);
}

std::string degradation_text(const Summary& s, const Combination& c, const std::string& metric) {
  if (c.is_baseline) return "baseline";
  auto it = c.vs_baseline.find(metric);
  if (it == c.vs_baseline.end()) return "—";
  const auto& cmp = it->second;
  std::string t = pct(cmp.degradation_pct) + " %";
  if (cmp.degradation_low && cmp.degradation_high)
    t += " [" + pct(*cmp.degradation_low) + ", " + pct(*cmp.degradation_high) + "]";
  (void)s;
  return t;
}

std::string kernel_class_title(const std::string& cls) {
  const auto* c = audit::find_class(cls);
  return c ? c->title : cls;
}

// The kernel-log audit: every classified line of every run, and per effective policy how many
// runs had which class (a strict run that faults is a finding in itself).
void kernel_log_section(const Summary& s, std::ostream& out) {
  std::size_t lines = 0;
  for (const auto& r : s.runs) lines += r.kernel_log.size();
  out << "## Kernel log\n\n";
  if (lines == 0) {
    out << "No run's kernel log had an IOMMU fault, IOMMU mode change, link change, lockup, OOM kill, segfault or "
           "machine-check line (each machine's /dev/kmsg between the run's start and end; run.json `kernel_log`).\n\n";
    return;
  }
  // policy label -> class -> runs
  std::map<std::string, std::map<std::string, int>> per_policy;
  for (const auto& r : s.runs) {
    std::set<std::string> seen;
    for (const auto& f : r.kernel_log) seen.insert(f.cls);
    std::string pol = fmt::format("host {} / guest {}", r.host_policy.empty() ? "—" : r.host_policy,
                                  r.guest_policy.empty() ? "—" : r.guest_policy);
    for (const auto& c : seen) ++per_policy[pol][c];
  }
  std::vector<std::string> head = {"Effective policy"};
  for (const auto& c : audit::classes()) head.push_back(c.title + " (runs)");
  table_head(out, head);
  for (const auto& [pol, counts] : per_policy) {
    std::vector<std::string> row = {pol};
    for (const auto& c : audit::classes()) {
      auto it = counts.find(c.name);
      row.push_back(it == counts.end() ? "0" : std::to_string(it->second));
    }
    table_row(out, row);
  }
  out << "\n";
  table_head(out, {"Run", "Machine", "Class", "Action", "Line"});
  for (const auto& r : s.runs)
    for (const auto& f : r.kernel_log) table_row(out, {r.id, f.machine, kernel_class_title(f.cls), f.action, f.text});
  out << "\n";
}

std::string flags_of(const Summary& s, const Combination& c) {
  std::vector<std::string> f;
  if (c.high_cv) f.push_back("high CV");
  if (!c.moved_runs.empty()) f.push_back(fmt::format("{} run(s) moved here (policy mismatch)", c.moved_runs.size()));
  (void)s;
  return fmt::format("{}", fmt::join(f, "; "));
}

std::vector<std::string> present(const std::vector<const Combination*>& cs, const std::vector<std::string>& metrics) {
  std::vector<std::string> out;
  for (const auto& m : metrics)
    for (const auto* c : cs)
      if (c->metrics.count(m)) {
        out.push_back(m);
        break;
      }
  return out;
}

void workload_section(const Summary& s, const std::string& w, std::ostream& out) {
  std::vector<const Combination*> cs;
  for (const auto& c : s.combinations)
    if (c.workload == w) cs.push_back(&c);
  auto varying = varying_params(s, w);
  out << "## " << w << "\n\n";

  // Throughput: the top-level figures, then per operation.
  std::vector<std::string> tp = {"throughput_ops", "throughput_gbps"};
  std::set<std::string> per_op;
  for (const auto* c : cs)
    for (const auto& [m, st] : c->metrics)
      if (m.rfind("ops.", 0) == 0 && m.ends_with(".throughput_ops")) per_op.insert(m);
  tp.insert(tp.end(), per_op.begin(), per_op.end());
  tp = present(cs, tp);
  std::string primary = tp.empty() ? "" : tp.front();
  bool compared = false;
  for (const auto* c : cs) compared = compared || !c->vs_baseline.empty() || c->is_baseline;

  auto key_cells = [&](const Combination& c, std::vector<std::string>& row) {
    row.push_back(results::policy_label(c).empty() ? "as measured" : results::policy_label(c));
    for (const auto& v : varying) row.push_back(c.params.contains(v) ? results::param_text(c.params[v]) : "");
    std::size_t n = c.runs.size();
    row.push_back(std::to_string(n));
  };
  std::vector<std::string> key_head = {"Policy"};
  for (const auto& v : varying) key_head.push_back(short_name(v));
  key_head.push_back("n");

  if (!tp.empty()) {
    out << "### Throughput\n\n";
    std::vector<std::string> head = key_head;
    for (const auto& m : tp) {
      if (m == "throughput_ops")
        head.push_back("ops/s");
      else if (m == "throughput_gbps")
        head.push_back("Gbit/s");
      else  // ops.GET.throughput_ops
        head.push_back(m.substr(4, m.size() - 4 - std::string(".throughput_ops").size()) + " ops/s");
    }
    head.push_back("CV");
    if (compared) head.push_back(fmt::format("Degradation vs {}", s.baseline));
    head.push_back("Flags");
    table_head(out, head);
    for (const auto* c : cs) {
      std::vector<std::string> row;
      key_cells(*c, row);
      for (const auto& m : tp) {
        auto it = c->metrics.find(m);
        row.push_back(it == c->metrics.end() ? "—" : format_mean_ci(it->second));
      }
      auto pit = c->metrics.find(primary);
      row.push_back(pit != c->metrics.end() && pit->second.cv ? pct(*pit->second.cv * 100) + " %" : "—");
      if (compared) row.push_back(degradation_text(s, *c, primary));
      row.push_back(flags_of(s, *c));
      table_row(out, row);
    }
    out << "\nMean ± half width of the 95 % confidence interval over n repetitions";
    if (compared) out << "; degradation = (1 − mean / baseline mean) × 100 with its 95 % interval";
    out << ".\n\n";
  }

  // Latency tables: the tool's (or merged) percentiles; then, for several clients whose tool
  // gives no histogram, the largest of the clients' own percentiles (an upper bound, labelled).
  auto latency_table = [&](const std::string& prefix, const std::string& title, const std::string& note) {
    std::vector<std::string> cols;
    for (const char* l : kLatencyCols) cols.push_back(prefix + l);
    cols = present(cs, cols);
    if (cols.empty()) return cols;
    auto has = [&](const std::string& m) { return std::find(cols.begin(), cols.end(), m) != cols.end(); };
    std::string cmp = has(prefix + "p99") ? prefix + "p99" : has(prefix + "avg") ? prefix + "avg" : cols.front();
    out << "### " << title << "\n\n";
    std::vector<std::string> head = key_head;
    for (const auto& m : cols) head.push_back(m.substr(prefix.size()));
    if (compared) head.push_back(fmt::format("{} increase vs {}", cmp.substr(prefix.size()), s.baseline));
    table_head(out, head);
    for (const auto* c : cs) {
      std::vector<std::string> row;
      key_cells(*c, row);
      for (const auto& m : cols) {
        auto it = c->metrics.find(m);
        row.push_back(it == c->metrics.end() ? "—" : format_mean_ci(it->second));
      }
      if (compared) row.push_back(degradation_text(s, *c, cmp));
      table_row(out, row);
    }
    out << (note.empty() ? "\n" : "\n" + note + "\n\n");
    return cols;
  };
  auto lat = latency_table("latency_us.", "Latency (µs)", "");
  latency_table("latency_us_max_of_clients.", "Latency, largest of the clients' percentiles (µs)",
                "Several client processes whose tool gives no histogram: each figure is the largest of the "
                "clients' own values, an upper bound of the combined percentile, not the percentile itself.");
  if (tp.empty() && lat.empty()) out << "No throughput or latency figures in the ok runs.\n\n";

  auto b = breakdown(s, w);
  if (b.empty()) {
    out << (s.collectors.empty() ? "No breakdown per request: the spec declares no collectors.\n\n"
                                 : "No breakdown per request: no collector gave per-request figures for these runs.\n\n");
    return;
  }
  out << "### Breakdown per request\n\n";
  std::vector<std::string> head = key_head;
  head.insert(head.end(), b.columns.begin(), b.columns.end());
  table_head(out, head);
  for (const auto& r : b.rows) {
    std::vector<std::string> row;
    key_cells(*r.combination, row);
    for (const auto& v : r.values) row.push_back(v ? format_mean_ci(*v) : "—");
    table_row(out, row);
  }
  out << "\nMean ± half width of the 95 % confidence interval over the ok runs, each run's collector count or "
         "time divided by its requests. Sources: ";
  for (std::size_t i = 0; i < b.columns.size(); ++i)
    out << (i ? "; " : "") << b.columns[i] << " = " << b.sources[i];
  out << ".\n\n";
}

std::string overhead_text(const Combination& c, const std::string& metric) {
  auto it = c.vs_collectors_off.find(metric);
  if (it == c.vs_collectors_off.end()) return "—";
  const auto& cmp = it->second;
  std::string t = pct(cmp.degradation_pct) + " %";
  if (cmp.degradation_low && cmp.degradation_high)
    t += " [" + pct(*cmp.degradation_low) + ", " + pct(*cmp.degradation_high) + "]";
  return t;
}

// Per combination measured with and without the collectors: throughput and p99 latency
// both ways and what the collectors cost, with the 95 % interval of the ratio.
void overhead_section(const Summary& s, std::ostream& out) {
  out << "## Collector overhead\n\n";
  if (!s.overhead_note.empty()) {
    out << s.overhead_note << "\n\n";
    return;
  }
  std::map<std::string, std::size_t> by_key;
  for (std::size_t i = 0; i < s.combinations.size(); ++i) by_key[s.combinations[i].key] = i;
  out << "Each combination run with the collectors (`collectors: on`) against the same combination without them "
         "(`off`), everything else equal. Overhead = (1 − mean with / mean without) × 100 for throughput, "
         "(mean with / mean without − 1) × 100 for p99 latency; 95 % interval of the ratio by the delta method.\n\n";
  std::vector<std::string> ws;
  for (const auto& c : s.combinations)
    if (!c.collectors_off_key.empty() && std::find(ws.begin(), ws.end(), c.workload) == ws.end()) ws.push_back(c.workload);
  for (const auto& w : ws) {
    std::vector<std::string> varying;
    for (const auto& v : varying_params(s, w))
      if (v != spec::kCollectorsAxis) varying.push_back(v);
    out << "### " << w << "\n\n";
    std::vector<std::string> head = {"Policy"};
    for (const auto& v : varying) head.push_back(short_name(v));
    for (const char* h : {"n on/off", "throughput with", "throughput without", "throughput overhead", "p99 with (µs)",
                          "p99 without (µs)", "p99 increase"})
      head.push_back(h);
    table_head(out, head);
    for (const auto& c : s.combinations) {
      if (c.workload != w || c.collectors_off_key.empty()) continue;
      const Combination& off = s.combinations[by_key.at(c.collectors_off_key)];
      std::vector<std::string> row = {results::policy_label(c).empty() ? "as measured" : results::policy_label(c)};
      for (const auto& v : varying) row.push_back(c.params.contains(v) ? results::param_text(c.params[v]) : "");
      row.push_back(fmt::format("{}/{}", c.runs.size(), off.runs.size()));
      auto mean = [](const Combination& x, const std::string& m) {
        auto it = x.metrics.find(m);
        return it == x.metrics.end() ? std::string("—") : format_mean_ci(it->second);
      };
      std::string tm = c.cv_metric.empty() ? "throughput_ops" : c.cv_metric;
      row.push_back(mean(c, tm));
      row.push_back(mean(off, tm));
      row.push_back(overhead_text(c, tm));
      row.push_back(mean(c, "latency_us.p99"));
      row.push_back(mean(off, "latency_us.p99"));
      row.push_back(overhead_text(c, "latency_us.p99"));
      table_row(out, row);
    }
    out << "\n";
  }
}

}  // namespace

std::string format_number(double v) {
  if (!std::isfinite(v)) return "nan";
  double a = std::fabs(v);
  std::string s;
  if (a >= 1000)
    s = fmt::format("{:.0f}", v);
  else if (a >= 100)
    s = fmt::format("{:.1f}", v);
  else if (a >= 10)
    s = fmt::format("{:.2f}", v);
  else if (a >= 1)
    s = fmt::format("{:.3f}", v);
  else if (a == 0)
    s = "0";
  else
    s = fmt::format("{:.3g}", v);
  return no_negative_zero(s);
}

std::string format_mean_ci(const Stats& s) {
  auto half = s.ci95_half();
  if (!half) return format_number(s.mean);
  return format_number(s.mean) + " ± " + format_number(*half);
}

void write_markdown(const Summary& s, const RenderOutcome* figures, std::ostream& out) {
  std::size_t ok = 0, failed = 0, skipped = 0;
  for (const auto& r : s.runs) {
    if (r.status == "ok")
      ++ok;
    else if (r.status == "skipped")
      ++skipped;
    else
      ++failed;
  }
  out << "# iommuvm report: " << (s.name.empty() ? s.id : s.name) << "\n\n";
  table_head(out, {"Campaign", s.name});
  table_row(out, {"Id", s.id});
  table_row(out, {"Status", s.status});
  table_row(out, {"Spec hash", s.spec_hash.empty() ? "" : "`" + s.spec_hash + "`"});
  table_row(out, {"Created", s.created});
  table_row(out, {"Runs", fmt::format("{} ({} ok, {} failed, {} skipped)", s.runs.size(), ok, failed, skipped)});
  table_row(out, {"Baseline policy", s.baseline});
  table_row(out, {"CV threshold", pct(s.max_cv * 100) + " %"});
  out << "\n## Testbed\n\n";
  static const std::pair<const char*, const char*> fields[] = {
      {"host_kernel", "Host kernel"},      {"host_cmdline", "Host command line"},
      {"cpu_model", "CPU model"},          {"libvirt_version", "libvirt version"},
      {"hypervisor_version", "Hypervisor version"}, {"nic", "NIC"}};
  std::vector<std::pair<std::string, std::string>> rows;
  const json tb = s.testbed.is_object() ? s.testbed : json::object();
  for (const auto& [key, label] : fields)
    if (tb.contains(key))
      for (const auto& v : tb[key]) rows.emplace_back(label, v.get<std::string>());
  for (const auto& [key, vals] : tb.items()) {
    if (key.rfind("guest_kernel.", 0) == 0)
      for (const auto& v : vals) rows.emplace_back("Guest " + key.substr(13) + " kernel", v.get<std::string>());
    if (key.rfind("guest_cmdline.", 0) == 0)
      for (const auto& v : vals) rows.emplace_back("Guest " + key.substr(14) + " command line", v.get<std::string>());
  }
  if (rows.empty()) {
    out << "No testbed metadata in the runs.\n\n";
  } else {
    table_head(out, {"Item", "Value"});
    for (const auto& [label, v] : rows) {
      std::string text = v;
      if (std::string(label) == "NIC") {  // ethtool -i output on one line
        std::string oneline;
        std::istringstream in(v);
        for (std::string line; std::getline(in, line);)
          if (!line.empty()) oneline += (oneline.empty() ? "" : "; ") + line;
        text = oneline;
      }
      table_row(out, {label, label == std::string("Host command line") || label.find("command line") != std::string::npos
                                 ? "`" + text + "`"
                                 : text});
    }
    out << "\n";
  }

  out << "## Method\n\n"
      << "Each combination of parameters is summarized over its ok repetitions: mean ± half width of the 95 % "
         "confidence interval from Student's t (t(0.975, n − 1) · sd / √n; none when n = 1). ";
  if (s.comparison_note.empty())
    out << fmt::format(
        "Each combination is compared with the one under the baseline policy '{}' on axis `{}` with every other "
        "parameter equal: ratio = mean / baseline mean, its uncertainty by the delta method (independent means, "
        "Welch–Satterthwaite degrees of freedom); degradation = (1 − ratio) × 100 for throughput and "
        "(ratio − 1) × 100 (increase) for latency. ",
        s.baseline, s.policy_axis);
  else
    out << s.comparison_note << " ";
  out << "Runs whose effective IOMMU policy differs from the requested one are counted under the effective policy "
         "and flagged.\n\n";

  std::vector<std::string> ws;
  for (const auto& c : s.combinations)
    if (std::find(ws.begin(), ws.end(), c.workload) == ws.end()) ws.push_back(c.workload);
  if (ws.empty()) out << "No ok runs: nothing to summarize.\n\n";
  for (const auto& w : ws) workload_section(s, w, out);
  if (s.collector_axis) overhead_section(s, out);

  out << "## Failed and skipped runs\n\n";
  if (failed + skipped == 0) {
    out << "None.\n\n";
  } else {
    table_head(out, {"Run", "Status", "Reason"});
    for (const auto& r : s.runs)
      if (r.status != "ok") table_row(out, {r.id, r.status, r.reason.empty() ? "—" : r.reason});
    out << "\n";
  }

  kernel_log_section(s, out);

  out << "## Flagged\n\n";
  std::vector<std::vector<std::string>> flagged;
  for (const auto& c : s.combinations) {
    if (c.high_cv) {
      const Stats& st = c.metrics.at(c.cv_metric);
      std::string after;
      if (c.extra_runs)
        after = fmt::format(", still after {} extra repetition(s){}", c.extra_runs,
                            s.max_repetitions ? fmt::format(" (max_repetitions {})", s.max_repetitions) : "");
      flagged.push_back({c.workload + ": " + combination_label(s, c), "high CV",
                         fmt::format("CV of {} is {} % > {} % over {} runs{}", c.cv_metric, pct(*st.cv * 100),
                                     pct(s.max_cv * 100), st.n, after)});
    }
  }
  for (const auto& r : s.runs)
    if (!r.mismatches.empty())
      flagged.push_back({r.id, "policy mismatch",
                         fmt::format("{}{}", fmt::join(r.mismatches, "; "),
                                     r.status == "ok" ? " — counted under the effective policy" : "")});
  for (const auto& r : s.runs)
    for (const auto& f : r.kernel_log)
      if (f.action == "flag") flagged.push_back({r.id, "kernel log: " + kernel_class_title(f.cls), f.machine + ": " + f.text});
  for (const auto& r : s.runs)
    for (const auto& [kind, text] : r.flags) flagged.push_back({r.id, kind, text});
  if (flagged.empty()) {
    out << fmt::format("None (no combination's CV above {} %, no policy mismatch, no flagged kernel-log line, no canary drop).\n\n",
                       pct(s.max_cv * 100));
  } else {
    table_head(out, {"What", "Flag", "Detail"});
    for (const auto& row : flagged) table_row(out, row);
    out << "\n";
  }

  out << "## Figures\n\n";
  if (!figures) {
    out << "Not drawn (run `iommuvm report --figures`).\n";
    return;
  }
  out << figures->note << "\n\n";
  for (const auto& f : figures->figures) {
    if (!f.skipped_reason.empty()) {
      out << "- " << f.name << ": not drawn: " << f.skipped_reason << "\n";
      continue;
    }
    bool drawn = std::find(figures->rendered.begin(), figures->rendered.end(), f.name) != figures->rendered.end();
    if (drawn)
      out << "### " << f.name << "\n\n![" << f.name << "](figures/" << f.name << ".png)\n\n" << f.title << " ([PDF](figures/"
          << f.name << ".pdf), [SVG](figures/" << f.name << ".svg), [script](figures/" << f.name
          << ".gp), [data](figures/" << f.name << ".dat))\n\n";
    else
      out << "- " << f.title << ": [script](figures/" << f.name << ".gp), [data](figures/" << f.name << ".dat)\n";
  }
  for (const auto& e : figures->failed) out << "- failed: " << e << "\n";
}

}  // namespace iommuvm::report
