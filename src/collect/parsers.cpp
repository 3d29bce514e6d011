#include "iommuvm/collect/parsers.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <sstream>

#include "iommuvm/spec/spec.hpp"
#include "iommuvm/util/regex.hpp"
#include "iommuvm/util/text.hpp"

namespace iommuvm::collect {

using nlohmann::json;

ParseError::ParseError(std::string_view tool, std::string_view message)
    : InputError(fmt::format("{} output: {}", tool, message)) {}

namespace {

// The tools' outputs are split as CRLF or LF, and trimmed of spaces, tabs and a stray '\r'.
constexpr text::LineOptions kLines{.drop_cr = true};
constexpr std::string_view kBlank = " \t\r";

std::vector<std::string_view> split_ws(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

std::vector<std::string_view> split_on(std::string_view line, char sep) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (true) {
    auto p = line.find(sep, pos);
    if (p == std::string_view::npos) {
      out.push_back(line.substr(pos));
      return out;
    }
    out.push_back(line.substr(pos, p - pos));
    pos = p + 1;
  }
}


template <typename T>
bool to_int(std::string_view s, T& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// Decimal with '.' (LC_ALL=C); nullopt-like false when not a number.
bool to_double(std::string_view s, double& out) {
  if (s.empty()) return false;
  std::string tmp(s);
  char* end = nullptr;
  out = std::strtod(tmp.c_str(), &end);
  return end == tmp.c_str() + tmp.size();
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

}  // namespace

// ------------------------------------------------------------------ mpstat

json parse_mpstat(std::string_view text) {
  std::vector<std::string> columns;  // metric names after CPU
  json total, per_cpu = json::object();
  bool header = false;
  for (auto line : text::split_lines(text, kLines)) {
    if (!starts_with(line, "Average:")) continue;
    auto f = split_ws(line.substr(8));
    if (f.empty()) continue;
    if (f[0] == "CPU") {
      columns.clear();
      for (std::size_t i = 1; i < f.size(); ++i) {
        std::string c(f[i]);
        if (!c.empty() && c[0] == '%') c.erase(0, 1);
        columns.push_back(c);
      }
      header = true;
      continue;
    }
    if (!header) continue;
    if (f.size() != columns.size() + 1)
      throw ParseError("mpstat", fmt::format("Average line with {} fields, header has {}: '{}'",
                                             f.size(), columns.size() + 1, line));
    json row = json::object();
    for (std::size_t i = 0; i < columns.size(); ++i) {
      double v = 0;
      if (!to_double(f[i + 1], v))
        throw ParseError("mpstat", fmt::format("not a number: '{}'", f[i + 1]));
      row[columns[i]] = v;
    }
    if (row.contains("idle")) row["busy"] = std::max(0.0, 100.0 - row["idle"].get<double>());
    if (f[0] == "all") {
      total = row;
    } else {
      int cpu = 0;
      if (!to_int(f[0], cpu)) throw ParseError("mpstat", fmt::format("unknown CPU '{}'", f[0]));
      per_cpu[std::to_string(cpu)] = row;
    }
  }
  if (!header || total.is_null())
    throw ParseError("mpstat", "no 'Average:' block (stopped before it printed one?)");
  return json{{"cpu_total", total}, {"cpu", per_cpu}, {"cpus", per_cpu.size()}};
}

// ------------------------------------------------------------------ /proc/interrupts

InterruptTable parse_interrupts(std::string_view text) {
  InterruptTable t;
  auto lines = text::split_lines(text, kLines);
  std::size_t i = 0;
  while (i < lines.size() && text::trim(lines[i], kBlank).empty()) ++i;
  if (i == lines.size()) throw ParseError("/proc/interrupts", "empty");
  for (auto h : split_ws(lines[i])) {
    int n = 0;
    if (!starts_with(h, "CPU") || !to_int(h.substr(3), n))
      throw ParseError("/proc/interrupts", fmt::format("bad header '{}'", lines[i]));
    t.cpus.push_back(n);
  }
  for (++i; i < lines.size(); ++i) {
    auto line = lines[i];
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    InterruptLine l;
    l.irq = std::string(text::trim(line.substr(0, colon), kBlank));
    auto f = split_ws(line.substr(colon + 1));
    std::size_t k = 0;
    for (; k < f.size() && k < t.cpus.size(); ++k) {
      std::uint64_t v = 0;
      if (!to_int(f[k], v)) break;
      l.cpu[t.cpus[k]] = v;
      l.total += v;
    }
    if (k == 0) continue;  // not a counter line
    bool numeric =
        std::all_of(l.irq.begin(), l.irq.end(), [](char c) { return c >= '0' && c <= '9'; });
    std::vector<std::string_view> rest(f.begin() + static_cast<long>(k), f.end());
    if (!numeric) {
      // "LOC: ... Local timer interrupts"; ERR:/MIS: have one count and nothing else.
      std::string d;
      for (auto w : rest) d += (d.empty() ? "" : " ") + std::string(w);
      l.device = d.empty() ? l.irq : d;
      if (k == 1 && t.cpus.size() > 1) l.cpu.clear();  // a single system-wide count
    } else if (!rest.empty()) {
      // "<chip> [<chip parts>] <hwirq>-<edge|level|fasteoi> <action>[, <action>...]"
      l.chip = std::string(rest[0]);
      std::size_t dev_from = rest.size();
      for (std::size_t j = 1; j < rest.size(); ++j) {
        auto w = rest[j];
        if (w.ends_with("-edge") || w.ends_with("-level") || w.ends_with("-fasteoi") ||
            w == "edge" || w == "level" || w == "fasteoi") {
          dev_from = j + 1;
          break;
        }
      }
      if (dev_from >= rest.size()) dev_from = rest.size() - 1;  // unknown layout: the last word
      if (dev_from == 0) dev_from = rest.size();
      std::string d;
      for (std::size_t j = dev_from; j < rest.size(); ++j)
        d += (d.empty() ? "" : " ") + std::string(rest[j]);
      l.device = d;
    }
    t.lines.push_back(std::move(l));
  }
  if (t.lines.empty()) throw ParseError("/proc/interrupts", "no counter lines");
  return t;
}

namespace {
std::uint64_t delta(std::uint64_t before, std::uint64_t after) {
  return after >= before ? after - before : after;
}

// "PCI-MSIX-0000:00:02.0" / "IR-PCI-MSI-0000:3b:00.0" -> "0000:00:02.0"
std::string pci_of_chip(const std::string& chip) {
  auto m = chip.find("MSI");
  if (m == std::string::npos) return {};
  auto dash = chip.find('-', m);
  if (dash == std::string::npos || dash + 1 >= chip.size()) return {};
  return chip.substr(dash + 1);
}
}  // namespace

namespace {
// IFNAME itself, or IFNAME followed by a queue part ('-', '@', ':').
bool names_interface(std::string_view action, std::string_view ifname) {
  if (!action.starts_with(ifname)) return false;
  if (action.size() == ifname.size()) return true;
  char next = action[ifname.size()];
  return next == '-' || next == '@' || next == ':';
}
}  // namespace

std::vector<std::string> interface_irqs(const InterruptTable& table, std::string_view ifname, std::string_view pci) {
  std::vector<std::string> out;
  if (ifname.empty() && pci.empty()) return out;
  for (const auto& l : table.lines) {
    if (l.irq.empty() || !std::all_of(l.irq.begin(), l.irq.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
    bool match = !pci.empty() && pci_of_chip(l.chip) == pci;
    // Several actions on one IRQ are listed as "a, b".
    std::string_view rest = l.device;
    while (!match && !rest.empty()) {
      auto comma = rest.find(',');
      std::string_view a = text::trim(rest.substr(0, comma), kBlank);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      if (a.empty()) continue;
      if (!ifname.empty()) {
        auto dash = a.find('-');
        match = names_interface(a, ifname) || (dash != std::string_view::npos && names_interface(a.substr(dash + 1), ifname));
      }
      if (!match && !pci.empty()) match = a.ends_with(std::string("@pci:") + std::string(pci));
    }
    if (match) out.push_back(l.irq);
  }
  return out;
}

json interrupt_deltas(const InterruptTable& before, const InterruptTable& after, double window_s) {
  std::map<std::string, const InterruptLine*> prev;
  for (const auto& l : before.lines) prev[l.irq] = &l;
  json irq = json::object(), device = json::object(), pci = json::object(), cpu = json::object();
  std::uint64_t total = 0;
  for (const auto& l : after.lines) {
    auto it = prev.find(l.irq);
    const InterruptLine* b = it == prev.end() ? nullptr : it->second;
    std::uint64_t d = 0;
    if (l.cpu.empty()) {
      d = delta(b ? b->total : 0, l.total);
    } else {
      for (const auto& [c, v] : l.cpu) {
        std::uint64_t bv = 0;
        if (b) {
          auto bc = b->cpu.find(c);
          if (bc != b->cpu.end()) bv = bc->second;
        }
        auto dc = delta(bv, v);
        d += dc;
        if (dc) {
          auto key = std::to_string(c);
          cpu[key] = cpu.value(key, std::uint64_t{0}) + dc;
        }
      }
    }
    if (d == 0) continue;
    total += d;
    json e{{"count", d}};
    if (window_s > 0) e["per_s"] = static_cast<double>(d) / window_s;
    irq[l.irq] = e;
    if (!l.device.empty()) device[l.device] = device.value(l.device, std::uint64_t{0}) + d;
    auto p = pci_of_chip(l.chip);
    if (!p.empty()) pci[p] = pci.value(p, std::uint64_t{0}) + d;
  }
  json out{{"total", total},   {"window_s", window_s}, {"irq", irq},
           {"device", device}, {"pci", pci},           {"cpu", cpu}};
  if (window_s > 0) out["per_s"] = static_cast<double>(total) / window_s;
  return out;
}

// ------------------------------------------------------------------ /proc/PID/stat

std::vector<ProcStat> parse_proc_stat(std::string_view text) {
  std::vector<ProcStat> out;
  for (auto line : text::split_lines(text, kLines)) {
    if (text::trim(line, kBlank).empty()) continue;
    auto open = line.find(" (");
    auto close = line.rfind(") ");
    if (open == std::string_view::npos || close == std::string_view::npos || close < open)
      throw ParseError("/proc/PID/stat", fmt::format("no '(comm)' in '{}'", line));
    ProcStat s;
    if (!to_int(text::trim(line.substr(0, open), kBlank), s.pid))
      throw ParseError("/proc/PID/stat", fmt::format("bad pid in '{}'", line));
    s.comm = std::string(line.substr(open + 2, close - open - 2));
    // Fields after comm start at field 3 (state); utime=14, stime=15, starttime=22.
    auto f = split_ws(line.substr(close + 2));
    if (f.size() < 20)
      throw ParseError("/proc/PID/stat", fmt::format("only {} fields after comm", f.size()));
    if (!to_int(f[14 - 3], s.utime) || !to_int(f[15 - 3], s.stime) ||
        !to_int(f[22 - 3], s.starttime))
      throw ParseError("/proc/PID/stat", fmt::format("bad utime/stime/starttime in '{}'", line));
    out.push_back(std::move(s));
  }
  return out;
}

// ------------------------------------------------------------------ perf stat

json parse_perf_stat(std::string_view text, char sep) {
  json events = json::object(), not_counted = json::object(), multiplexed = json::object();
  bool any = false;
  for (auto line : text::split_lines(text, kLines)) {
    auto t = text::trim(line, kBlank);
    if (t.empty() || t[0] == '#') continue;
    auto f = split_on(t, sep);
    if (f.size() < 3) continue;  // not a counter line (perf's own messages)
    auto value = text::trim(f[0], kBlank), unit = text::trim(f[1], kBlank), event = text::trim(f[2], kBlank);
    if (event.empty()) continue;
    any = true;
    std::string name(event);
    if (value.starts_with("<")) {  // <not supported>, <not counted>
      not_counted[name] = std::string(value);
      continue;
    }
    double v = 0;
    if (!to_double(value, v))
      throw ParseError("perf stat", fmt::format("not a number for {}: '{}'", name, value));
    if (!unit.empty()) name += "_" + std::string(unit);
    events[name] = v;
    if (f.size() >= 5) {
      double pct = 100;
      if (to_double(text::trim(f[4], kBlank), pct) && pct < 100) multiplexed[name] = pct;
    }
  }
  if (!any) throw ParseError("perf stat", "no counter lines");
  json out{{"events", events}};
  if (!not_counted.empty()) out["not_counted"] = not_counted;
  if (!multiplexed.empty()) out["multiplexed_pct"] = multiplexed;
  return out;
}

// ------------------------------------------------------------------ counter files

std::map<std::string, std::int64_t> parse_counter_files(std::string_view text) {
  std::map<std::string, std::int64_t> out;
  for (auto line : text::split_lines(text, kLines)) {
    auto colon = line.rfind(':');
    if (colon == std::string_view::npos) continue;
    auto path = line.substr(0, colon);
    auto slash = path.rfind('/');
    auto name = slash == std::string_view::npos ? path : path.substr(slash + 1);
    std::int64_t v = 0;
    if (name.empty() || !to_int(text::trim(line.substr(colon + 1), kBlank), v)) continue;
    out[std::string(name)] = v;
  }
  return out;
}

std::map<std::string, std::int64_t> counter_deltas(
    const std::map<std::string, std::int64_t>& before,
    const std::map<std::string, std::int64_t>& after) {
  std::map<std::string, std::int64_t> out;
  for (const auto& [k, v] : after) {
    auto it = before.find(k);
    if (it != before.end()) out[k] = v - it->second;
  }
  return out;
}

// ------------------------------------------------------------------ bpftrace

bool is_qemu_function(std::string_view name) {
  return starts_with(name, "qemu:") || starts_with(name, "vtd_") || starts_with(name, "vfio_");
}

std::string qemu_symbol(std::string_view name) {
  return std::string(starts_with(name, "qemu:") ? name.substr(5) : name);
}

void check_function_name(std::string_view name) {
  auto sym = starts_with(name, "qemu:") ? name.substr(5) : name;
  bool ok = !sym.empty() && std::all_of(sym.begin(), sym.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.';
  });
  if (!ok)
    throw InputError(
        fmt::format("collector function '{}': only letters, digits, '_' and '.'", name));
}

std::string bpftrace_script(const BpftraceTargets& t) {
  std::ostringstream s;
  s << "// generated by iommuvm: calls and time per function, printed at exit (SIGINT)\n";
  s << "BEGIN { printf(\"iommuvm-bpftrace-start\\n\"); }\n";
  int n = 0;
  std::vector<std::string> starts;
  for (const auto& f : t.kernel) {
    check_function_name(f);
    auto m = fmt::format("@start_{}", n++);
    starts.push_back(m);
    s << fmt::format("kprobe:{} {{ {}[tid] = nsecs; }}\n", f, m);
    s << fmt::format(
        "kretprobe:{} /{}[tid]/ {{ @calls[\"{}\"] = count(); @ns[\"{}\"] = sum(nsecs - {}[tid]); "
        "delete({}[tid]); }}\n",
        f, m, f, f, m, m);
  }
  for (const auto& q : t.qemu) {
    check_function_name(q);
    auto sym = qemu_symbol(q);
    auto m = fmt::format("@start_{}", n++);
    starts.push_back(m);
    auto key = "qemu:" + sym;
    s << fmt::format("uprobe:{}:{} /pid == {}/ {{ {}[tid] = nsecs; }}\n", t.qemu_binary, sym,
                     t.qemu_pid, m);
    s << fmt::format(
        "uretprobe:{}:{} /pid == {} && {}[tid]/ {{ @calls[\"{}\"] = count(); @ns[\"{}\"] = "
        "sum(nsecs - {}[tid]); "
        "delete({}[tid]); }}\n",
        t.qemu_binary, sym, t.qemu_pid, m, key, key, m, m);
  }
  s << "END {\n";
  for (const auto& m : starts) s << "  clear(" << m << ");\n";
  s << "  printf(\"iommuvm-bpftrace-summary\\n\");\n";
  s << "  print(@calls);\n  print(@ns);\n  clear(@calls);\n  clear(@ns);\n}\n";
  return s.str();
}

json parse_bpftrace_summary(std::string_view text) {
  auto lines = text::split_lines(text, kLines);
  auto it = std::find(lines.begin(), lines.end(), std::string_view("iommuvm-bpftrace-summary"));
  if (it == lines.end()) throw ParseError("bpftrace", "no summary (bpftrace did not reach END)");
  static const RE2 re(R"(^@(\w+)\[(.*)\]: (-?\d+)$)", regex::byte_options());
  json functions = json::object();
  std::uint64_t calls_total = 0, ns_total = 0;
  for (++it; it != lines.end(); ++it) {
    std::string map, key, number;
    if (!RE2::FullMatch(*it, re, &map, &key, &number)) continue;
    if (key.size() >= 2 && key.front() == '"' && key.back() == '"')
      key = key.substr(1, key.size() - 2);
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), v);
    if (ec != std::errc() || end != number.data() + number.size()) continue;  // negative or out of range
    if (map == "calls") {
      functions[key]["calls"] = v;
      calls_total += v;
    } else if (map == "ns") {
      functions[key]["total_ns"] = v;
      ns_total += v;
    }
  }
  for (auto& [k, f] : functions.items()) {
    (void)k;
    if (!f.contains("calls")) f["calls"] = 0;
    if (!f.contains("total_ns")) f["total_ns"] = 0;
    auto c = f["calls"].get<std::uint64_t>();
    if (c > 0)
      f["avg_ns"] =
          static_cast<double>(f["total_ns"].get<std::uint64_t>()) / static_cast<double>(c);
  }
  return json{{"functions", functions}, {"calls_total", calls_total}, {"total_ns", ns_total}};
}

// ------------------------------------------------------------------ QEMU trace

bool glob_match(std::string_view p, std::string_view s) {
  std::size_t pi = 0, si = 0, star = std::string_view::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == s[si])) {
      ++pi, ++si;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

json count_qemu_trace(std::string_view text, const std::vector<std::string>& patterns) {
  auto last_nl = text.rfind('\n');
  text = last_nl == std::string_view::npos ? std::string_view{} : text.substr(0, last_nl + 1);
  json events = json::object(), types = json::object();
  std::uint64_t total = 0, other = 0;
  for (auto line : text::split_lines(text, kLines)) {
    if (line.empty()) continue;
    auto body = line;
    // optional "PID@SEC.USEC:" prefix
    auto at = body.find('@');
    auto colon = body.find(':');
    if (at != std::string_view::npos && colon != std::string_view::npos && at < colon) {
      std::int64_t pid = 0;
      if (to_int(body.substr(0, at), pid)) body = body.substr(colon + 1);
    }
    auto sp = body.find(' ');
    auto name = body.substr(0, sp);
    bool ident = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    });
    if (!ident) {
      ++other;
      continue;
    }
    bool match =
        patterns.empty() || std::any_of(patterns.begin(), patterns.end(),
                                        [&](const auto& p) { return glob_match(p, name); });
    if (!match) continue;
    std::string key(name);
    events[key] = events.value(key, std::uint64_t{0}) + 1;
    ++total;
    if (name == "vtd_inv_desc" && sp != std::string_view::npos) {
      // "invalidate desc type iotlb high 0x.. low 0x.."
      auto f = split_ws(body.substr(sp + 1));
      for (std::size_t i = 0; i + 1 < f.size(); ++i)
        if (f[i] == "type") {
          std::string ty(f[i + 1]);
          types[ty] = types.value(ty, std::uint64_t{0}) + 1;
          break;
        }
    }
  }
  json out{{"events", events}, {"total", total}, {"other_lines", other}};
  if (!types.empty()) out["inv_desc_types"] = types;
  if (patterns.empty() || std::any_of(patterns.begin(), patterns.end(),
                                      [](const auto& p) { return glob_match(p, "vtd_inv_desc_iotlb_pages"); })) {
    std::uint64_t iotlb = 0;
    for (const auto& [name, n] : events.items())
      if (name.rfind("vtd_inv_desc_iotlb_", 0) == 0) iotlb += n.get<std::uint64_t>();
    out["iotlb_invalidations"] = iotlb;
  }
  return out;
}

// ------------------------------------------------------------------ tracefs hist

void check_tracepoint_name(std::string_view name) {
  if (!spec::is_tracepoint_name(name))
    throw InputError(fmt::format("'{}' is not a tracepoint name (subsystem:event, e.g. iommu:unmap)",
                                 text::bounded(std::string(name))));
}

std::string hist_trigger(std::string_view event) {
  if (event == "intel_iommu:qi_submit") return "hist:keys=qw0";
  if (event == "iommu:map" || event == "iommu:unmap") return "hist:keys=size";
  return "hist:keys=common_pid";
}

HistTable parse_hist(std::string_view text, std::string_view trigger) {
  HistTable t;
  // The key field of TRIGGER: "hist:keys=size" -> "size".
  auto eq = trigger.find('=');
  std::string key(eq == std::string_view::npos ? std::string_view{} : trigger.substr(eq + 1));
  bool in_table = false, totals = false;
  for (auto line : text::split_lines(text, kLines)) {
    auto s = text::trim(line);
    if (starts_with(s, "# trigger info:")) {
      auto info = text::trim(s.substr(15));
      // Ours: exactly TRIGGER, then ':' and the kernel's defaults (vals, sort, size).
      in_table = !t.found && starts_with(info, trigger) &&
                 (info.size() == trigger.size() || info[trigger.size()] == ':' || info[trigger.size()] == ' ');
      if (in_table) t.found = true;
      totals = false;
      continue;
    }
    if (!in_table) continue;
    if (s == "Totals:") {
      totals = true;
      continue;
    }
    std::uint64_t v = 0;
    if (totals) {
      if (starts_with(s, "Hits:") && to_int(text::trim(s.substr(5)), v)) t.hits = v;
      else if (starts_with(s, "Dropped:") && to_int(text::trim(s.substr(8)), v)) t.dropped = v;
      else if (!s.empty() && !starts_with(s, "Entries:")) in_table = false;  // past this table
      continue;
    }
    // "{ size:       4096 } hitcount:        228"
    if (!starts_with(s, "{")) continue;
    auto close = s.find('}');
    if (close == std::string_view::npos)
      throw ParseError("tracefs hist", fmt::format("unclosed key in '{}'", text::bounded(std::string(s))));
    auto k = text::trim(s.substr(1, close - 1));
    if (!starts_with(k, key + ":")) continue;
    auto kv = text::trim(k.substr(key.size() + 1));
    bool hex = starts_with(kv, "0x");
    auto digits = hex ? kv.substr(2) : kv;
    std::uint64_t keyval = 0;
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), keyval, hex ? 16 : 10);
    if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size())
      throw ParseError("tracefs hist", fmt::format("key '{}' is not a number", text::bounded(std::string(kv))));
    auto rest = text::trim(s.substr(close + 1));
    auto f = split_ws(rest.substr(std::min(rest.size(), std::string_view("hitcount:").size())));
    std::uint64_t hits = 0;
    if (!starts_with(rest, "hitcount:") || f.empty() || !to_int(f[0], hits))
      throw ParseError("tracefs hist", fmt::format("no hitcount in '{}'", text::bounded(std::string(s))));
    t.entries.emplace_back(keyval, hits);
  }
  return t;
}

std::string vtd_desc_type(std::uint64_t qw0) {
  auto type = static_cast<unsigned>((qw0 & 0xf) | ((qw0 >> 5) & 0x70));
  switch (type) {
    case 1: return "context-cache";
    case 2: return "iotlb";
    case 3: return "device";
    case 4: return "iec";
    case 5: return "wait";
    case 6: return "p-iotlb";
    case 7: return "pasid-cache";
    case 8: return "device-piotlb";
    default: return fmt::format("type-{}", type);
  }
}

json tracepoint_counts(const std::map<std::string, HistTable>& tables) {
  json events = json::object(), out = json::object();
  for (const auto& [event, t] : tables) {
    json e{{"count", t.hits}};
    if (t.dropped) e["dropped"] = t.dropped;
    if (event == "iommu:map" || event == "iommu:unmap") {
      std::uint64_t bytes = 0;
      for (auto [size, hits] : t.entries) bytes += size * hits;
      e["bytes"] = bytes;
      bool map = event == "iommu:map";
      out[map ? "maps" : "unmaps"] = t.hits;
      out[map ? "map_bytes" : "unmap_bytes"] = bytes;
    } else if (event == "intel_iommu:qi_submit") {
      json by_type = json::object();
      std::uint64_t iotlb = 0, dev = 0;
      for (auto [qw0, hits] : t.entries) {
        auto ty = vtd_desc_type(qw0);
        by_type[ty] = by_type.value(ty, std::uint64_t{0}) + hits;
        if (ty == "iotlb" || ty == "p-iotlb") iotlb += hits;
        if (ty == "device" || ty == "device-piotlb") dev += hits;
      }
      e["by_type"] = by_type;
      out["descriptors"] = t.hits;
      out["iotlb_invalidations"] = iotlb;
      out["devtlb_invalidations"] = dev;
    }
    events[event] = e;
  }
  out["events"] = events;
  return out;
}

// ------------------------------------------------------------------ custom

json parse_custom(std::string_view text, const std::map<std::string, std::string>& metrics) {
  json out = json::object();
  json missing = json::array();
  std::string s(text);
  for (const auto& [name, pattern] : metrics) {
    std::string error;
    auto re = regex::compile_metric_pattern(pattern, error);
    if (!re) throw InputError(fmt::format("collector metric {}: {}", name, error));
    std::string last;
    bool found = false;
    re2::StringPiece match[2];
    std::size_t pos = 0;
    while (pos <= s.size() && re->Match(s, pos, s.size(), RE2::UNANCHORED, match, 2)) {
      last = std::string(match[1]);
      found = true;
      auto end = static_cast<std::size_t>(match[0].data() - s.data()) + match[0].size();
      pos = end > pos ? end : pos + 1;  // an empty match: step over one byte
    }
    double v = 0;
    if (found && to_double(text::trim(last, kBlank), v))
      out[name] = v;
    else
      missing.push_back(name);
  }
  out["missing"] = missing;
  return out;
}

}  // namespace iommuvm::collect
