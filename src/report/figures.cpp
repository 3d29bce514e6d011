#include "iommuvm/report/figures.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "iommuvm/report/breakdown.hpp"
#include "iommuvm/report/report.hpp"
#include "iommuvm/util/fs.hpp"

namespace iommuvm::report {

namespace stdfs = std::filesystem;
using json = nlohmann::json;
using results::Combination;
using results::Stats;
using results::Summary;

namespace {

const char* kPercentiles[] = {"p50", "p90", "p95", "p99", "p99.9"};

std::string num(double v) { return fmt::format("{}", v); }

// A gnuplot double-quoted string.
std::string q(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += ' ';
      continue;
    }
    out += c;
  }
  return out + "\"";
}

bool is_policy_axis(const std::string& p) { return p.rfind("policy.host", 0) == 0 || p.rfind("policy.guest", 0) == 0; }

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

std::string ci_columns(const Stats& st) {
  double lo = st.ci95_low.value_or(st.mean), hi = st.ci95_high.value_or(st.mean);
  return fmt::format("{}\t{}\t{}\t{}", num(st.mean), num(lo), num(hi), st.n);
}

std::string header(const std::string& name, const std::string& title) {
  return fmt::format(
      "# iommuvm figure {}: {}\n"
      "# Data: {}.dat. Restyle freely, then redraw in this folder with: gnuplot {}.gp\n"
      "set terminal svg size 900,540 dynamic noenhanced font \"Sans,11\" background rgb \"white\"\n"
      "set output \"{}.svg\"\n"
      "set title {}\n"
      "set grid ytics\n",
      name, title, name, name, name, q(title));
}

std::string footer(const std::string& name) {
  return fmt::format(
      "set terminal pngcairo size 900,540 noenhanced font \"Sans,10\" background rgb \"white\"\n"
      "set output \"{}.png\"\n"
      "replot\n"
      "unset output\n",
      name);
}

Figure bar_figure(const std::string& name, const std::string& title, const std::string& ylabel,
                  const std::vector<std::pair<std::string, std::string>>& rows, bool from_zero,
                  const std::string& data_comment) {
  Figure f;
  f.name = name;
  f.title = title;
  std::ostringstream d;
  d << "# " << data_comment << "\n# index\tlabel\tvalue\tci95_low\tci95_high\tn\n";
  for (std::size_t i = 0; i < rows.size(); ++i) d << i << '\t' << q(rows[i].first) << '\t' << rows[i].second << '\n';
  f.data = d.str();
  std::ostringstream g;
  g << header(name, title);
  g << "set ylabel " << q(ylabel) << "\n"
    << "set style fill solid 0.6 border -1\n"
    << "set boxwidth 0.6\n"
    << (from_zero ? "set yrange [0:*]\n" : "set xzeroaxis lt -1\n")
    << fmt::format("set xrange [-0.6:{}]\n", static_cast<double>(rows.size()) - 0.4)
    << "set xtics rotate by -30 nomirror\n"
    << "set key off\n"
    << "plot " << q(name + ".dat") << " using 1:3:xtic(2) with boxes lc rgb \"#4472c4\", \\\n"
    << "     \"\" using 1:3:4:5 with yerrorbars lc rgb \"black\" pt 0\n";
  g << footer(name);
  f.script = g.str();
  return f;
}

std::string file_stem(const std::string& s);

// Rowstacked bars: one bar per combination, one segment per component (µs per request, means).
Figure stacked_figure(const Summary& s, const std::string& w, const Breakdown& b) {
  Figure f;
  f.name = "breakdown-" + file_stem(w);
  f.title = fmt::format("{}: time per request by component", w);
  std::ostringstream d;
  d << "# " << w << ": mean microseconds per request of each component, per combination (" << b.components_source
    << ")\n# label";
  for (const auto& c : b.components) d << '\t' << q(c);
  d << '\n';
  for (const auto& [c, vals] : b.stacks) {
    d << q(combination_label(s, *c));
    for (double v : vals) d << '\t' << num(v);
    d << '\n';
  }
  f.data = d.str();
  std::ostringstream g;
  g << header(f.name, f.title);
  g << "set ylabel \"microseconds per request (mean)\"\n"
    << "set style data histograms\n"
    << "set style histogram rowstacked\n"
    << "set style fill solid 0.7 border -1\n"
    << "set boxwidth 0.6\n"
    << "set yrange [0:*]\n"
    << "set xtics rotate by -30 nomirror\n"
    << "set key outside right top\n"
    << "plot ";
  for (std::size_t i = 0; i < b.components.size(); ++i) {
    if (i) g << ", \\\n     ";
    if (i == 0)
      g << q(f.name + ".dat") << " using 2:xtic(1)";
    else
      g << "\"\" using " << i + 2;
    g << " title " << q(b.components[i]);
  }
  g << "\n" << footer(f.name);
  f.script = g.str();
  return f;
}

struct Line {
  std::string title;
  std::vector<std::string> rows;  // data lines
};

Figure lines_figure(const std::string& name, const std::string& title, const std::string& xlabel,
                    const std::string& ylabel, const std::vector<Line>& lines, bool numeric_x, bool logy,
                    const std::string& data_comment) {
  Figure f;
  f.name = name;
  f.title = title;
  std::ostringstream d;
  d << "# " << data_comment << "\n";
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i) d << "\n\n";
    d << "# block " << i << ": " << lines[i].title << "\n# x_index\tx\tmean\tci95_low\tci95_high\tn\n";
    for (const auto& r : lines[i].rows) d << r << '\n';
  }
  f.data = d.str();
  std::ostringstream g;
  g << header(name, title);
  g << "set xlabel " << q(xlabel) << "\n"
    << "set ylabel " << q(ylabel) << "\n"
    << (logy ? "set logscale y\n" : "set yrange [0:*]\n")
    << "set key outside right top\n"
    << "set offsets 0.3, 0.3, 0, 0\n";
  std::string using_cols = numeric_x ? "2:3:4:5" : "1:3:4:5:xtic(2)";
  g << "plot ";
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i) g << ", \\\n     ";
    g << q(name + ".dat") << " index " << i << " using " << using_cols << " with yerrorlines lw 2 title "
      << q(lines[i].title);
  }
  g << "\n" << footer(name);
  f.script = g.str();
  return f;
}

int compare_json(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) {
    double x = a.get<double>(), y = b.get<double>();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  std::string sa = results::param_text(a), sb = results::param_text(b);
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

std::string file_stem(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '-';
  return out.empty() ? "figure" : out;
}

Figure spec_figure(const Summary& s, const results::FigureRequest& req) {
  std::string name = "spec-" + file_stem(req.name);
  std::string title = fmt::format("{}: {} vs {}{}{}", req.name, req.metric, req.x,
                                  req.series.empty() ? "" : ", one line per " + req.series,
                                  req.workload.empty() ? "" : " (" + req.workload + ")");
  std::vector<const Combination*> cs;
  for (const auto* c : of_workload(s, req.workload))
    if (lookup(*c, req.x) && c->metrics.count(req.metric)) cs.push_back(c);
  if (cs.empty()) {
    Figure f;
    f.name = name;
    f.title = title;
    f.skipped_reason = fmt::format("no ok run has both '{}' and metric '{}'", req.x, req.metric);
    return f;
  }
  // Other parameters that vary among these combinations split lines too.
  std::vector<std::string> others;
  for (const auto& col : varying_params(s, req.workload))
    if (col != req.x && col != req.series && !(is_policy_axis(col) && is_policy_axis(req.series))) others.push_back(col);
  std::vector<json> xs;
  bool numeric = true;
  for (const auto* c : cs) {
    json x = *lookup(*c, req.x);
    numeric = numeric && x.is_number();
    if (std::none_of(xs.begin(), xs.end(), [&](const json& v) { return v == x; })) xs.push_back(x);
  }
  std::stable_sort(xs.begin(), xs.end(), [](const json& a, const json& b) { return compare_json(a, b) < 0; });
  std::vector<Line> lines;
  for (const auto* c : cs) {
    std::vector<std::string> parts;
    if (!req.series.empty()) {
      auto sv = lookup(*c, req.series);
      parts.push_back(sv ? results::param_text(*sv) : "?");
    }
    for (const auto& o : others)
      parts.push_back(short_name(o) + "=" + (c->params.contains(o) ? results::param_text(c->params[o]) : "?"));
    std::string t = fmt::format("{}", fmt::join(parts, ", "));
    if (t.empty()) t = req.metric;
    auto it = std::find_if(lines.begin(), lines.end(), [&](const Line& l) { return l.title == t; });
    if (it == lines.end()) {
      lines.push_back({t, {}});
      it = lines.end() - 1;
    }
    json x = *lookup(*c, req.x);
    std::size_t ord = static_cast<std::size_t>(std::find(xs.begin(), xs.end(), x) - xs.begin());
    std::string xl = numeric ? num(x.get<double>()) : q(results::param_text(x));
    it->rows.push_back(fmt::format("{}\t{}\t{}", ord, xl, ci_columns(c->metrics.at(req.metric))));
  }
  for (auto& l : lines) std::sort(l.rows.begin(), l.rows.end(), [](const std::string& a, const std::string& b) {
      return std::stoul(a) < std::stoul(b);
    });
  bool logy = req.metric.find("latency") != std::string::npos;
  return lines_figure(name, title, req.x, req.metric + " (mean, 95 % CI)", lines, numeric, logy,
                      fmt::format("{}: mean and 95 % CI of {} per value of {} (low = high = mean when n < 2)",
                                  req.name, req.metric, req.x));
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
  for (const auto& w : workloads(s)) {
    auto cs = of_workload(s, w);
    std::string tm = throughput_metric(cs);
    if (!tm.empty()) {
      std::vector<std::pair<std::string, std::string>> rows, deg;
      for (const auto* c : cs) {
        auto it = c->metrics.find(tm);
        if (it == c->metrics.end()) continue;
        rows.emplace_back(combination_label(s, *c), ci_columns(it->second));
        auto ct = c->vs_baseline.find(tm);
        if (ct != c->vs_baseline.end()) {
          const auto& cmp = ct->second;
          deg.emplace_back(combination_label(s, *c),
                           fmt::format("{}\t{}\t{}\t{}", num(cmp.degradation_pct),
                                       num(cmp.degradation_low.value_or(cmp.degradation_pct)),
                                       num(cmp.degradation_high.value_or(cmp.degradation_pct)), it->second.n));
        }
      }
      out.push_back(bar_figure("throughput-" + file_stem(w), fmt::format("{}: {} per policy", w, tm),
                               tm + " (mean, 95 % CI)", rows, true,
                               fmt::format("{} of {}: mean and 95 % CI per combination (low = high = mean when n < 2)",
                                           tm, w)));
      if (!deg.empty())
        out.push_back(bar_figure(
            "degradation-" + file_stem(w), fmt::format("{}: {} degradation vs {}", w, tm, s.baseline),
            fmt::format("degradation vs {} (%, 95 % CI)", s.baseline), deg, false,
            fmt::format("{} of {}: (1 - mean / baseline mean) * 100 and its 95 % CI (delta method)", tm, w)));
    }
    std::vector<std::string> pcts;
    for (const char* p : kPercentiles)
      for (const auto* c : cs)
        if (c->metrics.count(std::string("latency_us.") + p)) {
          pcts.push_back(p);
          break;
        }
    if (!pcts.empty()) {
      std::vector<Line> lines;
      for (const auto* c : cs) {
        Line l{combination_label(s, *c), {}};
        for (std::size_t i = 0; i < pcts.size(); ++i) {
          auto it = c->metrics.find("latency_us." + pcts[i]);
          if (it != c->metrics.end()) l.rows.push_back(fmt::format("{}\t{}\t{}", i, q(pcts[i]), ci_columns(it->second)));
        }
        if (!l.rows.empty()) lines.push_back(l);
      }
      out.push_back(lines_figure("latency-" + file_stem(w), fmt::format("{}: latency percentiles per policy", w),
                                 "percentile", "latency (us, mean, 95 % CI)", lines, false, true,
                                 fmt::format("latency percentiles of {} in microseconds: one block per combination", w)));
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
    stdfs::remove(dir / (f.name + ".svg"), ec);
    stdfs::remove(dir / (f.name + ".png"), ec);
    std::string err;
    int rc = run_in(gnuplot, f.name + ".gp", dir, err);
    if (rc == 0 && non_empty(dir / (f.name + ".svg")) && non_empty(dir / (f.name + ".png"))) {
      o.rendered.push_back(f.name);
    } else {
      while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
      o.failed.push_back(fmt::format("{}: gnuplot exited with {}{}{}", f.name, rc, err.empty() ? "" : ": ", err));
    }
  }
  o.note = fmt::format("{} of {} figures drawn with gnuplot into figures/ (each as .svg and .png, with the .gp "
                       "script and .dat data beside it).",
                       o.rendered.size(), o.rendered.size() + o.failed.size());
  return o;
}

}  // namespace iommuvm::report
