// One class per collector kind (docs/collectors.md). Every machine access goes
// through ctx.machine; parsing is in parsers.cpp. A collector never fails the run:
// what cannot work here becomes {"unsupported": why}, what breaks {"error": what}.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <set>
#include <thread>

#include "iommuvm/collect/collector.hpp"
#include "iommuvm/collect/parsers.hpp"
#include "iommuvm/results/store.hpp"
#include "iommuvm/util/error.hpp"
#include "iommuvm/util/fs.hpp"

namespace iommuvm::collect {

using nlohmann::json;
using remote::Command;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

namespace {

// Thrown inside a collector step: the collector reports {"unsupported": why}.
struct Unsupported {
  std::string why;
};

// Thrown where raw output would be kept and read back but the run has no raw/ folder (a
// dry run): what is not kept is not parsed, and the step ends there without an error.
struct NotKept {};

std::string tail_text(const std::string& s, std::size_t n = 400) {
  auto t = s.size() > n ? s.substr(s.size() - n) : s;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  return t;
}

std::string first_line(const std::string& s) {
  auto nl = s.find('\n');
  return s.substr(0, nl);
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

class Base : public Collector {
 public:
  explicit Base(const Context& c) : ctx_(c) {}

  void prepare() final {
    guard("prepare", [&] { do_prepare(); });
  }

  void start() final {
    if (failed()) return;
    guard("start", [&] {
      t0_ = Clock::now();
      do_start();
      t0_ = Clock::now();
    });
    started_ = !failed();
  }

  json stop() final {
    window_s_ = std::chrono::duration<double>(Clock::now() - t0_).count();
    json result;
    if (started_)
      guard("stop", [&] { result = do_stop(); });
    else if (unsupported_.empty() && error_.empty())
      error_ = "stopped without having been started";
    // A dry run measured nothing: its result says so, whatever its simulated machine answered.
    if (ctx_.dry_run) return json{{"dry_run", true}};
    if (!unsupported_.empty()) return json{{"unsupported", unsupported_}};
    if (!error_.empty()) return json{{"error", error_}};
    return result;
  }

 protected:
  virtual void do_prepare() {}
  virtual void do_start() = 0;
  virtual json do_stop() = 0;

  const std::string& name() const { return ctx_.spec.name; }
  double window_s() const { return window_s_; }
  remote::Remote& m() { return ctx_.machine; }

  std::string under_root(const std::string& abs) const {
    return fs::under_root(m_root(), abs).string();
  }
  const std::filesystem::path& m_root() const { return ctx_.machine.root(); }

  // A file on the machine in the run's work folder.
  std::string work_file(const std::string& ext) const {
    // Never a shared folder: the engine gives the run's private work folder.
    if (ctx_.work_dir.empty()) throw Error("internal: a collector without a work folder");
    return ctx_.work_dir + "/" + name() + "." + ext;
  }
  // <raw_dir>/<name>.<ext> on the controller; refused if it would leave raw_dir.
  std::filesystem::path raw_file(const std::string& ext) const {
    // A dry run without a campaign folder: a placeholder, never written.
    if (ctx_.raw_dir.empty()) return std::filesystem::path("<raw>") / (name() + "." + ext);
    return results::contained_path(ctx_.raw_dir, name() + "." + ext);
  }
  // TEXT into raw_dir, before it is parsed (NotKept without a raw_dir).
  void save_raw(const std::string& ext, const std::string& text) const {
    if (ctx_.raw_dir.empty()) throw NotKept{};
    fs::atomic_write(raw_file(ext), text);
  }
  // Download a machine file into raw_dir and return its contents (NotKept without a raw_dir,
  // after the download: a simulated machine shows it).
  std::string fetch(const std::string& remote_path, const std::string& ext) {
    auto local = raw_file(ext);
    if (!ctx_.raw_dir.empty()) std::filesystem::create_directories(local.parent_path());
    m().download(remote_path, local);
    return read_kept(local);
  }
  std::string read_kept(const std::filesystem::path& local) const {
    if (ctx_.raw_dir.empty()) throw NotKept{};
    return fs::read_file(local);
  }
  // The machine's output of ARGV (stdout), or nullopt-like "" with ok=false.
  remote::RunResult run(std::vector<std::string> argv, bool sudo = false,
                        milliseconds timeout = milliseconds(30000)) {
    remote::RunOptions o;
    o.timeout = timeout;
    return m().run(Command{std::move(argv), sudo, "", {}}, o);
  }
  bool have_program(const std::string& program) {
    auto r = run({"sh", "-c", "command -v \"$1\" >/dev/null", "sh", program});
    return r.ok();
  }
  void make_work_dir() {
    if (!ctx_.work_dir.empty()) run({"mkdir", "-p", ctx_.work_dir});
  }

  // The guest's QEMU PID from libvirt's pid file.
  long qemu_pid() {
    if (ctx_.domain.empty())
      throw Unsupported{"no guest domain in this run (process: qemu needs one)"};
    auto text = m().read_file("/run/libvirt/qemu/" + ctx_.domain + ".pid");
    try {
      return std::stol(text);
    } catch (...) {
      throw Error(fmt::format("no PID in /run/libvirt/qemu/{}.pid: '{}'", ctx_.domain,
                              tail_text(text, 40)));
    }
  }

  // Background process helpers.
  void start_bg(Command c, const std::string& log_ext) {
    log_path_ = work_file(log_ext);
    bg_ = m().start(c, log_path_);
  }
  // Stop it (SIGNAL, then SIGKILL after GRACE); returns whether it was still running.
  bool stop_bg(int signal, milliseconds grace) {
    bool running = m().is_running(bg_);
    m().stop(bg_, signal, grace);
    return running;
  }
  std::string bg_log() {
    auto r = run({"cat", "--", log_path_});
    return r.out;
  }

  Context ctx_;
  remote::Process bg_;
  std::string log_path_;

 private:
  bool failed() const { return !unsupported_.empty() || !error_.empty(); }

  template <typename Fn>
  void guard(const char* step, Fn fn) {
    try {
      fn();
    } catch (const NotKept&) {
    } catch (const Unsupported& u) {
      unsupported_ = u.why;
      spdlog::info("collector {}: unsupported on {}: {}", name(), ctx_.machine.name(), u.why);
    } catch (const ParseError& e) {
      error_ = fmt::format("{}: {}", step, e.what());
      spdlog::warn("collector {} on {}: {}", name(), ctx_.machine.name(), error_);
    } catch (const InputError&) {
      throw;  // the spec is wrong: the user has to fix it
    } catch (const std::exception& e) {
      error_ = fmt::format("{}: {}", step, e.what());
      spdlog::warn("collector {} on {}: {}", name(), ctx_.machine.name(), error_);
    }
  }

  Clock::time_point t0_ = Clock::now();
  double window_s_ = 0;
  bool started_ = false;
  std::string unsupported_, error_;
};

// ------------------------------------------------------------------ mpstat

class Mpstat final : public Base {
 public:
  using Base::Base;
  void do_prepare() override {
    if (!have_program("mpstat")) throw Unsupported{"mpstat not found (Debian package sysstat)"};
    make_work_dir();
  }
  void do_start() override {
    int interval = std::max(1, static_cast<int>(ctx_.spec.interval_s + 0.5));
    Command c{{"mpstat", "-P", "ALL", std::to_string(interval)}, false, "", {{"LC_ALL", "C"}}};
    start_bg(c, "mpstat.txt");
  }
  json do_stop() override {
    stop_bg(SIGINT, milliseconds(5000));
    auto text = fetch(log_path_, "txt");
    auto j = parse_mpstat(text);
    j["window_s"] = window_s();
    return j;
  }
};

// ------------------------------------------------------------------ pidstat (process CPU time)

class ProcessCpu final : public Base {
 public:
  using Base::Base;
  void do_prepare() override {
    auto r = run({"getconf", "CLK_TCK"});
    if (!r.ok()) throw Error("getconf CLK_TCK failed: " + r.err);
    ticks_ = std::stod(r.out);
    if (ticks_ <= 0) throw Error("getconf CLK_TCK: " + r.out);
    if (ctx_.spec.process == "qemu") {
      pids_ = {qemu_pid()};
      // vhost-net/-scsi workers: kernel threads "vhost-<qemu pid>" before Linux 6.4,
      // threads of QEMU itself (already in its times) since.
      auto v = run({"pgrep", "-x", "--", "vhost-" + std::to_string(pids_[0])});
      for (auto& s : split_words(v.out)) vhost_.insert(std::stol(s));
      pids_.insert(pids_.end(), vhost_.begin(), vhost_.end());
    } else {
      auto p = run({"pgrep", "-x", "--", ctx_.spec.process});
      for (auto& s : split_words(p.out)) pids_.push_back(std::stol(s));
      if (pids_.empty()) throw Error(fmt::format("no process named '{}'", ctx_.spec.process));
    }
  }
  void do_start() override { before_ = snapshot(); }
  json do_stop() override {
    after_ = snapshot();
    save_raw("txt", before_ + "--- after\n" + after_);
    auto b = parse_proc_stat(before_), a = parse_proc_stat(after_);
    std::uint64_t ut = 0, st = 0, vhost_ticks = 0;
    int counted = 0, gone = 0;
    for (const auto& x : b) {
      auto it = std::find_if(a.begin(), a.end(), [&](const ProcStat& y) {
        return y.pid == x.pid && y.starttime == x.starttime;
      });
      if (it == a.end()) {
        ++gone;
        continue;
      }
      auto du = it->utime - std::min(it->utime, x.utime),
           ds = it->stime - std::min(it->stime, x.stime);
      ut += du;
      st += ds;
      if (vhost_.count(x.pid)) vhost_ticks += du + ds;
      ++counted;
    }
    if (counted == 0)
      throw Error(fmt::format("process '{}' gone during the window", ctx_.spec.process));
    double user_s = static_cast<double>(ut) / ticks_, system_s = static_cast<double>(st) / ticks_;
    json j{{"processes", counted},
           {"user_s", user_s},
           {"system_s", system_s},
           {"cpu_s", user_s + system_s},
           {"window_s", window_s()}};
    if (window_s() > 0) j["cpu_util_pct"] = 100.0 * (user_s + system_s) / window_s();
    if (gone) j["exited"] = gone;
    if (!vhost_.empty()) {
      j["vhost_threads"] = vhost_.size();
      j["vhost_cpu_s"] = static_cast<double>(vhost_ticks) / ticks_;
    }
    return j;
  }

 private:
  static std::vector<std::string> split_words(const std::string& s) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
      if (c == ' ' || c == '\n' || c == '\t') {
        if (!cur.empty()) out.push_back(cur), cur.clear();
      } else {
        cur += c;
      }
    }
    if (!cur.empty()) out.push_back(cur);
    return out;
  }
  std::string snapshot() {
    std::vector<std::string> argv{"cat", "--"};
    for (long p : pids_) argv.push_back(under_root("/proc/" + std::to_string(p) + "/stat"));
    return run(argv, true).out;  // a vanished PID makes cat fail; the others still count
  }
  double ticks_ = 100;
  std::vector<long> pids_;
  std::set<long> vhost_;
  std::string before_, after_;
};

// ------------------------------------------------------------------ interrupts

class Interrupts final : public Base {
 public:
  using Base::Base;
  void do_start() override { before_ = m().read_file("/proc/interrupts"); }
  json do_stop() override {
    auto after = m().read_file("/proc/interrupts");
    save_raw("txt", before_ + "--- after\n" + after);
    return interrupt_deltas(parse_interrupts(before_), parse_interrupts(after), window_s());
  }

 private:
  std::string before_;
};

// ------------------------------------------------------------------ perf stat (and the dmar PMU)

class PerfStat : public Base {
 public:
  using Base::Base;
  void do_prepare() override {
    auto r = run({"perf", "--version"});
    if (!r.ok())
      throw Unsupported{"perf not found or not working (Debian package linux-perf): " +
                        tail_text(r.err, 200)};
    events_ = choose_events();
    make_work_dir();
  }
  void do_start() override {
    out_path_ = work_file("perf.csv");
    run({"rm", "-f", "--", out_path_}, true);
    Command c{
        {"perf", "stat", "-a", "-x", ";", "-o", out_path_, "-e", join(events_, ",")}, true, "", {}};
    start_bg(c, "perf.log");
  }
  json do_stop() override {
    bool was_running = stop_bg(SIGINT, milliseconds(5000));
    std::string text;
    try {
      text = fetch(out_path_, "csv");
    } catch (const Error&) {
      text.clear();
    }
    if (!was_running || text.find(';') == std::string::npos) {
      auto log = bg_log();
      throw Unsupported{fmt::format("perf stat -e {} did not run: {}", join(events_, ","),
                                    first_line(tail_text(log, 300)))};
    }
    auto j = parse_perf_stat(text, ';');
    if (j["events"].empty()) {
      std::vector<std::string> why;
      for (auto& [k, v] : j["not_counted"].items()) why.push_back(k + " " + v.get<std::string>());
      throw Unsupported{"no event counted here: " + join(why, ", ")};
    }
    if (j.contains("not_counted")) {
      json notes = json::array();
      for (auto& [k, v] : j["not_counted"].items())
        notes.push_back(k + ": " + v.get<std::string>());
      j["notes"] = notes;
      j.erase("not_counted");
    }
    j["window_s"] = window_s();
    return j;
  }

 protected:
  virtual std::vector<std::string> choose_events() {
    if (!ctx_.spec.events.empty()) return ctx_.spec.events;
    return {"cycles",           "instructions",   "cache-misses", "task-clock",
            "context-switches", "cpu-migrations", "page-faults"};
  }
  std::vector<std::string> events_;
  std::string out_path_;
};

class DmarPmu final : public PerfStat {
 public:
  using PerfStat::PerfStat;

 protected:
  std::vector<std::string> choose_events() override {
    auto dir = under_root("/sys/bus/event_source/devices");
    auto r = run(
        {"sh", "-c",
         "cd \"$1\" 2>/dev/null || exit 0; for d in dmar*; do [ -d \"$d/events\" ] || continue; "
         "for e in \"$d\"/events/*; do echo \"$d/${e##*/}\"; done; done",
         "sh", dir});
    std::map<std::string, std::vector<std::string>> units;  // dmarN -> events
    std::string line;
    for (char c : r.out + "\n") {
      if (c != '\n') {
        line += c;
        continue;
      }
      auto slash = line.find('/');
      if (slash != std::string::npos && line.find('.', slash) == std::string::npos)
        units[line.substr(0, slash)].push_back(line.substr(slash + 1));
      line.clear();
    }
    if (units.empty())
      throw Unsupported{"no dmar PMU (/sys/bus/event_source/devices/dmar*/events)"};
    std::vector<std::string> wanted = ctx_.spec.events;
    if (wanted.empty())
      wanted = {"iommu_clocks", "iommu_requests", "iotlb_lookup",
                "iotlb_hit",    "pw_occupancy",   "ats_blocked"};
    std::vector<std::string> out;
    for (const auto& w : wanted) {
      if (w.find('/') != std::string::npos) {
        out.push_back(w);
        continue;
      }
      for (const auto& [unit, evs] : units)
        if (std::find(evs.begin(), evs.end(), w) != evs.end()) out.push_back(unit + "/" + w + "/");
    }
    if (out.empty()) throw Unsupported{"the dmar PMU has none of the events " + join(wanted, ", ")};
    return out;
  }
};

// ------------------------------------------------------------------ kvm exits (debugfs)

class KvmExits final : public Base {
 public:
  using Base::Base;
  void do_prepare() override {
    dir_ = under_root("/sys/kernel/debug/kvm");
    auto r = run({"test", "-d", dir_}, true);
    if (!r.ok())
      throw Unsupported{"no /sys/kernel/debug/kvm (debugfs not mounted, or kvm not loaded)"};
  }
  void do_start() override { before_ = snapshot(); }
  json do_stop() override {
    auto after = snapshot();
    save_raw("txt", before_ + "--- after\n" + after);
    auto b = parse_counter_files(before_), a = parse_counter_files(after);
    if (a.empty()) throw Unsupported{"no readable counters in /sys/kernel/debug/kvm"};
    json counters = json::object();
    for (const auto& [k, v] : counter_deltas(b, a))
      if (v != 0) counters[k] = v;
    json j{{"counters", counters}, {"window_s", window_s()}};
    auto e = counters.find("exits");
    j["exits"] = e == counters.end() ? 0 : e->get<std::int64_t>();
    if (window_s() > 0) j["exits_per_s"] = j["exits"].get<double>() / window_s();
    return j;
  }

 private:
  std::string snapshot() {
    return run({"find", dir_, "-maxdepth", "1", "-type", "f", "-exec", "grep", "-H", ".", "{}",
                "+"},
               true)
        .out;
  }
  std::string dir_, before_;
};

// ------------------------------------------------------------------ bpftrace on IOMMU functions

class BpftraceIommu final : public Base {
 public:
  using Base::Base;
  void do_prepare() override {
    if (!have_program("bpftrace"))
      throw Unsupported{"bpftrace not found (Debian package bpftrace)"};
    auto wanted = ctx_.spec.functions.empty() ? kDefaultIommuFunctions : ctx_.spec.functions;
    std::vector<std::string> kernel, qemu;
    for (const auto& f : wanted) (is_qemu_function(f) ? qemu : kernel).push_back(f);

    BpftraceTargets t;
    if (!kernel.empty()) {
      auto present = kernel_functions(kernel);
      for (const auto& f : kernel) (present.count(f) ? t.kernel : missing_).push_back(f);
    }
    if (!qemu.empty()) {
      try {
        t.qemu_pid = qemu_pid();
        auto exe =
            run({"readlink", under_root("/proc/" + std::to_string(t.qemu_pid) + "/exe")}, true);
        t.qemu_binary = exe.out.substr(0, exe.out.find('\n'));
        if (t.qemu_binary.empty())
          throw Error("cannot read the QEMU binary of pid " + std::to_string(t.qemu_pid));
        auto syms =
            run({"bpftrace", "-l", "uprobe:" + t.qemu_binary + ":*"}, true, milliseconds(60000))
                .out;
        for (const auto& f : qemu) {
          auto sym = qemu_symbol(f);
          bool found = syms.find(":" + sym + "\n") != std::string::npos;
          if (found)
            t.qemu.push_back(sym);
          else
            missing_.push_back("qemu:" + sym);
        }
      } catch (const NotKept&) {
    } catch (const Unsupported& u) {
        for (const auto& f : qemu) missing_.push_back("qemu:" + qemu_symbol(f));
        notes_.push_back(u.why);
      }
    }
    if (t.kernel.empty() && t.qemu.empty())
      throw Unsupported{"none of the functions can be probed here: " + join(missing_, ", ")};
    auto script = bpftrace_script(t);
    auto local = raw_file("bt");
    if (!ctx_.raw_dir.empty()) fs::atomic_write(local, script);
    make_work_dir();
    script_path_ = work_file("bt");
    m().upload(local, script_path_);
  }
  void do_start() override {
    // stdout, not -o FILE: bpftrace 0.17 does not flush -o files until it exits.
    start_bg(Command{{"bpftrace", script_path_}, true, "", {}}, "bpftrace.txt");
    // Probes are attached when BEGIN has printed its line; until then calls would be missed.
    auto deadline = Clock::now() + std::chrono::seconds(60);
    while (Clock::now() < deadline) {
      if (run({"grep", "-q", "iommuvm-bpftrace-start", log_path_}, true).ok()) return;
      if (!m().is_running(bg_)) throw Unsupported{"bpftrace failed: " + bpftrace_error()};
      std::this_thread::sleep_for(milliseconds(100));
    }
    m().stop(bg_, SIGKILL, milliseconds(1000));
    throw Error("bpftrace did not attach its probes within 60 s");
  }
  json do_stop() override {
    bool was_running = stop_bg(SIGINT, milliseconds(15000));
    auto text = fetch(log_path_, "txt");
    if (!was_running && text.find("iommuvm-bpftrace-summary") == std::string::npos)
      throw Error("bpftrace exited during the window: " + bpftrace_error());
    auto j = parse_bpftrace_summary(text);
    j["missing"] = missing_;
    if (!notes_.empty()) j["notes"] = notes_;
    j["window_s"] = window_s();
    return j;
  }

 private:
  // The subset of NAMES the kernel can probe: available_filter_functions when tracefs
  // is there, else /proc/kallsyms (text symbols).
  std::set<std::string> kernel_functions(const std::vector<std::string>& names) {
    std::string alt;
    for (const auto& n : names) alt += (alt.empty() ? "" : "|") + n;
    std::set<std::string> out;
    auto collect = [&](const std::string& text, int field) {
      std::string line;
      for (char c : text + "\n") {
        if (c != '\n') {
          line += c;
          continue;
        }
        std::vector<std::string> f;
        std::string cur;
        for (char d : line + " ") {
          if (d == ' ' || d == '\t') {
            if (!cur.empty()) f.push_back(cur), cur.clear();
          } else {
            cur += d;
          }
        }
        if (static_cast<int>(f.size()) > field) out.insert(f[field]);
        line.clear();
      }
    };
    for (auto tracing : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
      auto r = run({"grep", "-E", "^(" + alt + ")( |$)",
                    under_root(std::string(tracing) + "/available_filter_functions")},
                   true);
      if (r.exit_status == 0 || r.exit_status == 1) {  // 2: no such file
        collect(r.out, 0);
        return out;
      }
    }
    auto r = run({"grep", "-E", "^[0-9a-f]+ [tTwW] (" + alt + ")([[:space:]]|$)",
                  under_root("/proc/kallsyms")},
                 true);
    collect(r.out, 2);
    return out;
  }
  std::string bpftrace_error() {
    auto log = bg_log();
    std::string err;
    for (auto pos = log.find("ERROR"); pos != std::string::npos; pos = log.find("ERROR", pos + 1)) {
      auto nl = log.find('\n', pos);
      err = log.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    }
    if (err.empty()) err = tail_text(log, 300);
    // The attach error is more telling than the generic last line.
    auto attach = log.find("open(");
    if (attach != std::string::npos)
      err = first_line(log.substr(log.rfind('\n', attach) + 1)) + "; " + err;
    return err;
  }
  std::vector<std::string> missing_, notes_;
  std::string script_path_;
};

// ------------------------------------------------------------------ QEMU trace file

class QemuTrace final : public Base {
 public:
  using Base::Base;
  // QEMU's own "%d" in -trace file=... (its PID): the guest's QEMU, found through libvirt.
  void do_prepare() override {
    path_ = ctx_.spec.trace_file;
    if (auto p = path_.find("%d"); p != std::string::npos)
      path_.replace(p, 2, std::to_string(qemu_pid()));
  }
  void do_start() override {
    offset_ = size();
    existed_at_start_ = exists_;
  }
  json do_stop() override {
    long long end = size();
    json notes = json::array();
    if (end < offset_) {
      notes.push_back(
          "trace file shrank during the window (rotated or truncated): counted from its start");
      offset_ = 0;
    }
    auto local = raw_file("log");
    if (!ctx_.raw_dir.empty()) std::filesystem::create_directories(local.parent_path());
    remote::RunOptions o;
    o.stdout_file = local;
    o.timeout = milliseconds(120000);
    auto r = m().run(
        Command{{"sh", "-c", "tail -c +\"$2\" -- \"$1\" | head -c \"$3\"", "sh",
                 path_, std::to_string(offset_ + 1), std::to_string(end - offset_)},
                true,
                "",
                {}},
        o);
    if (!r.ok()) throw Error("cannot read " + path_ + ": " + tail_text(r.err, 200));
    auto j = count_qemu_trace(read_kept(local), ctx_.spec.events);
    j["bytes"] = end - offset_;
    j["trace_file"] = path_;
    j["window_s"] = window_s();
    if (window_s() > 0) j["per_s"] = j["total"].get<double>() / window_s();
    if (!existed_at_start_) notes.push_back("no trace file at the start of the window");
    if (!notes.empty()) j["notes"] = notes;
    return j;
  }

 private:
  long long size() {
    auto r = run({"stat", "-c", "%s", "--", path_}, true);
    if (!r.ok()) {
      exists_ = false;
      return 0;
    }
    exists_ = true;
    return std::stoll(r.out);
  }
  std::string path_;  // trace_file with %d replaced
  long long offset_ = 0;
  bool exists_ = true, existed_at_start_ = true;
};

// ------------------------------------------------------------------ tracepoints (tracefs hist triggers)

// Counts kernel tracepoints in the window without a trace buffer: a hist trigger per event
// aggregates in the kernel; start() attaches them (one command), stop() reads each event's
// hist table and removes the trigger (one command). Nothing is written to the ring buffer.
class Tracepoints final : public Base {
 public:
  using Base::Base;
  static const std::vector<std::string>& default_events() {
    static const std::vector<std::string> e = {"iommu:map", "iommu:unmap", "intel_iommu:qi_submit"};
    return e;
  }
  void do_prepare() override {
    const auto& wanted = ctx_.spec.events.empty() ? default_events() : ctx_.spec.events;
    for (auto dir : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"})
      if (run({"test", "-d", under_root(std::string(dir) + "/events")}, true).ok()) {
        tracing_ = dir;
        break;
      }
    if (tracing_.empty())
      throw Unsupported{"no tracefs at /sys/kernel/tracing or /sys/kernel/debug/tracing "
                        "(mount -t tracefs nodev /sys/kernel/tracing)"};
    // Which events this kernel has: one command listing the trigger files that exist.
    std::vector<std::string> argv{"sh", "-c", kTracefsListScript, "sh"};
    for (const auto& e : wanted) argv.push_back(trigger_file(e));
    auto have = run(argv, true);
    for (const auto& e : wanted) {
      if (have.out.find(trigger_file(e) + "\n") != std::string::npos)
        events_.push_back(e);
      else
        missing_.push_back(e);
    }
    if (events_.empty())
      throw Unsupported{fmt::format("none of the tracepoints {} exist on this kernel", join(wanted, ", "))};
    // A kernel without CONFIG_HIST_TRIGGERS does not list "hist" among its triggers.
    auto avail = run({"cat", "--", trigger_file(events_.front())}, true);
    if (avail.ok() && avail.out.find("hist") == std::string::npos)
      throw Unsupported{"this kernel has no hist triggers (CONFIG_HIST_TRIGGERS)"};
    // A trigger of ours left by a run that died: removed, else adding it again fails (EEXIST).
    run(trigger_argv("echo \"!$1\" > \"$2\" 2>/dev/null", true), true);
  }
  void do_start() override {
    auto r = run(trigger_argv("echo \"$1\" > \"$2\" || exit 1", false), true);
    if (!r.ok()) {
      run(trigger_argv("echo \"!$1\" > \"$2\" 2>/dev/null", true), true);
      throw Unsupported{"cannot attach a hist trigger: " + tail_text(r.err, 200)};
    }
  }
  json do_stop() override {
    // Per event: a marker line, its hist file, then the trigger removed.
    auto r = run(trigger_argv("echo \"iommuvm-hist $2\"; cat \"${2%trigger}hist\"; echo \"!$1\" > \"$2\"", true), true);
    save_raw("txt", r.out);  // NotKept in a dry run: nothing to parse
    std::map<std::string, HistTable> tables;
    for (const auto& e : events_) {
      auto marker = "iommuvm-hist " + trigger_file(e) + "\n";
      auto b = r.out.find(marker);
      if (b == std::string::npos) throw Error(fmt::format("no hist table of {}: {}", e, tail_text(r.err, 200)));
      b += marker.size();
      auto end = r.out.find("iommuvm-hist ", b);
      auto t = parse_hist(std::string_view(r.out).substr(b, end == std::string::npos ? std::string::npos : end - b),
                          hist_trigger(e));
      if (!t.found) throw Error(fmt::format("the hist trigger of {} was gone at the end of the window", e));
      tables[e] = t;
    }
    auto j = tracepoint_counts(tables);
    j["tracefs"] = tracing_;
    if (!missing_.empty()) j["missing"] = missing_;
    j["window_s"] = window_s();
    return j;
  }

 private:
  std::string trigger_file(const std::string& event) const {
    auto colon = event.find(':');
    return under_root(tracing_ + "/events/" + event.substr(0, colon) + "/" + event.substr(colon + 1) + "/trigger");
  }
  // sh -c 'while [ $# -gt 1 ]; do BODY; shift 2; done' sh TRIGGER FILE ...: every file and
  // trigger is an argument, never part of the script.
  std::vector<std::string> trigger_argv(const std::string& body, bool keep_going) const {
    std::vector<std::string> argv{"sh", "-c",
                                  "while [ $# -gt 1 ]; do " + body + "; shift 2; done" + (keep_going ? "; true" : ""),
                                  "sh"};
    for (const auto& e : events_) {
      argv.push_back(hist_trigger(e));
      argv.push_back(trigger_file(e));
    }
    return argv;
  }
  std::string tracing_;
  std::vector<std::string> events_, missing_;
};

// ------------------------------------------------------------------ custom command

class Custom final : public Base {
 public:
  using Base::Base;
  void do_prepare() override { make_work_dir(); }
  void do_start() override { start_bg(Command{ctx_.spec.command, true, "", {}}, "custom.log"); }
  json do_stop() override {
    bool was_running = stop_bg(SIGINT, milliseconds(5000));
    auto text = fetch(log_path_, "log");
    auto j = parse_custom(text, ctx_.spec.metrics);
    if (!was_running) j["notes"] = json::array({"the command exited before the window closed"});
    j["window_s"] = window_s();
    return j;
  }
};

}  // namespace

std::unique_ptr<Collector> make(const Context& ctx) {
  const auto& s = ctx.spec;
  const auto& k = s.kind;
  // The required fields, from the kinds' one description (spec::collector_kinds, checked by validate).
  for (auto f : spec::missing_collector_fields(s))
    throw InputError(fmt::format("collector {} (kind {}) needs '{}'", s.name, k, f));
  if (k == "mpstat") return std::make_unique<Mpstat>(ctx);
  if (k == "pidstat") return std::make_unique<ProcessCpu>(ctx);
  if (k == "interrupts") return std::make_unique<Interrupts>(ctx);
  if (k == "perf-stat") return std::make_unique<PerfStat>(ctx);
  if (k == "dmar-pmu") return std::make_unique<DmarPmu>(ctx);
  if (k == "kvm-exits") return std::make_unique<KvmExits>(ctx);
  if (k == "bpftrace-iommu") {
    for (const auto& f : s.functions) check_function_name(f);
    return std::make_unique<BpftraceIommu>(ctx);
  }
  if (k == "qemu-trace") return std::make_unique<QemuTrace>(ctx);
  if (k == "tracepoints") {
    for (const auto& e : s.events) check_tracepoint_name(e);
    return std::make_unique<Tracepoints>(ctx);
  }
  if (k == "custom") {
    parse_custom("", s.metrics);  // regexes compile and have one group
    return std::make_unique<Custom>(ctx);
  }
  throw InputError(
      fmt::format("collector {}: unknown kind '{}' (mpstat, pidstat, interrupts, perf-stat, "
                  "kvm-exits, bpftrace-iommu, "
                  "qemu-trace, tracepoints, dmar-pmu, custom)",
                  s.name, k));
}

namespace {
void add_per_request(json& j, double requests) {
  if (!j.is_object()) return;
  std::vector<std::pair<std::string, double>> add;
  for (auto& [k, v] : j.items()) {
    if (v.is_object()) {
      add_per_request(v, requests);
    } else if (v.is_number() && k != "window_s" && !k.ends_with("_per_request")) {
      add.emplace_back(k + "_per_request", v.get<double>() / requests);
    }
  }
  for (auto& [k, v] : add) j[k] = v;
}
}  // namespace

json per_request(const json& counts, double requests) {
  json out = counts;
  if (requests > 0) add_per_request(out, requests);
  return out;
}

}  // namespace iommuvm::collect
