#include "iommuvm/report/figures.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <map>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "iommuvm/report/breakdown.hpp"
#include "iommuvm/report/labels.hpp"
#include "iommuvm/report/report.hpp"
#include "iommuvm/util/fs.hpp"

namespace iommuvm::report {

namespace stdfs = std::filesystem;
using json = nlohmann::json;
using results::Combination;
using results::Stats;
using results::Summary;

namespace {

std::string num(double v) { return fmt::format("{}", v); }

// A gnuplot double-quoted string; "\n" (two characters) stays a line break inside ticks.
std::string q(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

bool is_policy_axis(const std::string& p) {
  return p == "policy" || p.rfind("policy.host", 0) == 0 || p.rfind("policy.guest", 0) == 0;
}

std::string short_name(const std::string& path) {
  auto dot = path.rfind('.');
  return dot == std::string::npos ? path : path.substr(dot + 1);
}

// The value of PATH for a combination: its parameter, or the effective policy for policy paths.
std::optional<json> lookup(const Combination& c, const std::string& path) {
  if (c.params.contains(path)) return c.params[path];
  for (const auto& alias : {path + ".policy", path.size() > 7 && path.ends_with(".policy") ? path.substr(0, path.size() - 7) : std::string()})
    if (!alias.empty() && c.params.contains(alias)) return c.params[alias];
  if ((path == "policy" || path.rfind("policy.host", 0) == 0) && !c.host_policy.empty()) return json(c.host_policy);
  if (path.rfind("policy.guest", 0) == 0 && !c.guest_policy.empty()) return json(c.guest_policy);
  if (path == "workload") return json(c.workload);
  return std::nullopt;
}

std::vector<const Combination*> of_workload(const Summary& s, const std::string& w) {
  std::vector<const Combination*> out;
  for (const auto& c : s.combinations)
    if (w.empty() || c.workload == w) out.push_back(&c);
  return out;
}

std::vector<std::string> workloads(const Summary& s) {
  std::vector<std::string> out;
  for (const auto& c : s.combinations)
    if (std::find(out.begin(), out.end(), c.workload) == out.end()) out.push_back(c.workload);
  return out;
}

std::string throughput_metric(const std::vector<const Combination*>& cs) {
  for (const char* m : {"throughput_ops", "throughput_gbps"})
    for (const auto* c : cs)
      if (c->metrics.count(m)) return m;
  return "";
}

int compare_json(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) {
    double x = a.get<double>(), y = b.get<double>();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  std::string sa = results::param_text(a), sb = results::param_text(b);
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

// Values of an axis in figure order: policies canonical, numbers ascending, others as text.
bool value_less(const std::string& path, const json& a, const json& b) {
  if (is_policy_axis(path) && a.is_string() && b.is_string()) {
    auto ra = policy_rank(a.get<std::string>()), rb = policy_rank(b.get<std::string>());
    if (ra != rb) return ra < rb;
  }
  return compare_json(a, b) < 0;
}

using Tuple = std::vector<json>;

bool tuple_less(const std::vector<std::string>& paths, const Tuple& a, const Tuple& b) {
  for (std::size_t i = 0; i < paths.size() && i < a.size() && i < b.size(); ++i) {
    if (value_less(paths[i], a[i], b[i])) return true;
    if (value_less(paths[i], b[i], a[i])) return false;
  }
  return false;
}

Tuple tuple_of(const Combination& c, const std::vector<std::string>& paths) {
  Tuple t;
  for (const auto& p : paths) t.push_back(lookup(c, p).value_or(json()));
  return t;
}

std::string file_stem(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '-';
  return out.empty() ? "figure" : out;
}

// ------------------------------------------------------------------ what a figure draws

struct Point {
  double x = 0;
  double mean = 0, low = 0, high = 0;  // plotted unit; low = high = mean when n < 2
  std::size_t n = 0;
  std::string tick;
};

struct Series {
  std::string title;
  SeriesStyle style;
  std::vector<Point> points;
};

struct Panel {
  std::string title;
  std::vector<Series> series;
};

struct Plot {
  std::string name;
  std::string caption;
  enum class Kind { bars, lines, stacked } kind = Kind::bars;
  std::string xlabel, ylabel;
  std::vector<std::pair<double, std::string>> ticks;  // bars: group positions and labels
  std::size_t groups = 0;
  double bar_width = 0.8;
  bool zero_axis = false;  // degradation: 0 is the baseline
  bool log_x = false;
  bool double_column = false;
  std::vector<Panel> panels;
  std::string data_comment;
};

// Inches, at 8 pt: a line of text, a character (average), a key sample.
constexpr double kLine = 0.14, kChar = 0.07, kSample = 0.25;

std::size_t tick_lines(const Plot& p) {
  std::size_t lines = 1;
  for (const auto& [x, t] : p.ticks) lines = std::max<std::size_t>(lines, 1 + std::count(t.begin(), t.end(), '\n'));
  return lines;
}

std::vector<std::string> key_entries(const Plot& p) {
  std::vector<std::string> out;
  for (const auto& pan : p.panels)
    for (const auto& s : pan.series)
      if (std::find(out.begin(), out.end(), s.title) == out.end()) out.push_back(s.title);
  return out;
}

Figure render_plot(const Plot& p) {
  Figure f;
  f.name = p.name;
  f.title = p.caption;
  // Data: one block per panel and series.
  std::ostringstream d;
  d << "# " << p.data_comment << "\n";
  std::vector<std::vector<std::size_t>> block(p.panels.size());
  std::size_t k = 0;
  double largest = 0;
  for (std::size_t pi = 0; pi < p.panels.size(); ++pi) {
    for (const auto& s : p.panels[pi].series) {
      if (k) d << "\n\n";
      d << "# block " << k << ": " << (p.panels[pi].title.empty() ? "" : p.panels[pi].title + ", ") << s.title
        << "\n# x\tmean\tci95_low\tci95_high\tn\tlabel\n";
      for (const auto& pt : s.points) {
        d << num(pt.x) << '\t' << num(pt.mean) << '\t' << num(pt.low) << '\t' << num(pt.high) << '\t' << pt.n << '\t'
          << q(pt.tick) << '\n';
        largest = std::max({largest, std::abs(pt.high), std::abs(pt.low)});
      }
      block[pi].push_back(k++);
    }
  }
  f.data = d.str();

  // Layout in inches, written as expressions of width and height so that a restyle keeps it.
  const double width = p.double_column ? 7.0 : 3.3;
  const double height = p.double_column ? 2.6 : 2.3;
  auto entries = key_entries(p);
  std::size_t longest = 0;
  for (const auto& e : entries) longest = std::max(longest, e.size());
  // gnuplot gives every key column the width of the longest entry.
  double entry_w = static_cast<double>(longest) * kChar + kSample + 0.25;
  std::size_t per_row = std::max<std::size_t>(1, static_cast<std::size_t>((width - 0.1) / entry_w));
  std::size_t key_rows = entries.empty() ? 0 : (entries.size() + per_row - 1) / per_row;
  bool panel_titles = p.panels.size() > 1;
  double key_h = key_rows ? 0.04 + static_cast<double>(key_rows) * kLine * 1.25 : 0.0;
  double top = 0.08 + key_h + (panel_titles ? kLine * 1.3 : 0);
  std::size_t tl = tick_lines(p);
  double bottom = (static_cast<double>(tl) + (p.xlabel.empty() ? 0.0 : 1.2) + 0.5) * kLine;
  double tick_w = static_cast<double>(report::format_number(largest).size() + 1) * kChar;
  // A y label longer than the plot is high goes on two lines.
  std::string ylabel = p.ylabel;
  bool two_lines = static_cast<double>(ylabel.size()) * kChar > height - top - bottom;
  if (two_lines) {
    auto cut = ylabel.rfind(' ', ylabel.size() / 2 + 4);
    if (cut == std::string::npos || cut == 0) two_lines = false;
    else ylabel[cut] = '\n';
  }
  double left = 0.06 + kLine * (two_lines ? 2.4 : 1.4) + tick_w, gap = tick_w + 0.1, right = 0.08;
  std::size_t np = p.panels.size();

  std::ostringstream g;
  g << fmt::format("# iommuvm figure {}: {}\n", p.name, p.caption)
    << fmt::format("# Data: {}.dat (one block per panel and series: gnuplot `index`). Restyle freely, then\n"
                   "# redraw in this folder with: gnuplot {}.gp  (writes {}.pdf, {}.svg and {}.png)\n",
                   p.name, p.name, p.name, p.name, p.name)
    << fmt::format("width = {}   # inches: 3.3 = one column of a two-column paper, 7 = both columns\n", width)
    << fmt::format("height = {}\n", height) << "fnt = \"Sans,8\"\n"
    << fmt::format("left = {}; gap = {}; right = {}; top = {}; bottom = {}; keyh = {}   # inches\n", num(left),
                   num(gap), num(right), num(top), num(bottom), num(key_h))
    << fmt::format("panels = {}\n", np) << "pw = (width - left - right - gap * (panels - 1)) / panels\n"
    << "do for [fmt in \"pdf svg png\"] {\n"
    << "  reset\n"
    << "  if (fmt eq \"pdf\") { set terminal pdfcairo size width, height font fnt noenhanced }\n"
    << "  if (fmt eq \"svg\") { set terminal svg size width * 72, height * 72 font fnt noenhanced dynamic background rgb \"white\" }\n"
    << "  # pngcairo sizes fonts at 96 dpi: 300 dpi with the PDF's proportions\n"
    << "  if (fmt eq \"png\") { set terminal pngcairo size width * 300, height * 300 font fnt fontscale 300.0 / 96 linewidth 300.0 / 96 noenhanced background rgb \"white\" }\n"
    << "  set output " << q(p.name + ".") << ".fmt\n"
    << "  set datafile separator \"\\t\"\n"
    << "  set style fill solid 0.9 border lc rgb \"#333333\"\n"
    << "  set multiplot\n";
  if (key_rows > 0) {
    // The legend in its own strip across the top: it never covers or squeezes the data.
    g << "  # legend\n"
      << "  set lmargin at screen 0; set rmargin at screen 1\n"
      << "  set tmargin at screen 1 - 0.02 / height; set bmargin at screen 1 - (0.02 + keyh) / height\n"
      << "  unset border; unset tics; set xrange [0:1]; set yrange [0:1]\n"
      << fmt::format("  set key inside center center horizontal maxrows {} samplen 1.5 spacing 1.1\n", key_rows)
      << "  plot ";
    for (std::size_t i = 0; i < entries.size(); ++i) {
      SeriesStyle st;
      for (const auto& pan : p.panels)
        for (const auto& ser : pan.series)
          if (ser.title == entries[i]) st = ser.style;
      g << (i ? ", \\\n       " : "") << "NaN with "
        << (p.kind == Plot::Kind::lines ? fmt::format("linespoints lw 1.5 pt {} ps 0.6", st.point_type) : "boxes")
        << " lc rgb " << q(st.colour) << " title " << q(entries[i]);
    }
    g << "\n  unset key\n";
  }
  g << "  set border 3\n  set xtics nomirror out scale 0.5\n  set ytics nomirror out scale 0.5\n"
    << "  set grid ytics lc rgb \"#dddddd\" lw 0.5\n"
    << "  set tmargin at screen 1 - top / height\n  set bmargin at screen bottom / height\n"
    << "  set autoscale\n";
  if (!p.xlabel.empty())
    g << "  set xlabel " << q(p.xlabel) << fmt::format(" offset 0, {}\n", -static_cast<double>(tl - 1));
  if (p.kind == Plot::Kind::bars || p.kind == Plot::Kind::stacked) {
    g << fmt::format("  set boxwidth {} absolute\n", num(p.bar_width))
      << fmt::format("  set xrange [-0.55:{}]\n", num(static_cast<double>(p.groups) - 0.45));
    g << "  set xtics (";
    for (std::size_t i = 0; i < p.ticks.size(); ++i)
      g << (i ? ", " : "") << q(p.ticks[i].second) << " " << num(p.ticks[i].first);
    g << ") scale 0\n";
  } else {
    g << "  set offsets graph 0.05, graph 0.05, 0, 0\n";
    if (p.log_x) g << "  set logscale x 2\n";
    std::set<double> xs;
    for (const auto& pan : p.panels)
      for (const auto& s : pan.series)
        for (const auto& pt : s.points) xs.insert(pt.x);
    g << "  set xtics (";
    std::size_t i = 0;
    for (double x : xs) g << (i++ ? ", " : "") << num(x);
    g << ")\n";
  }
  // Bars and losses are read from 0: the axis always holds it (a loss of 48 % must not
  // look like a sliver above an axis that starts at 45 %).
  if (p.zero_axis) g << "  set xzeroaxis lt -1 lw 1\n  set yrange [*<0:0<*]\n";
  else g << "  set yrange [0:*]\n";
  for (std::size_t pi = 0; pi < np; ++pi) {
    const auto& pan = p.panels[pi];
    g << fmt::format("  # panel {}{}\n", pi + 1, pan.title.empty() ? "" : ": " + pan.title)
      << fmt::format("  set lmargin at screen (left + {} * (pw + gap)) / width\n", pi)
      << fmt::format("  set rmargin at screen (left + {} * (pw + gap) + pw) / width\n", pi);
    if (pi == 0) g << "  set ylabel " << q(ylabel) << "\n";
    else g << "  unset ylabel\n";
    if (panel_titles) g << "  set title " << q(pan.title) << " offset 0, -0.5\n";
    g << "  plot ";
    bool first = true;
    auto sep = [&] {
      if (!first) g << ", \\\n       ";
      first = false;
    };
    const auto& ids = block[pi];
    if (pan.series.empty()) g << "NaN notitle";
    const std::string dat = q(p.name + ".dat");
    if (p.kind == Plot::Kind::stacked) {
      // Cumulative tops, the highest drawn first so that each segment shows its own height.
      for (std::size_t si = pan.series.size(); si-- > 0;) {
        sep();
        g << dat << " index " << ids[si] << " using 1:4 with boxes lc rgb " << q(pan.series[si].style.colour)
          << " notitle";
      }
    } else {
      for (std::size_t si = 0; si < pan.series.size(); ++si) {
        const auto& s = pan.series[si];
        sep();
        if (p.kind == Plot::Kind::bars) {
          g << dat << " index " << ids[si] << " using 1:2 with boxes lc rgb " << q(s.style.colour) << " notitle";
          sep();
          g << dat << " index " << ids[si]
            << " using 1:3:(0):($4-$3) with vectors heads size screen 0.006,90 lc rgb \"black\" lw 0.8 notitle";
        } else {
          g << dat << " index " << ids[si] << " using 1:2:3:4 with yerrorlines lc rgb " << q(s.style.colour)
            << " lw 1.5 pt " << s.style.point_type << " ps 0.6 notitle";
        }
      }
    }
    g << "\n";
  }
  g << "  unset multiplot\n  unset output\n}\n";
  f.script = g.str();
  return f;
}

// ------------------------------------------------------------------ layouts

struct Layout {
  std::string kind;  // bars | lines | degradation
  std::string metric;
  std::string x;  // lines: the x axis; bars: the first group
  std::string series;
  std::vector<std::string> groups;
  std::vector<std::string> panels;
  std::string workload;  // "" = every workload (then "workload" is a panel or group)
  std::string baseline;
  std::string width;
};

// The parameter key that holds PATH in the combinations (policy.guest -> policy.guest.policy).
std::string resolve_path(const Summary& s, const std::string& path) {
  if (path == "policy") {
    if (!s.policy_axis.empty()) return s.policy_axis;
    for (const auto& c : s.combinations)
      if (!c.guest_policy.empty()) return "policy.guest";
    return "policy.host";
  }
  for (const auto& col : s.param_columns)
    if (col == path) return col;
  for (const auto& col : s.param_columns)
    if (col == path + ".policy") return col;
  return path;
}

std::vector<json> distinct(const std::vector<const Combination*>& cs, const std::string& path) {
  std::vector<json> out;
  for (const auto* c : cs) {
    json v = lookup(*c, path).value_or(json());
    if (std::none_of(out.begin(), out.end(), [&](const json& x) { return x == v; })) out.push_back(v);
  }
  std::stable_sort(out.begin(), out.end(), [&](const json& a, const json& b) { return value_less(path, a, b); });
  return out;
}

bool all_numbers(const std::vector<json>& vs) {
  return std::all_of(vs.begin(), vs.end(), [](const json& v) { return v.is_number(); });
}

// The policy axes that vary among CS: guest first (the series), then host.
std::vector<std::string> varying_policy_axes(const Summary& s, const std::vector<const Combination*>& cs) {
  std::vector<std::string> out;
  for (const char* axis : {"policy.guest", "policy.host"})
    if (distinct(cs, resolve_path(s, axis)).size() > 1) out.push_back(resolve_path(s, axis));
  return out;
}

// Fill what the request leaves open from what varies among the combinations of its workload.
Layout complete(const Summary& s, Layout l, const std::vector<const Combination*>& cs) {
  auto used = [&](const std::string& p) {
    return p == l.x || p == l.series || std::find(l.groups.begin(), l.groups.end(), p) != l.groups.end() ||
           std::find(l.panels.begin(), l.panels.end(), p) != l.panels.end();
  };
  for (auto* p : {&l.x, &l.series}) *p = p->empty() ? "" : resolve_path(s, *p);
  for (auto* v : {&l.groups, &l.panels})
    for (auto& p : *v) p = resolve_path(s, p);
  auto pol = varying_policy_axes(s, cs);
  if (l.series.empty()) {
    for (const auto& a : pol)
      if (!used(a)) {
        l.series = a;
        break;
      }
    if (l.series.empty()) l.series = resolve_path(s, "policy");
  }
  std::vector<std::string> rest;
  for (const auto& a : pol)
    if (!used(a)) rest.push_back(a);
  if (l.workload.empty() && workloads(s).size() > 1 && !used("workload")) l.panels.insert(l.panels.begin(), "workload");
  for (const auto& v : varying_params(s, l.workload))
    if (!used(v)) rest.push_back(v);
  if (l.kind.empty() || l.kind == "degradation") {
    if (l.x.empty())
      for (const auto& r : rest) {
        auto vs = distinct(cs, r);
        if (vs.size() >= 2 && all_numbers(vs) && !is_policy_axis(r)) {
          l.x = r;
          break;
        }
      }
    if (l.kind.empty()) l.kind = !l.x.empty() && all_numbers(distinct(cs, l.x)) ? "lines" : "bars";
  }
  for (const auto& r : rest) {
    if (r == l.x) continue;
    if (l.kind == "lines" || (l.kind == "degradation" && !l.x.empty() && all_numbers(distinct(cs, l.x))))
      l.panels.push_back(r);
    else
      l.groups.push_back(r);
  }
  if ((l.kind == "bars" || l.kind == "degradation") && !l.x.empty() && !all_numbers(distinct(cs, l.x)))
    l.groups.insert(l.groups.begin(), l.x), l.x.clear();
  if (l.kind == "bars" && !l.x.empty()) l.groups.insert(l.groups.begin(), l.x), l.x.clear();
  if (l.baseline.empty()) l.baseline = s.baseline;
  return l;
}

// "host " or "guest ": which layer a policy value is of, when both vary.
std::string policy_prefix(const std::string& path) { return path.rfind("policy.host", 0) == 0 ? "host " : "guest "; }

std::string tuple_title(const std::vector<std::string>& paths, const Tuple& t, bool both_policies) {
  std::vector<std::string> parts;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    const json& v = t[i];
    if (paths[i] == "workload") parts.push_back(value_text(v));
    else if (is_policy_axis(paths[i])) parts.push_back(both_policies ? policy_prefix(paths[i]) + value_text(v) : value_text(v));
    else if (v.is_string()) parts.push_back(value_text(v));
    else parts.push_back(param_name(paths[i]) + " " + value_text(v));
  }
  return fmt::format("{}", fmt::join(parts, ", "));
}

std::string names(const std::vector<std::string>& paths, const char* sep) {
  std::vector<std::string> out;
  for (const auto& p : paths) out.push_back(param_name(p));
  return fmt::format("{}", fmt::join(out, sep));
}

// The combination CS holds that equals C except for the policy axes of the layout, set to BASELINE.
const Combination* twin(const std::vector<const Combination*>& cs, const Combination& c, const Layout& l) {
  json want = c.params;
  std::vector<std::string> axes = {l.series, l.x};
  axes.insert(axes.end(), l.groups.begin(), l.groups.end());
  axes.insert(axes.end(), l.panels.begin(), l.panels.end());
  bool any = false;
  for (const auto& a : axes) {
    if (a.empty() || !is_policy_axis(a)) continue;
    for (const auto& key : {a, a + ".policy"})
      if (want.contains(key)) want[key] = l.baseline, any = true;
  }
  if (!any) return nullptr;
  for (const auto* d : cs)
    if (d->workload == c.workload && d->params == want) return d;
  return nullptr;
}

struct Value {
  double mean, low, high;
  std::size_t n;
};

Figure layout_figure(const Summary& s, const std::string& name, const std::string& what_for, const Layout& req) {
  auto all = of_workload(s, req.workload);
  Figure skipped;
  skipped.name = name;
  skipped.title = what_for;
  std::vector<std::string> asked = {req.x, req.series};
  asked.insert(asked.end(), req.groups.begin(), req.groups.end());
  asked.insert(asked.end(), req.panels.begin(), req.panels.end());
  for (const auto& a : asked) {
    if (a.empty() || a == "policy") continue;
    std::string path = resolve_path(s, a);
    if (std::none_of(all.begin(), all.end(), [&](const Combination* c) { return lookup(*c, path).has_value(); })) {
      skipped.skipped_reason = fmt::format("no ok run has parameter '{}'", a);
      return skipped;
    }
  }
  Layout l = complete(s, req, all);
  bool degradation = l.kind == "degradation";
  // The value of each combination that has one.
  std::vector<std::pair<const Combination*, Value>> vals;
  for (const auto* c : all) {
    if (degradation) {
      const Combination* b = twin(all, *c, l);
      if (!b || b == c) continue;
      auto cmp = results::compare_metrics(*c, *b);
      auto it = cmp.find(l.metric);
      if (it == cmp.end()) continue;
      const auto& m = it->second;
      vals.push_back({c, {m.degradation_pct, m.degradation_low.value_or(m.degradation_pct),
                          m.degradation_high.value_or(m.degradation_pct), c->metrics.at(l.metric).n}});
    } else {
      auto it = c->metrics.find(l.metric);
      if (it == c->metrics.end()) continue;
      const auto& st = it->second;
      vals.push_back({c, {st.mean, st.ci95_low.value_or(st.mean), st.ci95_high.value_or(st.mean), st.n}});
    }
  }
  if (vals.empty()) {
    skipped.skipped_reason =
        degradation ? fmt::format("no ok combination of '{}' with its {} twin", l.metric, l.baseline)
                    : fmt::format("no ok run has metric '{}'", l.metric);
    return skipped;
  }
  double largest = 0;
  for (const auto& [c, v] : vals) largest = std::max(largest, std::abs(v.high));
  const std::string w = req.workload.empty() ? vals.front().first->workload : req.workload;
  results::WorkloadInfo info;
  if (auto it = s.workload_info.find(w); it != s.workload_info.end()) info = it->second;
  if (req.workload.empty() && workloads(s).size() > 1) info.primary.clear();  // several workloads: no one op
  MetricMeaning mm = metric_meaning(l.metric, info, s.collectors, largest);
  double factor = degradation ? 1 : mm.factor;

  Plot p;
  p.name = name;
  bool lines = l.kind == "lines" || (degradation && !l.x.empty());
  p.kind = lines ? Plot::Kind::lines : Plot::Kind::bars;
  p.zero_axis = degradation;
  bool pol_series = is_policy_axis(l.series);
  bool both_policies = varying_policy_axes(s, all).size() > 1;
  p.ylabel = degradation ? fmt::format("{} {} vs {} (%)", mm.what, results::higher_is_better(l.metric) ? "loss" : "increase", l.baseline)
                         : mm.label();
  // Panels, groups, series in figure order.
  std::vector<Tuple> panel_keys, group_keys;
  std::vector<json> series_keys;
  for (const auto& [c, v] : vals) {
    Tuple pk = tuple_of(*c, l.panels), gk = tuple_of(*c, l.groups);
    json sk = lookup(*c, l.series).value_or(json());
    if (std::find(panel_keys.begin(), panel_keys.end(), pk) == panel_keys.end()) panel_keys.push_back(pk);
    if (std::find(group_keys.begin(), group_keys.end(), gk) == group_keys.end()) group_keys.push_back(gk);
    if (std::find(series_keys.begin(), series_keys.end(), sk) == series_keys.end()) series_keys.push_back(sk);
  }
  auto by = [](const std::vector<std::string>& paths) {
    return [&paths](const Tuple& a, const Tuple& b) { return tuple_less(paths, a, b); };
  };
  std::stable_sort(panel_keys.begin(), panel_keys.end(), by(l.panels));
  std::stable_sort(group_keys.begin(), group_keys.end(), by(l.groups));
  std::stable_sort(series_keys.begin(), series_keys.end(),
                   [&](const json& a, const json& b) { return value_less(l.series, a, b); });
  auto series_title = [&](const json& v) {
    std::string t = value_text(v);
    if (pol_series && both_policies) t = policy_prefix(l.series) + t;
    return t;
  };
  std::size_t other = 0;
  std::map<std::string, SeriesStyle> styles;
  for (const auto& sk : series_keys)
    styles[sk.dump()] = pol_series && sk.is_string() && policy_rank(sk.get<std::string>()) < policy_order().size()
                            ? policy_style(sk.get<std::string>())
                            : other_style(other++);
  // Bars: the series present in each group sit side by side, centred on the group.
  std::size_t max_in_group = 1;
  std::map<std::string, std::vector<json>> in_group;  // group key -> series present (any panel)
  for (const auto& [c, v] : vals) {
    auto& list = in_group[json(tuple_of(*c, l.groups)).dump()];
    json sk = lookup(*c, l.series).value_or(json());
    if (std::find(list.begin(), list.end(), sk) == list.end()) list.push_back(sk);
  }
  for (auto& [g, list] : in_group) {
    std::stable_sort(list.begin(), list.end(), [&](const json& a, const json& b) { return value_less(l.series, a, b); });
    max_in_group = std::max(max_in_group, list.size());
  }
  p.bar_width = 0.8 / static_cast<double>(max_in_group);
  p.groups = group_keys.size();
  for (std::size_t gi = 0; gi < group_keys.size(); ++gi) {
    std::vector<std::string> lines_of;
    for (std::size_t k = 0; k < l.groups.size(); ++k) {
      const json& v = group_keys[gi][k];
      lines_of.push_back(both_policies && is_policy_axis(l.groups[k]) ? tuple_title({l.groups[k]}, {v}, true) : value_text(v));
    }
    p.ticks.emplace_back(static_cast<double>(gi), fmt::format("{}", fmt::join(lines_of, "\n")));
  }
  if (p.kind == Plot::Kind::bars) p.xlabel = names(l.groups, " / ");
  else p.xlabel = param_name(l.x);
  if (p.kind == Plot::Kind::bars && l.groups.empty()) p.ticks = {{0.0, ""}};
  for (const auto& pk : panel_keys) {
    Panel pan;
    pan.title = tuple_title(l.panels, pk, both_policies);
    for (const auto& sk : series_keys) {
      Series ser{series_title(sk), styles[sk.dump()], {}};
      for (const auto& [c, v] : vals) {
        if (tuple_of(*c, l.panels) != pk || lookup(*c, l.series).value_or(json()) != sk) continue;
        Point pt;
        pt.mean = v.mean * factor;
        pt.low = v.low * factor;
        pt.high = v.high * factor;
        pt.n = v.n;
        Tuple gk = tuple_of(*c, l.groups);
        if (p.kind == Plot::Kind::bars) {
          std::size_t gi = static_cast<std::size_t>(std::find(group_keys.begin(), group_keys.end(), gk) - group_keys.begin());
          const auto& present = in_group[json(gk).dump()];
          double k = static_cast<double>(std::find(present.begin(), present.end(), sk) - present.begin());
          pt.x = static_cast<double>(gi) + (k - (static_cast<double>(present.size()) - 1) / 2) * p.bar_width;
          pt.tick = p.ticks[gi].second;
        } else {
          json xv = lookup(*c, l.x).value_or(json());
          if (xv.is_number()) {
            pt.x = xv.get<double>();
          } else {
            auto xs = distinct(all, l.x);
            pt.x = static_cast<double>(std::find(xs.begin(), xs.end(), xv) - xs.begin());
          }
          pt.tick = value_text(xv);
          if (!gk.empty()) ser.title += ", " + tuple_title(l.groups, gk, both_policies);
        }
        ser.points.push_back(pt);
      }
      std::stable_sort(ser.points.begin(), ser.points.end(), [](const Point& a, const Point& b) { return a.x < b.x; });
      if (!ser.points.empty()) pan.series.push_back(ser);
    }
    p.panels.push_back(pan);
  }
  if (p.kind == Plot::Kind::lines) {
    double lo = 1e300, hi = 0;
    for (const auto& pan : p.panels)
      for (const auto& ser : pan.series)
        for (const auto& pt : ser.points) lo = std::min(lo, pt.x), hi = std::max(hi, pt.x);
    p.log_x = lo > 0 && hi / lo >= 16;
  }
  std::size_t bars = 0;
  for (const auto& [c, v] : vals) (void)c, (void)v, ++bars;
  p.double_column = l.width == "double" ||
                    (l.width != "single" && (p.panels.size() > 1 || p.groups > 4 || bars > 14));
  std::string ci = "95 % CI";
  std::string measure = degradation ? fmt::format("{} {} vs {} ({}: mean ratio, delta-method {})", mm.what,
                                                  results::higher_is_better(l.metric) ? "loss" : "increase",
                                                  l.baseline, l.metric, ci)
                                    : fmt::format("{} ({}: mean, {})", mm.label(), l.metric, ci);
  std::vector<std::string> parts;
  parts.push_back(fmt::format("colours: {}", param_name(l.series)));
  if (p.kind == Plot::Kind::bars && !l.groups.empty()) parts.push_back(fmt::format("groups: {}", names(l.groups, " / ")));
  if (p.kind == Plot::Kind::lines) parts.push_back(fmt::format("x: {}", param_name(l.x)));
  if (!l.panels.empty()) parts.push_back(fmt::format("panels: {}", names(l.panels, " / ")));
  p.caption = fmt::format("{}{}; {}", what_for.empty() ? "" : what_for + ": ", measure, fmt::join(parts, "; "));
  p.data_comment = fmt::format("{}. x: bar position (or the x value); mean, ci95_low, ci95_high in the plotted unit; "
                               "low = high = mean when n < 2",
                               measure);
  return render_plot(p);
}

// Rowstacked bars: one bar per combination, one segment per component (µs per request, means).
Figure stacked_figure(const Summary& s, const std::string& w, const Breakdown& b) {
  Plot p;
  p.name = "breakdown-" + file_stem(w);
  p.kind = Plot::Kind::stacked;
  p.ylabel = "time per request (µs, mean)";
  auto cs = of_workload(s, w);
  auto pol = varying_policy_axes(s, cs);
  std::vector<std::string> axes = pol.empty() ? std::vector<std::string>{resolve_path(s, "policy")} : pol;
  for (const auto& v : varying_params(s, w)) axes.push_back(v);
  p.xlabel = names(axes, " / ");
  // Bars ordered by the other parameters, then the policies in canonical order.
  std::vector<std::size_t> order(b.stacks.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::vector<std::string> outer(axes.begin() + static_cast<std::ptrdiff_t>(pol.empty() ? 1 : pol.size()), axes.end());
  outer.insert(outer.end(), axes.begin(), axes.begin() + static_cast<std::ptrdiff_t>(pol.empty() ? 1 : pol.size()));
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b2) {
    return tuple_less(outer, tuple_of(*b.stacks[a].first, outer), tuple_of(*b.stacks[b2].first, outer));
  });
  p.groups = b.stacks.size();
  p.bar_width = 0.6;
  Panel pan;
  for (std::size_t k = 0; k < b.components.size(); ++k) pan.series.push_back({b.components[k], other_style(k + 1), {}});
  for (std::size_t i = 0; i < b.stacks.size(); ++i) {
    const auto& [c, vs] = b.stacks[order[i]];
    std::vector<std::string> lines_of;
    for (const auto& a : axes) lines_of.push_back(value_text(lookup(*c, a).value_or(json())));
    std::string tick = fmt::format("{}", fmt::join(lines_of, "\n"));
    p.ticks.emplace_back(static_cast<double>(i), tick);
    double bottom = 0;
    for (std::size_t k = 0; k < vs.size() && k < pan.series.size(); ++k) {
      Point pt;
      pt.x = static_cast<double>(i);
      pt.mean = vs[k];
      pt.low = bottom;
      pt.high = bottom + vs[k];
      pt.n = c->runs.size();
      pt.tick = tick;
      bottom = pt.high;
      pan.series[k].points.push_back(pt);
    }
  }
  p.panels.push_back(pan);
  p.double_column = p.groups > 4;
  p.caption = fmt::format("{}: time per request by component (µs, means; {})", w, b.components_source);
  p.data_comment = fmt::format("{}: mean microseconds per request of each component per combination; ci95_low and "
                               "ci95_high are the segment's bottom and top in the stack ({})",
                               w, b.components_source);
  return render_plot(p);
}

Figure spec_figure(const Summary& s, const results::FigureRequest& req) {
  std::string name = "spec-" + file_stem(req.name);
  if (req.kind == "breakdown") {
    Figure out;
    for (const auto& w : workloads(s)) {
      if (!req.workload.empty() && w != req.workload) continue;
      auto b = breakdown(s, w);
      if (b.stacks.empty()) continue;
      out = stacked_figure(s, w, b);
      out.name = name;
      return out;
    }
    out.name = name;
    out.title = req.name;
    out.skipped_reason = "no per-request time components (needs bpftrace-iommu or pidstat results)";
    return out;
  }
  Layout l;
  l.kind = req.kind == "bars" || req.kind == "lines" || req.kind == "degradation" ? req.kind : "";
  l.metric = req.metric.empty() ? throughput_metric(of_workload(s, req.workload)) : req.metric;
  l.x = req.x;
  l.series = req.series;
  l.groups = req.groups;
  l.panels = req.panels;
  l.workload = req.workload;
  l.baseline = req.baseline;
  l.width = req.width;
  return layout_figure(s, name, req.name, l);
}

}  // namespace

std::vector<std::string> varying_params(const Summary& s, const std::string& workload) {
  std::vector<std::string> out;
  auto cs = of_workload(s, workload);
  for (const auto& col : s.param_columns) {
    if (is_policy_axis(col)) continue;
    std::set<std::string> seen;
    for (const auto* c : cs) seen.insert(c->params.contains(col) ? c->params[col].dump() : "");
    if (seen.size() > 1) out.push_back(col);
  }
  return out;
}

std::string combination_label(const Summary& s, const Combination& c) {
  std::vector<std::string> parts;
  if (auto p = results::policy_label(c); !p.empty()) parts.push_back(p);
  for (const auto& col : varying_params(s, c.workload))
    parts.push_back(short_name(col) + "=" + (c.params.contains(col) ? results::param_text(c.params[col]) : "-"));
  std::string out = fmt::format("{}", fmt::join(parts, ", "));
  return out.empty() ? c.workload : out;
}

std::vector<Figure> build_figures(const Summary& s) {
  std::vector<Figure> out;
  auto keep = [&](Figure f, bool always) {
    if (always || f.skipped_reason.empty()) out.push_back(std::move(f));
  };
  for (const auto& w : workloads(s)) {
    auto cs = of_workload(s, w);
    Layout l;
    l.workload = w;
    l.metric = throughput_metric(cs);
    if (!l.metric.empty()) {
      keep(layout_figure(s, "throughput-" + file_stem(w), w, l), true);
      if (!s.policy_axis.empty()) {
        Layout d = l;
        d.kind = "degradation";
        keep(layout_figure(s, "degradation-" + file_stem(w), w, d), false);
      }
    }
    // Latency: the highest tail percentile every tool of the workload gives.
    for (const char* p : {"p99", "p95", "p90", "p50", "avg"}) {
      std::string m = std::string("latency_us.") + p;
      if (std::none_of(cs.begin(), cs.end(), [&](const Combination* c) { return c->metrics.count(m) > 0; })) continue;
      Layout lat;
      lat.workload = w;
      lat.metric = m;
      keep(layout_figure(s, "latency-" + file_stem(w), w, lat), true);
      break;
    }
    // vIOMMU invalidations per request (qemu-trace collectors).
    for (const auto& [name, info] : s.collectors) {
      if (info.kind != "qemu-trace") continue;
      Layout inv;
      inv.workload = w;
      inv.metric = "collectors." + name + ".per_request.total_per_request";
      keep(layout_figure(s, "viommu-" + file_stem(name) + "-" + file_stem(w), w, inv), false);
    }
  }
  for (const auto& w : workloads(s)) {
    if (s.collectors.empty()) break;
    auto b = breakdown(s, w);
    if (!b.stacks.empty()) {
      out.push_back(stacked_figure(s, w, b));
    } else {
      Figure f;
      f.name = "breakdown-" + file_stem(w);
      f.title = fmt::format("{}: time per request by component", w);
      f.skipped_reason = "no per-request time components (needs bpftrace-iommu or pidstat results)";
      out.push_back(f);
    }
  }
  for (const auto& req : s.figures) out.push_back(spec_figure(s, req));
  return out;
}

bool find_program(const std::string& program) {
  if (program.empty()) return false;
  if (program.find('/') != std::string::npos) return ::access(program.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= p.size()) {
    std::size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::string dir = p.substr(start, end - start);
    if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

namespace {

// Run PROGRAM SCRIPT in DIR; stdout discarded, stderr returned. Exit code 127: not executable.
int run_in(const std::string& program, const std::string& script, const stdfs::path& dir, std::string& err) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) {
    err = std::strerror(errno);
    return -1;
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    err = std::strerror(errno);
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    return -1;
  }
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      ::dup2(devnull, 0);
      ::dup2(devnull, 1);
    }
    ::dup2(pipefd[1], 2);
    if (::chdir(dir.c_str()) != 0) _exit(126);
    const char* argv[] = {program.c_str(), script.c_str(), nullptr};
    ::execvp(argv[0], const_cast<char* const*>(argv));
    _exit(127);
  }
  ::close(pipefd[1]);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) err.append(buf, static_cast<std::size_t>(n));
  ::close(pipefd[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

const char* const kFormats[] = {"pdf", "svg", "png"};

bool non_empty(const stdfs::path& p) {
  std::error_code ec;
  return stdfs::exists(p, ec) && stdfs::file_size(p, ec) > 0;
}

}  // namespace

RenderOutcome render_figures(const std::vector<Figure>& figures, const stdfs::path& dir, const std::string& gnuplot) {
  RenderOutcome o;
  o.figures = figures;
  for (const auto& f : figures) {
    if (!f.skipped_reason.empty()) continue;
    fs::atomic_write(dir / (f.name + ".gp"), f.script);
    fs::atomic_write(dir / (f.name + ".dat"), f.data);
  }
  o.gnuplot_found = find_program(gnuplot);
  if (!o.gnuplot_found) {
    o.note = fmt::format("gnuplot ('{}') was not found: figures were not drawn. Their .gp scripts and .dat data "
                         "files are in figures/ (run `gnuplot NAME.gp` there once gnuplot is installed).",
                         gnuplot);
    return o;
  }
  for (const auto& f : figures) {
    if (!f.skipped_reason.empty()) continue;
    std::error_code ec;
    for (const char* ext : kFormats) stdfs::remove(dir / (f.name + "." + ext), ec);
    std::string err;
    int rc = run_in(gnuplot, f.name + ".gp", dir, err);
    bool all = std::all_of(std::begin(kFormats), std::end(kFormats),
                           [&](const char* ext) { return non_empty(dir / (f.name + "." + ext)); });
    if (rc == 0 && all) {
      o.rendered.push_back(f.name);
    } else {
      while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
      o.failed.push_back(fmt::format("{}: gnuplot exited with {}{}{}", f.name, rc, err.empty() ? "" : ": ", err));
    }
  }
  o.note = fmt::format("{} of {} figures drawn with gnuplot into figures/ (each as .pdf, .svg and .png, with the .gp "
                       "script and .dat data beside it).",
                       o.rendered.size(), o.rendered.size() + o.failed.size());
  return o;
}

}  // namespace iommuvm::report
