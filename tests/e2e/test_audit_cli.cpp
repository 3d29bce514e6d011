// Kernel-log audit through the real binary on this machine: a DMAR fault line written to the
// real /dev/kmsg during one run's measurement ends up in that run's run.json only, fails that
// run with the line in its reason, and the report lists it. Needs root (writing /dev/kmsg).
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "iommuvm/util/fs.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using nlohmann::json;
namespace stdfs = std::filesystem;

namespace {

std::map<std::string, json> runs_by_workload(const stdfs::path& out, const std::string& name) {
  std::map<std::string, json> r;
  for (const auto& c : stdfs::directory_iterator(out / name))
    for (const auto& e : stdfs::directory_iterator(c.path() / "runs"))
      if (stdfs::exists(e.path() / "run.json")) {
        auto j = json::parse(fs::read_file(e.path() / "run.json"));
        r[j["workload"].get<std::string>()] = j;
      }
  return r;
}

}  // namespace

TEST(Audit, ADmarFaultDuringARunFailsThatRunOnly) {
  if (::geteuid() != 0 || ::access("/dev/kmsg", R_OK | W_OK) != 0)
    GTEST_SKIP() << "needs root: the test writes a fault line to this machine's /dev/kmsg";
  test::TempDir dir;
  // Unique per test run, so that no other line of the machine's log can be mistaken for it.
  std::string tag = std::to_string(::getpid());
  std::string fault = "DMAR: [DMA Read NO_PASID] Request device [ca:00.2] fault addr 0x" + tag +
                      "000 [fault reason 0x06] PTE Read access is not set";
  std::string link = "mlx5_core 0000:ca:00.0 enp202s0f0np0: Link down " + tag;
  std::string s = "name: audit\noutput: " + (dir / "results").string() +
                  "\nmachines:\n  local: {local: true}\n"
                  "workloads:\n"
                  "  faulty:\n    kind: custom\n    server: {command: [sleep, '60'], ready: none}\n"
                  "    client: {command: [sh, -c, 'echo \"<3>" + fault + "\" > /dev/kmsg; echo ops=5'], metrics: {throughput_ops: 'ops=([0-9]+)'}}\n"
                  "  flappy:\n    kind: custom\n    server: {command: [sleep, '60'], ready: none}\n"
                  "    client: {command: [sh, -c, 'echo \"<6>" + link + "\" > /dev/kmsg; echo ops=6'], metrics: {throughput_ops: 'ops=([0-9]+)'}}\n"
                  "  clean:\n    kind: custom\n    server: {command: [sleep, '60'], ready: none}\n"
                  "    client: {command: [sh, -c, 'echo ops=7'], metrics: {throughput_ops: 'ops=([0-9]+)'}}\n";
  std::ofstream(dir / "audit.yaml") << s;
  auto r = test::run_process({test::binary_path().string(), "run", (dir / "audit.yaml").string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;  // one run failed
  auto runs = runs_by_workload(dir / "results", "audit");
  ASSERT_EQ(runs.size(), 3u) << r.out << r.err;

  auto has_line = [](const json& run, const std::string& text) {
    if (!run.contains("kernel_log")) return false;
    for (const auto& [m, mj] : run["kernel_log"]["machines"].items())
      for (const auto& l : mj.value("lines", json::array()))
        if (l["text"] == text) return true;
    return false;
  };
  const json& faulty = runs["faulty"];
  EXPECT_EQ(faulty["status"], "failed");
  EXPECT_EQ(faulty["reason"], "kernel-log: IOMMU fault on local: " + fault);
  ASSERT_TRUE(faulty.contains("kernel_log")) << faulty.dump(1);
  ASSERT_EQ(faulty["kernel_log"]["findings"].size(), 1u) << faulty["kernel_log"].dump(1);
  EXPECT_EQ(faulty["kernel_log"]["findings"][0]["class"], "iommu_fault");
  EXPECT_EQ(faulty["kernel_log"]["findings"][0]["action"], "fail");
  EXPECT_TRUE(has_line(faulty, fault));

  const json& flappy = runs["flappy"];
  EXPECT_EQ(flappy["status"], "ok") << flappy.value("reason", "");
  ASSERT_EQ(flappy["kernel_log"]["findings"].size(), 1u) << flappy["kernel_log"].dump(1);
  EXPECT_EQ(flappy["kernel_log"]["findings"][0]["class"], "link");
  EXPECT_EQ(flappy["kernel_log"]["findings"][0]["action"], "flag");

  // Only in their own runs: the sequence numbers keep each line in the window it was written in.
  for (const auto& [w, run] : runs) {
    SCOPED_TRACE(w);
    EXPECT_EQ(has_line(run, fault), w == "faulty");
    EXPECT_EQ(has_line(run, link), w == "flappy");
  }
  EXPECT_EQ(runs["clean"]["status"], "ok");
  for (const auto& f : runs["clean"]["kernel_log"]["findings"])  // the machine's own lines, if any, are not ours
    EXPECT_EQ(f["text"].get<std::string>().find(tag), std::string::npos);

  // The report lists the failed run with its line, the flagged one, and the faults per policy.
  stdfs::path camp;
  for (const auto& c : stdfs::directory_iterator(dir / "results/audit")) camp = c.path();
  auto rep = test::run_process({test::binary_path().string(), "report", camp.string()});
  ASSERT_EQ(rep.exit_code, 0) << rep.out << rep.err;
  std::string md = fs::read_file(camp / "report/report.md");
  EXPECT_NE(md.find("## Kernel log"), std::string::npos) << md;
  EXPECT_NE(md.find("| IOMMU fault | fail | " + fault), std::string::npos) << md;
  EXPECT_NE(md.find("kernel log: NIC link change"), std::string::npos) << md;

  // audit: {iommu_fault: flag} keeps the run ok and flags it instead (a fresh campaign).
  std::ofstream(dir / "audit.yaml") << s << "audit: {iommu_fault: flag}\n";
  auto r2 = test::run_process({test::binary_path().string(), "run", "--fresh", (dir / "audit.yaml").string()});
  EXPECT_EQ(r2.exit_code, 0) << r2.out << r2.err;
}

TEST(Audit, AnUnknownClassOrActionIsExit2) {
  test::TempDir dir;
  std::ofstream(dir / "bad.yaml") << "name: x\nmachines: {local: {local: true}}\nworkloads: {redis: {}}\n"
                                     "audit: {iommu_fault: warn, dmar: fail}\n";
  auto r = test::run_process({test::binary_path().string(), "validate", (dir / "bad.yaml").string()});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("bad.yaml:4:22: error: unknown value 'warn' for 'audit.iommu_fault': expected one of fail, flag, ignore"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("bad.yaml:4:28: error: unknown key 'dmar' in 'audit'"), std::string::npos) << r.err;
}
