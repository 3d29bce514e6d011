// Per-step timeouts from the spec, through the real binary.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

#include <nlohmann/json.hpp>

#include "iommuvm/util/fs.hpp"
#include "iommuvm/util/text.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using nlohmann::json;
namespace stdfs = std::filesystem;

// A server that never becomes ready fails its run with reason "timeout" after the spec's
// 2 s (not its 60 s ready_timeout); the next run is measured.
TEST(Timeouts, AServerThatNeverBecomesReadyTimesOut) {
  test::TempDir dir;
  std::string s = "name: to\noutput: " + (dir / "results").string() +
                  "\nmachines:\n  local: {local: true}\n"
                  "timeouts: {server.start: 2s}\n"
                  "workloads:\n"
                  "  stuck:\n    kind: custom\n    server: {command: [sleep, '60'], port: 1, ready: 'false', ready_timeout: 60s}\n"
                  "    client: {command: [sh, -c, 'echo ops=1'], metrics: {throughput_ops: 'ops=([0-9]+)'}}\n"
                  "  fine:\n    kind: custom\n    server: {command: [sleep, '60'], ready: none}\n"
                  "    client: {command: [sh, -c, 'echo ops=7'], metrics: {throughput_ops: 'ops=([0-9]+)'}}\n";
  std::ofstream(dir / "to.yaml") << s;
  auto t0 = std::chrono::steady_clock::now();
  auto r = test::run_process({test::binary_path().string(), "run", (dir / "to.yaml").string()});
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_LT(secs, 20) << "the 2 s timeout, not the 60 s ready_timeout";
  std::vector<json> runs;
  for (const auto& c : stdfs::directory_iterator(dir / "results/to"))
    for (const auto& e : stdfs::directory_iterator(c.path() / "runs"))
      runs.push_back(json::parse(fs::read_file(e.path() / "run.json")));
  ASSERT_EQ(runs.size(), 2u);
  for (const auto& run : runs) {
    if (run["workload"] == "stuck") {
      EXPECT_EQ(run["status"], "failed");
      std::string reason = run["reason"];
      EXPECT_EQ(reason.rfind("timeout: ", 0), 0u) << reason;
      EXPECT_NE(reason.find("within 2 s (timeouts.server.start)"), std::string::npos) << reason;
      EXPECT_LT(run["duration_s"].get<double>(), 10);
    } else {
      EXPECT_EQ(run["status"], "ok") << run.dump(1);
    }
  }
}

TEST(Timeouts, AnUnknownStepKindIsExit2) {
  test::TempDir dir;
  std::ofstream(dir / "bad.yaml") << "name: x\nmachines: {local: {local: true}}\nworkloads: {redis: {}}\ntimeouts: {reboot: 5m}\n";
  auto r = test::run_process({test::binary_path().string(), "validate", (dir / "bad.yaml").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bad.yaml:4:12: error: unknown key 'reboot' in 'timeouts'"), std::string::npos) << r.err;
}

// With several generator processes (client.processes: 3) the step's deadline ends every
// wait: a 2 s timeout on client.measure ends the run after about 2 s, not after each
// process's 20 s (it took 20 s when only the first wait had the deadline).
TEST(Timeouts, SeveralClientProcessesEndAtTheStepDeadline) {
  test::TempDir dir;
  std::string s = "name: procs\noutput: " + (dir / "results").string() +
                  "\nmachines:\n  local: {local: true}\n"
                  "timeouts: {client.measure: 2s}\n"
                  "workloads:\n"
                  "  slow:\n    kind: custom\n    server: {command: [sleep, '60'], ready: none}\n"
                  "    client: {processes: 3, command: [sh, -c, 'sleep 20; echo ops=1'], metrics: {throughput_ops: 'ops=([0-9]+)'}}\n";
  std::ofstream(dir / "procs.yaml") << s;
  auto t0 = std::chrono::steady_clock::now();
  auto r = test::run_process({test::binary_path().string(), "run", "--plain", (dir / "procs.yaml").string()});
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_LT(secs, 12) << "the 2 s deadline ends every process's wait";
  std::vector<json> runs;
  for (const auto& c : stdfs::directory_iterator(dir / "results/procs"))
    for (const auto& e : stdfs::directory_iterator(c.path() / "runs"))
      runs.push_back(json::parse(fs::read_file(e.path() / "run.json")));
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["status"], "failed");
  EXPECT_EQ(runs[0]["reason"].get<std::string>().rfind("timeout: ", 0), 0u) << runs[0]["reason"];
}

// A server that ignores SIGTERM is killed when the server.stop step's deadline comes, not
// after the stop's own 5 s grace: a 1 s timeout ends the step after about 1 s (it took 5 s
// when the grace was fixed). The journal records the step's seconds.
TEST(Timeouts, AServerThatIgnoresSigtermIsKilledAtTheStopDeadline) {
  test::TempDir dir;
  std::string s = "name: stubborn\noutput: " + (dir / "results").string() +
                  "\nmachines:\n  local: {local: true}\n"
                  "timeouts: {server.stop: 1s}\n"
                  "workloads:\n"
                  "  stubborn:\n    kind: custom\n"
                  "    server: {command: [sh, -c, 'trap \"\" TERM; while :; do sleep 1; done'], ready: none}\n"
                  "    client: {command: [sh, -c, 'echo ops=1'], metrics: {throughput_ops: 'ops=([0-9]+)'}}\n";
  std::ofstream(dir / "stubborn.yaml") << s;
  auto r = test::run_process({test::binary_path().string(), "run", "--plain", (dir / "stubborn.yaml").string()});
  // The stop ran into its deadline: the run is failed with reason timeout, but it is over.
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  double stop_s = -1;
  std::string status, journal;
  for (const auto& c : stdfs::directory_iterator(dir / "results/stubborn"))
    for (auto line : text::split_lines(journal = fs::read_file(c.path() / "journal.jsonl"))) {
      auto j = json::parse(std::string(line), nullptr, false);
      if (j.is_object() && j.value("kind", "") == "server.stop") {
        stop_s = j.value("seconds", -1.0);
        status = j.value("status", "");
      }
    }
  EXPECT_EQ(status, "failed");
  EXPECT_GE(stop_s, 0.9);
  EXPECT_LT(stop_s, 4.0) << "SIGKILL at the 1 s deadline, not after the 5 s grace";
}
