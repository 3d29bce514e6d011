// Several server instances and several load-generator processes, through the real iommuvm
// binary: two wrk processes (one on a local machine, one over SSH through a real sshd) against
// one nginx; two redis-server instances, each driven by its own redis-benchmark; wrk2 asked
// for where it is not installed; two iperf3 servers. Everything runs on 127.0.0.1 with real
// servers and tools.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "iommuvm/util/fs.hpp"
#include "iommuvm/workload/combine.hpp"
#include "iommuvm/workload/parsers.hpp"
#include "sshd_fixture.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using nlohmann::json;
namespace stdfs = std::filesystem;

namespace {

#define REQUIRE_PROGRAMS(...)                                                  \
  for (const char* p : {__VA_ARGS__})                                          \
    if (!test::have_program(p)) GTEST_SKIP() << p << " is not installed (scripts/setup.sh installs it)";

// The run.json of the only run of the only campaign under RESULTS/NAME.
json only_run(const stdfs::path& results, const std::string& name) {
  for (const auto& c : stdfs::directory_iterator(results / name))
    for (const auto& r : stdfs::directory_iterator(c.path() / "runs"))
      if (stdfs::exists(r.path() / "run.json")) return json::parse(fs::read_file(r.path() / "run.json"));
  ADD_FAILURE() << "no run.json under " << (results / name);
  return json::object();
}

stdfs::path only_run_dir(const stdfs::path& results, const std::string& name) {
  for (const auto& c : stdfs::directory_iterator(results / name))
    for (const auto& r : stdfs::directory_iterator(c.path() / "runs")) return r.path();
  return {};
}

bool process_alive_matching(const std::string& needle) {
  for (const auto& e : stdfs::directory_iterator("/proc")) {
    auto name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "cmdline");
    std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmd.find(needle) != std::string::npos) return true;
  }
  return false;
}

test::ProcessResult run_spec(const test::TempDir& dir, const std::string& name, const std::string& body) {
  std::string s = "name: " + name + "\noutput: " + (dir / "results").string() + "\n" + body;
  std::ofstream(dir / (name + ".yaml")) << s;
  return test::run_process({test::binary_path().string(), "run", (dir / (name + ".yaml")).string()});
}

}  // namespace

TEST(MultiClient, TwoWrkProcessesLocalAndOverSshAgainstOneNginx) {
  REQUIRE_PROGRAMS("nginx", "wrk", "bash");
  if (auto why = test::Sshd::unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
  test::Sshd sshd;
  test::TempDir dir;
  std::string body = "machines:\n  local: {local: true}\n  c2:\n    role: client\n    ssh: {host: 127.0.0.1, port: " +
                     std::to_string(sshd.port()) + ", user: " + sshd.user() + ", key: " + sshd.client_key().string() +
                     ", known_hosts: " + sshd.known_hosts().string() + "}\n";
  body += "workloads:\n  nginx:\n    server: {machine: local, bind: 127.0.0.1, threads: 1, file_size: 4KiB}\n"
          "    client: {machines: [local, c2], target: 127.0.0.1, threads: 1, connections: 4, duration: 2s}\n";
  auto r = run_spec(dir, "wrk2c", body);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto run = only_run(dir / "results", "wrk2c");
  ASSERT_EQ(run["status"], "ok") << run.dump(1);
  const auto& procs = run["client"]["processes"];
  ASSERT_EQ(procs.size(), 2u) << run["client"].dump(1);
  EXPECT_EQ(procs[0]["machine"], "local");
  EXPECT_EQ(procs[1]["machine"], "c2");
  // started together: both start times recorded, within a second of each other (one clock here)
  for (const auto& p : procs) {
    EXPECT_TRUE(p.contains("started_at")) << p.dump();
    EXPECT_EQ(p["exit_status"], 0);
  }
  EXPECT_LT(run["client"]["start_spread_ms"].get<double>(), 1000.0);
  const auto& m = run["metrics"];
  EXPECT_EQ(m["combined_from"], 2);
  // sums
  EXPECT_EQ(m["requests"].get<std::uint64_t>(),
            procs[0]["metrics"]["requests"].get<std::uint64_t>() + procs[1]["metrics"]["requests"].get<std::uint64_t>());
  EXPECT_NEAR(m["throughput_ops"].get<double>(),
              procs[0]["metrics"]["throughput_ops"].get<double>() + procs[1]["metrics"]["throughput_ops"].get<double>(), 1e-6);
  EXPECT_EQ(m["errors"], 0);
  // merged percentiles: present, ordered, between the two processes' own
  ASSERT_TRUE(m["latency_us"].contains("p99")) << m.dump(1);
  EXPECT_FALSE(m.contains("latency_us_max_of_clients"));
  for (const char* k : {"p50", "p99"}) {
    double a = procs[0]["metrics"]["latency_us"][k], b = procs[1]["metrics"]["latency_us"][k];
    EXPECT_GE(m["latency_us"][k].get<double>(), std::min(a, b)) << k;
    EXPECT_LE(m["latency_us"][k].get<double>(), std::max(a, b)) << k;
  }
  EXPECT_LE(m["latency_us"]["p50"].get<double>(), m["latency_us"]["p99"].get<double>());
  // the run's figures are those of the two raw outputs merged
  auto rd = only_run_dir(dir / "results", "wrk2c") / "raw";
  auto a = workload::parse_wrk(fs::read_file(rd / "measure-0-wrk.out"));
  auto b = workload::parse_wrk(fs::read_file(rd / "measure-1-wrk.out"));
  ASSERT_FALSE(a.latency_histogram_us.empty());
  ASSERT_FALSE(b.latency_histogram_us.empty());
  auto merged = workload::combine({a, b});
  EXPECT_EQ(m["latency_us"]["p99"].get<double>(), merged.latency_us.at("p99"));
  EXPECT_EQ(m["latency_us"]["p99.99"].get<double>(), merged.latency_us.at("p99.99"));
}

TEST(MultiClient, TwoRedisInstancesEachDrivenByItsOwnRedisBenchmark) {
  REQUIRE_PROGRAMS("redis-server", "redis-cli", "redis-benchmark", "taskset");
  test::TempDir dir;
  std::string body =
      "machines:\n  local: {local: true}\n"
      "workloads:\n  redis:\n    server: {machine: local, bind: 127.0.0.1, instances: 2, cpus: [0, 1]}\n"
      "    client: {machine: local, target: 127.0.0.1, requests: 20000, connections: 5, tests: [set, get], primary: get}\n";
  auto r = run_spec(dir, "redis2", body);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto run = only_run(dir / "results", "redis2");
  ASSERT_EQ(run["status"], "ok") << run.dump(1);
  const auto& inst = run["server"]["instances"];
  ASSERT_EQ(inst.size(), 2u) << run["server"].dump(1);
  int p0 = inst[0]["port"], p1 = inst[1]["port"];
  EXPECT_EQ(p1, p0 + 1);
  EXPECT_EQ(inst[0]["cpu"], 0);
  EXPECT_EQ(inst[1]["cpu"], 1);
  EXPECT_EQ(inst[1]["command"][0], "taskset");
  const auto& procs = run["client"]["processes"];
  ASSERT_EQ(procs.size(), 2u);
  EXPECT_EQ(procs[0]["port"], p0);  // one generator per instance
  EXPECT_EQ(procs[1]["port"], p1);
  const auto& m = run["metrics"];
  EXPECT_EQ(m["combined_from"], 2);
  EXPECT_NEAR(m["throughput_ops"].get<double>(),
              procs[0]["metrics"]["throughput_ops"].get<double>() + procs[1]["metrics"]["throughput_ops"].get<double>(), 1e-6);
  EXPECT_NEAR(m["ops"]["SET"]["throughput_ops"].get<double>(),
              procs[0]["metrics"]["ops"]["SET"]["throughput_ops"].get<double>() +
                  procs[1]["metrics"]["ops"]["SET"]["throughput_ops"].get<double>(),
              1e-6);
  // redis-benchmark gives no histogram: no combined percentile, only the labelled maximum
  EXPECT_FALSE(m["latency_us"].contains("p99")) << m.dump(1);
  double p99a = procs[0]["metrics"]["latency_us"]["p99"], p99b = procs[1]["metrics"]["latency_us"]["p99"];
  EXPECT_EQ(m["latency_us_max_of_clients"]["p99"].get<double>(), std::max(p99a, p99b));
  EXPECT_EQ(m["latency_us"]["max"].get<double>(), std::max(procs[0]["metrics"]["latency_us"]["max"].get<double>(),
                                                           procs[1]["metrics"]["latency_us"]["max"].get<double>()));
  // both servers' logs kept, both stopped
  auto rd = only_run_dir(dir / "results", "redis2") / "raw";
  EXPECT_TRUE(stdfs::exists(rd / "server-0.log"));
  EXPECT_TRUE(stdfs::exists(rd / "server-1.log"));
  EXPECT_FALSE(process_alive_matching(std::string("--port") + '\0' + std::to_string(p0)));
  EXPECT_FALSE(process_alive_matching(std::string("--port") + '\0' + std::to_string(p1)));
}

TEST(MultiClient, Wrk2MissingIsAClearRunFailure) {
  REQUIRE_PROGRAMS("nginx", "bash");
  if (test::have_program("wrk2")) GTEST_SKIP() << "wrk2 is installed here";
  test::TempDir dir;
  std::string body =
      "machines:\n  local: {local: true}\n"
      "workloads:\n  nginx:\n    server: {machine: local, bind: 127.0.0.1, threads: 1}\n"
      "    client: {machine: local, tool: wrk2, rate: 1000, target: 127.0.0.1, duration: 1s}\n";
  auto r = run_spec(dir, "nowrk2", body);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  auto run = only_run(dir / "results", "nowrk2");
  EXPECT_EQ(run["status"], "failed");
  EXPECT_NE(run["reason"].get<std::string>().find("wrk2 is not installed on local"), std::string::npos) << run["reason"];
}

TEST(MultiClient, TwoIperf3ServersOnePerPortAndTheirBitratesSummed) {
  REQUIRE_PROGRAMS("iperf3", "bash", "taskset");
  test::TempDir dir;
  std::string body =
      "machines:\n  local: {local: true}\n"
      "workloads:\n  iperf3:\n    server: {machine: local, bind: 127.0.0.1, instances: 2, cpus: [0]}\n"
      "    client: {machine: local, target: 127.0.0.1, duration: 1s}\n";
  auto r = run_spec(dir, "iperf2", body);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto run = only_run(dir / "results", "iperf2");
  ASSERT_EQ(run["status"], "ok") << run.dump(1);
  const auto& inst = run["server"]["instances"];
  ASSERT_EQ(inst.size(), 2u);
  EXPECT_EQ(inst[1]["port"].get<int>(), inst[0]["port"].get<int>() + 1);
  EXPECT_EQ(inst[0]["cpu"], 0);  // cpus cycle: both on CPU 0
  EXPECT_EQ(inst[1]["cpu"], 0);
  const auto& procs = run["client"]["processes"];
  ASSERT_EQ(procs.size(), 2u);  // default: one generator per instance
  EXPECT_EQ(procs[0]["port"], inst[0]["port"]);
  EXPECT_EQ(procs[1]["port"], inst[1]["port"]);
  double a = procs[0]["metrics"]["throughput_gbps"], b = procs[1]["metrics"]["throughput_gbps"];
  EXPECT_GT(a, 0);
  EXPECT_GT(b, 0);
  EXPECT_NEAR(run["metrics"]["throughput_gbps"].get<double>(), a + b, 1e-9);
  EXPECT_EQ(run["metrics"]["extra"]["bytes_received"].get<double>(),
            procs[0]["metrics"]["extra"]["bytes_received"].get<double>() +
                procs[1]["metrics"]["extra"]["bytes_received"].get<double>());
}
