// Campaign folders for the tests: hand-written ones for the report tests, and readers of real ones.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "iommuvm/collect/collector.hpp"
#include "iommuvm/util/fs.hpp"
#include "test_support.hpp"

namespace iommuvm::test {

// A finished campaign folder as the tests read it.
inline nlohmann::json read_json(const std::filesystem::path& p) { return nlohmann::json::parse(fs::read_file(p)); }

// Every runs/<id>/run.json of CAMPAIGN, sorted by run id.
inline std::vector<nlohmann::json> runs_of(const std::filesystem::path& campaign) {
  std::vector<nlohmann::json> out;
  if (!std::filesystem::exists(campaign / "runs")) return out;
  for (const auto& e : std::filesystem::directory_iterator(campaign / "runs"))
    if (std::filesystem::exists(e.path() / "run.json")) out.push_back(read_json(e.path() / "run.json"));
  std::sort(out.begin(), out.end(), [](const nlohmann::json& a, const nlohmann::json& b) { return a["id"] < b["id"]; });
  return out;
}

// The one campaign folder under RESULTS/NAME (a test failure when there are several).
inline std::filesystem::path only_campaign(const std::filesystem::path& results, const std::string& name) {
  std::vector<std::filesystem::path> dirs;
  for (const auto& e : std::filesystem::directory_iterator(results / name)) dirs.push_back(e.path());
  EXPECT_EQ(dirs.size(), 1u);
  return dirs.empty() ? std::filesystem::path() : dirs.front();
}

// The backups undo.jsonl of CAMPAIGN records (restore_file entries) on MACHINE, as machine paths.
inline std::vector<std::string> journaled_backups(const std::filesystem::path& campaign, const std::string& machine) {
  std::vector<std::string> out;
  std::ifstream in(campaign / "undo.jsonl");
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    if (j.value("action", "") == "restore_file" && j.value("machine", "") == machine) out.push_back(j.value("backup", ""));
  }
  return out;
}

// Problems a real JSON Schema validator (python3-jsonschema) finds in the campaign folder
// against docs/*.schema.json; the validator's report on failure, empty when valid.
inline std::string schema_problems(const std::filesystem::path& campaign) {
  auto r = run_process({"python3", (std::filesystem::path(IOMMUVM_SOURCE_DIR) / "tests/support/validate_results.py").string(),
                              (std::filesystem::path(IOMMUVM_SOURCE_DIR) / "docs").string(), campaign.string()});
  if (r.exit_code == 0 && r.out.find(", 0 problems") != std::string::npos) return "";
  return "exit " + std::to_string(r.exit_code) + ":\n" + r.out + r.err;
}

inline std::string jsonschema_unavailable() {
  auto r = run_process({"python3", "-c", "import jsonschema"});
  return r.exit_code == 0 ? "" : "python3-jsonschema is not installed (scripts/setup.sh installs it): " + r.err;
}

struct FakeRun {
  std::string id;
  std::string combo;
  std::string workload = "redis";
  int repetition = 1;
  std::string status = "ok";
  std::string reason;
  nlohmann::json params;      // axis path -> value
  std::string requested;      // host policy requested ("" = no policy record)
  std::string effective;      // host policy in effect
  double throughput = 0;
  double p99 = 0;             // latency_us.p99 (0: absent)
};

inline void write_text(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;  // bytes as given (hostile-input tests write any)
}

inline void write_campaign(const std::filesystem::path& dir, const std::string& spec_yaml, const std::string& name = "fake") {
  nlohmann::json c = {{"name", name},
                      {"spec_hash", "abc123"},
                      {"status", "finished"},
                      {"created", "2026-11-25T10:00:00.000Z"},
                      {"format", "yaml"}};
  write_text(dir / "campaign.json", c.dump(2));
  write_text(dir / "spec.yaml", spec_yaml);
}

inline void write_run(const std::filesystem::path& dir, const FakeRun& r) {
  nlohmann::json j;
  j["schema"] = "iommuvm.run/1";
  j["id"] = r.id;
  j["combo"] = r.combo;
  j["workload"] = r.workload;
  j["repetition"] = r.repetition;
  j["status"] = r.status;
  if (!r.reason.empty()) j["reason"] = r.reason;
  j["params"] = r.params.is_null() ? nlohmann::json::object() : r.params;
  if (r.status == "ok") {
    j["metrics"] = {{"throughput_ops", r.throughput}, {"exit_status", 0}, {"tool", "redis-benchmark"}};
    if (r.p99 > 0) j["metrics"]["latency_us"] = {{"p50", r.p99 / 2}, {"p99", r.p99}};
    j["warmup"] = {{"throughput_ops", 1.0}};  // never to be counted
    j["collectors"] = {{"qemu-trace", {{"vtd_inv_desc", r.throughput * 10}, {"label", "x"}}}};
  }
  if (!r.requested.empty())
    j["policy"] = {{"host",
                    {{"requested", r.requested},
                     {"effective", r.effective},
                     {"kernel", "6.1.0-test"},
                     {"cmdline", "intel_iommu=on"}}},
                   {"guests", nlohmann::json::object()}};
  j["system"] = {{"host", {{"kernel", "6.1.0-test"}, {"cmdline", "intel_iommu=on"}, {"cpu_model", "Test CPU"}}},
                 {"libvirt_version", "9.0.0"},
                 {"nic", "driver: ixgbe\nversion: 6.1.0\n"}};
  write_text(dir / "runs" / r.id / "run.json", j.dump(2));
}

// Two host policies x 3 repetitions with known throughputs, a lazy combination in which one run
// really ran under strict, and a failed run:
//   strict      90, 95, 100 (+ 95 from the lazy run that ran under strict) -> mean 95
//   passthrough 100, 110, 120                                               -> mean 110 (CV 9.09 %)
//   lazy        105, 107                                                    -> mean 106
// Degradation of strict vs passthrough: (1 - 95/110) * 100 = 13.636 %.
inline void write_policy_campaign(const std::filesystem::path& dir, const std::string& extra_spec = "") {
  write_campaign(dir,
                 "name: fake\nbaseline: passthrough\nmatrix:\n  repetitions: 3\n  max_cv: 0.05\n" + extra_spec);
  auto p = [](const char* pol) { return nlohmann::json{{"workload", "redis"}, {"policy.host", pol}}; };
  double strict[] = {90, 95, 100}, pt[] = {100, 110, 120};
  for (int i = 0; i < 3; ++i) {
    write_run(dir, {"redis-s-r" + std::to_string(i + 1), "s", "redis", i + 1, "ok", "", p("strict"), "strict", "strict",
                    strict[i], 200.0 + 10 * i});
    write_run(dir, {"redis-p-r" + std::to_string(i + 1), "p", "redis", i + 1, "ok", "", p("passthrough"), "passthrough",
                    "passthrough", pt[i], 100.0 + 10 * i});
  }
  write_run(dir, {"redis-l-r1", "l", "redis", 1, "ok", "", p("lazy"), "lazy", "lazy", 105, 150});
  write_run(dir, {"redis-l-r2", "l", "redis", 2, "ok", "", p("lazy"), "lazy", "lazy", 107, 150});
  write_run(dir, {"redis-l-r3", "l", "redis", 3, "ok", "", p("lazy"), "lazy", "strict", 95, 210});
  write_run(dir, {"redis-s-r4", "s", "redis", 4, "failed", "redis-server did not start", p("strict"), "strict",
                  "strict", 0, 0});
}

// A campaign whose runs carry collector results of every kind the breakdown reads, passed
// through the engine's own collect::per_request (tests/unit/test_report_breakdown.cpp).
inline const char* kBreakdownSpec =
    "name: bd\n"
    "baseline: passthrough\n"
    "matrix: {repetitions: 2}\n"
    "collectors:\n"
    "  iommu: {kind: bpftrace-iommu}\n"
    "  perf: {kind: perf-stat}\n"
    "  exits: {kind: kvm-exits}\n"
    "  inv: {kind: qemu-trace, trace_file: /var/log/x-%d.log}\n"
    "  qemu-cpu: {kind: pidstat, process: qemu}\n";

// 1,000 requests per run; repetition 2 takes SCALE = 1.5 times as long as repetition 1.
//   strict:      map 2 µs, unmap 6 µs of which flush 4 µs, task-clock 20 µs, 8 invalidations, 3 exits
//   passthrough: no IOMMU calls, task-clock 10 µs, no invalidations, 1 exit
inline nlohmann::json breakdown_collectors(bool strict, double scale) {
  const double n = 1000;
  nlohmann::json bpf = {{"functions", nlohmann::json::object()}, {"missing", nlohmann::json::array()}, {"window_s", 1.0}};
  if (strict)
    bpf["functions"] = {{"iommu_map", {{"calls", 2000}, {"total_ns", 2e6 * scale}}},
                        {"iommu_unmap", {{"calls", 2000}, {"total_ns", 6e6 * scale}}},
                        {"qi_submit_sync", {{"calls", 2000}, {"total_ns", 4e6 * scale}}}};
  nlohmann::json out = {{"iommu", bpf},
              {"perf", {{"events", {{"cycles", (strict ? 5e6 : 2e6) * scale}, {"task-clock_msec", (strict ? 20 : 10) * scale}}}}},
              {"exits", {{"exits", strict ? 3000 : 1000}, {"counters", nlohmann::json::object()}}},
              {"inv", {{"total", strict ? 8000 : 0}, {"events", nlohmann::json::object()}, {"trace_file", "/var/log/x-12.log"}}},
              {"qemu-cpu", {{"cpu_s", 0.2 * scale}, {"user_s", 0.15 * scale}, {"system_s", 0.05 * scale}, {"processes", 1}}}};
  for (auto& [name, m] : out.items()) m["per_request"] = iommuvm::collect::per_request(m, n);
  return out;
}

inline void write_breakdown_campaign(const std::filesystem::path& dir) {
  test::write_campaign(dir, kBreakdownSpec, "bd");
  for (const char* pol : {"strict", "passthrough"})
    for (int rep = 1; rep <= 2; ++rep) {
      std::string id = "redis-" + std::string(pol) + "-r" + std::to_string(rep);
      test::write_run(dir, {id, pol, "redis", rep, "ok", "", nlohmann::json{{"workload", "redis"}, {"policy.host", pol}}, pol, pol,
                            100.0 * rep, 0});
      auto p = dir / "runs" / id / "run.json";
      nlohmann::json j = nlohmann::json::parse(iommuvm::fs::read_file(p));
      j["metrics"]["requests"] = 1000;
      j["collectors"] = breakdown_collectors(std::string(pol) == "strict", rep == 1 ? 1.0 : 1.5);
      test::write_text(p, j.dump(2));
    }
}

}  // namespace iommuvm::test
