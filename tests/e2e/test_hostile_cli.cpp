// Hostile input through the real binary: specs, tool outputs, kernel logs, GRUB files and
// results folders in the classes a hostile or careless user produces (huge numbers, long
// digit runs, alias bombs, deep nesting, invalid UTF-8, NUL bytes, huge lines, files that
// are not regular files, torn JSON, names that climb out of their folder, patterns with
// nested quantifiers). Every case must end within 10 s and 3 GB of address space with exit 0
// or 2: no signal, no hang, no exit 3 "environment" for what is only bad input.
//
// Nothing here is a fake: the inputs are files on disk and the binary is the one users run.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>

#include "campaign_fixture.hpp"
#include "test_support.hpp"

using namespace iommuvm;
namespace stdfs = std::filesystem;

namespace {

std::string repeat(const std::string& s, std::size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

const std::string kInvalidUtf8 = "\xff\xfe\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x90\x28\xbc";

// One hostile case: FILES are written under a fresh folder, then ARGS run (the token "@"
// stands for that folder). OK lists the exit codes that are right for this input.
struct Case {
  std::string name;
  std::function<void(const stdfs::path&)> files;
  std::vector<std::string> args;
  std::vector<int> ok = {0, 2};
};

struct Outcome {
  int code;
  double seconds;
  std::string err;
};

Outcome run_limited(const stdfs::path& dir, const std::vector<std::string>& args) {
  // timeout(1) kills after 10 s (exit 137); prlimit caps the address space at 3 GiB.
  std::vector<std::string> argv = {"timeout", "-s", "KILL", "10", "prlimit", "--as=3221225472", "--",
                                   test::binary_path().string()};
#if defined(__SANITIZE_ADDRESS__)
  // An ASan binary reserves terabytes of address space for its shadow memory at start: the
  // 3 GB cap would kill it before main (exit 134). Under ASan only the time limit applies.
  argv.erase(argv.begin() + 4, argv.begin() + 7);
#endif
  for (const auto& a : args) {
    std::string s = a;
    for (auto pos = s.find('@'); pos != std::string::npos; pos = s.find('@', pos + dir.string().size()))
      s.replace(pos, 1, dir.string());
    argv.push_back(s);
  }
  auto t0 = std::chrono::steady_clock::now();
  auto r = test::run_process(argv);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return {r.exit_code, secs, r.err.substr(0, 600)};
}

void run_cases(const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    test::TempDir dir;
    c.files(dir.path());
    auto o = run_limited(dir.path(), c.args);
    bool ok = std::find(c.ok.begin(), c.ok.end(), o.code) != c.ok.end();
    EXPECT_TRUE(ok) << c.name << ": exit " << o.code << " after " << o.seconds << " s (137: killed at 10 s or by memory)\n"
                    << o.err;
    EXPECT_LT(o.seconds, 10.0) << c.name;
    // A bad input is located: exit 2 says what is wrong, never "internal".
    if (o.code == 2) EXPECT_EQ(o.err.find("internal"), std::string::npos) << c.name << ": " << o.err;
  }
}

const std::string kMachines = "machines:\n  local: {local: true, sudo: false}\n";
const std::string kWorkload =
    "workloads:\n  w:\n    kind: custom\n    server: {command: [sleep, '1'], ready: none}\n"
    "    client: {command: [echo, ops=5], metrics: {throughput_ops: 'ops=([0-9]+)'}}\n";

// A spec case: TEXT as FILE (spec.yaml or spec.json), through validate and plan.
std::vector<Case> spec_cases(const std::string& name, const std::string& text, const std::string& file = "spec.yaml") {
  std::vector<Case> out;
  for (const std::string cmd : {"validate", "plan"})
    out.push_back({name + " (" + cmd + ")", [=](const stdfs::path& d) { test::write_text(d / file, text); },
                   {cmd, "@/" + file}});
  return out;
}

std::vector<Case> all_spec_cases() {
  std::vector<std::pair<std::string, std::string>> specs;
  std::string digits = repeat("9", 200000);
  specs.push_back({"long digit run in a scalar", "name: a\n" + kMachines + kWorkload + "matrix: {repetitions: " + digits + "}\n"});
  specs.push_back({"long digit run as a name", "name: " + digits + "\n" + kMachines + kWorkload});
  specs.push_back({"long digit run as a duration", "name: a\n" + kMachines + kWorkload + "matrix: {cooldown: " + digits + "s}\n"});
  specs.push_back({"huge float", "name: a\n" + kMachines + kWorkload + "matrix: {repetitions: 1e999}\n"});
  specs.push_back({"negative huge", "name: a\n" + kMachines + kWorkload + "matrix: {repetitions: -" + digits + "}\n"});
  {
    // Billion laughs: nine levels of ten aliases each.
    std::string s = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (int i = 1; i <= 9; ++i) {
      s += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
      for (int k = 0; k < 10; ++k) s += std::string(k ? ", " : "") + "*a" + std::to_string(i - 1);
      s += "]\n";
    }
    specs.push_back({"alias bomb", "name: a\n" + kMachines + kWorkload + s});
    // The same, as a workload's client (where the value is read).
    std::string big(1 << 20, 'x');
    specs.push_back({"alias of a 1 MiB scalar, many times",
                     "name: a\n" + kMachines + kWorkload + "big: &b " + big + "\nmany: [" +
                         [] { std::string r; for (int i = 0; i < 2000; ++i) r += (i ? ",*b" : "*b"); return r; }() + "]\n"});
  }
  specs.push_back({"deep nesting (flow)", "name: a\nx: " + repeat("[", 100000) + repeat("]", 100000) + "\n"});
  specs.push_back({"deep nesting (block)", [] {
                     std::string s = "name: a\n";
                     for (int i = 0; i < 3000; ++i) s += std::string(static_cast<std::size_t>(i), ' ') + "k:\n";
                     return s;
                   }()});
  specs.push_back({"invalid UTF-8 in a value", "name: a" + kInvalidUtf8 + "\n" + kMachines + kWorkload});
  specs.push_back({"invalid UTF-8 in a key", "name: a\n" + kMachines + kWorkload + "n" + kInvalidUtf8 + ": 1\n"});
  specs.push_back({"invalid UTF-8 in a workload name", "name: a\n" + kMachines +
                                                           "workloads:\n  w" + kInvalidUtf8 + ":\n    kind: custom\n"
                                                           "    server: {command: [sleep, '1'], ready: none}\n"
                                                           "    client: {command: [echo, ops=5], metrics: {throughput_ops: 'ops=([0-9]+)'}}\n"});
  specs.push_back({"NUL byte", std::string("name: a\0b\n", 10) + kMachines + kWorkload});
  specs.push_back({"empty file", ""});
  specs.push_back({"only a document marker", "---\n"});
  specs.push_back({"a scalar document", "hello\n"});
  specs.push_back({"a list document", "- 1\n- 2\n"});
  specs.push_back({"BOM and CRLF", "\xef\xbb\xbfname: a\r\n" + kMachines + kWorkload});
  specs.push_back({"tabs for indentation", "name: a\nmachines:\n\tlocal: {local: true}\n"});
  specs.push_back({"unterminated quote", "name: \"a\n" + kMachines});
  specs.push_back({"a very long key", "name: a\n" + repeat("k", 1 << 20) + ": 1\n"});
  specs.push_back({"control characters", "name: \x01\x02\x1b[31m\n" + kMachines + kWorkload});
  specs.push_back({"name climbs out", "name: ..\n" + kMachines + kWorkload});
  specs.push_back({"collector name climbs out", "name: a\n" + kMachines + kWorkload +
                                                    "collectors:\n  ../../x: {kind: command, machine: local, command: [true]}\n"});
  specs.push_back({"workload name with a slash", "name: a\n" + kMachines +
                                                     "workloads:\n  a/b:\n    kind: custom\n    server: {command: [sleep, '1'], ready: none}\n"
                                                     "    client: {command: [echo, ops=5], metrics: {throughput_ops: 'ops=([0-9]+)'}}\n"});
  specs.push_back({"pattern with nested quantifiers", "name: a\n" + kMachines +
                                                          "workloads:\n  w:\n    kind: custom\n    server: {command: [sleep, '1'], ready: none}\n"
                                                          "    client: {command: [echo, ops=5], metrics: {throughput_ops: '(a+)+$'}}\n"});
  specs.push_back({"pattern that does not compile", "name: a\n" + kMachines +
                                                        "workloads:\n  w:\n    kind: custom\n    server: {command: [sleep, '1'], ready: none}\n"
                                                        "    client: {command: [echo, ops=5], metrics: {throughput_ops: 'ops=([0-9]+'}}\n"});
  {
    // Four thousand workloads: the matrix must expand in time linear in the spec.
    std::string s = "name: a\n" + kMachines + "workloads:\n";
    for (int i = 0; i < 4000; ++i)
      s += "  w" + std::to_string(i) + ":\n    kind: custom\n    server: {command: [sleep, '1'], ready: none}\n"
           "    client: {command: [echo, ops=5], metrics: {throughput_ops: 'ops=([0-9]+)'}}\n";
    specs.push_back({"four thousand workloads", s});
  }
  {
    // A product that explodes: 12 axes of 10 values.
    std::string s = "name: a\n" + kMachines + kWorkload + "matrix:\n  axes:\n";
    for (int i = 0; i < 12; ++i) s += "    x" + std::to_string(i) + ": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n";
    specs.push_back({"matrix product explosion", s});
  }
  specs.push_back({"repetitions beyond reason", "name: a\n" + kMachines + kWorkload + "matrix: {repetitions: 4000000000}\n"});
  specs.push_back({"a duration beyond reason", "name: a\n" + kMachines + kWorkload + "matrix: {cooldown: 99999999999999h}\n"});
  std::vector<Case> out;
  for (const auto& [n, t] : specs)
    for (auto& c : spec_cases(n, t)) out.push_back(std::move(c));
  // JSON specs.
  for (const auto& [n, t] : std::vector<std::pair<std::string, std::string>>{
           {"JSON 1e999", R"({"name": "a", "machines": {"local": {"local": true}}, "matrix": {"repetitions": 1e999}})"},
           {"JSON 400-digit integer", R"({"name": "a", "matrix": {"repetitions": )" + repeat("7", 400) + "}}"},
           {"JSON invalid UTF-8", "{\"name\": \"a" + kInvalidUtf8 + "\"}"},
           {"JSON bad escape", R"({"name": "\ud800"})"},
           {"JSON deep", "{\"x\": " + repeat("[", 100000) + repeat("]", 100000) + "}"},
           {"JSON truncated", R"({"name": "a", "machines": {)"}})
    for (auto& c : spec_cases(n, t, "spec.json")) out.push_back(std::move(c));
  return out;
}

}  // namespace

TEST(Hostile, Specs) { run_cases(all_spec_cases()); }

TEST(Hostile, ToolOutputs) {
  std::vector<std::pair<std::string, std::string>> outputs;
  std::string digits = repeat("1", 300000);
  outputs.push_back({"empty", ""});
  outputs.push_back({"long digit line", digits + "\n"});
  outputs.push_back({"long digit line with a prefix", "Requests/sec: " + digits + "\nTransfer/sec: " + digits + "MB\n"});
  outputs.push_back({"huge line of text", repeat("x ", 3 << 20) + "\n"});
  outputs.push_back({"binary garbage", [] {
                       std::string s;
                       for (int i = 0; i < 1 << 16; ++i) s += static_cast<char>((i * 131 + 7) & 0xff);
                       return s;
                     }()});
  outputs.push_back({"invalid UTF-8", "\"GET\",\"" + kInvalidUtf8 + "\"\nRequests/sec: 1" + kInvalidUtf8 + "\n"});
  outputs.push_back({"JSON 1e999", R"({"start": {}, "end": {"sum_received": {"bits_per_second": 1e999}}, "ALL STATS": {"Totals": {"Ops/sec": 1e999}}})"});
  outputs.push_back({"JSON 400 digits", R"({"end": {"sum_received": {"bits_per_second": )" + repeat("9", 400) + "}}}"});
  outputs.push_back({"JSON deep", repeat("[", 200000)});
  outputs.push_back({"redis csv numbers out of range", "\"test\",\"rps\"\n\"GET\",\"1e999\"\n\"SET\",\"" + digits + "\"\n"});
  outputs.push_back({"many lines", repeat("Latency  1.00ms  2.00ms  3.00ms  4.00%\n", 200000)});
  outputs.push_back({"carriage returns only", repeat("\r", 1 << 20)});
  std::vector<Case> cases;
  for (const std::string tool : {"redis-benchmark", "memtier", "memaslap", "wrk", "wrk2", "iperf3"})
    for (const auto& [n, text] : outputs)
      cases.push_back({tool + ": " + n, [text = text](const stdfs::path& d) { test::write_text(d / "out.txt", text); },
                       {"parse", "--tool", tool, "@/out.txt"}});
  for (const auto& [n, text] : outputs) {
    cases.push_back({"custom: " + n, [text = text](const stdfs::path& d) { test::write_text(d / "out.txt", text); },
                     {"parse", "--tool", "custom", "--metric", "ops=([0-9]+)", "@/out.txt"}});
    cases.push_back({"custom, nested quantifiers: " + n, [text = text](const stdfs::path& d) { test::write_text(d / "out.txt", text); },
                     {"parse", "--tool", "custom", "--metric", "ops=((1+)+)x", "@/out.txt"}});
  }
  cases.push_back({"custom: a pattern that does not compile", [](const stdfs::path& d) { test::write_text(d / "out.txt", "ops=1\n"); },
                   {"parse", "--tool", "custom", "--metric", "ops=([0-9]+", "@/out.txt"}});
  cases.push_back({"a folder as the file", [](const stdfs::path& d) { stdfs::create_directories(d / "out.txt"); },
                   {"parse", "--tool", "wrk", "@/out.txt"}});
  cases.push_back({"/dev/zero as the file", [](const stdfs::path&) {}, {"parse", "--tool", "wrk", "/dev/zero"}});
  cases.push_back({"a FIFO as the file", [](const stdfs::path& d) { ::mkfifo((d / "fifo").c_str(), 0600); },
                   {"parse", "--tool", "wrk", "@/fifo"}});
  run_cases(cases);
}

TEST(Hostile, KernelLogsAndCommandLines) {
  std::vector<std::pair<std::string, std::string>> logs;
  logs.push_back({"empty", ""});
  logs.push_back({"invalid UTF-8", "[    0.000000] DMAR: IOMMU enabled" + kInvalidUtf8 + "\n[    0.1] iommu: Default domain type: " +
                                       kInvalidUtf8 + "\n"});
  logs.push_back({"long digit timestamps", "[" + repeat("9", 300000) + "] DMAR: IOMMU enabled\n"});
  logs.push_back({"huge line", "[    0.000000] " + repeat("iommu.strict=1 ", 400000) + "\n"});
  {
    static constexpr char kNul[] = "[    0.0] DMAR: \0\0\0 IOMMU enabled\n";  // its length, not 36: ASan saw the overflow
    logs.push_back({"NUL bytes", std::string(kNul, sizeof kNul - 1)});
  }
  logs.push_back({"many lines", repeat("[    0.000000] DMAR: [DMA Read NO_PASID] Request device [ca:00.2] fault addr 0x0\n", 100000)});
  logs.push_back({"kmsg form with huge sequence", "6," + repeat("9", 1000) + ",1,-;iommu: Default domain type: Translated\n"});
  std::vector<Case> cases;
  for (const auto& [n, text] : logs) {
    cases.push_back({"dmesg: " + n, [text = text](const stdfs::path& d) {
                       test::write_text(d / "dmesg", text);
                       test::write_text(d / "cmdline", "BOOT_IMAGE=/vmlinuz intel_iommu=on\n");
                     },
                     {"policy", "evidence", "--dmesg", "@/dmesg", "--cmdline", "@/cmdline"}});
    cases.push_back({"cmdline: " + n, [text = text](const stdfs::path& d) { test::write_text(d / "cmdline", text); },
                     {"policy", "evidence", "--cmdline", "@/cmdline", "--requested", "strict"}});
  }
  cases.push_back({"sysfs with an invalid UTF-8 group type", [](const stdfs::path& d) {
                     test::write_text(d / "sys/kernel/iommu_groups/0/type", "DMA" + kInvalidUtf8 + "\n");
                     test::write_text(d / ("sys/kernel/iommu_groups/" + kInvalidUtf8) / "type", "identity\n");
                     test::write_text(d / "cmdline", "intel_iommu=on\n");
                   },
                   {"policy", "evidence", "--sysfs-root", "@", "--cmdline", "@/cmdline"}});
  cases.push_back({"/dev/zero as the kernel log", [](const stdfs::path&) {}, {"policy", "evidence", "--dmesg", "/dev/zero"}});
  cases.push_back({"a FIFO as the command line", [](const stdfs::path& d) { ::mkfifo((d / "fifo").c_str(), 0600); },
                   {"policy", "evidence", "--cmdline", "@/fifo"}});
  run_cases(cases);
}

TEST(Hostile, GrubFiles) {
  std::vector<std::pair<std::string, std::string>> files;
  files.push_back({"empty", ""});
  files.push_back({"conditional assignment", "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n[ -e /x ] && GRUB_CMDLINE_LINUX_DEFAULT=\"intel_iommu=off\"\n"});
  files.push_back({"multi-line value of another variable", "GRUB_X=\"a\nGRUB_CMDLINE_LINUX_DEFAULT=b\"\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n"});
  files.push_back({"command substitution", "GRUB_CMDLINE_LINUX_DEFAULT=\"$(rm -rf /tmp/x) quiet\"\n"});
  files.push_back({"unbalanced quote", "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\n"});
  files.push_back({"invalid UTF-8", "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet " + kInvalidUtf8 + "\"\n"});
  files.push_back({"NUL bytes", std::string("GRUB_CMDLINE_LINUX_DEFAULT=\"q\0uiet\"\n", 36)});
  files.push_back({"huge value", "GRUB_CMDLINE_LINUX_DEFAULT=\"" + repeat("a ", 4 << 20) + "\"\n"});
  files.push_back({"huge digit run", "GRUB_CMDLINE_LINUX_DEFAULT=" + repeat("9", 500000) + "\n"});
  files.push_back({"backslash continuation", "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet \\\nintel_iommu=off\"\n"});
  files.push_back({"many assignments", repeat("GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n", 100000)});
  files.push_back({"export and semicolons", "export GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"; GRUB_TIMEOUT=5\n"});
  std::vector<Case> cases;
  for (const auto& [n, text] : files) {
    cases.push_back({"policy set: " + n, [text = text](const stdfs::path& d) { test::write_text(d / "grub", text); },
                     {"policy", "set", "--grub-file", "@/grub", "--policy", "strict", "--vendor", "intel", "--output", "@/out"}});
    cases.push_back({"policy set in place: " + n, [text = text](const stdfs::path& d) { test::write_text(d / "grub", text); },
                     {"policy", "set", "--grub-file", "@/grub", "--policy", "passthrough", "--vendor", "amd"}});
  }
  cases.push_back({"/dev/zero as the GRUB file", [](const stdfs::path& d) { stdfs::create_directories(d); },
                   {"policy", "set", "--grub-file", "/dev/zero", "--policy", "strict", "--vendor", "intel", "--output", "@/out"}});
  cases.push_back({"a FIFO as the GRUB file", [](const stdfs::path& d) { ::mkfifo((d / "fifo").c_str(), 0600); },
                   {"policy", "set", "--grub-file", "@/fifo", "--policy", "strict", "--vendor", "intel", "--output", "@/out"}});
  run_cases(cases);
}

namespace {

// A copy of the loopback sample campaign with HOSTILE applied to it.
Case results_case(const std::string& name, std::function<void(const stdfs::path&)> hostile) {
  return {name,
          [hostile](const stdfs::path& d) {
            stdfs::copy(test::data_path("results/loopback-sample"), d / "c", stdfs::copy_options::recursive);
            hostile(d / "c");
          },
          {"report", "@/c", "--format", "md", "--output", "@/report"}};
}

stdfs::path a_run(const stdfs::path& c) {
  for (const auto& e : stdfs::directory_iterator(c / "runs")) return e.path();
  return {};
}

}  // namespace

TEST(Hostile, ResultsFolders) {
  std::vector<Case> cases;
  std::string digits = repeat("8", 300000);
  auto run_json = [](const stdfs::path& c, const std::string& text) { test::write_text(a_run(c) / "run.json", text); };
  cases.push_back(results_case("run.json empty", [=](const stdfs::path& c) { run_json(c, ""); }));
  cases.push_back(results_case("run.json torn", [=](const stdfs::path& c) { run_json(c, R"({"status": "ok", "metr)"); }));
  cases.push_back(results_case("run.json 1e999", [=](const stdfs::path& c) {
    run_json(c, R"({"status": "ok", "metrics": {"throughput_ops": 1e999}})");
  }));
  cases.push_back(results_case("run.json 400 digits", [=](const stdfs::path& c) {
    run_json(c, R"({"status": "ok", "metrics": {"throughput_ops": )" + repeat("9", 400) + "}}");
  }));
  cases.push_back(results_case("run.json invalid UTF-8", [=](const stdfs::path& c) {
    run_json(c, "{\"status\": \"ok\", \"workload\": \"" + kInvalidUtf8 + "\"}");
  }));
  cases.push_back(results_case("run.json deep", [=](const stdfs::path& c) { run_json(c, repeat("[", 200000)); }));
  cases.push_back(results_case("run.json wrong types", [=](const stdfs::path& c) {
    run_json(c, R"({"status": 5, "metrics": [1, 2], "params": "x", "point": null, "repetition": "one"})");
  }));
  cases.push_back(results_case("run.json a list", [=](const stdfs::path& c) { run_json(c, "[1, 2, 3]"); }));
  cases.push_back(results_case("run.json a folder", [](const stdfs::path& c) {
    auto r = a_run(c) / "run.json";
    stdfs::remove(r);
    stdfs::create_directories(r);
  }));
  cases.push_back(results_case("run.json a link to /dev/zero", [](const stdfs::path& c) {
    auto r = a_run(c) / "run.json";
    stdfs::remove(r);
    stdfs::create_symlink("/dev/zero", r);
  }));
  cases.push_back(results_case("run.json a FIFO", [](const stdfs::path& c) {
    auto r = a_run(c) / "run.json";
    stdfs::remove(r);
    ::mkfifo(r.c_str(), 0600);
  }));
  cases.push_back(results_case("campaign.json missing", [](const stdfs::path& c) { stdfs::remove(c / "campaign.json"); }));
  cases.push_back(results_case("campaign.json garbage", [](const stdfs::path& c) { test::write_text(c / "campaign.json", "\x01\x02" + kInvalidUtf8); }));
  cases.push_back(results_case("campaign.json a FIFO", [](const stdfs::path& c) {
    stdfs::remove(c / "campaign.json");
    ::mkfifo((c / "campaign.json").c_str(), 0600);
  }));
  cases.push_back(results_case("spec.yaml long digits", [=](const stdfs::path& c) { test::write_text(c / "spec.yaml", "name: " + digits + "\n"); }));
  cases.push_back(results_case("spec.yaml alias bomb", [](const stdfs::path& c) {
    std::string s = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (int i = 1; i <= 9; ++i) {
      s += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
      for (int k = 0; k < 10; ++k) s += std::string(k ? ", " : "") + "*a" + std::to_string(i - 1);
      s += "]\n";
    }
    test::write_text(c / "spec.yaml", s);
  }));
  cases.push_back(results_case("spec.yaml a link to /dev/zero", [](const stdfs::path& c) {
    stdfs::remove(c / "spec.yaml");
    stdfs::create_symlink("/dev/zero", c / "spec.yaml");
  }));
  cases.push_back(results_case("journal torn last line", [](const stdfs::path& c) {
    std::ofstream(c / "journal.jsonl", std::ios::app) << R"({"event": "run.end", "ru)";
  }));
  cases.push_back(results_case("journal invalid UTF-8 and 1e999", [](const stdfs::path& c) {
    std::ofstream(c / "journal.jsonl", std::ios::app) << "{\"event\": \"" << kInvalidUtf8 << "\", \"t\": 1e999}\n";
  }));
  cases.push_back(results_case("a run named with invalid UTF-8", [](const stdfs::path& c) {
    stdfs::copy(a_run(c), c / "runs" / ("x" + kInvalidUtf8), stdfs::copy_options::recursive);
  }));
  cases.push_back(results_case("runs a file", [](const stdfs::path& c) {
    stdfs::remove_all(c / "runs");
    test::write_text(c / "runs", "x");
  }));
  cases.push_back(results_case("many runs", [](const stdfs::path& c) {
    auto r = a_run(c);
    for (int i = 0; i < 2000; ++i) stdfs::copy(r, c / "runs" / ("copy-" + std::to_string(i)), stdfs::copy_options::recursive);
  }));
  cases.push_back(results_case("huge metric values", [=](const stdfs::path& c) {
    run_json(c, R"({"status": "ok", "metrics": {"throughput_ops": 1.7976931348623157e308, "latency_p99_us": -1.7976931348623157e308}})");
  }));
  cases.push_back({"not a folder", [](const stdfs::path& d) { test::write_text(d / "c", "x"); }, {"report", "@/c"}});
  cases.push_back({"an empty folder", [](const stdfs::path& d) { stdfs::create_directories(d / "c"); }, {"report", "@/c"}});
  run_cases(cases);
}
