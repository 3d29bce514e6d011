// Canaries through the real binary (spec canary:, docs/spec.md): a short run of each workload
// before the runs of its configuration, kept in canaries.jsonl and compared with the previous
// canary of the same configuration.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "iommuvm/util/fs.hpp"
#include "campaign_fixture.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using nlohmann::json;
namespace stdfs = std::filesystem;

namespace {

stdfs::path only_campaign(const stdfs::path& out, const std::string& name) {
  stdfs::path camp;
  for (const auto& c : stdfs::directory_iterator(out / name)) camp = c.path();
  return camp;
}

std::vector<json> canaries(const stdfs::path& camp) {
  std::vector<json> out;
  std::ifstream in(camp / "canaries.jsonl");
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

}  // namespace

// Redis and redis-benchmark on 127.0.0.1: the canary is a real short run before the two
// repetitions, in canaries/ and canaries.jsonl, not among the runs.
TEST(Canary, ARealShortRunBeforeTheRunsOfItsConfiguration) {
  for (const char* p : {"redis-server", "redis-benchmark"})
    if (!test::have_program(p)) GTEST_SKIP() << p << " is not installed (scripts/setup.sh installs it)";
  test::TempDir dir;
  std::string spec = "name: canary\noutput: " + (dir / "results").string() +
                     "\nmachines:\n  local: {local: true}\n"
                     "workloads:\n  redis:\n    kind: redis\n"
                     "    client: {tool: redis-benchmark, requests: 3000, connections: 4, tests: [get]}\n"
                     "canary: {requests: 500, max_drop: 50}\n"
                     "matrix: {repetitions: 2}\n";
  std::ofstream(dir / "canary.yaml") << spec;
  auto plan = test::run_process({test::binary_path().string(), "plan", (dir / "canary.yaml").string()});
  ASSERT_EQ(plan.exit_code, 0) << plan.out << plan.err;
  EXPECT_NE(plan.out.find("canary canary-redis-"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("(500 requests)"), std::string::npos) << plan.out;
  auto r = test::run_process({test::binary_path().string(), "run", (dir / "canary.yaml").string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("[canary] canary-redis-"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[2/2]"), std::string::npos) << r.out;  // the canary is not counted as a run
  auto camp = only_campaign(dir / "results", "canary");
  auto c = canaries(camp);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0]["status"], "ok") << c[0].dump();
  EXPECT_EQ(c[0]["workload"], "redis");
  EXPECT_GT(c[0]["throughput_ops"].get<double>(), 0);
  EXPECT_FALSE(c[0].contains("previous"));  // the first of its configuration: the reference
  EXPECT_TRUE(stdfs::exists(camp / "canaries" / c[0]["id"].get<std::string>() / "raw"));
  int runs = 0;
  for (const auto& e : stdfs::directory_iterator(camp / "runs")) {
    ++runs;
    EXPECT_EQ(e.path().filename().string().rfind("canary-", 0), std::string::npos) << e.path();
    auto j = json::parse(fs::read_file(e.path() / "run.json"));
    EXPECT_FALSE(j.contains("flags")) << j.dump();
  }
  EXPECT_EQ(runs, 2);
  // The canary measured 500 requests, the runs 3000 (redis-benchmark's own count of its requests).
  auto raw = fs::read_file(camp / "canaries" / c[0]["id"].get<std::string>() / "raw" / "measure-redis-benchmark.out");
  EXPECT_NE(raw.find("GET"), std::string::npos) << raw;
}

// A canary that measures less than the previous canary of its configuration flags the runs
// that follow it. The drop is made on purpose: a custom client prints a throughput from a
// counter file, and the first invocation interrupts itself during its second run (SIGINT, as a
// user's Ctrl-C), so that the resumed campaign runs a second canary of the same configuration.
TEST(Canary, ADropAgainstThePreviousCanaryFlagsTheRunsAfterIt) {
  test::TempDir dir;
  auto spec_path = dir / "drop.yaml";
  auto count = dir / "calls";
  // Calls: 0 canary (1000), 1 run r1 (1000), 2 run r2: interrupts iommuvm; after the resume:
  // 3 canary (400: a 60 % drop), 4 run r2 (1000).
  std::string me = "iommuvm run [" + spec_path.string().substr(0, 1) + "]" + spec_path.string().substr(1);
  std::string script = "n=$(cat " + count.string() + " 2>/dev/null || echo 0); echo $((n+1)) > " + count.string() +
                       "; if [ $n = 2 ]; then pkill -INT -f '" + me + "'; sleep 5; fi; "
                       "if [ $n = 3 ]; then echo ops=400; else echo ops=1000; fi";
  std::string spec = "name: drop\noutput: " + (dir / "results").string() +
                     "\nmachines:\n  local: {local: true}\n"
                     "workloads:\n  steady:\n    kind: custom\n    server: {command: [sleep, '60'], ready: none}\n"
                     "    client: {command: [sh, -c, \"" + script + "\"], metrics: {throughput_ops: 'ops=([0-9]+)'}}\n"
                     "canary: {max_drop: 20}\n"
                     "matrix: {repetitions: 2}\n";
  std::ofstream(spec_path) << spec;
  auto first = test::run_process({test::binary_path().string(), "run", spec_path.string()});
  ASSERT_EQ(first.exit_code, 130) << first.out << first.err;
  auto camp = only_campaign(dir / "results", "drop");
  ASSERT_EQ(canaries(camp).size(), 1u) << first.out;

  auto second = test::run_process({test::binary_path().string(), "run", spec_path.string()});
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  EXPECT_NE(second.out.find("60.0 % below the previous canary"), std::string::npos) << second.out;
  auto c = canaries(camp);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[1]["previous"]["id"], c[0]["id"]);
  EXPECT_NEAR(c[1]["drop"].get<double>(), 0.6, 1e-9);
  ASSERT_TRUE(c[1].contains("flag")) << c[1].dump();

  // r1 ran before the drop and has no flag; r2 ran after the second canary and carries it.
  std::map<int, json> runs;
  for (const auto& e : stdfs::directory_iterator(camp / "runs")) {
    auto j = json::parse(fs::read_file(e.path() / "run.json"));
    runs[j["repetition"].get<int>()] = j;
  }
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_FALSE(runs[1].contains("flags")) << runs[1].dump();
  ASSERT_TRUE(runs[2].contains("flags")) << runs[2].dump();
  EXPECT_EQ(runs[2]["flags"][0]["kind"], "canary");
  EXPECT_EQ(runs[2]["flags"][0]["text"], c[1]["flag"]);
  EXPECT_EQ(runs[2]["metrics"]["throughput_ops"], 1000);

  // The folder, flags and canary runs in plan.json included, still matches the schemas.
  if (auto why = test::jsonschema_unavailable(); why.empty()) EXPECT_EQ(test::schema_problems(camp), "");
  else ADD_FAILURE() << why;
  // The report lists the flagged run.
  auto rep = test::run_process({test::binary_path().string(), "report", camp.string()});
  ASSERT_EQ(rep.exit_code, 0) << rep.out << rep.err;
  std::string md = fs::read_file(camp / "report/report.md");
  auto flagged = md.find("## Flagged");
  ASSERT_NE(flagged, std::string::npos) << md;
  EXPECT_NE(md.find(runs[2]["id"].get<std::string>() + " | canary |", flagged), std::string::npos) << md.substr(flagged);
}

TEST(Canary, BadSettingsAreSpecErrors) {
  test::TempDir dir;
  std::ofstream(dir / "bad.yaml") << "name: bad\nmachines:\n  local: {local: true}\nworkloads:\n  redis: {}\n"
                                     "canary: {requests: 0, colour: red}\n";
  auto r = test::run_process({test::binary_path().string(), "validate", (dir / "bad.yaml").string()});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("bad.yaml:6:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("canary.requests"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("colour"), std::string::npos) << r.err;
}
