// Each real server on 127.0.0.1 (free port), started from the command
// builders, checked for readiness, driven by its real load generator for about
// two seconds, the output parsed. Process handling stays in this file until a
// LocalRemote exists. Everything started here is killed here.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "iommuvm/workload/commands.hpp"
#include "iommuvm/workload/parsers.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using namespace iommuvm::workload;
namespace fs = std::filesystem;

namespace {

// A server process: own process group, output to a log, killed on destruction.
class Server {
 public:
  Server(const remote::Command& cmd, const fs::path& log) : log_(log) {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      int devnull = ::open("/dev/null", O_RDONLY);
      ::dup2(devnull, 0);
      if (!cmd.cwd.empty() && ::chdir(cmd.cwd.c_str()) != 0) _exit(126);
      std::vector<char*> args;
      for (const auto& a : cmd.argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      _exit(127);
    }
    ::setpgid(pid_, pid_);
  }
  ~Server() { stop(); }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  bool running() {
    if (pid_ <= 0) return false;
    int st = 0;
    return ::waitpid(pid_, &st, WNOHANG) == 0;
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGTERM);
    for (int i = 0; i < 50; ++i) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        ::kill(-pid_, SIGKILL);  // stragglers of the group (nginx workers)
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  std::string log() const {
    std::ifstream in(log_);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  pid_t pid_ = -1;
  fs::path log_;
};

void materialize(const std::vector<std::string>& dirs, const std::vector<File>& files) {
  for (const auto& d : dirs) fs::create_directories(d);
  for (const auto& f : files) {
    fs::create_directories(fs::path(f.path).parent_path());
    std::ofstream(f.path, std::ios::binary) << f.content;
  }
}

bool wait_ready(const ReadyCheck& r, Server& s, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!s.running()) return false;
    auto res = test::run_process(r.command.argv);
    if (res.exit_code == 0 && res.out.find(r.expect) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

struct Outcome {
  Metrics metrics;
  double wall_s = 0;
};

// Start the server, wait for it, run the client, parse. Fails the test on any step.
Outcome run_workload(const spec::Workload& w, const test::TempDir& tmp) {
  const int port = test::free_port();
  fs::create_directories(tmp / "server");
  fs::create_directories(tmp / "client");
  auto sp = server_plan(w, {"127.0.0.1", port, (tmp / "server").string(), ::geteuid() == 0});
  materialize(sp.dirs, sp.files);
  Server server(sp.command, tmp / "server.log");
  EXPECT_TRUE(wait_ready(sp.ready, server, std::chrono::seconds(10)))
      << sp.ready.description << " failed; server log:\n" << server.log();
  auto cp = client_plan(w, {"127.0.0.1", port, (tmp / "client").string()});
  materialize({}, cp.files);
  auto t0 = std::chrono::steady_clock::now();
  auto res = test::run_process(cp.command.argv);
  Outcome o;
  o.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(res.exit_code, 0) << res.err;
  std::string text = res.out;
  if (!cp.output_file.empty()) {
    std::ifstream in(cp.output_file);
    std::ostringstream s;
    s << in.rdbuf();
    text = s.str();
  }
  try {
    o.metrics = parse_output(cp.parser, text);
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what() << "\noutput:\n" << text << "\nstderr:\n" << res.err;
  }
  server.stop();
  EXPECT_FALSE(server.running());
  return o;
}

void expect_sane_latency(const Metrics& m) {
  if (m.latency_us.count("p50") && m.latency_us.count("p99")) {
    EXPECT_LE(m.latency_us.at("p50"), m.latency_us.at("p99"));
  }
  for (const auto& [k, v] : m.latency_us) EXPECT_GE(v, 0) << k;
}

#define REQUIRE_PROGRAMS(...)                                                  \
  for (const char* p : {__VA_ARGS__})                                          \
    if (!test::have_program(p)) GTEST_SKIP() << p << " is not installed";

}  // namespace

TEST(WorkloadLocal, RedisWithRedisBenchmark) {
  REQUIRE_PROGRAMS("redis-server", "redis-cli", "redis-benchmark");
  test::TempDir tmp;
  spec::Workload w;
  w.name = "redis";
  w.kind = "redis";
  w.client.tool = "redis-benchmark";
  w.client.requests = 20000;
  w.client.connections = 10;
  w.client.data_size = 64;
  w.client.tests = {"set", "get"};
  w.client.primary = "get";
  auto o = run_workload(w, tmp);
  const auto& m = o.metrics;
  ASSERT_TRUE(m.throughput_ops.has_value());
  EXPECT_GT(*m.throughput_ops, 0);
  EXPECT_EQ(m.ops.size(), 2u);
  EXPECT_TRUE(m.latency_us.count("p50"));
  expect_sane_latency(m);
  // 2 x 20000 requests at the measured rates cannot take longer than the run did
  double expected_s = 20000 / *m.ops.at("SET").throughput_ops + 20000 / *m.ops.at("GET").throughput_ops;
  EXPECT_LE(expected_s, o.wall_s * 1.05 + 0.05);
}

TEST(WorkloadLocal, MemcachedWithMemaslap) {
  REQUIRE_PROGRAMS("memcached", "memcaslap", "bash");
  test::TempDir tmp;
  spec::Workload w;
  w.name = "mc";
  w.kind = "memcached";
  w.server.threads = 2;
  w.server.memory_mib = 64;
  w.client.tool = "memaslap";
  w.client.duration_s = 2;
  w.client.threads = 1;
  w.client.connections = 8;
  w.client.data_size = 64;
  auto o = run_workload(w, tmp);
  const auto& m = o.metrics;
  ASSERT_TRUE(m.throughput_ops && m.requests && m.duration_s);
  EXPECT_GT(*m.throughput_ops, 0);
  // requests consistent with duration x throughput (memaslap rounds both)
  EXPECT_NEAR(*m.requests, *m.throughput_ops * *m.duration_s, 0.1 * static_cast<double>(*m.requests));
  EXPECT_EQ(*m.ops.at("GET").requests + *m.ops.at("SET").requests, *m.requests);
}

// memaslap's ratio goes through its --cfg_cmd file and the key space through -w (which
// memaslap accepts only in 1024-key units): the counts of get and set that memaslap and
// memcached report follow the ratio.
TEST(WorkloadLocal, MemaslapRatioAndKeySpaceTakeEffect) {
  REQUIRE_PROGRAMS("memcached", "memcaslap", "bash");
  test::TempDir tmp;
  spec::Workload w;
  w.name = "mc";
  w.kind = "memcached";
  w.server.memory_mib = 64;
  w.client.tool = "memaslap";
  w.client.duration_s = 1;
  w.client.threads = 1;
  w.client.connections = 8;
  w.client.data_size = 64;
  w.client.ratio = "1:3";  // set 0.250, get 0.750
  w.client.key_space = 8192;  // 8 concurrencies x a window of 1k
  const int port = test::free_port();
  fs::create_directories(tmp / "server");
  fs::create_directories(tmp / "client");
  auto sp = server_plan(w, {"127.0.0.1", port, (tmp / "server").string(), ::geteuid() == 0});
  Server server(sp.command, tmp / "server.log");
  ASSERT_TRUE(wait_ready(sp.ready, server, std::chrono::seconds(10))) << server.log();
  auto cp = client_plan(w, {"127.0.0.1", port, (tmp / "client").string()});
  materialize({}, cp.files);
  auto res = test::run_process(cp.command.argv);
  ASSERT_EQ(res.exit_code, 0) << res.err;
  auto m = parse_output(cp.parser, res.out);
  ASSERT_TRUE(m.ops.count("GET") && m.ops.count("SET")) << res.out;
  double gets = static_cast<double>(*m.ops.at("GET").requests), sets = static_cast<double>(*m.ops.at("SET").requests);
  ASSERT_GT(gets + sets, 1000) << res.out;
  EXPECT_NEAR(sets / (gets + sets), 0.25, 0.03) << res.out;
  // memcached saw the same mix: its own counters
  auto stats = test::run_process({"bash", "-c",
                                  "exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(port) +
                                      " && printf 'stats\\r\\nquit\\r\\n' >&3 && timeout 2 cat <&3"});
  auto counter = [&](const std::string& name) {
    auto at = stats.out.find("STAT " + name + " ");
    EXPECT_NE(at, std::string::npos) << stats.out;
    return at == std::string::npos ? 0.0 : std::stod(stats.out.substr(at + 6 + name.size()));
  };
  double server_sets = counter("cmd_set"), server_gets = counter("cmd_get");
  EXPECT_NEAR(server_sets / (server_sets + server_gets), 0.25, 0.03);
  // the default ratio (9:1 get:set in memaslap) is clearly different, so the file mattered
  w.client.ratio.clear();
  w.client.key_space = 0;
  auto dp = client_plan(w, {"127.0.0.1", port, (tmp / "client").string()});
  auto dres = test::run_process(dp.command.argv);
  ASSERT_EQ(dres.exit_code, 0) << dres.err;
  auto dm = parse_output(dp.parser, dres.out);
  double dsets = static_cast<double>(*dm.ops.at("SET").requests);
  EXPECT_NEAR(dsets / (dsets + static_cast<double>(*dm.ops.at("GET").requests)), 0.1, 0.03);
  server.stop();
}

namespace {
// nginx serving a generated 4 KiB file on one thread, loaded by TOOL.
spec::Workload web_workload(const std::string& tool) {
  spec::Workload w;
  w.name = "web";
  w.kind = "nginx";
  w.server.threads = 1;
  w.server.file_size = "4KiB";
  w.client.tool = tool;
  return w;
}
}  // namespace

TEST(WorkloadLocal, NginxWithWrk) {
  REQUIRE_PROGRAMS("nginx", "wrk", "bash");
  test::TempDir tmp;
  spec::Workload w = web_workload("wrk");
  w.client.threads = 1;
  w.client.connections = 8;
  w.client.duration_s = 2;
  auto o = run_workload(w, tmp);
  const auto& m = o.metrics;
  ASSERT_TRUE(m.throughput_ops && m.requests && m.duration_s && m.errors);
  EXPECT_GT(*m.throughput_ops, 0);
  EXPECT_EQ(*m.errors, 0u);  // 200s, the file exists
  EXPECT_FALSE(too_many_errors(m, 0.01));
  EXPECT_TRUE(m.latency_us.count("p99.99"));  // from the Lua JSON line
  expect_sane_latency(m);
  EXPECT_NEAR(*m.requests, *m.throughput_ops * *m.duration_s, 1.0);
  EXPECT_NEAR(*m.duration_s, 2.0, 0.5);
  // the server really served the generated 4 KiB file: ~4 KiB + headers per request
  EXPECT_GT(m.extra.at("bytes_read") / static_cast<double>(*m.requests), 4096.0);
}

// ab (ApacheBench) through its descriptor: the command it builds runs against a real nginx.
TEST(WorkloadLocal, NginxWithAb) {
  REQUIRE_PROGRAMS("nginx", "ab", "bash");
  test::TempDir tmp;
  spec::Workload w = web_workload("ab");
  w.client.connections = 4;
  w.client.duration_s = 1;
  auto o = run_workload(w, tmp);
  const auto& m = o.metrics;
  ASSERT_TRUE(m.throughput_ops && m.requests && m.duration_s && m.errors);
  EXPECT_GT(*m.throughput_ops, 0);
  EXPECT_EQ(*m.errors, 0u);
  EXPECT_TRUE(m.latency_us.count("avg"));
  expect_sane_latency(m);
  EXPECT_NEAR(*m.duration_s, 1.0, 0.5);
  EXPECT_GT(m.extra.at("bytes_read") / static_cast<double>(*m.requests), 4096.0);
}

TEST(WorkloadLocal, Iperf3) {
  REQUIRE_PROGRAMS("iperf3", "bash");
  test::TempDir tmp;
  spec::Workload w;
  w.name = "net";
  w.kind = "iperf3";
  w.client.duration_s = 2;
  auto o = run_workload(w, tmp);
  const auto& m = o.metrics;
  ASSERT_TRUE(m.throughput_gbps.has_value());
  EXPECT_GT(*m.throughput_gbps, 0);
  ASSERT_TRUE(m.duration_s.has_value());
  EXPECT_NEAR(*m.duration_s, 2.0, 0.5);
  EXPECT_GT(m.extra.at("bytes_received"), 0);
}
