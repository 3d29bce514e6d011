// Engine steps of a run: start the server, warm up, measure, stop.
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "iommuvm/collect/collector.hpp"
#include "iommuvm/engine/engine.hpp"
#include "iommuvm/util/fs.hpp"
#include "iommuvm/util/net.hpp"
#include "iommuvm/workload/commands.hpp"
#include "iommuvm/workload/parsers.hpp"

namespace iommuvm::engine {

using nlohmann::json;

namespace {

bool is_wildcard(const std::string& a) { return a.empty() || a == "0.0.0.0" || a == "::"; }

std::string ip_of(const std::string& cidr) { return cidr.substr(0, cidr.find('/')); }

std::string tail(const std::string& text, std::size_t n = 2000) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

// Put FILE on machine R: a local temporary copy, uploaded (the same for SSH and local).
void put_file(remote::Remote& r, const workload::File& file, const std::filesystem::path& scratch) {
  auto local = scratch / std::filesystem::path(file.path).filename();
  fs::atomic_write(local, file.content);
  r.upload(local, file.path);
}

}  // namespace

std::string Engine::version_of(const std::string& m, const std::string& program) {
  static const std::map<std::string, std::vector<std::string>> kVersionArgs = {
      {"redis-server", {"--version"}}, {"redis-benchmark", {"--version"}}, {"memcached", {"-V"}},
      {"nginx", {"-v"}},               {"iperf3", {"--version"}},          {"wrk", {"-v"}},
      {"wrk2", {"-v"}},                {"memtier_benchmark", {"--version"}}};
  auto args = kVersionArgs.find(std::filesystem::path(program).filename().string());
  if (args == kVersionArgs.end()) return "";
  std::string key = m + "|" + program;
  if (auto it = versions_.find(key); it != versions_.end()) return it->second;
  std::vector<std::string> argv = {program};
  argv.insert(argv.end(), args->second.begin(), args->second.end());
  auto res = machine(m).run({argv}, {std::chrono::milliseconds(10000)});
  // Some print it on stderr (nginx -v), some exit non-zero after printing it (wrk -v).
  std::string text = !res.out.empty() ? res.out : res.err;
  std::string line = text.substr(0, text.find('\n'));
  versions_[key] = line;
  return line;
}

// Where the run's server and client keep their files on a machine.
static std::string work_dir_for(const std::string& campaign, const std::string& run, const char* role) {
  return fmt::format("/tmp/iommuvm/{}/{}/{}", campaign, run, role);
}

void Engine::on_server_start(const plan::Step& s) {
  const auto& cfg = config(s);
  const auto& w = cfg.workloads.front();
  remote::Remote& r = machine(s.machine);
  const spec::Machine* m = cfg.machine(s.machine);
  bool local = m && m->local;

  workload::ServerContext ctx;
  ctx.address = !w.server.bind.empty() ? w.server.bind : (local ? "127.0.0.1" : "0.0.0.0");
  ctx.port = w.server.port;
  // On the controller itself, a server without a port gets a free one: the machine may
  // already run a Redis or nginx of its own on the default port.
  if (ctx.port == 0 && local && !options_.dry_run) ctx.port = net::free_tcp_port();
  ctx.work_dir = work_dir_for(store_ ? store_->work_id() : "dry-run", run_->id, "server");
  ctx.as_root = local ? ::geteuid() == 0 : (m && m->ssh.user == "root");
  auto sp = workload::server_plan(w, ctx);

  std::vector<std::string> mkdir = {"mkdir", "-p", ctx.work_dir};
  mkdir.insert(mkdir.end(), sp.dirs.begin(), sp.dirs.end());
  auto mk = r.run({mkdir});
  if (!mk.ok()) throw Error(fmt::format("cannot create {} on {}: {}", ctx.work_dir, s.machine, mk.err));
  auto scratch = store_ ? store_->run_dir(run_->id) / "scratch" : std::filesystem::temp_directory_path() / "iommuvm-dry";
  if (!options_.dry_run)
    for (const auto& f : sp.files) put_file(r, f, scratch);
  else
    for (const auto& f : sp.files) progress_ << fmt::format("[{}] write {} ({} bytes)\n", s.machine, f.path, f.content.size());
  if (!options_.dry_run) std::filesystem::remove_all(scratch);

  std::string version = sp.command.argv.empty() ? "" : version_of(s.machine, sp.command.argv.front());
  auto proc = r.start(sp.command, ctx.work_dir + "/server.log");
  run_->processes.emplace_back(s.machine, proc);
  run_->record["server"] = {{"machine", s.machine},
                            {"kind", w.kind},
                            {"address", ctx.address},
                            {"port", sp.port},
                            {"command", sp.command.argv},
                            {"pid", proc.pid},
                            {"log", proc.log_path},
                            {"version", version}};

  // Readiness, checked for real, before any measurement window.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(w.server.ready_timeout_s);
  std::string last;
  for (int attempt = 0; w.server.ready != "none"; ++attempt) {
    auto res = r.run(sp.ready.command, {std::chrono::milliseconds(3000)});
    if (options_.dry_run) break;
    if (res.ok() && res.out.find(sp.ready.expect) != std::string::npos) break;
    last = res.err.empty() ? res.out : res.err;
    if (!r.is_running(proc)) {
      std::string log;
      try {
        log = r.read_file(proc.log_path);
      } catch (const std::exception&) {
      }
      throw Error(fmt::format("{} server exited during start-up; its log:\n{}", w.kind, tail(log)));
    }
    if (std::chrono::steady_clock::now() > deadline || g_interrupts.load())
      throw Error(fmt::format("{} did not become ready within {} s ({}): {}", w.kind, w.server.ready_timeout_s,
                              sp.ready.description, tail(last, 300)));
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(100 * (attempt + 1), 1000)));
  }
}

namespace {

struct ClientRun {
  json metrics;
  double seconds = 0;
};

}  // namespace

static ClientRun run_client(Engine* self, remote::Remote& r, const spec::Spec& cfg, spec::Workload w,
                            const std::string& work_dir, const json& server, const std::filesystem::path& raw_dir,
                            const std::string& label, bool dry_run, std::ostream& progress,
                            const std::function<void(bool)>& window) {
  (void)self;
  workload::ClientContext ctx;
  std::string address = server.value("address", std::string());
  ctx.target = w.client.target;
  if (ctx.target.empty()) {
    if (!is_wildcard(address)) {
      ctx.target = address;
    } else {
      // The server listens everywhere: reach it on its machine's data address.
      const spec::Machine* sm = cfg.machine(server.value("machine", std::string()));
      for (const auto& g : cfg.guests)
        if (sm && g.machine == sm->name && !g.data_ip.empty()) ctx.target = ip_of(g.data_ip);
      if (ctx.target.empty() && sm && !sm->local) ctx.target = sm->ssh.host;
      if (ctx.target.empty()) ctx.target = "127.0.0.1";
    }
  }
  ctx.port = server.value("port", 0);
  ctx.work_dir = work_dir;
  auto cp = workload::client_plan(w, ctx);
  auto mk = r.run({{"mkdir", "-p", work_dir}});
  if (!mk.ok()) throw Error(fmt::format("cannot create {} on {}: {}", work_dir, r.name(), mk.err));
  if (dry_run) {
    for (const auto& f : cp.files) progress << fmt::format("[{}] write {} ({} bytes)\n", r.name(), f.path, f.content.size());
  } else {
    for (const auto& f : cp.files) put_file(r, f, raw_dir.parent_path() / "scratch");
    std::filesystem::remove_all(raw_dir.parent_path() / "scratch");
  }

  double expected = w.client.duration_s > 0 ? w.client.duration_s : 60;
  remote::RunOptions opts;
  opts.timeout = std::chrono::milliseconds(static_cast<long long>((expected * 3 + 60) * 1000));
  std::string tool = std::filesystem::path(cp.command.argv.front()).filename().string();
  if (!dry_run) {
    std::filesystem::create_directories(raw_dir);
    opts.stdout_file = raw_dir / fmt::format("{}-{}.out", label, tool);
    opts.stderr_file = raw_dir / fmt::format("{}-{}.err", label, tool);
  }
  window(true);
  auto res = r.run(cp.command, opts);
  window(false);
  ClientRun out;
  out.seconds = static_cast<double>(res.wall.count()) / 1000.0;
  if (dry_run) return out;
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
  workload::ParseOptions po;
  po.primary = w.client.primary;
  po.custom = w.client.metrics;
  auto metrics = workload::parse_output(cp.parser, text, po);
  if (workload::too_many_errors(metrics, w.client.max_error_ratio))
    throw Error(fmt::format("{} reported {} errors, above {}% of requests", tool, metrics.errors.value_or(0),
                            w.client.max_error_ratio * 100));
  out.metrics = workload::to_json(metrics);
  out.metrics["exit_status"] = res.exit_status;
  return out;
}

void Engine::on_client_warmup(const plan::Step& s) {
  const auto& cfg = config(s);
  auto w = cfg.workloads.front();
  // The warm-up runs the same generator for the warm-up time (request-count tools: a tenth of the requests).
  if (w.client.duration_s > 0 || w.client.requests == 0) w.client.duration_s = w.client.warmup_s;
  else w.client.requests = std::max(1000, w.client.requests / 10);
  auto work = work_dir_for(store_ ? store_->work_id() : "dry-run", run_->id, "client");
  auto res = run_client(this, machine(s.machine), cfg, w, work, run_->record["server"], run_->raw_dir, "warmup",
                        options_.dry_run, progress_, [](bool) {});
  run_->record["warmup"] = res.metrics;
  run_->active_seconds += res.seconds;
}

void Engine::on_client_measure(const plan::Step& s) {
  const auto& cfg = config(s);
  const auto& w = cfg.workloads.front();
  auto work = work_dir_for(store_ ? store_->work_id() : "dry-run", run_->id, "client");
  static const std::map<std::string, std::string> kProgram = {{"redis-benchmark", "redis-benchmark"}, {"memtier", "memtier_benchmark"},
                                                              {"wrk", "wrk"}, {"wrk2", "wrk2"}, {"iperf3", "iperf3"}};
  auto prog = kProgram.find(w.client.tool);
  std::string client_version = prog == kProgram.end() ? "" : version_of(s.machine, prog->second);
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
    collect::Context cc{machine(where), cfg, cs, work_dir_for(store_ ? store_->work_id() : "dry-run", run_->id, "collect"),
                        run_->raw_dir, backends_.hypervisor, cfg.guests.empty() ? "" : cfg.guests.front().domain,
                        options_.dry_run};
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
  auto res = run_client(this, machine(s.machine), cfg, w, work, run_->record["server"], run_->raw_dir, "measure",
                        options_.dry_run, progress_, window_with_collectors);
  run_->record["metrics"] = res.metrics;
  // Per-request figures: invalidations, exits, cycles per request.
  if (res.metrics.contains("requests") && run_->record.contains("collectors"))
    for (auto& [name, m] : run_->record["collectors"].items())
      if (m.is_object() && !m.contains("unsupported") && res.metrics["requests"].get<double>() > 0)
        m["per_request"] = collect::per_request(m, res.metrics["requests"].get<double>());
  run_->record["client"] = {{"machine", s.machine}, {"tool", w.client.tool}, {"version", client_version}};
  run_->active_seconds += res.seconds;
  // A server that died during the window makes the run fail, with its log.
  for (const auto& [m, p] : run_->processes) {
    if (options_.dry_run) break;
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
}

void Engine::on_server_stop(const plan::Step& s) {
  if (!run_) return;
  for (auto it = run_->processes.begin(); it != run_->processes.end();) {
    if (it->first != s.machine) {
      ++it;
      continue;
    }
    remote::Remote& r = machine(it->first);
    bool gone = r.stop(it->second, SIGTERM, std::chrono::milliseconds(5000));
    if (!options_.dry_run && !run_->raw_dir.empty()) {
      try {
        std::filesystem::create_directories(run_->raw_dir);
        r.download(it->second.log_path, run_->raw_dir / "server.log");
        run_->record["raw"].push_back("server.log");
      } catch (const std::exception& e) {
        spdlog::debug("no server log from {}: {}", s.machine, e.what());
      }
    }
    if (!gone) fail_run(fmt::format("the server (pid {}) on {} did not stop", it->second.pid, it->first));
    it = run_->processes.erase(it);
  }
  if (!options_.dry_run && !run_->raw_dir.empty() && std::filesystem::exists(run_->raw_dir))
    for (const auto& e : std::filesystem::directory_iterator(run_->raw_dir)) {
      std::string f = e.path().filename().string();
      bool listed = false;
      for (const auto& x : run_->record["raw"]) listed = listed || x == f;
      if (!listed) run_->record["raw"].push_back(f);
    }
}

}  // namespace iommuvm::engine
