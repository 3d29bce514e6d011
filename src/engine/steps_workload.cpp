// Engine steps of a run: start the server, warm up, measure, stop.
#include <unistd.h>

#include <csignal>
#include <ctime>
#include <fstream>
#include <latch>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "iommuvm/collect/collector.hpp"
#include "iommuvm/engine/engine.hpp"
#include "iommuvm/util/fs.hpp"
#include "iommuvm/util/net.hpp"
#include "iommuvm/util/shell.hpp"
#include "iommuvm/workload/combine.hpp"
#include "iommuvm/workload/commands.hpp"
#include "iommuvm/workload/generators.hpp"
#include "iommuvm/workload/parsers.hpp"
#include "machine_files.hpp"
#include "step_context.hpp"

namespace iommuvm::engine {

using nlohmann::json;

namespace {

bool is_wildcard(const std::string& a) { return a.empty() || a == "0.0.0.0" || a == "::"; }

std::string ip_of(const std::string& cidr) { return cidr.substr(0, cidr.find('/')); }

std::string tail(const std::string& text, std::size_t n = 2000) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

}  // namespace

std::string Engine::work_dir(const std::string& m, const std::string& role, std::chrono::milliseconds timeout) {
  auto it = work_roots_.find(m);
  if (it == work_roots_.end()) {
    std::string prefix = "iommuvm-" + (store_ ? store_->work_id() : std::string("dry-run"));
    // As the login user: the servers and generators that run as that user write there too.
    auto res = machine(m).run({{"sh", "-c", scripts::kMakeWorkDir, "sh", prefix}}, {timeout});
    std::string dir = res.out.substr(0, res.out.find('\n'));
    if (!res.ok() || dir.empty() || dir.front() != '/')
      throw Error(fmt::format("cannot make a private work folder on {} (mktemp -d): {}", m, res.err.empty() ? res.out : res.err));
    it = work_roots_.emplace(m, dir).first;
  }
  return fmt::format("{}/{}/{}", it->second, run_ ? run_->id : std::string("campaign"), role);
}

void Engine::on_server_start(const plan::Step& s, const StepContext& ctx) {
  const auto& cfg = config(s);
  const auto& w = cfg.workloads.front();
  remote::Remote& r = ctx.machine(s.machine);
  const spec::Machine* m = cfg.machine(s.machine);
  bool local = m && m->local;
  const int instances = workload::supports_instances(w.kind) ? std::max(1, w.server.instances) : 1;

  workload::ServerContext base;
  base.address = !w.server.bind.empty() ? w.server.bind : (local ? "127.0.0.1" : "0.0.0.0");
  base.port = w.server.port;
  // On the controller itself, a server without a port gets free ones: the machine may
  // already run a Redis or nginx of its own on the default port.
  if (base.port == 0 && local) base.port = r.free_ports(instances);
  if (base.port == 0 && instances > 1) base.port = workload::default_port(w.kind);
  const std::string work = ctx.work_dir(s.machine, "server");
  base.as_root = local ? ::geteuid() == 0 : (m && m->ssh.user == "root");

  struct Started {
    workload::ServerPlan plan;
    remote::Process proc;
  };
  std::vector<Started> started;
  json list = json::array();
  for (int i = 0; i < instances; ++i) {
    workload::ServerContext sc = base;
    if (instances > 1) sc.port = workload::instance_port(base.port, i);
    sc.work_dir = instances > 1 ? fmt::format("{}/{}", work, i) : work;
    sc.cpu = workload::instance_cpu(w.server.cpus, i);
    auto sp = workload::server_plan(w, sc);

    std::vector<std::string> mkdir = {"mkdir", "-p", sc.work_dir};
    mkdir.insert(mkdir.end(), sp.dirs.begin(), sp.dirs.end());
    auto mk = r.run({mkdir});
    if (!mk.ok()) throw Error(fmt::format("cannot create {} on {}: {}", sc.work_dir, s.machine, mk.err));
    // The local copies go into the campaign folder's scratch/ (a dry run has none: its
    // simulated machines take the content without a local copy).
    auto scratch = store_ ? store_->run_dir(run_->id) / "scratch" : std::filesystem::path();
    for (const auto& f : sp.files) r.put_text(f.content, f.path, scratch);
    if (!scratch.empty()) std::filesystem::remove_all(scratch);

    // The program is what follows `taskset -c N` when the instance is pinned.
    std::string program = sp.command.argv.empty() ? "" : sp.command.argv[sc.cpu >= 0 ? 3 : 0];
    std::string version = program.empty() ? "" : ctx.version_of(s.machine, program);
    auto proc = r.start(sp.command, sc.work_dir + "/server.log");
    run_->processes.emplace_back(s.machine, proc);
    json rec = {{"machine", s.machine}, {"kind", w.kind},   {"address", sc.address}, {"port", sp.port},
                {"command", sp.command.argv}, {"pid", proc.pid}, {"log", proc.log_path}, {"version", version}};
    if (sc.cpu >= 0) rec["cpu"] = sc.cpu;
    if (i == 0) run_->record["server"] = rec;
    list.push_back(rec);
    started.push_back({std::move(sp), proc});
  }
  if (instances > 1) run_->record["server"]["instances"] = list;

  // Readiness of every instance, checked for real, before any measurement window.
  auto deadline = ctx.deadline_in(w.server.ready_timeout_s);
  for (const auto& [sp, proc] : started) {
    std::string last;
    for (int attempt = 0; w.server.ready != "none"; ++attempt) {
      auto res = r.run(sp.ready.command, {ctx.cap(std::chrono::milliseconds(3000))});
      if (res.ok() && res.out.find(sp.ready.expect) != std::string::npos) break;
      last = res.err.empty() ? res.out : res.err;
      if (!r.is_running(proc)) {
        std::string log;
        try {
          log = r.read_file(proc.log_path);
        } catch (const std::exception&) {
        }
        throw Error(fmt::format("{} server (port {}) exited during start-up; its log:\n{}", w.kind, sp.port, tail(log)));
      }
      if (std::chrono::steady_clock::now() > deadline || g_interrupts.load())
        throw Error(fmt::format("{} did not become ready within {} s ({}): {}", w.kind, w.server.ready_timeout_s,
                                sp.ready.description, tail(last, 300)));
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(100 * (attempt + 1), 1000)));
    }
  }
  // The VF's counters before any traffic of the run (outside the measurement window).
  data_path_read(s, true);
}

namespace {

struct ClientRun {
  json metrics;
  double seconds = 0;
  json clients;  // several generator processes: one record each (null for a single one)
};

// One load-generator process of a run: on MACHINE, driving server instance INSTANCE.
struct Slot {
  std::string machine;
  int index = 0;
  int instance = 0;
  int port = 0;
};

// Every generator process: client.processes on each client machine (default: enough
// for one per server instance), process k drives instance k % instances.
std::vector<Slot> client_slots(const spec::Workload& w, const std::string& first_machine, const json& server) {
  std::vector<std::string> machines = w.client.machines.empty() ? std::vector<std::string>{first_machine} : w.client.machines;
  const int instances = server.contains("instances") ? static_cast<int>(server["instances"].size()) : 1;
  const int per = w.client.processes > 0 ? w.client.processes
                                         : (instances + static_cast<int>(machines.size()) - 1) / static_cast<int>(machines.size());
  std::vector<Slot> out;
  for (const auto& m : machines)
    for (int p = 0; p < per; ++p) {
      Slot s{m, static_cast<int>(out.size()), static_cast<int>(out.size()) % instances, 0};
      s.port = instances > 1 ? server["instances"][static_cast<std::size_t>(s.instance)].value("port", 0)
                             : server.value("port", 0);
      out.push_back(s);
    }
  return out;
}

// The address a client uses to reach the server.
std::string client_target(const spec::Spec& cfg, const spec::Workload& w, const json& server) {
  if (!w.client.target.empty()) return w.client.target;
  std::string address = server.value("address", std::string());
  if (!is_wildcard(address)) return address;
  // The server listens everywhere: reach it on its machine's data address.
  std::string target;
  const spec::Machine* sm = cfg.machine(server.value("machine", std::string()));
  for (const auto& g : cfg.guests)
    if (sm && g.machine == sm->name && !g.data_ip.empty()) target = ip_of(g.data_ip);
  if (target.empty() && sm && !sm->local) target = sm->ssh.host;
  return target.empty() ? "127.0.0.1" : target;
}

workload::Metrics parse_checked(const spec::Workload& w, const workload::ClientPlan& cp, const std::string& text,
                                const std::string& tool) {
  workload::ParseOptions po;
  po.primary = w.client.primary;
  po.custom = w.client.metrics;
  po.requests_per_test = cp.requests_per_test;
  auto metrics = workload::parse_output(cp.parser, text, po);
  if (workload::too_many_errors(metrics, w.client.max_error_ratio))
    throw Error(fmt::format("{} reported {} errors, above {}% of requests", tool, metrics.errors.value_or(0),
                            w.client.max_error_ratio * 100));
  return metrics;
}

// "1732550400123456789" (date +%s%N) -> ISO 8601 UTC with milliseconds.
// The generator's files on R, their local copies in the run's scratch/ (next to RAW_DIR;
// a dry run has neither, and its simulated machines need no local copy).
void put_files(remote::Remote& r, const std::vector<workload::File>& files, const std::filesystem::path& raw_dir) {
  auto scratch = raw_dir.empty() ? std::filesystem::path() : raw_dir.parent_path() / "scratch";
  for (const auto& f : files) r.put_text(f.content, f.path, scratch);
  if (!scratch.empty()) std::filesystem::remove_all(scratch);
}

std::string iso_from_ns(long long ns) {
  std::time_t secs = static_cast<std::time_t>(ns / 1000000000LL);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, (ns / 1000000LL) % 1000);
}

// One generator process on MACHINE for one window (LABEL: warmup, measure).
ClientRun run_client(const StepContext& ctx, const std::string& machine, const spec::Spec& cfg, const spec::Workload& w,
                     const json& server, const std::string& label, const std::function<void(bool)>& window,
                     const std::string& program) {
  remote::Remote& r = ctx.machine(machine);
  const std::string work_dir = ctx.work_dir(machine, "client");
  const std::filesystem::path& raw_dir = ctx.raw_dir;
  workload::ClientContext cc;
  cc.target = client_target(cfg, w, server);
  cc.port = server.value("port", 0);
  cc.work_dir = work_dir;
  cc.program = program;
  auto cp = workload::client_plan(w, cc);
  auto mk = r.run({{"mkdir", "-p", work_dir}});
  if (!mk.ok()) throw Error(fmt::format("cannot create {} on {}: {}", work_dir, r.name(), mk.err));
  put_files(r, cp.files, raw_dir);

  double expected = w.client.duration_s > 0 ? w.client.duration_s : 60;
  remote::RunOptions opts;
  opts.timeout = ctx.cap(std::chrono::milliseconds(static_cast<long long>((expected * 3 + 60) * 1000)));
  std::string tool = std::filesystem::path(cp.command.argv.front()).filename().string();
  if (!raw_dir.empty()) {  // the run's raw/ folder: none in a dry run
    std::filesystem::create_directories(raw_dir);
    opts.stdout_file = raw_dir / fmt::format("{}-{}.out", label, tool);
    opts.stderr_file = raw_dir / fmt::format("{}-{}.err", label, tool);
  }
  window(true);
  auto res = r.run(cp.command, opts);
  window(false);
  ClientRun out;
  out.seconds = static_cast<double>(res.wall.count()) / 1000.0;
  // No raw/ folder (a dry run, whose simulated generators print no figures): nothing was
  // kept, nothing is parsed.
  if (raw_dir.empty()) return out;
  if (res.timed_out) throw Error(fmt::format("{} did not finish within {} s", tool, opts.timeout.count() / 1000));
  std::string text = fs::read_file(opts.stdout_file);
  if (!cp.output_file.empty()) {
    auto local = raw_dir / fmt::format("{}-{}", label, std::filesystem::path(cp.output_file).filename().string());
    r.download(cp.output_file, local);
    text = fs::read_file(local);
  }
  if (res.exit_status != 0 && text.empty())
    throw Error(fmt::format("{} exited with status {}: {}", tool, res.exit_status,
                            tail(std::filesystem::exists(opts.stderr_file) ? fs::read_file(opts.stderr_file) : "", 500)));
  out.metrics = workload::to_json(parse_checked(w, cp, text, tool));
  out.metrics["exit_status"] = res.exit_status;
  return out;
}

// Several generator processes (client.machines, client.processes, server.instances):
// per machine one shell that starts that machine's processes back to back in the
// background, each recording its start time (the machine's clock, date +%s%N), and
// waits for them; the machines' shells are released together from one barrier. The
// outputs are fetched after the window and combined (workload::combine).
ClientRun run_clients(const StepContext& ctx, const spec::Spec& cfg, const spec::Workload& w, const std::vector<Slot>& slots,
                      const json& server, const std::string& label, const std::function<void(bool)>& window,
                      const std::map<std::string, std::string>& programs) {
  const std::filesystem::path& raw_dir = ctx.raw_dir;
  const std::string target = client_target(cfg, w, server);
  struct Prepared {
    Slot slot;
    workload::ClientPlan plan;
    std::string dir;
    std::string tool;
  };
  std::vector<Prepared> prepared;
  std::map<std::string, std::string> scripts;  // machine -> shell script
  std::vector<std::string> order;              // machines, in slot order
  for (const auto& slot : slots) {
    remote::Remote& r = ctx.machine(slot.machine);
    workload::ClientContext cc;
    cc.target = target;
    cc.port = slot.port;
    cc.work_dir = fmt::format("{}/{}", ctx.work_dir(slot.machine, "client"), slot.index);
    if (auto it = programs.find(slot.machine); it != programs.end()) cc.program = it->second;
    auto cp = workload::client_plan(w, cc);
    auto mk = r.run({{"mkdir", "-p", cc.work_dir}});
    if (!mk.ok()) throw Error(fmt::format("cannot create {} on {}: {}", cc.work_dir, r.name(), mk.err));
    put_files(r, cp.files, raw_dir);
    const std::string d = shell::quote(cc.work_dir);
    if (!scripts.count(slot.machine)) order.push_back(slot.machine);
    scripts[slot.machine] += fmt::format("(cd {d} && date +%s%N > {d}/start && {cmd} > {d}/out 2> {d}/err; echo $? > {d}/rc) &\n",
                                         fmt::arg("d", d), fmt::arg("cmd", shell::join(cp.command.argv)));
    prepared.push_back({slot, cp, cc.work_dir, std::filesystem::path(cp.command.argv.front()).filename().string()});
  }
  for (auto& [m, script] : scripts) {
    script += "wait\n";
    for (const auto& p : prepared)
      if (p.slot.machine == m)
        script += fmt::format("echo \"{} $(cat {d}/start) $(cat {d}/rc)\"\n", p.slot.index, fmt::arg("d", shell::quote(p.dir)));
  }

  double expected = w.client.duration_s > 0 ? w.client.duration_s : 60;
  remote::RunOptions opts;
  // The step's deadline (timeouts.client.measure) ends every machine's wait, not only the first.
  opts.timeout = ctx.cap(std::chrono::milliseconds(static_cast<long long>((expected * 3 + 60) * 1000)));
  struct Outcome {
    remote::RunResult res;
    std::chrono::system_clock::time_point dispatched;
    std::string error;
  };
  std::map<std::string, Outcome> outcomes;
  for (const auto& m : order) outcomes[m];
  window(true);
  // No raw/ folder (a dry run): the machines' shells one after the other (printed in order;
  // the simulated machines are not meant for several threads), and no figures to fetch.
  if (raw_dir.empty()) {
    for (const auto& m : order) ctx.machine(m).run({{"sh", "-c", scripts.at(m)}}, opts);
    window(false);
    return {};
  }
  {
    std::latch go(static_cast<std::ptrdiff_t>(order.size()));
    std::vector<std::thread> threads;
    for (const auto& m : order)
      threads.emplace_back([&, m] {
        Outcome& o = outcomes.at(m);
        go.arrive_and_wait();
        o.dispatched = std::chrono::system_clock::now();
        try {
          o.res = ctx.machine(m).run({{"sh", "-c", scripts.at(m)}}, opts);
        } catch (const std::exception& e) {
          o.error = e.what();
        }
      });
    for (auto& t : threads) t.join();
  }
  window(false);

  ClientRun out;
  for (const auto& [m, o] : outcomes) out.seconds = std::max(out.seconds, static_cast<double>(o.res.wall.count()) / 1000.0);
  for (const auto& [m, o] : outcomes) {
    if (!o.error.empty()) throw Error(fmt::format("load generators on {}: {}", m, o.error));
    if (o.res.timed_out)
      throw Error(fmt::format("load generators on {} did not finish within {} s", m, opts.timeout.count() / 1000));
  }
  // "INDEX START_NS RC" per process, from each machine's shell.
  std::map<int, std::pair<long long, int>> started;
  for (const auto& [m, o] : outcomes) {
    std::istringstream in(o.res.out);
    int index = -1;
    long long ns = 0;
    int rc = -1;
    while (in >> index >> ns >> rc) started[index] = {ns, rc};
  }
  long long first = 0;
  for (const auto& [i, v] : started)
    if (first == 0 || v.first < first) first = v.first;

  std::filesystem::create_directories(raw_dir);
  std::vector<workload::Metrics> parts;
  out.clients = json::array();
  long long spread = 0;
  for (const auto& p : prepared) {
    remote::Remote& r = ctx.machine(p.slot.machine);
    const std::string base = fmt::format("{}-{}-{}", label, p.slot.index, p.tool);
    auto local_out = raw_dir / (base + ".out");
    r.download(p.dir + "/out", local_out);
    try {
      r.download(p.dir + "/err", raw_dir / (base + ".err"));
    } catch (const std::exception&) {
    }
    std::string text = fs::read_file(local_out);
    if (!p.plan.output_file.empty()) {
      auto local = raw_dir / fmt::format("{}-{}-{}", label, p.slot.index,
                                         std::filesystem::path(p.plan.output_file).filename().string());
      r.download(p.plan.output_file, local);
      text = fs::read_file(local);
    }
    auto st = started.find(p.slot.index);
    int rc = st == started.end() ? -1 : st->second.second;
    if (rc != 0 && text.empty()) {
      auto err = raw_dir / (base + ".err");
      throw Error(fmt::format("{} (process {} on {}) exited with status {}: {}", p.tool, p.slot.index, p.slot.machine, rc,
                              tail(std::filesystem::exists(err) ? fs::read_file(err) : "", 500)));
    }
    auto metrics = parse_checked(w, p.plan, text, p.tool);
    json rec = {{"index", p.slot.index},     {"machine", p.slot.machine}, {"instance", p.slot.instance},
                {"port", p.slot.port},       {"tool", p.tool},            {"command", p.plan.command.argv},
                {"exit_status", rc},         {"metrics", workload::to_json(metrics)}};
    if (st != started.end()) {
      rec["started_at"] = iso_from_ns(st->second.first);
      rec["start_offset_ms"] = static_cast<double>(st->second.first - first) / 1e6;
      spread = std::max(spread, st->second.first - first);
    }
    rec["dispatched_at"] = [&] {
      auto t = outcomes.at(p.slot.machine).dispatched;
      return iso_from_ns(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
    }();
    out.clients.push_back(rec);
    parts.push_back(std::move(metrics));
  }
  auto combined = workload::combine(parts);
  out.metrics = workload::to_json(combined);
  out.metrics["combined_from"] = parts.size();
  out.metrics["exit_status"] = 0;
  for (const auto& c : out.clients)
    if (c["exit_status"] != 0) out.metrics["exit_status"] = c["exit_status"];
  out.clients = json{{"processes", out.clients}, {"start_spread_ms", static_cast<double>(spread) / 1e6}};
  return out;
}

// Runs the workload's generator(s) for one window: the single-process path, or run_clients.
ClientRun drive(const StepContext& ctx, const spec::Spec& cfg, const spec::Workload& w, const std::string& first_machine,
                const json& server, const std::string& label, const std::function<void(bool)>& window,
                const std::map<std::string, std::string>& programs) {
  auto slots = client_slots(w, first_machine, server);
  if (slots.size() == 1) {
    auto it = programs.find(first_machine);
    return run_client(ctx, first_machine, cfg, w, server, label, window, it == programs.end() ? "" : it->second);
  }
  return run_clients(ctx, cfg, w, slots, server, label, window, programs);
}

}  // namespace

void Engine::on_client_warmup(const plan::Step& s, const StepContext& ctx) {
  const auto& cfg = config(s);
  auto w = cfg.workloads.front();
  // The warm-up runs the same generator for the warm-up time (request-count tools: a tenth of the requests).
  if (w.client.duration_s > 0 || w.client.requests == 0) w.client.duration_s = w.client.warmup_s;
  else w.client.requests = std::max(1000, w.client.requests / 10);
  auto res = drive(ctx, cfg, w, s.machine, run_->record["server"], "warmup", [](bool) {}, ctx.client_programs(w, s.machine));
  run_->record["warmup"] = res.metrics;
  run_->active_seconds += res.seconds;
}

void Engine::on_client_measure(const plan::Step& s, const StepContext& ctx) {
  const auto& cfg = config(s);
  const auto& w = cfg.workloads.front();
  auto programs = ctx.client_programs(w, s.machine);
  const auto* generator = workload::find_generator(w.client.tool);
  std::string program = generator ? generator->program() : "";
  if (auto it = programs.find(s.machine); it != programs.end()) program = it->second;
  std::string client_version = program.empty() ? "" : ctx.version_of(s.machine, program);
  // The measurement window: no keep-alives, no polling of any machine.
  auto window = [&](bool open) {
    for (auto& [name, r] : backends_.machines)
      if (r) r->set_keepalive(!open);
    if (open) run_->record["window_started_at"] = results::now_iso8601();
    else run_->record["window_ended_at"] = results::now_iso8601();
  };
  // Collectors: prepared before, started right before the window, stopped right after.
  std::vector<std::pair<std::string, std::unique_ptr<collect::Collector>>> collectors;
  for (const auto& cs : cfg.collectors) {
    std::string where = !cs.machine.empty() ? cs.machine : plan::server_machine(cfg, w);
    if (const auto* h = cfg.first_with_role(spec::Role::host); cs.machine.empty() && h) where = h->name;
    collect::Context cc{machine(where), cfg, cs, ctx.work_dir(where, "collect"),
                        run_->raw_dir, backends_.hypervisor, cfg.guests.empty() ? "" : cfg.guests.front().domain,
                        options_.dry_run};  // only to hide what a dry run's collectors "measured" (collectors.cpp)
    try {
      auto c = collect::make(cc);
      machine(where).run({{"mkdir", "-p", cc.work_dir}});
      c->prepare();
      collectors.emplace_back(cs.name, std::move(c));
    } catch (const Error& e) {
      run_->record["collectors"][cs.name] = {{"unsupported", e.what()}};
    }
  }
  auto window_with_collectors = [&](bool open) {
    if (open)
      for (auto& [name, c] : collectors) c->start();
    window(open);
    if (!open)
      for (auto& [name, c] : collectors) {
        try {
          run_->record["collectors"][name] = c->stop();
        } catch (const Error& e) {
          run_->record["collectors"][name] = {{"error", e.what()}};
        }
      }
  };
  auto res = drive(ctx, cfg, w, s.machine, run_->record["server"], "measure", window_with_collectors, programs);
  run_->record["metrics"] = res.metrics;
  // Per-request figures: invalidations, exits, cycles per request.
  if (res.metrics.contains("requests") && run_->record.contains("collectors"))
    for (auto& [name, m] : run_->record["collectors"].items())
      if (m.is_object() && !m.contains("unsupported") && res.metrics["requests"].get<double>() > 0)
        m["per_request"] = collect::per_request(m, res.metrics["requests"].get<double>());
  run_->record["client"] = {{"machine", s.machine}, {"tool", w.client.tool}, {"version", client_version}};
  if (!w.client.machines.empty()) run_->record["client"]["machines"] = w.client.machines;
  if (!res.clients.is_null()) {
    run_->record["client"]["processes"] = res.clients["processes"];
    run_->record["client"]["start_spread_ms"] = res.clients["start_spread_ms"];
  }
  run_->active_seconds += res.seconds;
  // A server that died during the window makes the run fail, with its log.
  for (const auto& [m, p] : run_->processes) {
    remote::Remote& r = machine(m);
    if (!r.is_running(p)) {
      std::string log;
      try {
        log = r.read_file(p.log_path);
      } catch (const std::exception&) {
      }
      throw Error(fmt::format("the server (pid {} on {}) died during the measurement; its log:\n{}", p.pid, m, tail(log)));
    }
  }
  // The window is closed: read the VF's counters again and check the traffic crossed it.
  data_path_read(s, false);
}

void Engine::on_server_stop(const plan::Step& s, const StepContext& ctx) {
  if (!run_) return;
  std::size_t on_machine = 0, k = 0;
  for (const auto& [m, p] : run_->processes) on_machine += m == s.machine;
  for (auto it = run_->processes.begin(); it != run_->processes.end();) {
    if (it->first != s.machine) {
      ++it;
      continue;
    }
    remote::Remote& r = machine(it->first);
    // SIGTERM, then SIGKILL after 5 s or what is left of the step deadline.
    bool gone = r.stop(it->second, SIGTERM, ctx.cap(std::chrono::milliseconds(5000)));
    if (!run_->raw_dir.empty()) {
      try {
        std::filesystem::create_directories(run_->raw_dir);
        // Several instances: server-0.log, server-1.log, ... in start order.
        std::string name = on_machine > 1 ? fmt::format("server-{}.log", k) : "server.log";
        r.download(it->second.log_path, run_->raw_dir / name);
        run_->record["raw"].push_back(name);
      } catch (const std::exception& e) {
        spdlog::debug("no server log from {}: {}", s.machine, e.what());
      }
    }
    if (!gone) fail_run(fmt::format("the server (pid {}) on {} did not stop", it->second.pid, it->first));
    it = run_->processes.erase(it);
    ++k;
  }
  if (!run_->raw_dir.empty() && std::filesystem::exists(run_->raw_dir))
    for (const auto& e : std::filesystem::directory_iterator(run_->raw_dir)) {
      std::string f = e.path().filename().string();
      bool listed = false;
      for (const auto& x : run_->record["raw"]) listed = listed || x == f;
      if (!listed) run_->record["raw"].push_back(f);
    }
}

}  // namespace iommuvm::engine
