// Spec loading, validation and matrix expansion (pure logic, in memory).
#include <gtest/gtest.h>

#include <fstream>

#include <fmt/format.h>

#include "iommuvm/spec/load.hpp"
#include "iommuvm/spec/matrix.hpp"
#include "iommuvm/policy/types.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using namespace iommuvm::spec;

namespace {

struct Result {
  Loaded loaded;
  std::vector<RunPoint> points;
  Diagnostics diag;  // everything: load and expansion
};

Result load(const std::string& text, const std::string& file = "t.yaml") {
  Result r;
  r.loaded = load_text(text, file);
  r.diag = r.loaded.diag;
  if (!r.diag.has_errors()) r.points = expand(r.loaded, r.diag);
  return r;
}

std::string all_messages(const Diagnostics& d) {
  std::string s;
  for (const auto& x : d.sorted()) s += x.format() + "\n";
  return s;
}

const char* kMinimal = R"(name: mini
machines:
  local: {local: true}
workloads:
  redis:
    client: {requests: 1000}
)";

}  // namespace

TEST(SpecLoad, MinimalSpecIsValidWithDefaults) {
  auto r = load(kMinimal);
  ASSERT_FALSE(r.diag.has_errors()) << all_messages(r.diag);
  const Spec& s = r.loaded.spec;
  EXPECT_EQ(s.name, "mini");
  ASSERT_EQ(s.machines.size(), 1u);
  EXPECT_TRUE(s.machines[0].local);
  EXPECT_EQ(s.machines[0].root, "/");
  ASSERT_EQ(s.workloads.size(), 1u);
  EXPECT_EQ(s.workloads[0].kind, "redis");
  EXPECT_EQ(s.workloads[0].client.tool, "redis-benchmark");
  EXPECT_EQ(s.workloads[0].client.requests, 1000);
  EXPECT_FALSE(s.policy.host.policy.has_value()) << "no policy means as-is";
  ASSERT_EQ(r.points.size(), 1u);
  EXPECT_EQ(r.points[0].params, nlohmann::json({{"workload", "redis"}}));
}

TEST(SpecLoad, DurationsAndShorthands) {
  auto r = load(R"(name: x
machines:
  host: {ssh: "root@10.0.0.1:2222"}
  client: {ssh: {host: c, user: u, key: /k, jump: host}}
workloads:
  nginx:
    client: {duration: 2m, warmup: 500ms}
)");
  ASSERT_FALSE(r.diag.has_errors()) << all_messages(r.diag);
  const auto& s = r.loaded.spec;
  EXPECT_EQ(s.machines[0].ssh.user, "root");
  EXPECT_EQ(s.machines[0].ssh.host, "10.0.0.1");
  EXPECT_EQ(s.machines[0].ssh.port, 2222);
  EXPECT_EQ(s.machines[1].role, Role::client);
  EXPECT_EQ(s.machines[1].ssh.identity_files, std::vector<std::string>{"/k"});
  EXPECT_DOUBLE_EQ(s.workloads[0].client.duration_s, 120);
  EXPECT_DOUBLE_EQ(s.workloads[0].client.warmup_s, 0.5);
  EXPECT_EQ(s.workloads[0].client.tool, "wrk");
}

// Every malformed spec reports its problem at the right line with a useful message.
struct BadCase {
  const char* name;
  std::string text;
  int line;
  int column;  // 0: do not check
  const char* message;
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class SpecErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(SpecErrors, ReportsLineAndMessage) {
  const auto& c = GetParam();
  auto r = load(c.text);
  ASSERT_TRUE(r.diag.has_errors()) << c.name << ": expected an error";
  bool found = false;
  for (const auto& d : r.diag.all()) {
    if (d.severity != Diagnostic::Severity::error) continue;
    if (d.message.find(c.message) == std::string::npos) continue;
    EXPECT_EQ(d.mark.line, c.line) << c.name << ": " << d.format();
    if (c.column) {
      EXPECT_EQ(d.mark.column, c.column) << c.name << ": " << d.format();
    }
    EXPECT_EQ(d.mark.file, "t.yaml");
    found = true;
  }
  EXPECT_TRUE(found) << c.name << ": no error containing '" << c.message << "' in:\n" << all_messages(r.diag);
}

const std::string kHead = "name: bad\nmachines:\n  local: {local: true}\n";  // 3 lines

INSTANTIATE_TEST_SUITE_P(
    Malformed, SpecErrors,
    ::testing::Values(
        BadCase{"empty", "", 1, 1, "the spec is empty"},
        BadCase{"top level list", "- a\n- b\n", 1, 1, "expected a mapping at the top"},
        BadCase{"yaml syntax", "name: x\nmachines: [a\n", 3, 0, "syntax error"},
        BadCase{"tab indentation", "name: x\nmachines:\n\tlocal: 1\n", 3, 0, "syntax error"},
        BadCase{"missing name", "machines:\n  local: {local: true}\nworkloads:\n  redis: {}\n", 1, 1,
                "missing required field 'name'"},
        BadCase{"missing workloads", kHead, 1, 1, "missing required field 'workloads'"},
        BadCase{"unknown top key", kHead + "workloads:\n  redis: {}\nworkload: {}\n", 6, 1,
                "unknown key 'workload' in the spec (did you mean 'workloads'?)"},
        BadCase{"unknown nested key", kHead + "workloads:\n  redis:\n    client: {pipelin: 4}\n", 6, 14,
                "unknown key 'pipelin' in 'workloads.redis.client' (did you mean 'pipeline'?)"},
        BadCase{"wrong type int", kHead + "workloads:\n  redis:\n    client: {pipeline: many}\n", 6, 24,
                "expected an integer for 'workloads.redis.client.pipeline'"},
        BadCase{"quoted number", kHead + "workloads:\n  redis:\n    server: {port: \"6379\"}\n", 6, 0,
                "expected an integer for 'workloads.redis.server.port'"},
        BadCase{"port out of range", kHead + "workloads:\n  redis:\n    server: {port: 70000}\n", 6, 0,
                "'workloads.redis.server.port' must be between 1 and 65535, got 70000"},
        BadCase{"negative connections", kHead + "workloads:\n  redis:\n    client: {connections: -1}\n", 6, 0,
                "must be between 1 and"},
        BadCase{"bad duration", kHead + "workloads:\n  nginx:\n    client: {duration: 10 parsecs}\n", 6, 0,
                "expected a duration for 'workloads.nginx.client.duration'"},
        BadCase{"unknown policy", kHead + "policy: {host: strcit}\nworkloads:\n  redis: {}\n", 4, 0,
                "unknown value 'strcit' for 'policy.host.policy': expected one of strict, lazy, passthrough, off, as-is (did you mean 'strict'?)"},
        BadCase{"unknown workload kind", kHead + "workloads:\n  web: {kind: apache}\n", 5, 0,
                "unknown value 'apache' for 'workloads.web.kind'"},
        BadCase{"missing kind", kHead + "workloads:\n  web: {}\n", 5, 0, "missing required field 'workloads.web.kind'"},
        BadCase{"unknown tool", kHead + "workloads:\n  redis:\n    client: {tool: siege}\n", 6, 0,
                "unknown value 'siege' for 'workloads.redis.client.tool'"},
        BadCase{"tool does not fit", kHead + "workloads:\n  redis:\n    client: {tool: wrk}\n", 5, 0,
                "'workloads.redis.client.tool' wrk cannot load a redis server"},
        BadCase{"bool expected", "name: x\nmachines:\n  local: {local: maybe}\nworkloads:\n  redis: {}\n", 3, 0,
                "expected true or false for 'machines.local.local'"},
        BadCase{"machine without access", "name: x\nmachines:\n  host: {role: host}\nworkloads:\n  redis: {}\n", 3, 0,
                "needs either 'local: true' or an 'ssh' address"},
        BadCase{"unknown role", "name: x\nmachines:\n  h: {local: true, role: server}\nworkloads:\n  redis: {}\n", 3, 0,
                "unknown value 'server' for 'machines.h.role'"},
        BadCase{"jump to unknown machine",
                "name: x\nmachines:\n  host: {ssh: {host: h, jump: bastion}}\nworkloads:\n  redis: {}\n", 3, 0,
                "names machine 'bastion', which is not defined"},
        BadCase{"server on unknown machine", kHead + "workloads:\n  redis:\n    server: {machine: locl}\n", 5, 0,
                "names machine 'locl', which is not defined under 'machines' (did you mean 'local'?)"},
        BadCase{"guest policy without viommu",
                kHead + "hypervisor: {uri: 'test:///default'}\nguests:\n  vm: {machine: local, template: /dev/null}\n"
                        "policy: {guest: strict}\nworkloads:\n  redis: {}\n",
                6, 0, "guest policy 'strict' needs a virtual IOMMU"},
        BadCase{"vf beyond num_vfs",
                kHead + "hypervisor: {uri: 'test:///default'}\nnic: {pf: enp1, num_vfs: 4}\nguests:\n"
                        "  vm: {machine: local, template: /dev/null, vf: 4}\nworkloads:\n  redis: {}\n",
                7, 0, "asks for VF 4 but 'nic.num_vfs' is 4"},
        BadCase{"data ip outside subnet",
                kHead + "hypervisor: {uri: 'test:///default'}\nnic: {pf: enp1, num_vfs: 4, host_ip: 10.10.1.1/24}\nguests:\n"
                        "  vm: {machine: local, template: /dev/null, vf: 0, data_ip: 10.10.2.100/24}\nworkloads:\n  redis: {}\n",
                7, 0, "data IP 10.10.2.100/24 is outside the PF's subnet 10.10.1.1/24"},
        BadCase{"host off with a vf",
                kHead + "hypervisor: {uri: 'test:///default'}\nnic: {pf: enp1, num_vfs: 4}\npolicy: {host: {policy: off, method: grub}}\nguests:\n"
                        "  vm: {machine: local, template: /dev/null, vf: 1}\nworkloads:\n  redis: {}\n",
                8, 0, "host policy 'off' disables the IOMMU, so VF passthrough"},
        BadCase{"duplicate mac", kHead + "nic: {pf: enp1, num_vfs: 2, vf_macs: ['52:54:00:00:00:01', '52:54:00:00:00:01']}\nworkloads:\n  redis: {}\n",
                4, 0, "MAC address 52:54:00:00:00:01 is used twice"},
        BadCase{"bad mac", kHead + "nic: {pf: enp1, num_vfs: 2, vf_macs: ['01:00:5e:00:00:01']}\nworkloads:\n  redis: {}\n",
                4, 0, "is not a unicast MAC address"},
        BadCase{"guests without hypervisor",
                kHead + "guests:\n  vm: {machine: local, template: /dev/null}\nworkloads:\n  redis: {}\n", 1, 1,
                "guests are defined but 'hypervisor.uri' is not"},
        BadCase{"template missing",
                kHead + "hypervisor: {uri: 'test:///default'}\nguests:\n  vm: {machine: local, template: /nonexistent/vm.xml}\nworkloads:\n  redis: {}\n",
                6, 0, "domain XML template '/nonexistent/vm.xml' of guest 'vm' not found"},
        BadCase{"zip length mismatch",
                kHead + "workloads:\n  redis: {client: {pipeline: [1, 2], connections: [1, 2, 3]}}\n"
                        "matrix: {zip: [[workloads.redis.client.pipeline, workloads.redis.client.connections]]}\n",
                5, 0, "zipped axes must have the same number of values"},
        BadCase{"exclude unknown axis", kHead + "workloads:\n  redis: {}\nmatrix: {exclude: [{policy.host: strict}]}\n", 1, 1,
                "'matrix.exclude' names 'policy.host', which is not a matrix axis"},
        BadCase{"axis path typo", kHead + "workloads:\n  redis: {}\nmatrix: {axes: {workloads.redis.client.pipelin: [1, 2]}}\n",
                6, 0, "unknown key 'pipelin' in 'workloads.redis.client' (did you mean 'pipeline'?)"},
        BadCase{"axis on unknown workload", kHead + "workloads:\n  redis: {}\nmatrix: {axes: {workloads.nginx.client.threads: [1, 2]}}\n",
                6, 0, "names workload 'nginx', which is not defined"},
        BadCase{"axis value of wrong type", kHead + "workloads:\n  redis: {}\nmatrix: {axes: {workloads.redis.client.pipeline: [1, many]}}\n",
                6, 0, "expected an integer for 'workloads.redis.client.pipeline', got 'many'"},
        BadCase{"empty axis", kHead + "workloads:\n  redis: {client: {pipeline: []}}\n", 5, 0, "is an empty list"},
        BadCase{"everything excluded", kHead + "workloads:\n  redis: {}\nmatrix: {exclude: [{workload: redis}]}\n", 1, 1,
                "removes every run"},
        BadCase{"repetitions zero", kHead + "workloads:\n  redis: {}\nmatrix: {repetitions: 0}\n", 6, 0,
                "'matrix.repetitions' must be between 1 and 10000, got 0"},
        BadCase{"duplicate key", kHead + "workloads:\n  redis: {}\n  redis: {}\n", 6, 3, "duplicate key 'redis'"},
        BadCase{"wrk2 without rate", kHead + "workloads:\n  nginx: {client: {tool: wrk2}}\n", 5, 0, "needs 'rate'"},
        BadCase{"instances of nginx", kHead + "workloads:\n  nginx: {server: {instances: 2}}\n", 5, 0,
                "'workloads.nginx.server.instances' above 1 is supported for redis and iperf3 only"},
        BadCase{"machine and machines", kHead + "workloads:\n  redis: {client: {machine: local, machines: [local]}}\n", 5, 0,
                "gives both 'machine' and 'machines'"},
        BadCase{"client machine twice", kHead + "workloads:\n  redis: {client: {machines: [local, local]}}\n", 5, 0,
                "lists 'local' twice"},
        BadCase{"unknown client machine", kHead + "workloads:\n  redis: {client: {machines: [local, cli]}}\n", 5, 0,
                "'workloads.redis.client.machines' names machine 'cli'"},
        BadCase{"too few processes", kHead + "workloads:\n  redis: {server: {instances: 3}, client: {processes: 2}}\n", 5, 0,
                "2 generator process(es) cannot drive 3 server instances"},
        BadCase{"cpu not a number", kHead + "workloads:\n  redis: {server: {cpus: [0, x]}}\n", 5, 0,
                "expected an integer between 0 and 65535 in 'workloads.redis.server.cpus', got 'x'"},
        BadCase{"runtime off", kHead + "policy: {host: {policy: off, method: runtime}}\nworkloads:\n  redis: {}\n", 1, 1,
                "cannot be turned off at runtime"},
        BadCase{"unterminated command quote", kHead + "workloads:\n  c:\n    kind: custom\n    server: {command: \"srv 'x\"}\n", 7, 0,
                "unterminated quote"},
        BadCase{"deep nesting", "name: " + std::string(200, '[') + std::string(200, ']') + "\n", 1, 0, "nested more than"}));

// Every name that becomes part of a path follows one rule (names::path_name_problem).
INSTANTIATE_TEST_SUITE_P(
    PathNames, SpecErrors,
    ::testing::Values(
        BadCase{"campaign name dot dot", "name: \"..\"\nmachines:\n  local: {local: true}\nworkloads:\n  redis: {}\n", 1, 7,
                "'name' '..' cannot be used: it becomes a file name"},
        BadCase{"campaign name dot", "name: .\nmachines:\n  local: {local: true}\nworkloads:\n  redis: {}\n", 1, 7,
                "it must start with a letter, a digit or '_'"},
        BadCase{"campaign name slash", "name: a/b\nmachines:\n  local: {local: true}\nworkloads:\n  redis: {}\n", 1, 7,
                "may hold only letters, digits"},
        BadCase{"collector outside", kHead + "workloads:\n  redis: {}\ncollectors:\n  ../../x: {kind: mpstat}\n", 7, 3,
                "the name in 'collectors' '../../x' cannot be used"},
        BadCase{"workload name", kHead + "workloads:\n  \"r/../../e\": {kind: redis}\n", 5, 3,
                "the name in 'workloads' 'r/../../e' cannot be used"},
        BadCase{"machine name", "name: bad\nmachines:\n  \"-x\": {local: true}\nworkloads:\n  redis: {}\n", 3, 3,
                "the name in 'machines' '-x' cannot be used"},
        BadCase{"guest name", kHead + "guests:\n  ..: {template: t.xml}\nworkloads:\n  redis: {}\n", 5, 3,
                "the name in 'guests' '..' cannot be used"},
        BadCase{"figure name", kHead + "workloads:\n  redis: {}\nfigures:\n  - {name: ../f, x: policy.host, metric: m}\n", 7, 12,
                "'figures[0].name' '../f' cannot be used"},
        BadCase{"long name", "name: " + std::string(65, 'a') + "\nmachines:\n  local: {local: true}\nworkloads:\n  redis: {}\n",
                1, 7, "longer than 64 characters"}));

// A collector without a field its kind needs is refused by validate (it used to be
// recorded as "unsupported" in every run).
INSTANTIATE_TEST_SUITE_P(
    CollectorFields, SpecErrors,
    ::testing::Values(
        BadCase{"pidstat without process", kHead + "workloads:\n  redis: {}\ncollectors:\n  cpu: {kind: pidstat}\n", 7, 3,
                "collector 'cpu' of kind pidstat needs 'process'"},
        BadCase{"qemu-trace without file", kHead + "workloads:\n  redis: {}\ncollectors:\n  t: {kind: qemu-trace}\n", 7, 3,
                "collector 't' of kind qemu-trace needs 'trace_file'"},
        BadCase{"custom without command", kHead + "workloads:\n  redis: {}\ncollectors:\n  c: {kind: custom, metrics: {a: 'a=(\\d+)'}}\n",
                7, 3, "collector 'c' of kind custom needs 'command'"},
        BadCase{"tracepoint that is a path", kHead + "workloads:\n  redis: {}\ncollectors:\n  t: {kind: tracepoints, events: [iommu:map, '../../x:y']}\n",
                7, 3, "collector 't': '../../x:y' is not a tracepoint name"}));

TEST(SpecLoad, EveryCollectorKindHasOneDescription) {
  // The kinds validate accepts are the described ones; each with only its required fields is valid.
  for (const auto& k : collector_kinds()) {
    std::string fields;
    for (auto f : k.required)
      fields += f == "command" ? ", command: [true]" : f == "metrics" ? ", metrics: {a: 'a=([0-9]+)'}" : fmt::format(", {}: x", f);
    auto r = load(std::string(kMinimal) + "collectors:\n  c: {kind: " + std::string(k.name) + fields + "}\n");
    EXPECT_FALSE(r.diag.has_errors()) << k.name << ": " << all_messages(r.diag);
  }
  auto bad = load(std::string(kMinimal) + "collectors:\n  c: {kind: nope}\n");
  EXPECT_NE(all_messages(bad.diag).find("expected one of mpstat, pidstat"), std::string::npos) << all_messages(bad.diag);
}

TEST(SpecLoad, EverySwitchingMethodNameIsReadFromPolicysTable) {
  // The spec's method choice is policy's one name table: every name reads as its method, and
  // an unknown one lists them all.
  std::string offered;
  for (auto m : policy::all_methods()) {
    std::string name(policy::to_string(m));
    ASSERT_EQ(policy::parse_method(name), m) << name;
    offered += (offered.empty() ? "" : ", ") + name;
    auto r = load_text(std::string(kMinimal) + "policy: {host: {policy: as-is, method: " + name + "}}\n", "t.yaml");
    ASSERT_FALSE(all_messages(r.diag).find("unknown") != std::string::npos || all_messages(r.diag).find("expected one of") != std::string::npos)
        << name << ": " << all_messages(r.diag);
    EXPECT_EQ(r.spec.policy.host.method, m) << name;
  }
  EXPECT_EQ(policy::all_methods().size(), 7u);
  auto bad = load(std::string(kMinimal) + "policy: {host: {policy: strict, method: reboot}}\n");
  EXPECT_NE(all_messages(bad.diag).find("expected one of " + offered), std::string::npos) << all_messages(bad.diag);
}

TEST(SpecErrorsAll, EveryProblemIsReportedNotOnlyTheFirst) {
  auto r = load(R"(name: bad
machines:
  local: {local: true, sudo: perhaps}
workloads:
  redis:
    server: {port: 0}
    client: {pipelin: 2, tool: wrk}
extra: 1
)");
  auto msgs = all_messages(r.diag);
  EXPECT_GE(r.diag.error_count(), 4u) << msgs;
  EXPECT_NE(msgs.find("t.yaml:3:"), std::string::npos) << msgs;
  EXPECT_NE(msgs.find("t.yaml:6:"), std::string::npos) << msgs;
  EXPECT_NE(msgs.find("t.yaml:7:"), std::string::npos) << msgs;
  EXPECT_NE(msgs.find("t.yaml:8:"), std::string::npos) << msgs;
}

TEST(SpecErrorsAll, LazyWithCachingModeIsAWarningNotAnError) {
  test::TempDir dir;
  std::ofstream(dir / "vm.xml") << "<domain/>";
  auto r = load(kHead + "hypervisor: {uri: 'test:///default'}\nguests:\n  vm: {machine: local, template: " +
                (dir / "vm.xml").string() + ", viommu: {model: intel, caching_mode: true}}\n" +
                "policy: {guest: lazy}\nworkloads:\n  redis: {}\n");
  EXPECT_FALSE(r.diag.has_errors()) << all_messages(r.diag);
  bool warned = false;
  for (const auto& d : r.diag.all())
    warned = warned || (d.severity == Diagnostic::Severity::warning &&
                        d.message.find("IOMMU batching disallowed due to virtualization") != std::string::npos);
  EXPECT_TRUE(warned) << all_messages(r.diag);
}

TEST(SpecRobustness, GarbageNeverCrashes) {
  std::string garbage;
  for (int i = 0; i < 4096; ++i) garbage += static_cast<char>((i * 7919) % 256);
  for (const std::string& text :
       {garbage, std::string("\0\0\0", 3), std::string("{{{{"), std::string(":::"), std::string("name: [}"),
        std::string("- - - -"), std::string("&a [*a]"), std::string("!!binary AAAA"), std::string("name: x\nmachines: 5\nworkloads: 3\n"),
        std::string(100000, '[')}) {
    auto r = load(text);
    EXPECT_TRUE(r.diag.has_errors());
  }
  auto json = load_text("{\"name\": \"x\",\n \"machines\": [1,}", "t.json");
  ASSERT_TRUE(json.diag.has_errors());
  EXPECT_EQ(json.diag.all()[0].mark.line, 2);
  EXPECT_NE(json.diag.all()[0].message.find("JSON syntax error"), std::string::npos) << json.diag.all()[0].message;
}

TEST(SpecRobustness, LongDigitRunsInUnquotedScalarsAreValues) {
  // std::regex recursed once per digit and overflowed the stack here (SIGSEGV).
  std::string digits(300000, '7');
  auto r = load("name: " + digits + "\nmachines:\n  local: {local: true}\nworkloads:\n  redis:\n    client: {requests: " +
                digits + "}\n");
  ASSERT_TRUE(r.diag.has_errors());
  EXPECT_NE(all_messages(r.diag).find("t.yaml:6:"), std::string::npos) << all_messages(r.diag).substr(0, 300);
  auto f = load("name: x\nmachines:\n  local: {local: true}\nworkloads:\n  redis:\n    client: {duration: 1." + digits +
                "e" + digits + "}\n");
  EXPECT_TRUE(f.diag.has_errors());
}

TEST(SpecValidate, CustomMetricRegexesAreCompiledWithTheirPosition) {
  std::string head = "name: x\nmachines:\n  local: {local: true}\n";
  auto bad = load(head + "workloads:\n  w:\n    kind: custom\n    server: {command: [srv]}\n"
                         "    client:\n      tool: custom\n      command: [cli]\n      metrics:\n"
                         "        throughput_ops: \"ops=([0-9.]+\"\n        errors: \"(a)(b)\"\n"
                         "        duration_s: 'time=([0-9.]+)s'\n");
  auto msg = all_messages(bad.diag);
  EXPECT_NE(msg.find("t.yaml:12:25: error:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("does not compile"), std::string::npos) << msg;
  EXPECT_NE(msg.find("t.yaml:13:17: error:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("exactly one capture group, it has 2"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("time="), std::string::npos) << "a good pattern is not reported: " << msg;
  auto collector = load(head + "workloads:\n  redis: {}\ncollectors:\n  c:\n    kind: custom\n    command: [x]\n"
                               "    metrics: {rate: '(?<=x)([0-9]+)'}\n");
  EXPECT_NE(all_messages(collector.diag).find("t.yaml:10:"), std::string::npos) << all_messages(collector.diag);
}

TEST(SpecRobustness, HugeDocumentRefused) {
  std::string big = "name: x\nblob: \"" + std::string(kMaxSpecBytes, 'a') + "\"\n";
  auto r = load(big);
  ASSERT_TRUE(r.diag.has_errors());
  EXPECT_NE(r.diag.all()[0].message.find("at most"), std::string::npos);
}

TEST(SpecMatrix, CrossProductZipExcludeAndRepetitions) {
  auto r = load(kHead + R"(policy:
  host: [strict, lazy, passthrough]
workloads:
  redis:
    client: {pipeline: [1, 16], connections: [10, 20]}
  nginx:
    client: {duration: 5s}
matrix:
  repetitions: 2
  zip: [[workloads.redis.client.pipeline, workloads.redis.client.connections]]
  exclude: [{policy.host: passthrough, workload: nginx}]
)");
  ASSERT_FALSE(r.diag.has_errors()) << all_messages(r.diag);
  // redis: 3 policies x 2 zipped pairs x 2 reps = 12; nginx: 2 policies (passthrough excluded) x 2 reps = 4.
  EXPECT_EQ(r.points.size(), 16u);
  std::set<std::string> ids;
  for (const auto& p : r.points) {
    ids.insert(p.id);
    if (p.workload == "redis") {
      int pipe = p.params["workloads.redis.client.pipeline"];
      int conns = p.params["workloads.redis.client.connections"];
      EXPECT_TRUE((pipe == 1 && conns == 10) || (pipe == 16 && conns == 20)) << p.params.dump();
      EXPECT_EQ(p.config.workloads.front().client.pipeline, pipe) << "the resolved config carries the value";
    } else {
      EXPECT_FALSE(p.params.contains("workloads.redis.client.pipeline")) << "redis axes do not multiply nginx";
      EXPECT_NE(p.params["policy.host"], "passthrough");
    }
    ASSERT_EQ(p.config.workloads.size(), 1u);
    EXPECT_EQ(p.config.workloads.front().name, p.workload);
    auto pol = p.params["policy.host"].get<std::string>();
    EXPECT_EQ(policy::to_string(*p.config.policy.host.policy), pol);
  }
  EXPECT_EQ(ids.size(), r.points.size()) << "run ids are unique";
}

TEST(SpecMatrix, RunIdsAreStableAcrossReorderingAndUnrelatedEdits) {
  auto a = load(kHead + "policy: {host: [strict, lazy]}\nworkloads:\n  redis: {}\n  nginx: {}\n");
  auto b = load("description: edited\n" + kHead +
                "policy: {host: [lazy, strict]}\nworkloads:\n  nginx: {client: {threads: 2}}\n  redis: {}\n");
  ASSERT_FALSE(a.diag.has_errors()) << all_messages(a.diag);
  ASSERT_FALSE(b.diag.has_errors()) << all_messages(b.diag);
  std::set<std::string> ia, ib;
  for (const auto& p : a.points) ia.insert(p.id);
  for (const auto& p : b.points) ib.insert(p.id);
  EXPECT_EQ(ia, ib);
  EXPECT_EQ(ia.size(), 4u);
}

TEST(SpecMatrix, ExplicitAxesSectionEqualsInlineLists) {
  auto inline_form = load(kHead + "policy: {host: [strict, lazy]}\nworkloads:\n  redis: {client: {pipeline: [1, 8]}}\n");
  auto explicit_form = load(kHead + "workloads:\n  redis: {}\nmatrix:\n  axes:\n    policy.host: [strict, lazy]\n"
                                    "    workloads.redis.client.pipeline: [1, 8]\n");
  ASSERT_FALSE(inline_form.diag.has_errors()) << all_messages(inline_form.diag);
  ASSERT_FALSE(explicit_form.diag.has_errors()) << all_messages(explicit_form.diag);
  ASSERT_EQ(inline_form.points.size(), 4u);
  ASSERT_EQ(explicit_form.points.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(inline_form.points[i].id, explicit_form.points[i].id);
}

TEST(SpecMatrix, SameAxisTwiceIsAnError) {
  auto r = load(kHead + "policy: {host: [strict, lazy]}\nworkloads:\n  redis: {}\nmatrix: {axes: {policy.host: [off]}}\n");
  EXPECT_NE(all_messages(r.diag).find("is given as a list in two places"), std::string::npos) << all_messages(r.diag);
}

TEST(SpecMatrix, TooManyRunsRefused) {
  auto r = load(kHead + "workloads:\n  redis: {client: {pipeline: [1,2,3,4,5,6,7,8,9,10], connections: [1,2,3,4,5,6,7,8,9,10], "
                        "requests: [1,2,3,4,5,6,7,8,9,10], data_size: [1,2,3,4,5,6,7,8,9,10], key_space: [1,2,3]}}\n");
  EXPECT_NE(all_messages(r.diag).find("expands to more than"), std::string::npos) << all_messages(r.diag);
}

TEST(SpecLoad, JsonAndYamlGiveTheSameSpec) {
  auto y = load_file(test::data_path("specs/testbed-copy.yaml"));
  auto j = load_file(test::data_path("specs/testbed.json"));
  ASSERT_TRUE(y.ok()) << all_messages(y.diag);
  ASSERT_TRUE(j.ok()) << all_messages(j.diag);
  EXPECT_EQ(y.spec.hash, j.spec.hash);
  EXPECT_EQ(y.spec.format, "yaml");
  EXPECT_EQ(j.spec.format, "json");
  Diagnostics dy, dj;
  auto py = expand(y, dy);
  auto pj = expand(j, dj);
  ASSERT_EQ(py.size(), pj.size());
  for (std::size_t i = 0; i < py.size(); ++i) EXPECT_EQ(py[i].id, pj[i].id);
}

TEST(SpecLoad, ExamplesAreValid) {
  // Every shipped example, found on disk (a hand-kept list would miss the next one).
  std::vector<std::filesystem::path> examples;
  for (const auto& e : std::filesystem::directory_iterator(std::filesystem::path(IOMMUVM_SOURCE_DIR) / "configs/examples"))
    if (e.path().extension() == ".yaml") examples.push_back(e.path());
  ASSERT_GE(examples.size(), 6u);
  for (const auto& f : examples) {
    auto l = load_file(f);
    ASSERT_TRUE(l.ok()) << f << "\n" << all_messages(l.diag);
    Diagnostics d;
    auto pts = expand(l, d);
    EXPECT_FALSE(d.has_errors()) << f << "\n" << all_messages(d);
    EXPECT_FALSE(pts.empty());
  }
}

TEST(Nearest, SuggestsCloseKeysOnly) {
  EXPECT_EQ(nearest("pipelin", {"pipeline", "path"}), "pipeline");
  EXPECT_EQ(nearest("zzzzzz", {"pipeline", "path"}), "");
}

TEST(SpecRobustness, AliasBombIsRefusedNamingTheLimit) {
  // Nine levels of ten aliases: ten lines that expand to 10^10 values.
  std::string s = "name: x\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 9; ++i) {
    s += fmt::format("a{}: &a{} [", i, i);
    for (int k = 0; k < 10; ++k) s += fmt::format("{}*a{}", k ? ", " : "", i - 1);
    s += "]\n";
  }
  auto r = load(s);
  auto msg = all_messages(r.diag);
  EXPECT_NE(msg.find(fmt::format("more than {} values once its aliases (*name) are expanded (the limit)", kMaxNodes)),
            std::string::npos) << msg;
  // A big value behind many aliases: the expanded text is bounded too.
  std::string big(kMaxScalarBytes - 1, 'x');
  std::string many = "name: x\nbig: &b " + big + "\nmany: [";
  for (int i = 0; i < 100; ++i) many += i ? ", *b" : "*b";
  auto m = load(many + "]\n");
  EXPECT_NE(all_messages(m.diag).find("bytes once its aliases (*name) are expanded (the limit)"), std::string::npos)
      << all_messages(m.diag).substr(0, 400);
  // An alias used a few times is fine.
  auto ok = load(std::string(kMinimal) + "defaults: &d {requests: 5}\nother: *d\n");
  EXPECT_EQ(all_messages(ok.diag).find("the limit"), std::string::npos) << all_messages(ok.diag);
}

TEST(SpecRobustness, ValuesAndKeysHaveLimits) {
  auto v = load("name: x\nblob: " + std::string(kMaxScalarBytes + 1, 'v') + "\n");
  EXPECT_NE(all_messages(v.diag).find(fmt::format("values may be at most {} bytes (the limit)", kMaxScalarBytes)),
            std::string::npos) << all_messages(v.diag).substr(0, 300);
  // An explicit key (`? KEY`): yaml-cpp itself refuses implicit keys over 1024 characters.
  auto k = load("name: x\n? " + std::string(kMaxKeyBytes + 1, 'k') + "\n: 1\n");
  EXPECT_NE(all_messages(k.diag).find(fmt::format("keys may be at most {} bytes (the limit)", kMaxKeyBytes)),
            std::string::npos) << all_messages(k.diag).substr(0, 300);
  // The message quotes no value in full: it stays short.
  EXPECT_LT(all_messages(k.diag).size(), 2000u);
}

TEST(SpecRobustness, FlowNestingIsCheckedBeforeTheParserRecurses) {
  auto r = load("name: x\nx: " + std::string(100000, '[') + std::string(100000, ']') + "\n");
  auto msg = all_messages(r.diag);
  EXPECT_NE(msg.find(fmt::format("t.yaml:2:{}: error: document is nested more than {} levels deep", 4 + kMaxDepth,
                                 kMaxDepth)), std::string::npos) << msg;
  // Brackets inside quotes and comments are text.
  auto q = load(std::string(kMinimal) + "description: \"" + std::string(200, '[') + "\"  # " + std::string(200, '{') + "\n");
  EXPECT_FALSE(q.diag.has_errors()) << all_messages(q.diag);
}

TEST(SpecRobustness, InvalidUtf8IsAnErrorAtItsPosition) {
  auto r = load("name: x\nmachines:\n  lo\xc3\x28: {local: true}\n");
  auto msg = all_messages(r.diag);
  EXPECT_NE(msg.find("t.yaml:3:5: error: byte 0xc3 is not valid UTF-8"), std::string::npos) << msg;
  auto ok = load(std::string(kMinimal) + "description: \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x99\x82\"\n");
  EXPECT_FALSE(ok.diag.has_errors()) << all_messages(ok.diag);
  auto json = load_text("{\"name\": \"a\xff\"}", "t.json");
  EXPECT_TRUE(json.diag.has_errors());
}

// yaml-cpp decodes "\_" and "\N" in double quotes to single bytes that are not UTF-8 (a
// libFuzzer finding: the spec hash's JSON dump then threw). In values and keys alike.
TEST(SpecRobustness, EscapesThatDecodeToInvalidUtf8AreErrorsWhereTheyAre) {
  for (const char* esc : {"\\_", "\\N"}) {
    auto v = load(std::string(kMinimal) + "description: \"a" + esc + "b\"\n");
    auto msg = all_messages(v.diag);
    EXPECT_NE(msg.find("error: this value decodes to byte 0x"), std::string::npos) << esc << ": " << msg;
    auto k = load(std::string(kMinimal) + "\"x" + esc + "\": 1\n");
    EXPECT_NE(all_messages(k.diag).find("error: this key decodes to byte 0x"), std::string::npos) << all_messages(k.diag);
  }
  // The escapes yaml-cpp decodes to UTF-8 stay values.
  auto ok = load(std::string(kMinimal) + "description: \"caf\\xe9 \\u20ac\"\n");
  EXPECT_FALSE(ok.diag.has_errors()) << all_messages(ok.diag);
}

TEST(SpecRobustness, NumbersOutOfRangeAreErrorsNotValues) {
  for (const std::string& n : {std::string("1e999"), std::string(400, '7'), std::string("-") + std::string(400, '7')}) {
    auto r = load(std::string(kMinimal) + "matrix: {repetitions: " + n + "}\n");
    auto msg = all_messages(r.diag);
    EXPECT_NE(msg.find("t.yaml:7:"), std::string::npos) << n.substr(0, 10) << ": " << msg.substr(0, 300);
    auto j = load_text(R"({"name": "x", "machines": {"local": {"local": true}}, "workloads": {"redis": {}}, "matrix": {"repetitions": )" +
                           n + "}}",
                       "t.json");
    EXPECT_TRUE(j.diag.has_errors()) << n.substr(0, 10);
  }
}

TEST(SpecMatrix, EachPointHoldsOnlyItsWorkload) {
  std::string s = "name: x\nmachines:\n  local: {local: true}\nworkloads:\n";
  for (int i = 0; i < 300; ++i) s += fmt::format("  w{}:\n    kind: redis\n    client: {{requests: {}}}\n", i, 1000 + i);
  auto r = load(s + "matrix: {repetitions: 2}\n");
  ASSERT_FALSE(r.diag.has_errors()) << all_messages(r.diag);
  ASSERT_EQ(r.points.size(), 600u);
  for (const auto& p : r.points) {
    ASSERT_EQ(p.config.workloads.size(), 1u);
    EXPECT_EQ(p.config.workloads[0].name, p.workload);
    EXPECT_EQ(p.config.workloads[0].client.requests, 1000 + std::stoi(p.workload.substr(1)));
    EXPECT_TRUE(p.config.source_text.empty()) << "a point does not copy the spec's text";
  }
  // An axis of one workload applies to it only; the others keep their own value.
  auto a = load("name: x\nmachines:\n  local: {local: true}\nworkloads:\n  a: {kind: redis, client: {requests: [10, 20]}}\n"
                "  b: {kind: redis, client: {requests: 30}}\n");
  ASSERT_FALSE(a.diag.has_errors()) << all_messages(a.diag);
  std::vector<std::string> seen;
  for (const auto& p : a.points) seen.push_back(p.workload + "=" + std::to_string(p.config.workloads[0].client.requests));
  EXPECT_EQ(seen, (std::vector<std::string>{"a=10", "a=20", "b=30"}));
}
