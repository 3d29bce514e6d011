// Command builders: argv contents, generated nginx.conf, readiness checks.
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include <fstream>
#include <set>
#include <sstream>

#include "iommuvm/remote/remote.hpp"
#include "iommuvm/util/error.hpp"
#include "iommuvm/workload/commands.hpp"
#include "iommuvm/workload/generators.hpp"
#include "iommuvm/workload/generators/memaslap.hpp"
#include "iommuvm/workload/servers.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using namespace iommuvm::workload;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

namespace {

spec::Workload make(const std::string& kind, const std::string& tool = "") {
  spec::Workload w;
  w.name = kind;
  w.kind = kind;
  w.client.tool = tool;
  return w;
}

// True when NEEDLE appears in ARGV as consecutive elements.
bool has_seq(const std::vector<std::string>& argv, const std::vector<std::string>& needle) {
  return std::search(argv.begin(), argv.end(), needle.begin(), needle.end()) != argv.end();
}

const std::string kHostile = "127.0.0.1; rm -rf / #'\"$(x)";

}  // namespace

TEST(WorkloadCommands, DefaultPorts) {
  EXPECT_EQ(default_port("redis"), 6379);
  EXPECT_EQ(default_port("memcached"), 11211);
  EXPECT_EQ(default_port("nginx"), 8080);
  EXPECT_EQ(default_port("iperf3"), 5201);
  EXPECT_EQ(default_port("custom"), 0);
  EXPECT_THROW(default_port("postgres"), InputError);
}

TEST(WorkloadCommands, ParseSize) {
  EXPECT_EQ(parse_size("4KiB"), 4096u);
  EXPECT_EQ(parse_size("1MiB"), 1048576u);
  EXPECT_EQ(parse_size("2GiB"), 2147483648u);
  EXPECT_EQ(parse_size("4KB"), 4000u);
  EXPECT_EQ(parse_size("512"), 512u);
  EXPECT_EQ(parse_size("512B"), 512u);
  EXPECT_THROW(parse_size("4 KiB"), InputError);
  EXPECT_THROW(parse_size("KiB"), InputError);
  EXPECT_THROW(parse_size("1.5MiB"), InputError);
}

TEST(WorkloadCommands, RedisServer) {
  auto w = make("redis");
  w.server.threads = 4;
  w.server.max_connections = 5000;
  auto p = server_plan(w, {"0.0.0.0", 7000, "/tmp/work", false});
  const auto& a = p.command.argv;
  EXPECT_EQ(a[0], "redis-server");
  EXPECT_TRUE(has_seq(a, {"--port", "7000"}));
  EXPECT_TRUE(has_seq(a, {"--bind", "0.0.0.0"}));
  EXPECT_TRUE(has_seq(a, {"--save", ""}));
  EXPECT_TRUE(has_seq(a, {"--appendonly", "no"}));
  EXPECT_TRUE(has_seq(a, {"--daemonize", "no"}));
  EXPECT_TRUE(has_seq(a, {"--io-threads", "4"}));
  EXPECT_TRUE(has_seq(a, {"--maxclients", "5000"}));
  EXPECT_TRUE(has_seq(a, {"--dir", "/tmp/work"}));
  EXPECT_EQ(p.port, 7000);
  // the empty save argument survives rendering as ''
  EXPECT_THAT(remote::render(p.command, false), HasSubstr("--save ''"));
  EXPECT_THAT(p.ready.command.argv, ElementsAre("redis-cli", "-h", "127.0.0.1", "-p", "7000", "ping"));
  EXPECT_EQ(p.ready.expect, "PONG");
  // port 0: the spec's, then the kind's default
  EXPECT_EQ(server_plan(w, {"127.0.0.1", 0, "", false}).port, 6379);
  w.server.port = 6380;
  EXPECT_EQ(server_plan(w, {"127.0.0.1", 0, "", false}).port, 6380);
}

TEST(WorkloadCommands, Memcached) {
  auto w = make("memcached");
  w.server.threads = 8;
  w.server.memory_mib = 1024;
  w.server.max_connections = 4096;
  auto a = server_plan(w, {"10.0.0.2", 0, "", true}).command.argv;
  EXPECT_EQ(a[0], "memcached");
  EXPECT_TRUE(has_seq(a, {"-p", "11211"}));
  EXPECT_TRUE(has_seq(a, {"-l", "10.0.0.2"}));
  EXPECT_TRUE(has_seq(a, {"-t", "8"}));
  EXPECT_TRUE(has_seq(a, {"-m", "1024"}));
  EXPECT_TRUE(has_seq(a, {"-c", "4096"}));
  EXPECT_TRUE(has_seq(a, {"-u", "root"}));
  auto b = server_plan(w, {"10.0.0.2", 0, "", false}).command.argv;
  EXPECT_THAT(b, ::testing::Not(Contains("-u")));
  auto r = ready_check(w, "10.0.0.2", 11211);
  EXPECT_EQ(r.command.argv[0], "bash");
  EXPECT_EQ(r.command.argv.back(), "11211");
  EXPECT_EQ(r.expect, "VERSION");
}

TEST(WorkloadCommands, NginxConfAndFiles) {
  auto w = make("nginx");
  w.server.threads = 2;
  w.server.file_size = "1KiB";
  w.server.sendfile = false;
  w.server.keepalive = false;
  w.client.path = "/files/a.bin";
  auto p = server_plan(w, {"127.0.0.1", 8081, "/run/iommuvm/w1", true});
  EXPECT_THAT(p.command.argv, ElementsAre("nginx", "-p", "/run/iommuvm/w1/nginx/", "-c",
                                          "/run/iommuvm/w1/nginx/nginx.conf", "-e",
                                          "/run/iommuvm/w1/nginx/logs/error.log", "-g", "daemon off;"));
  ASSERT_EQ(p.files.size(), 2u);
  EXPECT_EQ(p.files[0].path, "/run/iommuvm/w1/nginx/nginx.conf");
  const std::string& conf = p.files[0].content;
  EXPECT_THAT(conf, HasSubstr("worker_processes 2;"));
  EXPECT_THAT(conf, HasSubstr("listen \"127.0.0.1:8081\";"));
  EXPECT_THAT(conf, HasSubstr("sendfile off;"));
  EXPECT_THAT(conf, HasSubstr("keepalive_timeout 0;"));
  EXPECT_THAT(conf, HasSubstr("pid \"/run/iommuvm/w1/nginx/nginx.pid\";"));
  EXPECT_THAT(conf, HasSubstr("access_log \"/run/iommuvm/w1/nginx/logs/access.log\""));
  EXPECT_THAT(conf, HasSubstr("user root;"));
  EXPECT_EQ(p.files[1].path, "/run/iommuvm/w1/nginx/html/files/a.bin");
  EXPECT_EQ(p.files[1].content.size(), 1024u);
  EXPECT_THAT(p.dirs, Contains("/run/iommuvm/w1/nginx/html/files"));
  EXPECT_EQ(p.ready.expect, "HTTP/1.1 200");
  EXPECT_EQ(p.ready.command.argv.back(), "/files/a.bin");
  // defaults: auto workers, sendfile and keepalive on, index.html of 4 KiB
  auto d = server_plan(make("nginx"), {"0.0.0.0", 0, "/w", false});
  EXPECT_THAT(d.files[0].content, HasSubstr("worker_processes auto;"));
  EXPECT_THAT(d.files[0].content, HasSubstr("listen \"8080\";"));
  EXPECT_THAT(d.files[0].content, HasSubstr("sendfile on;"));
  EXPECT_THAT(d.files[0].content, ::testing::Not(HasSubstr("user root")));
  EXPECT_EQ(d.files[1].path, "/w/nginx/html/index.html");
  EXPECT_EQ(d.files[1].content.size(), 4096u);
}

TEST(WorkloadCommands, NginxRejectsWhatTheConfCannotHold) {
  auto w = make("nginx");
  EXPECT_THROW(server_plan(w, {"127.0.0.1", 80, "/w/$host", false}), InputError);
  EXPECT_THROW(server_plan(w, {"127.0.0.1", 80, "", false}), InputError);
  w.client.path = "/../etc/passwd";
  EXPECT_THROW(server_plan(w, {"127.0.0.1", 80, "/w", false}), InputError);
  w.client.path = "/a b";
  EXPECT_THROW(server_plan(w, {"127.0.0.1", 80, "/w", false}), InputError);
  // quotes in the address are escaped, never closing the string
  w.client.path = "/";
  auto conf = nginx_conf(w, {"a\";b", 80, "/w", false});
  EXPECT_THAT(conf, HasSubstr("listen \"a\\\";b:80\";"));
}

TEST(WorkloadCommands, Iperf3AndCustomServers) {
  auto a = server_plan(make("iperf3"), {"0.0.0.0", 0, "", false}).command.argv;
  EXPECT_THAT(a, ElementsAre("iperf3", "-s", "-p", "5201"));
  auto b = server_plan(make("iperf3"), {"10.1.1.1", 5300, "", false});
  EXPECT_THAT(b.command.argv, ElementsAre("iperf3", "-s", "-p", "5300", "-B", "10.1.1.1"));
  EXPECT_EQ(b.ready.expect, "");
  EXPECT_THAT(b.ready.command.argv, ElementsAre("bash", "-c", ::testing::_, "iommuvm-ready", "10.1.1.1", "5300"));
  auto c = make("custom");
  EXPECT_THROW(server_plan(c, {"127.0.0.1", 9000, "", false}), InputError);
  c.server.command = {"my-server", "--name", kHostile};
  c.server.ready = "my-probe --port 9000";
  auto p = server_plan(c, {"127.0.0.1", 9000, "", false});
  EXPECT_THAT(p.command.argv, ElementsAre("my-server", "--name", kHostile));
  EXPECT_THAT(p.ready.command.argv, ElementsAre("my-probe", "--port", "9000"));
  EXPECT_THROW(server_plan(c, {"127.0.0.1", 0, "", false}), InputError);  // no port for custom
}

TEST(WorkloadCommands, RedisBenchmark) {
  auto w = make("redis", "redis-benchmark");
  w.client.requests = 50000;
  w.client.connections = 50;
  w.client.pipeline = 16;
  w.client.data_size = 64;
  w.client.key_space = 100000;
  w.client.tests = {"set", "get"};
  auto p = client_plan(w, {"10.0.0.5", 6379, ""});
  EXPECT_THAT(p.command.argv, ElementsAre("redis-benchmark", "-h", "10.0.0.5", "-p", "6379", "-n", "50000", "-c",
                                          "50", "-P", "16", "-d", "64", "-r", "100000", "-t", "set,get", "--csv"));
  EXPECT_THAT(p.command.argv, ::testing::Not(Contains("-q")));
  EXPECT_EQ(p.parser, "redis-benchmark");
  EXPECT_EQ(p.output_file, "");
  EXPECT_EQ(p.requests_per_test, 50000u);  // for the parser: its output has no count
}

TEST(WorkloadCommands, Memtier) {
  auto w = make("memcached", "memtier");
  w.client.threads = 4;
  w.client.connections = 8;
  w.client.ratio = "1:10";
  w.client.data_size = 1024;
  w.client.duration_s = 29.5;
  auto p = client_plan(w, {"10.0.0.5", 0, "/tmp/c"});
  const auto& a = p.command.argv;
  EXPECT_EQ(a[0], "memtier_benchmark");
  EXPECT_TRUE(has_seq(a, {"-s", "10.0.0.5", "-p", "11211", "--protocol=memcache_text"}));
  EXPECT_THAT(a, Contains("--threads=4"));
  EXPECT_THAT(a, Contains("--clients=8"));
  EXPECT_THAT(a, Contains("--ratio=1:10"));
  EXPECT_THAT(a, Contains("--data-size=1024"));
  EXPECT_THAT(a, Contains("--test-time=30"));
  EXPECT_THAT(a, Contains("--json-out-file=/tmp/c/memtier.json"));
  EXPECT_EQ(p.output_file, "/tmp/c/memtier.json");
  EXPECT_EQ(p.parser, "memtier");
  auto r = make("redis", "memtier");
  EXPECT_THAT(client_plan(r, {"h", 0, "/tmp/c"}).command.argv, Contains("--protocol=redis"));
  EXPECT_THROW(client_plan(r, {"h", 0, ""}), InputError);  // needs a work folder
}

TEST(WorkloadCommands, Memaslap) {
  auto w = make("memcached", "memaslap");
  w.client.duration_s = 10;
  w.client.threads = 2;
  w.client.connections = 32;
  w.client.data_size = 100;
  auto p = client_plan(w, {"10.0.0.5", 11212, ""});
  EXPECT_THAT(p.command.argv,
              ElementsAre("memcaslap", "-s", "10.0.0.5:11212", "-t", "10s", "-T", "2", "-c", "32", "-X", "100"));
  EXPECT_EQ(p.parser, "memaslap");
  // memcached's default client
  EXPECT_EQ(client_plan(make("memcached"), {"h", 0, ""}).parser, "memaslap");
}

TEST(WorkloadCommands, MemaslapRatioAndKeySpaceThroughItsConfigFile) {
  auto w = make("memcached", "memaslap");
  w.client.duration_s = 2;
  w.client.connections = 32;
  w.client.data_size = 100;
  w.client.ratio = "1:10";
  w.client.key_space = 100000;
  auto p = client_plan(w, {"10.0.0.5", 11212, "/tmp/c"});
  // key space 100000 over 32 concurrencies of 1024-key units: ceil(100000 / 32768) = 4 -> "4k"
  EXPECT_THAT(p.command.argv, ElementsAre("memcaslap", "-s", "10.0.0.5:11212", "-t", "2s", "-c", "32", "-X", "100", "-F",
                                          "/tmp/c/memaslap.cnf", "-w", "4k"));
  ASSERT_EQ(p.files.size(), 1u);
  EXPECT_EQ(p.files[0].path, "/tmp/c/memaslap.cnf");
  // 1:10 -> set 1/11 = 0.0909 -> 0.091, get 0.909 (memaslap keeps 3 decimals; they add up to 1)
  EXPECT_EQ(p.files[0].content,
            "# Generated by iommuvm: ratio 1:10 (set:get)\nkey\n64 64 1\nvalue\n100 100 1\ncmd\n0 0.091\n1 0.909\n");
  EXPECT_THAT(memaslap_config("1:0", 0), HasSubstr("value\n1024 1024 1\ncmd\n0 1.000\n1 0.000\n"));
  EXPECT_THAT(memaslap_config("2:3", 0), HasSubstr("cmd\n0 0.400\n1 0.600\n"));
  EXPECT_THROW(memaslap_config("1-10", 0), InputError);
  EXPECT_THROW(memaslap_config("0:0", 0), InputError);
  EXPECT_THROW(memaslap_config("a:1", 0), InputError);
  EXPECT_THROW(client_plan(w, {"10.0.0.5", 11212, ""}), InputError);  // the file needs a work folder
  // without connections, memaslap's default concurrency (128): 128 x 1024 = 131072 >= 100000
  w.client.connections = 0;
  w.client.ratio.clear();
  EXPECT_TRUE(has_seq(client_plan(w, {"h", 1, ""}).command.argv, {"-w", "1k"}));
}

TEST(WorkloadCommands, InstancesPortsAndPinning) {
  EXPECT_TRUE(supports_instances("redis"));
  EXPECT_TRUE(supports_instances("iperf3"));
  EXPECT_FALSE(supports_instances("nginx"));
  EXPECT_EQ(instance_port(7000, 2), 7002);
  EXPECT_EQ(instance_cpu({}, 3), -1);
  EXPECT_EQ(instance_cpu({4, 6}, 3), 6);
  auto w = make("redis");
  ServerContext ctx{"127.0.0.1", 7001, "/tmp/s/1", false, 3};
  auto p = server_plan(w, ctx);
  EXPECT_THAT(std::vector<std::string>(p.command.argv.begin(), p.command.argv.begin() + 6),
              ElementsAre("taskset", "-c", "3", "redis-server", "--port", "7001"));
  EXPECT_THAT(p.ready.command.argv, Contains("7001"));
  auto i = server_plan(make("iperf3"), {"", 5202, "", false, 0});
  EXPECT_THAT(i.command.argv, ElementsAre("taskset", "-c", "0", "iperf3", "-s", "-p", "5202"));
}

TEST(WorkloadCommands, Wrk2BinaryNameAndRateOption) {
  auto w = make("nginx", "wrk2");
  w.client.rate = 1000;
  ClientContext ctx{"10.0.0.9", 8080, "/tmp/c", "wrk"};
  EXPECT_EQ(client_plan(w, ctx).command.argv.front(), "wrk");  // wrk2 installed as wrk
  EXPECT_TRUE(has_seq(client_plan(w, ctx).command.argv, {"-R", "1000"}));
  w.client.tool = "wrk";
  EXPECT_EQ(client_plan(w, ctx).command.argv.front(), "wrk");  // the override is for wrk2 only
  EXPECT_TRUE(wrk_usage_has_rate("    -R, --rate        <T>  work rate (throughput)\n"));
  // wrk 4.1's own usage has no rate option
  EXPECT_FALSE(wrk_usage_has_rate("Usage: wrk <options> <url>\n    -c, --connections <N>  Connections to keep open\n"
                                  "    -d, --duration    <T>  Duration of test\n        --timeout     <T>  Socket/request timeout\n"));
}

TEST(WorkloadCommands, WrkAndWrk2) {
  auto w = make("nginx", "wrk");
  w.client.threads = 2;
  w.client.connections = 64;
  w.client.duration_s = 5;
  w.client.path = "/index.html";
  auto p = client_plan(w, {"10.0.0.9", 8080, "/tmp/c"});
  EXPECT_THAT(p.command.argv, ElementsAre("wrk", "-t", "2", "-c", "64", "-d", "5s", "--latency", "-s",
                                          "/tmp/c/iommuvm-wrk.lua", "http://10.0.0.9:8080/index.html"));
  ASSERT_EQ(p.files.size(), 1u);
  EXPECT_EQ(p.files[0].content, std::string(wrk_lua_script()));
  auto v6 = client_plan(w, {"fd00::1", 8080, "/tmp/c"});
  EXPECT_EQ(v6.command.argv.back(), "http://[fd00::1]:8080/index.html");
  w.client.tool = "wrk2";
  EXPECT_THROW(client_plan(w, {"10.0.0.9", 8080, "/tmp/c"}), InputError);  // no rate
  w.client.rate = 20000;
  auto q = client_plan(w, {"10.0.0.9", 8080, "/tmp/c"});
  EXPECT_THAT(q.command.argv, ElementsAre("wrk2", "-t", "2", "-c", "64", "-d", "5s", "-R", "20000", "--latency",
                                          "http://10.0.0.9:8080/index.html"));
  EXPECT_EQ(q.parser, "wrk2");
}

TEST(WorkloadCommands, Iperf3Client) {
  auto w = make("iperf3");
  w.client.duration_s = 10;
  w.client.streams = 4;
  w.client.congestion = "bbr";
  w.client.bitrate = "10G";
  auto p = client_plan(w, {"10.0.0.9", 0, ""});
  EXPECT_THAT(p.command.argv,
              ElementsAre("iperf3", "-c", "10.0.0.9", "-p", "5201", "-J", "-t", "10", "-P", "4", "-C", "bbr", "-b", "10G"));
  EXPECT_EQ(p.parser, "iperf3");
}

TEST(WorkloadCommands, MismatchesAndMissingTarget) {
  EXPECT_THROW(client_plan(make("redis", "wrk"), {"h", 0, "/w"}), InputError);
  EXPECT_THROW(client_plan(make("nginx", "iperf3"), {"h", 0, ""}), InputError);
  EXPECT_THROW(client_plan(make("redis", "ab"), {"h", 0, ""}), InputError);
  EXPECT_THROW(client_plan(make("redis"), {"", 0, ""}), InputError);
  auto w = make("redis");
  w.client.target = "10.2.2.2";
  EXPECT_EQ(client_plan(w, {"", 0, ""}).command.argv[2], "10.2.2.2");
}

TEST(WorkloadCommands, HostileValuesStaySingleArguments) {
  auto w = make("redis", "redis-benchmark");
  w.client.tests = {"set; reboot"};
  auto p = client_plan(w, {kHostile, 6379, ""});
  EXPECT_EQ(p.command.argv[2], kHostile);
  EXPECT_THAT(p.command.argv, Contains("set; reboot"));
  auto s = server_plan(make("redis"), {kHostile, 6379, "/tmp/a b", false});
  EXPECT_THAT(s.command.argv, Contains(kHostile));
  EXPECT_THAT(s.ready.command.argv, Contains(kHostile));
  auto i = make("iperf3");
  i.client.congestion = "bbr -R";
  i.client.bitrate = "1G $(id)";
  auto ip = client_plan(i, {kHostile, 0, ""});
  EXPECT_THAT(ip.command.argv, Contains("bbr -R"));
  EXPECT_THAT(ip.command.argv, Contains("1G $(id)"));
  auto m = make("memcached", "memtier");
  m.client.ratio = "1:1 --x";
  EXPECT_THAT(client_plan(m, {"h", 0, "/w"}).command.argv, Contains("--ratio=1:1 --x"));
  // and the rendered shell text quotes it as one word
  EXPECT_THAT(remote::render(p.command, false), HasSubstr("'set; reboot'"));
}

TEST(WorkloadCommands, WrkScriptMatchesShippedFile) {
  std::ifstream in(std::string(IOMMUVM_SOURCE_DIR) + "/share/wrk/summary.lua");
  ASSERT_TRUE(in);
  std::ostringstream s;
  s << in.rdbuf();
  EXPECT_EQ(s.str(), std::string(wrk_lua_script()));
  EXPECT_THAT(std::string(wrk_lua_script()), HasSubstr("done = function(summary, latency, requests)"));
}

// ---- the registry of load generators (generators.hpp)

TEST(WorkloadGenerators, RegistryNamesAreUniqueAndComplete) {
  std::set<std::string> seen;
  std::vector<std::string> names;
  for (const auto* g : generators()) {
    ASSERT_NE(g, nullptr);
    EXPECT_TRUE(seen.insert(g->name).second) << g->name;
    for (const auto& a : g->aliases) EXPECT_TRUE(seen.insert(a).second) << a;
    EXPECT_NE(g->build, nullptr) << g->name;
    EXPECT_NE(g->parse, nullptr) << g->name;
    EXPECT_EQ(find_generator(g->name), g);
    for (const auto& a : g->aliases) EXPECT_EQ(find_generator(a), g) << a;
    for (const auto& p : g->programs) EXPECT_EQ(generator_of_program(p), g) << p;
    names.push_back(g->name);
  }
  // The order messages, `parse --tool` and the spec reader list them in.
  EXPECT_THAT(names, ElementsAre("redis-benchmark", "memtier", "memaslap", "wrk", "wrk2", "iperf3", "ab", "custom"));
  EXPECT_EQ(parser_names(), names);
  EXPECT_EQ(generator_names(), "redis-benchmark, memtier, memaslap, wrk, wrk2, iperf3, ab, custom");
  EXPECT_EQ(generator_names(true), "redis-benchmark, memtier, memaslap, wrk, wrk2, iperf3, ab");
  EXPECT_EQ(find_generator("siege"), nullptr);
  EXPECT_EQ(generator_of_program("nginx"), nullptr);
}

// The server kinds' registry: unique names, in the order messages list them, each with a command
// builder, a Debian package for every program, and the ports and instance support they had before
// the descriptors. The program a descriptor names first is the one its command runs.
TEST(ServerKinds, RegistryNamesAreUniqueAndComplete) {
  std::set<std::string> names, programs;
  for (const auto* k : server_kinds()) {
    ASSERT_NE(k, nullptr);
    EXPECT_TRUE(names.insert(k->name).second) << k->name;
    EXPECT_NE(k->build, nullptr) << k->name;
    EXPECT_EQ(find_server_kind(k->name), k);
    for (const auto& p : k->programs) {
      EXPECT_TRUE(programs.insert(p.name).second) << p.name;
      EXPECT_FALSE(p.package.empty()) << p.name;
      EXPECT_EQ(server_program(p.name), &p) << p.name;
    }
    auto w = make(k->name);
    w.server.command = {"my-server", "--flag"};
    w.server.port = k->default_port > 0 ? 0 : 7000;
    ServerContext ctx;
    ctx.work_dir = "/tmp/w";
    auto plan = server_plan(w, ctx);
    ASSERT_FALSE(plan.command.argv.empty()) << k->name;
    EXPECT_EQ(plan.command.argv.front(), k->programs.empty() ? "my-server" : k->programs.front().name) << k->name;
    EXPECT_EQ(plan.port, k->default_port > 0 ? k->default_port : 7000) << k->name;
    // The server program's version is probed; a readiness client the kind names is one of its programs.
    if (!k->programs.empty()) EXPECT_FALSE(k->programs.front().version_args.empty()) << k->name;
    const std::string ready = plan.ready.command.argv.at(0);
    if (ready != "bash") EXPECT_NE(server_program(ready), nullptr) << k->name << ": " << ready;
  }
  EXPECT_EQ(server_kind_names(), (std::vector<std::string>{"redis", "memcached", "nginx", "iperf3", "custom"}));
  EXPECT_EQ(server_kind_list(), "redis, memcached, nginx, iperf3, custom");
  // The ports themselves: DefaultPorts above.
  EXPECT_EQ(find_server_kind("apache"), nullptr);
  EXPECT_EQ(server_program("wrk"), nullptr);
  for (const auto* k : server_kinds())
    EXPECT_EQ(supports_instances(k->name), k->name == "redis" || k->name == "iperf3") << k->name;
  // Every load generator drives at least one registered kind, and names only registered kinds.
  for (const auto* g : generators())
    for (const auto& kind : g->kinds) EXPECT_NE(find_server_kind(kind), nullptr) << g->name << ": " << kind;
}

TEST(WorkloadGenerators, DefaultToolPerKind) {
  EXPECT_EQ(default_tool("redis"), "redis-benchmark");
  EXPECT_EQ(default_tool("memcached"), "memaslap");
  EXPECT_EQ(default_tool("nginx"), "wrk");
  EXPECT_EQ(default_tool("iperf3"), "iperf3");
  EXPECT_EQ(default_tool("custom"), "custom");
  // Each default drives its kind.
  for (const char* kind : {"redis", "memcached", "nginx", "iperf3", "custom"})
    EXPECT_TRUE(find_generator(default_tool(kind))->drives(kind)) << kind;
}

// The descriptor and the command builder agree: the program a descriptor names is the one
// its command runs, and client_plan refuses exactly the kinds the descriptor does not drive.
TEST(WorkloadGenerators, DescriptorMatchesItsCommand) {
  for (const auto* g : generators()) {
    if (g->name == "custom") continue;
    for (const char* kind : {"redis", "memcached", "nginx", "iperf3"}) {
      auto w = make(kind, g->name);
      w.client.rate = 1000;  // wrk2
      w.client.command = {"true"};
      ClientContext ctx;
      ctx.target = "127.0.0.1";
      ctx.work_dir = "/tmp/w";
      if (g->drives(kind)) {
        auto plan = client_plan(w, ctx);
        ASSERT_FALSE(plan.command.argv.empty()) << g->name;
        EXPECT_EQ(plan.command.argv.front(), g->program()) << g->name << " on " << kind;
        EXPECT_EQ(plan.parser, g->name);
      } else {
        try {
          client_plan(w, ctx);
          ADD_FAILURE() << g->name << " accepted a " << kind << " server";
        } catch (const InputError& e) {
          EXPECT_THAT(e.what(), HasSubstr("does not drive a " + std::string(kind) + " server"));
        }
      }
    }
  }
}

TEST(WorkloadGenerators, ParseOutputDispatchesThroughTheRegistry) {
  // memtier_benchmark is the program's name for memtier: the same parser.
  std::ifstream in(test::data_path("samples/memtier-redis.json"));
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string json = ss.str();
  ASSERT_FALSE(json.empty());
  auto by_name = parse_output("memtier", json);
  auto by_alias = parse_output("memtier_benchmark", json);
  EXPECT_EQ(to_json(by_name), to_json(by_alias));
  try {
    parse_output("siege", "x");
    ADD_FAILURE() << "an unknown tool was parsed";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("unknown tool 'siege' (known: redis-benchmark, memtier, memaslap, wrk, wrk2, iperf3, ab, custom)"));
  }
}

// docs/workloads.md's table of load generators says what the descriptors say.
TEST(WorkloadGenerators, DocsTableMatchesTheRegistry) {
  std::ifstream in(std::string(IOMMUVM_SOURCE_DIR) + "/docs/workloads.md");
  ASSERT_TRUE(in);
  auto join = [](const std::vector<std::string>& v, const std::string& quote) {
    std::string out;
    for (const auto& x : v) out += (out.empty() ? "" : ", ") + quote + x + quote;
    return out;
  };
  std::set<std::string> rows;
  std::string line;
  bool in_table = false;
  while (std::getline(in, line)) {
    if (line == "| tool | programs | version | Debian package | drives | default for |") in_table = true;
    else if (in_table && line.empty()) break;
    else if (in_table && line != "|---|---|---|---|---|---|") rows.insert(line);
  }
  std::set<std::string> want;
  for (const auto* g : generators()) {
    std::string programs = g->programs.empty() ? "`client.command`" : join(g->programs, "`");
    std::string version = g->version_args.empty() ? "" : "`" + join(g->version_args, "") + "`";
    std::string drives = g->kinds.empty() ? "any" : join(g->kinds, "");
    std::string defaults = join(g->default_for, "");
    if (g->name == "custom") defaults = "custom";  // default_tool's fallback
    auto cell = [](const std::string& c) { return c.empty() ? std::string(" |") : " " + c + " |"; };
    want.insert("| " + g->name + " |" + cell(programs) + cell(version) + cell(g->package) + cell(drives) + cell(defaults));
  }
  EXPECT_EQ(rows, want);
}
