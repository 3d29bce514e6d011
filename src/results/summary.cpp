#include "iommuvm/results/summary.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "iommuvm/results/store.hpp"
#include "iommuvm/results/variance.hpp"
#include "iommuvm/spec/load.hpp"
#include "iommuvm/spec/node.hpp"
#include "iommuvm/spec/spec.hpp"
#include "iommuvm/util/error.hpp"
#include "iommuvm/util/fs.hpp"

namespace iommuvm::results {

namespace stdfs = std::filesystem;
using json = nlohmann::json;

namespace {

json read_json_file(const stdfs::path& p) {
  try {
    return json::parse(fs::read_file(p));
  } catch (const json::exception& e) {
    throw InputError(fmt::format("{}: not valid JSON: {}", p.string(), e.what()));
  }
}

std::optional<spec::Spec> read_spec(const stdfs::path& dir) {
  for (const char* name : {"spec.yaml", "spec.yml", "spec.json"}) {
    stdfs::path p = dir / name;
    std::error_code ec;
    if (!stdfs::exists(p, ec)) continue;
    Diagnostics diag;
    spec::Node n = spec::parse_document(fs::read_file(p), p.string(), diag);
    if (diag.has_errors()) return std::nullopt;
    // What the spec does not have (an imported campaign has no machines) is the reader's
    // error, not the report's: the report takes what there is.
    Diagnostics checks;
    return spec::read_spec(n, p.string(), checks, true);
  }
  return std::nullopt;
}

void flatten(const json& j, const std::string& prefix, std::map<std::string, double>& out) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) flatten(v, prefix.empty() ? k : prefix + "." + k, out);
  } else if (j.is_number()) {
    double v = j.get<double>();
    if (std::isfinite(v)) out[prefix] = v;
  }
}

std::string str_field(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

// A requested policy that names no policy: the machine is measured as it is.
bool requests_nothing(const std::string& requested) {
  return requested.empty() || requested == "as-is" || requested == "any";
}

// "" when the record shows the requested policy in effect; otherwise why not.
std::string mismatch_of(const json& rec) {
  std::string req = str_field(rec, "requested");
  std::string eff = str_field(rec, "effective");
  bool flagged = rec.contains("policy_mismatch") && rec["policy_mismatch"].is_boolean() && rec["policy_mismatch"].get<bool>();
  if (rec.contains("match") && rec["match"].is_boolean() && !rec["match"].get<bool>()) flagged = true;
  if (!requests_nothing(req) && !eff.empty() && req != eff) flagged = true;
  if (!flagged) return "";
  return fmt::format("requested {}, effective {}", req.empty() ? "?" : req, eff.empty() ? "?" : eff);
}

const char* kHostAxes[] = {"policy.host", "policy.host.policy"};
const char* kGuestAxes[] = {"policy.guest", "policy.guest.policy"};

int policy_rank(const std::string& s) {
  static const char* order[] = {"off", "passthrough", "lazy", "strict"};
  for (int i = 0; i < 4; ++i)
    if (s == order[i]) return i;
  return -1;
}

// Order of parameter values: numbers numerically, policies from least to most protection,
// other text alphabetically; absent values first.
int compare_values(const json* a, const json* b) {
  if (!a || !b) return a ? 1 : b ? -1 : 0;
  if (a->is_number() && b->is_number()) {
    double x = a->get<double>(), y = b->get<double>();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  std::string sa = param_text(*a), sb = param_text(*b);
  int ra = policy_rank(sa), rb = policy_rank(sb);
  if (ra >= 0 && rb >= 0) return ra < rb ? -1 : ra > rb ? 1 : 0;
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

std::string make_key(const json& params, const std::string& host, const std::string& guest) {
  json k = json::object();
  k["params"] = params;
  k["host_policy"] = host;
  k["guest_policy"] = guest;
  return k.dump();  // nlohmann sorts object keys: canonical
}

void add_distinct(json& testbed, const std::string& field, const json& value) {
  if (value.is_null()) return;
  std::string text = value.is_string() ? value.get<std::string>() : value.dump();
  if (text.empty()) return;
  json& arr = testbed[field];
  if (!arr.is_array()) arr = json::array();
  for (const auto& v : arr)
    if (v == text) return;
  arr.push_back(text);
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string num(double v) { return fmt::format("{}", v); }
std::string opt_num(const std::optional<double>& v) { return v ? num(*v) : ""; }
json opt_json(const std::optional<double>& v) { return v ? json(*v) : json(); }

json stats_json(const Stats& s) {
  return {{"n", s.n},           {"mean", s.mean},       {"sd", opt_json(s.sd)},
          {"min", s.min},       {"max", s.max},         {"median", s.median},
          {"cv", opt_json(s.cv)}, {"ci95_low", opt_json(s.ci95_low)}, {"ci95_high", opt_json(s.ci95_high)}};
}

}  // namespace

std::string param_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

std::string policy_label(const Combination& c) {
  if (!c.host_policy.empty() && !c.guest_policy.empty())
    return fmt::format("host {} / guest {}", c.host_policy, c.guest_policy);
  return c.host_policy.empty() ? c.guest_policy : c.host_policy;
}

bool higher_is_better(const std::string& metric) {
  std::string last = metric.substr(metric.rfind('.') == std::string::npos ? 0 : metric.rfind('.') + 1);
  return last.rfind("throughput", 0) == 0 || last == "requests";
}

stdfs::path resolve_campaign_dir(const stdfs::path& dir) {
  std::error_code ec;
  if (!stdfs::is_directory(dir, ec)) throw InputError(fmt::format("{} is not a folder", dir.string()));
  if (stdfs::exists(dir / "campaign.json", ec)) return dir;
  // An experiment folder: the latest of its campaigns.
  std::vector<std::pair<std::string, std::string>> found;  // (created, name)
  for (const auto& e : stdfs::directory_iterator(dir, ec)) {
    if (!e.is_directory() || !stdfs::exists(e.path() / "campaign.json", ec)) continue;
    std::string created;
    try {
      json c = json::parse(fs::read_file(e.path() / "campaign.json"));
      created = str_field(c, "created");
    } catch (const std::exception&) {
    }
    found.emplace_back(created, e.path().filename().string());
  }
  if (found.empty())
    throw InputError(fmt::format("{} is neither a campaign folder (no campaign.json) nor an experiment folder "
                                 "holding campaigns",
                                 dir.string()));
  std::sort(found.begin(), found.end());
  return dir / found.back().second;
}

CampaignData load_campaign(const stdfs::path& dir) {
  CampaignStore store = CampaignStore::at(dir);
  CampaignData d;
  d.dir = store.dir();
  d.id = store.campaign_id();
  d.campaign = read_json_file(store.dir() / "campaign.json");
  d.spec = read_spec(store.dir());
  std::error_code ec;
  if (stdfs::is_directory(store.dir() / "runs", ec)) {
    std::vector<stdfs::path> files;
    for (const auto& e : stdfs::directory_iterator(store.dir() / "runs"))
      if (stdfs::exists(e.path() / "run.json", ec)) files.push_back(e.path() / "run.json");
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      json r = read_json_file(f);
      if (!r.is_object()) continue;
      if (!r.contains("id")) r["id"] = f.parent_path().filename().string();
      d.runs.push_back(std::move(r));
    }
  }
  std::sort(d.runs.begin(), d.runs.end(),
            [](const json& a, const json& b) { return str_field(a, "id") < str_field(b, "id"); });
  return d;
}

std::map<std::string, double> run_metrics(const json& run) {
  std::map<std::string, double> out;
  if (run.contains("metrics")) flatten(run["metrics"], "", out);
  out.erase("exit_status");
  if (run.contains("collectors")) flatten(run["collectors"], "collectors", out);
  return out;
}

namespace {

RunRecord make_record(const json& r) {
  RunRecord rec;
  rec.id = str_field(r, "id");
  rec.combo = str_field(r, "combo");
  rec.workload = str_field(r, "workload");
  if (r.contains("repetition") && r["repetition"].is_number_integer()) rec.repetition = r["repetition"].get<int>();
  rec.status = str_field(r, "status");
  rec.reason = str_field(r, "reason");
  rec.params = r.contains("params") && r["params"].is_object() ? r["params"] : json::object();
  if (rec.workload.empty()) rec.workload = param_text(rec.params.value("workload", json("")));
  rec.effective_params = rec.params;
  if (r.contains("kernel_log") && r["kernel_log"].is_object() && r["kernel_log"].contains("findings") &&
      r["kernel_log"]["findings"].is_array())
    for (const auto& f : r["kernel_log"]["findings"])
      if (f.is_object())
        rec.kernel_log.push_back({str_field(f, "machine"), str_field(f, "class"), str_field(f, "action"), str_field(f, "text")});
  if (r.contains("flags") && r["flags"].is_array())
    for (const auto& f : r["flags"])
      if (f.is_object()) rec.flags.emplace_back(str_field(f, "kind"), str_field(f, "text"));
  const json pol = r.contains("policy") && r["policy"].is_object() ? r["policy"] : json::object();
  if (pol.contains("host") && pol["host"].is_object()) {
    const json& h = pol["host"];
    rec.host_policy = str_field(h, "effective");
    if (std::string m = mismatch_of(h); !m.empty()) {
      rec.mismatches.push_back("host: " + m);
      if (!rec.host_policy.empty())
        for (const char* axis : kHostAxes)
          if (rec.effective_params.contains(axis) && rec.effective_params[axis].is_string())
            rec.effective_params[axis] = rec.host_policy;
    }
  }
  if (pol.contains("guests") && pol["guests"].is_object()) {
    std::vector<std::string> parts;
    std::string moved_to;
    for (const auto& [name, g] : pol["guests"].items()) {  // sorted by name
      std::string eff = str_field(g, "effective");
      parts.push_back(name + "=" + eff);
      if (std::string m = mismatch_of(g); !m.empty()) {
        rec.mismatches.push_back("guest " + name + ": " + m);
        if (moved_to.empty()) moved_to = eff;
      }
    }
    if (parts.size() == 1)
      rec.guest_policy = parts[0].substr(parts[0].find('=') + 1);
    else if (!parts.empty())
      rec.guest_policy = fmt::format("{}", fmt::join(parts, ","));
    if (!moved_to.empty())
      for (const char* axis : kGuestAxes)
        if (rec.effective_params.contains(axis) && rec.effective_params[axis].is_string())
          rec.effective_params[axis] = moved_to;
  }
  if (r.contains("extra_repetition") && r["extra_repetition"].is_object())
    rec.extra_reason = str_field(r["extra_repetition"], "reason");
  if (rec.status == "ok") rec.metrics = run_metrics(r);
  return rec;
}

std::vector<FigureRequest> read_figures(const spec::Spec& spec) {
  std::vector<FigureRequest> out;
  for (const auto& f : spec.figures) {
    if (f.name.empty()) continue;
    out.push_back({f.name, f.kind, f.x, f.series, f.groups, f.panels, f.metric, f.workload, f.baseline, f.width});
  }
  return out;
}

std::map<std::string, CollectorInfo> read_collectors(const spec::Spec& spec) {
  std::map<std::string, CollectorInfo> out;
  for (const auto& c : spec.collectors) out[c.name] = CollectorInfo{c.kind, c.process, c.machine};
  return out;
}

}  // namespace

std::map<std::string, Comparison> compare_metrics(const Combination& a, const Combination& b) {
  std::map<std::string, Comparison> out;
  for (const auto& [m, st] : a.metrics) {
    auto bit = b.metrics.find(m);
    if (bit == b.metrics.end()) continue;
    auto r = ratio_of_means(st, bit->second);
    if (!r) continue;
    Comparison cmp;
    cmp.metric = m;
    cmp.ratio = *r;
    bool up = higher_is_better(m);
    auto pct = [up](double ratio) { return up ? (1 - ratio) * 100 : (ratio - 1) * 100; };
    cmp.degradation_pct = pct(r->value);
    if (r->ci95_low && r->ci95_high) {
      double lo = pct(*r->ci95_low), hi = pct(*r->ci95_high);
      cmp.degradation_low = std::min(lo, hi);
      cmp.degradation_high = std::max(lo, hi);
    }
    out[m] = cmp;
  }
  return out;
}

Summary summarize(const CampaignData& data, const SummaryOptions& opts) {
  Summary s;
  s.id = data.id;
  s.name = str_field(data.campaign, "name");
  s.status = str_field(data.campaign, "status");
  s.spec_hash = str_field(data.campaign, "spec_hash");
  s.created = str_field(data.campaign, "created");
  if (data.spec) {
    s.baseline = data.spec->baseline;
    s.max_cv = cv_fraction(data.spec->matrix.max_cv);  // 10 means 10 %
    s.repetitions = data.spec->matrix.repetitions;
    s.max_repetitions = data.spec->matrix.max_repetitions;
    s.figures = read_figures(*data.spec);
    s.collectors = read_collectors(*data.spec);
  }
  if (opts.baseline) s.baseline = *opts.baseline;
  if (opts.max_cv) s.max_cv = *opts.max_cv;

  std::set<std::string> columns;
  for (const auto& r : data.runs) {
    RunRecord rec;
    try {
      rec = make_record(r);
    } catch (const json::exception& e) {
      throw InputError(fmt::format("run {}: unexpected run.json content: {}", str_field(r, "id"), e.what()));
    }
    for (const auto& [k, v] : rec.params.items())
      if (k != "workload") columns.insert(k);
    if (rec.status == "ok" && !s.workload_info.count(rec.workload)) {
      WorkloadInfo wi;
      const json& m = r.contains("metrics") && r["metrics"].is_object() ? r["metrics"] : json::object();
      wi.tool = str_field(m, "tool");
      if (wi.tool.empty() && r.contains("client") && r["client"].is_object()) wi.tool = str_field(r["client"], "tool");
      wi.primary = str_field(m, "primary");
      s.workload_info[rec.workload] = wi;
    }
    if (r.contains("system") && r["system"].is_object()) {
      const json& sys = r["system"];
      if (sys.contains("host") && sys["host"].is_object()) {
        add_distinct(s.testbed, "host_kernel", sys["host"].value("kernel", json()));
        add_distinct(s.testbed, "host_cmdline", sys["host"].value("cmdline", json()));
        add_distinct(s.testbed, "cpu_model", sys["host"].value("cpu_model", json()));
      }
      add_distinct(s.testbed, "libvirt_version", sys.value("libvirt_version", json()));
      add_distinct(s.testbed, "hypervisor_version", sys.value("hypervisor_version", json()));
      add_distinct(s.testbed, "nic", sys.value("nic", json()));
      if (sys.contains("guests") && sys["guests"].is_object())
        for (const auto& [g, gv] : sys["guests"].items())
          add_distinct(s.testbed, "guest_cmdline." + g, gv.is_object() ? gv.value("cmdline", json()) : json());
    }
    if (r.contains("policy") && r["policy"].is_object() && r["policy"].contains("guests") &&
        r["policy"]["guests"].is_object())
      for (const auto& [g, gv] : r["policy"]["guests"].items())
        if (gv.is_object()) add_distinct(s.testbed, "guest_kernel." + g, gv.value("kernel", json()));
    s.runs.push_back(std::move(rec));
  }
  s.param_columns.assign(columns.begin(), columns.end());
  for (auto& [k, v] : s.testbed.items()) std::sort(v.begin(), v.end());

  // Group the ok runs.
  std::map<std::string, Combination> groups;
  std::map<std::string, std::map<std::string, std::vector<double>>> values;
  std::map<std::string, std::set<std::string>> combos;
  for (const auto& rec : s.runs) {
    if (rec.status != "ok") continue;
    json p = rec.effective_params;
    if (!p.contains("workload")) p["workload"] = rec.workload;
    std::string key = make_key(p, rec.host_policy, rec.guest_policy);
    Combination& c = groups[key];
    if (c.key.empty()) {
      c.key = key;
      c.workload = rec.workload;
      c.params = p;
      c.host_policy = rec.host_policy;
      c.guest_policy = rec.guest_policy;
    }
    c.runs.push_back(rec.id);
    if (!rec.extra_reason.empty()) ++c.extra_runs;
    if (!rec.mismatches.empty()) c.moved_runs.push_back(rec.id);
    if (!rec.combo.empty()) combos[key].insert(rec.combo);
    for (const auto& [m, v] : rec.metrics) values[key][m].push_back(v);
  }
  for (auto& [key, c] : groups) {
    const auto& cs = combos[key];
    c.combo = fmt::format("{}", fmt::join(cs, "+"));
    for (const auto& [m, vs] : values[key]) c.metrics[m] = describe(vs);
    for (const char* m : {"throughput_ops", "throughput_gbps"})
      if (c.metrics.count(m)) {
        c.cv_metric = m;
        break;
      }
    if (!c.cv_metric.empty()) {
      const Stats& st = c.metrics[c.cv_metric];
      c.high_cv = st.cv && *st.cv > s.max_cv;
    }
    s.combinations.push_back(c);
  }

  std::vector<std::string> order_cols = {"workload"};
  order_cols.insert(order_cols.end(), s.param_columns.begin(), s.param_columns.end());
  std::sort(s.combinations.begin(), s.combinations.end(), [&](const Combination& a, const Combination& b) {
    for (const auto& col : order_cols) {
      const json* va = a.params.contains(col) ? &a.params[col] : nullptr;
      const json* vb = b.params.contains(col) ? &b.params[col] : nullptr;
      if (int r = compare_values(va, vb)) return r < 0;
    }
    json ha(a.host_policy), hb(b.host_policy), ga(a.guest_policy), gb(b.guest_policy);
    if (int r = compare_values(&ha, &hb)) return r < 0;
    if (int r = compare_values(&ga, &gb)) return r < 0;
    return a.key < b.key;
  });

  std::map<std::string, std::size_t> by_key;
  for (std::size_t i = 0; i < s.combinations.size(); ++i) by_key[s.combinations[i].key] = i;

  // Collector overhead: each `collectors: on` combination against its `off` twin.
  for (const auto& rec : s.runs) s.collector_axis = s.collector_axis || rec.params.contains(spec::kCollectorsAxis);
  if (s.collector_axis) {
    std::size_t pairs = 0;
    for (auto& c : s.combinations) {
      if (!c.params.contains(spec::kCollectorsAxis) || c.params[spec::kCollectorsAxis] != "on") continue;
      json op = c.params;
      op[spec::kCollectorsAxis] = "off";
      auto it = by_key.find(make_key(op, c.host_policy, c.guest_policy));
      if (it == by_key.end()) continue;
      c.collectors_off_key = it->first;
      c.vs_collectors_off = compare_metrics(c, s.combinations[it->second]);
      ++pairs;
    }
    if (pairs == 0)
      s.overhead_note = "No collector overhead: no combination has ok runs both with and without the collectors.";
  }

  // The policy axis: the host's when it varies, otherwise the guest's.
  auto varies = [&](const char* axis) {
    std::set<std::string> seen;
    for (const auto& rec : s.runs)
      if (rec.params.contains(axis)) seen.insert(param_text(rec.params[axis]));
    return seen.size() > 1;
  };
  for (const char* a : kHostAxes)
    if (s.policy_axis.empty() && varies(a)) s.policy_axis = a;
  for (const char* a : kGuestAxes)
    if (s.policy_axis.empty() && varies(a)) s.policy_axis = a;

  if (s.policy_axis.empty()) {
    std::set<std::string> measured;
    for (const auto& c : s.combinations)
      if (!policy_label(c).empty()) measured.insert(policy_label(c));
    s.comparison_note = fmt::format(
        "No comparison against a baseline: the campaign has no policy axis (every run measures the policy in effect: "
        "{}).",
        measured.empty() ? std::string("not recorded") : fmt::format("{}", fmt::join(measured, ", ")));
    return s;
  }
  bool host_axis = s.policy_axis.rfind("policy.host", 0) == 0;
  std::size_t compared = 0;
  for (auto& c : s.combinations) {
    if (!c.params.contains(s.policy_axis)) continue;
    if (param_text(c.params[s.policy_axis]) == s.baseline) {
      c.is_baseline = true;
      continue;
    }
    json bp = c.params;
    bp[s.policy_axis] = s.baseline;
    std::string bkey = make_key(bp, host_axis ? s.baseline : c.host_policy, host_axis ? c.guest_policy : s.baseline);
    auto it = by_key.find(bkey);
    if (it == by_key.end()) continue;
    const Combination& b = s.combinations[it->second];
    c.baseline_key = b.key;
    c.vs_baseline = compare_metrics(c, b);
    ++compared;
  }
  if (compared == 0)
    s.comparison_note = fmt::format("No comparison against a baseline: no combination ran under the baseline policy "
                                    "'{}' on axis {}.",
                                    s.baseline, s.policy_axis);
  return s;
}

namespace {

json comparisons_json(const std::map<std::string, Comparison>& cmps) {
  json j = json::object();
  for (const auto& [m, cmp] : cmps)
    j[m] = {{"ratio", cmp.ratio.value},
            {"ratio_se", opt_json(cmp.ratio.se)},
            {"ratio_ci95_low", opt_json(cmp.ratio.ci95_low)},
            {"ratio_ci95_high", opt_json(cmp.ratio.ci95_high)},
            {"degradation_pct", cmp.degradation_pct},
            {"degradation_ci95_low", opt_json(cmp.degradation_low)},
            {"degradation_ci95_high", opt_json(cmp.degradation_high)}};
  return j;
}

}  // namespace

json to_json(const Summary& s) {
  json j;
  j["schema"] = "iommuvm.summary/1";
  j["campaign"] = {{"name", s.name}, {"id", s.id}, {"status", s.status}, {"spec_hash", s.spec_hash},
                   {"created", s.created}};
  j["baseline"] = s.baseline;
  j["max_cv"] = s.max_cv;
  j["policy_axis"] = s.policy_axis.empty() ? json() : json(s.policy_axis);
  j["comparison_note"] = s.comparison_note;
  if (s.max_repetitions) j["max_repetitions"] = s.max_repetitions;
  if (s.collector_axis) j["overhead_note"] = s.overhead_note;
  j["testbed"] = s.testbed.is_null() ? json::object() : s.testbed;
  j["runs"] = json::array();
  for (const auto& r : s.runs) {
    json rj = {{"id", r.id},         {"combo", r.combo},         {"workload", r.workload},
               {"repetition", r.repetition}, {"status", r.status}, {"reason", r.reason},
               {"params", r.params}, {"host_policy", r.host_policy}, {"guest_policy", r.guest_policy},
               {"mismatches", r.mismatches}};
    if (!r.extra_reason.empty()) rj["extra_repetition"] = r.extra_reason;
    for (const auto& [kind, text] : r.flags) rj["flags"].push_back({{"kind", kind}, {"text", text}});
    if (!r.kernel_log.empty()) {
      rj["kernel_log"] = json::array();
      for (const auto& f : r.kernel_log)
        rj["kernel_log"].push_back({{"machine", f.machine}, {"class", f.cls}, {"action", f.action}, {"text", f.text}});
    }
    j["runs"].push_back(rj);
  }
  j["combinations"] = json::array();
  for (const auto& c : s.combinations) {
    json cj = {{"combo", c.combo},
               {"workload", c.workload},
               {"params", c.params},
               {"host_policy", c.host_policy},
               {"guest_policy", c.guest_policy},
               {"runs", c.runs},
               {"moved_runs", c.moved_runs},
               {"cv_metric", c.cv_metric},
               {"high_cv", c.high_cv},
               {"is_baseline", c.is_baseline}};
    cj["metrics"] = json::object();
    for (const auto& [m, st] : c.metrics) cj["metrics"][m] = stats_json(st);
    if (c.extra_runs) cj["extra_runs"] = c.extra_runs;
    if (!c.baseline_key.empty()) {
      cj["baseline"] = json::parse(c.baseline_key);
      cj["vs_baseline"] = comparisons_json(c.vs_baseline);
    }
    if (!c.collectors_off_key.empty()) {
      cj["collectors_off"] = json::parse(c.collectors_off_key);
      cj["vs_collectors_off"] = comparisons_json(c.vs_collectors_off);
    }
    j["combinations"].push_back(cj);
  }
  return j;
}

namespace {

void write_key_columns(const Summary& s, const Combination& c, std::ostream& out) {
  out << csv_field(c.combo) << ',' << csv_field(c.workload);
  for (const auto& col : s.param_columns)
    out << ',' << csv_field(c.params.contains(col) ? param_text(c.params[col]) : "");
  out << ',' << csv_field(c.host_policy) << ',' << csv_field(c.guest_policy);
}

void write_header_start(const Summary& s, std::ostream& out) {
  out << "combo,workload";
  for (const auto& col : s.param_columns) out << ',' << csv_field(col);
  out << ",host_policy,guest_policy";
}

}  // namespace

void write_csv(const Summary& s, std::ostream& out) {
  write_header_start(s, out);
  out << ",metric,n,mean,sd,min,max,median,cv,ci95_low,ci95_high\n";
  for (const auto& c : s.combinations)
    for (const auto& [m, st] : c.metrics) {
      write_key_columns(s, c, out);
      out << ',' << csv_field(m) << ',' << st.n << ',' << num(st.mean) << ',' << opt_num(st.sd) << ','
          << num(st.min) << ',' << num(st.max) << ',' << num(st.median) << ',' << opt_num(st.cv) << ','
          << opt_num(st.ci95_low) << ',' << opt_num(st.ci95_high) << '\n';
    }
}

void write_comparison_csv(const Summary& s, std::ostream& out) {
  write_header_start(s, out);
  out << ",metric,baseline,ratio,ratio_se,ratio_ci95_low,ratio_ci95_high,degradation_pct,"
         "degradation_ci95_low,degradation_ci95_high\n";
  for (const auto& c : s.combinations)
    for (const auto& [m, cmp] : c.vs_baseline) {
      write_key_columns(s, c, out);
      out << ',' << csv_field(m) << ',' << csv_field(s.baseline) << ',' << num(cmp.ratio.value) << ','
          << opt_num(cmp.ratio.se) << ',' << opt_num(cmp.ratio.ci95_low) << ',' << opt_num(cmp.ratio.ci95_high)
          << ',' << num(cmp.degradation_pct) << ',' << opt_num(cmp.degradation_low) << ','
          << opt_num(cmp.degradation_high) << '\n';
    }
}

void write_summary_files(const Summary& s, const stdfs::path& dir) {
  fs::atomic_write(dir / "summary.json", to_json(s).dump(2) + "\n");
  std::ostringstream csv;
  write_csv(s, csv);
  fs::atomic_write(dir / "summary.csv", csv.str());
  std::ostringstream cmp;
  write_comparison_csv(s, cmp);
  fs::atomic_write(dir / "comparison.csv", cmp.str());
}

}  // namespace iommuvm::results
