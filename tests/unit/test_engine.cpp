// engine::Engine's own rules, on small plans run by the real engine over the simulated
// machines of a dry run (engine/simulated.hpp) with a real campaign folder: resume skips
// the runs already finished, a failing step fails its run with the reason and the next run
// still runs, what a host policy switch and a tuning step journal for undo, and that the
// cleanup undoes it in reverse order. The only fake is ScriptedRemote below: it wraps a
// simulated machine and replays a captured redis-benchmark output for the load generator
// (the simulated one prints no figures), or a failure where a test asks for one.
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "iommuvm/engine/engine.hpp"
#include "iommuvm/engine/simulated.hpp"
#include "iommuvm/plan/plan.hpp"
#include "iommuvm/results/store.hpp"
#include "iommuvm/spec/load.hpp"
#include "iommuvm/spec/matrix.hpp"
#include "iommuvm/spec/step_kinds.hpp"
#include "iommuvm/util/fs.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using nlohmann::json;

namespace {

// A simulated machine whose load generator answers with canned output: every call of
// PROGRAM gets the next answer of the script (the last one again when the script is used up).
class ScriptedRemote : public remote::Remote {
 public:
  struct Answer {
    int exit_status = 0;
    std::string out;  // written to the run's stdout file
  };
  ScriptedRemote(remote::Remote& inner, std::string program, std::vector<Answer> script)
      : inner_(inner), program_(std::move(program)), script_(std::move(script)) {}

  const std::string& name() const override { return inner_.name(); }
  remote::RunResult run(const remote::Command& cmd, const remote::RunOptions& opts = {}) override {
    if (cmd.argv.empty() || cmd.argv.front() != program_) return inner_.run(cmd, opts);
    const Answer& a = script_.at(std::min(calls_, script_.size() - 1));
    ++calls_;
    if (!opts.stdout_file.empty()) fs::atomic_write(opts.stdout_file, a.out);
    if (!opts.stderr_file.empty()) fs::atomic_write(opts.stderr_file, a.exit_status ? "scripted failure\n" : "");
    remote::RunResult r;
    r.exit_status = a.exit_status;
    r.wall = std::chrono::milliseconds(5);
    return r;
  }
  remote::Process start(const remote::Command& cmd, const std::string& log) override { return inner_.start(cmd, log); }
  bool is_running(const remote::Process& p) override { return inner_.is_running(p); }
  bool stop(const remote::Process& p, int signal, std::chrono::milliseconds grace) override {
    return inner_.stop(p, signal, grace);
  }
  void upload(const std::filesystem::path& local, const std::string& path) override { inner_.upload(local, path); }
  void download(const std::string& path, const std::filesystem::path& local) override {
    // The simulated machine keeps no files of the runs: an empty log.
    fs::atomic_write(local, "");
    (void)path;
  }
  void put_text(const std::string& content, const std::string& path, const std::filesystem::path& scratch) override {
    inner_.put_text(content, path, scratch);
  }
  const std::filesystem::path& root() const override { return inner_.root(); }
  void set_keepalive(bool on) override { inner_.set_keepalive(on); }
  std::string read_file(const std::string& abs) override { return inner_.read_file(abs); }
  std::string wait_for_reboot(const std::string& prev, std::chrono::milliseconds t) override {
    return inner_.wait_for_reboot(prev, t);
  }
  std::string wait_until_up(std::chrono::milliseconds t, const std::function<bool()>& give_up) override {
    return inner_.wait_until_up(t, give_up);
  }
  int free_ports(int count) override { return inner_.free_ports(count); }

  std::size_t calls() const { return calls_; }

 private:
  remote::Remote& inner_;
  std::string program_;
  std::vector<Answer> script_;
  std::size_t calls_ = 0;
};

std::string canned_output() { return fs::read_file(test::data_path("workload/redis-benchmark-csv.txt")); }

// Redis on HOST (a machine over SSH, simulated), its generator on CLIENT; EXTRA: more YAML.
std::string spec_text(const std::string& host_extra, const std::string& policy, int repetitions) {
  return "name: engine-unit\n"
         "machines:\n"
         "  host: {ssh: root@h1:22, vendor: intel" + host_extra + "}\n"
         "  client: {ssh: root@c1:22}\n"
         "policy:\n"
         "  host: " + policy + "\n"
         "workloads:\n"
         "  redis:\n"
         "    server: {machine: host, port: 6379}\n"
         "    client: {machine: client, tool: redis-benchmark, requests: 1000, tests: [set, get], primary: get}\n"
         "matrix: {repetitions: " + std::to_string(repetitions) + ", cooldown: 0s}\n";
}

// One campaign: the spec, its plan, its folder and its simulated machines.
struct Campaign {
  spec::Loaded loaded;
  plan::Plan plan;
  test::TempDir out;
  std::ostringstream sim_out;  // what the simulated machines were asked, in order
  engine::SimulatedSite site;

  explicit Campaign(const std::string& text) : loaded(spec::load_text(text, "engine-unit.yaml")) {
    for (const auto& d : loaded.diag.sorted()) ADD_FAILURE() << d.format();
    auto points = spec::expand(loaded, loaded.diag);
    plan = plan::build(loaded.spec, std::move(points));
    site = engine::simulate(loaded.spec, sim_out);
  }
  results::CampaignStore store() { return results::CampaignStore::open(out.path(), loaded.spec, plan.to_json(), {}); }
};

struct Result {
  ExitCode code;
  engine::Engine::Summary summary;
  std::vector<std::string> steps;  // "kind run" of every step the engine executed
  std::string progress;
};

// Runs CAMPAIGN's plan through the engine with the client machine scripted by SCRIPT.
// ON_STEP: called with every step as it begins.
Result run_engine(Campaign& c, results::CampaignStore& store, std::vector<ScriptedRemote::Answer> script,
                  const std::function<void(const plan::Step&)>& on_step = {}) {
  auto machines = c.site.by_name();
  ScriptedRemote client(*machines.at("client"), "redis-benchmark", std::move(script));
  machines["client"] = &client;
  engine::Options opts;
  opts.pause = [](double) {};
  Result res;
  opts.on_step = [&](const plan::Step& s) {
    res.steps.push_back(s.kind + " " + s.run);
    if (on_step) on_step(s);
  };
  std::ostringstream progress;
  engine::Engine e(c.plan, {machines, c.site.hypervisor.get()}, opts, progress, &store);
  res.code = e.run();
  res.summary = e.summary();
  res.progress = progress.str();
  return res;
}

std::vector<std::string> runs_of_kind(const Result& r, const std::string& kind) {
  std::vector<std::string> out;
  for (const auto& s : r.steps)
    if (s.rfind(kind + " ", 0) == 0) out.push_back(s.substr(kind.size() + 1));
  return out;
}

TEST(Engine, RunsMeasureWithTheScriptedGenerator) {
  // The baseline the other tests change one thing of: both runs measure and end ok.
  Campaign c(spec_text("", "as-is", 2));
  auto store = c.store();
  auto r = run_engine(c, store, {{0, canned_output()}});
  EXPECT_EQ(r.code, ExitCode::ok) << r.progress;
  EXPECT_EQ(r.summary.ok, 2) << r.progress;
  ASSERT_EQ(c.plan.runs.size(), 2u);
  auto run = store.read_run(c.plan.runs[0].id);
  EXPECT_EQ(run.value("status", ""), "ok") << run.dump(2);
  EXPECT_GT(run["metrics"].value("throughput_ops", 0.0), 0) << run.dump(2);
}

TEST(Engine, ResumeSkipsTheRunsAlreadyFinished) {
  Campaign c(spec_text("", "as-is", 2));
  ASSERT_EQ(c.plan.runs.size(), 2u);
  const std::string first = c.plan.runs[0].id, second = c.plan.runs[1].id;
  {
    // The first invocation is interrupted as the second run begins (what SIGINT does).
    auto store = c.store();
    auto r = run_engine(c, store, {{0, canned_output()}}, [&](const plan::Step& s) {
      if (s.kind == plan::kind::run_begin && s.run == second) ++engine::g_interrupts;
    });
    engine::g_interrupts = 0;
    ASSERT_EQ(r.code, ExitCode::interrupted) << r.progress;
    ASSERT_EQ(store.read_run(first).value("status", ""), "ok");
    ASSERT_FALSE(store.read_run(second).is_object());
  }
  auto store = c.store();  // the same folder, resumed
  ASSERT_TRUE(store.resumed());
  auto r = run_engine(c, store, {{0, canned_output()}});
  EXPECT_EQ(r.code, ExitCode::ok) << r.progress;
  EXPECT_EQ(r.summary.resumed, 1);
  EXPECT_EQ(r.summary.ok, 1);
  // The finished run is not run again; the other one is, from its beginning.
  EXPECT_THAT(runs_of_kind(r, plan::kind::run_begin), ElementsAre(second));
  EXPECT_THAT(runs_of_kind(r, plan::kind::client_measure), ElementsAre(second));
  EXPECT_THAT(r.progress, HasSubstr("1 of 2 runs already finished"));
  EXPECT_EQ(store.read_run(second).value("status", ""), "ok");
}

TEST(Engine, AFailingStepFailsItsRunWithTheReasonAndTheNextRunStillRuns) {
  Campaign c(spec_text("", "as-is", 2));
  auto store = c.store();
  // Calls: warm-up and measurement of the first run, then of the second. The first run's
  // measurement exits 1 without output.
  auto r = run_engine(c, store, {{0, canned_output()}, {1, ""}, {0, canned_output()}});
  EXPECT_EQ(r.code, ExitCode::run_failed) << r.progress;
  EXPECT_EQ(r.summary.failed, 1);
  EXPECT_EQ(r.summary.ok, 1);
  auto failed = store.read_run(c.plan.runs[0].id);
  EXPECT_EQ(failed.value("status", ""), "failed");
  // The reason names the step (its summary) and what went wrong.
  const plan::Step* measure = nullptr;
  for (const auto& s : c.plan.steps)
    if (s.kind == plan::kind::client_measure && s.run == c.plan.runs[0].id) measure = &s;
  ASSERT_NE(measure, nullptr);
  EXPECT_THAT(failed.value("reason", ""), StartsWith(measure->summary + ": "));
  EXPECT_THAT(failed.value("reason", ""), HasSubstr("redis-benchmark exited with status 1"));
  // The failed run still stopped its server (server.stop runs for a failed run) ...
  EXPECT_THAT(runs_of_kind(r, plan::kind::server_stop), ElementsAre(c.plan.runs[0].id, c.plan.runs[1].id));
  // ... and the next run was measured.
  EXPECT_EQ(store.read_run(c.plan.runs[1].id).value("status", ""), "ok");
  ASSERT_EQ(r.summary.failures.size(), 1u);
  EXPECT_EQ(r.summary.failures[0].first, c.plan.runs[0].id);
}

// The undo journal's entries on MACHINE, in order: their actions.
std::vector<std::string> journaled(const results::CampaignStore& store, const std::string& machine) {
  std::vector<std::string> out;
  for (const auto& e : store.undo_entries())
    if (e.value("action", "") != "undone" && e.value("machine", "") == machine) out.push_back(e.value("action", ""));
  return out;
}

// The actions undone, in the order they were undone (the "undone" entries' ids name them).
std::vector<std::string> undone(const results::CampaignStore& store) {
  std::vector<std::string> out;
  for (const auto& e : store.undo_entries())
    if (e.value("action", "") == "undone") {
      std::string id = e.value("id", "");
      auto a = id.find('|');
      out.push_back(id.substr(a + 1, id.find('|', a + 1) - a - 1));
    }
  return out;
}

TEST(Engine, HostSwitchAndTuningAreJournaledForUndoAndUndoneInReverseOrder) {
  Campaign c(spec_text(", tuning: {interface: eth1, mtu: 9000}", "{policy: strict, method: grub}", 1));
  // The host's interface as every boot of it begins.
  for (auto& m : c.site.models)
    if (m->name == "host") m->boot_sysfs_files["/sys/class/net/eth1/mtu"] = m->files["/sys/class/net/eth1/mtu"] = "1500\n";
  auto store = c.store();
  auto r = run_engine(c, store, {{0, canned_output()}});
  EXPECT_EQ(r.code, ExitCode::ok) << r.progress;
  // The GRUB edit is journaled (the file's backup to put back) before the tuning's old MTU.
  auto actions = journaled(store, "host");
  EXPECT_THAT(actions, ElementsAre("restore_file", "mtu")) << c.sim_out.str();
  json grub, mtu;
  for (const auto& e : store.undo_entries()) {
    if (e.value("action", "") == "restore_file") grub = e;
    if (e.value("action", "") == "mtu") mtu = e;
  }
  EXPECT_EQ(grub.value("path", ""), "/etc/default/grub") << grub.dump();
  EXPECT_FALSE(grub.value("backup", "").empty()) << grub.dump();
  EXPECT_EQ(mtu.value("interface", ""), "eth1") << mtu.dump();
  EXPECT_EQ(mtu.value("value", 0), 1500) << mtu.dump();
  // The campaign's end (cleanup: restore) undid them, the last change first.
  std::vector<std::string> reversed(actions.rbegin(), actions.rend());
  EXPECT_EQ(undone(store), reversed) << r.progress;
}

}  // namespace

namespace {

// A host booted with plain intel_iommu=on (no policy on the command line: the kernel's build
// default, lazy on Debian's kernels, is in effect) asked for POLICY through GRUB.
struct PlainIntelIommuOn {
  Campaign c;
  results::CampaignStore store;
  Result r;
  int boot = 0;
  explicit PlainIntelIommuOn(const std::string& policy, const std::string& cmdline_extra = "")
      : c(spec_text("", "{policy: " + policy + ", method: grub}", 1)), store(c.store()) {
    for (auto& m : c.site.models)
      if (m->name == "host") m->cmdline += " intel_iommu=on" + cmdline_extra;
    r = run_engine(c, store, {{0, canned_output()}});
    for (auto& m : c.site.models)
      if (m->name == "host") boot = m->boot;
  }
};

}  // namespace

TEST(Engine, APolicyTheEvidenceShowsInEffectIsNotSwitchedToEvenWhenTheCommandLineDoesNotNameIt) {
  // The model's group types: lazy (DMA-FQ) when the command line names no policy.
  PlainIntelIommuOn lazy("lazy");
  EXPECT_EQ(lazy.r.code, ExitCode::ok) << lazy.r.progress;
  EXPECT_EQ(lazy.boot, 1) << lazy.c.sim_out.str();  // no reboot
  EXPECT_THAT(journaled(lazy.store, "host"), ElementsAre()) << lazy.c.sim_out.str();  // no GRUB edit
  EXPECT_THAT(lazy.r.progress, HasSubstr("already boots with lazy"));
  EXPECT_EQ(lazy.store.read_run(lazy.c.plan.runs[0].id).value("status", ""), "ok");
  // Another policy is switched to, through GRUB and a reboot.
  PlainIntelIommuOn strict("strict");
  EXPECT_EQ(strict.r.code, ExitCode::ok) << strict.r.progress;
  EXPECT_EQ(strict.boot, 2) << strict.c.sim_out.str();
  EXPECT_THAT(journaled(strict.store, "host"), ElementsAre("restore_file"));
  // A command line that names a policy decides by itself (here strict, asked lazy: switched).
  PlainIntelIommuOn named("lazy", " iommu.strict=1");
  EXPECT_EQ(named.boot, 2) << named.c.sim_out.str();
  EXPECT_THAT(journaled(named.store, "host"), ElementsAre("restore_file"));
}

// Every step kind (spec/step_kinds.hpp) has a handler in the engine, and the planner lays out
// only those kinds: over a plan of every shipped example (host switches, reboots, guests, SR-IOV).
TEST(Engine, EveryStepKindHasAHandlerAndThePlannerEmitsOnlyThose) {
  Campaign c(spec_text("", "as-is", 1));
  auto machines = c.site.by_name();
  std::ostringstream progress;
  engine::Engine e(c.plan, {machines, c.site.hypervisor.get()}, {}, progress, nullptr);
  std::set<std::string> kinds;
  for (const auto& k : spec::step_kind::all) {
    EXPECT_TRUE(kinds.insert(k.name).second) << k.name;
    EXPECT_TRUE(e.handles(k.name)) << k.name;
  }
  EXPECT_FALSE(e.handles("guest.stop"));
  std::set<std::string> emitted;
  int examples = 0;
  for (const auto& f : std::filesystem::directory_iterator(std::filesystem::path(IOMMUVM_SOURCE_DIR) / "configs/examples")) {
    if (f.path().extension() != ".yaml") continue;
    ++examples;
    auto l = spec::load_file(f.path());
    ASSERT_TRUE(l.ok()) << f.path();
    Diagnostics d;
    auto p = plan::build(l.spec, spec::expand(l, d));
    for (const auto& s : p.steps) {
      EXPECT_TRUE(kinds.count(s.kind)) << f.path() << ": step kind " << s.kind;
      emitted.insert(s.kind);
    }
  }
  EXPECT_GE(examples, 6);
  // Between them the examples lay out every kind, so each handler above is one a plan reaches.
  EXPECT_EQ(emitted, kinds);
}
