// Collector parsers on outputs captured from the real tools (tests/data/collect,
// see README.md there) and hand-made edge cases; per_request(); make() checks.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "iommuvm/collect/collector.hpp"
#include "iommuvm/collect/parsers.hpp"
#include "iommuvm/engine/simulated.hpp"
#include "iommuvm/remote/local.hpp"
#include "iommuvm/util/fs.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using namespace iommuvm::collect;
using nlohmann::json;

namespace {

std::string slurp(const std::string& rel) {
  std::ifstream in(test::data_path("collect/" + rel), std::ios::binary);
  EXPECT_TRUE(in) << rel;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

// ------------------------------------------------------------------ mpstat

TEST(CollectMpstat, AverageBlockOfRealOutput) {
  auto j = parse_mpstat(slurp("mpstat_2cpu.txt"));
  EXPECT_EQ(j["cpus"], 2);
  EXPECT_DOUBLE_EQ(j["cpu_total"]["usr"].get<double>(), 85.14);
  EXPECT_DOUBLE_EQ(j["cpu_total"]["sys"].get<double>(), 14.86);
  EXPECT_DOUBLE_EQ(j["cpu_total"]["idle"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(j["cpu_total"]["busy"].get<double>(), 100.0);
  for (auto key : {"nice", "iowait", "irq", "soft", "steal", "guest", "gnice"})
    EXPECT_TRUE(j["cpu_total"].contains(key)) << key;
  EXPECT_DOUBLE_EQ(j["cpu"]["1"]["usr"].get<double>(), 85.43);
  EXPECT_DOUBLE_EQ(j["cpu"]["0"]["sys"].get<double>(), 15.15);
}

TEST(CollectMpstat, OfflineCpuLeavesAGap) {
  auto j = parse_mpstat(slurp("mpstat_hotplug.txt"));
  EXPECT_EQ(j["cpus"], 3);
  EXPECT_TRUE(j["cpu"].contains("3"));
  EXPECT_FALSE(j["cpu"].contains("2"));
  EXPECT_DOUBLE_EQ(j["cpu"]["0"]["guest"].get<double>(), 40.0);
  EXPECT_DOUBLE_EQ(j["cpu_total"]["busy"].get<double>(), 36.0);
}

TEST(CollectMpstat, ColumnsComeFromTheHeader) {
  auto j = parse_mpstat(slurp("mpstat_old_columns.txt"));
  EXPECT_FALSE(j["cpu_total"].contains("gnice"));
  EXPECT_DOUBLE_EQ(j["cpu_total"]["idle"].get<double>(), 98.0);
  EXPECT_DOUBLE_EQ(j["cpu"]["1"]["usr"].get<double>(), 1.0);
}

TEST(CollectMpstat, NoAverageIsAnError) {
  EXPECT_THROW(parse_mpstat(slurp("mpstat_no_average.txt")), ParseError);
  EXPECT_THROW(parse_mpstat(""), ParseError);
  EXPECT_THROW(parse_mpstat("Average:     CPU    %usr\nAverage:     all   x\n"), ParseError);
  EXPECT_THROW(parse_mpstat("Average:     CPU    %usr  %idle\nAverage:     all   1.0\n"),
               ParseError);
}

// ------------------------------------------------------------------ interrupts

TEST(CollectInterrupts, RealTable) {
  auto t = parse_interrupts(slurp("interrupts_after.txt"));
  EXPECT_EQ(t.cpus, (std::vector<int>{0, 1}));
  auto it =
      std::find_if(t.lines.begin(), t.lines.end(), [](const auto& l) { return l.irq == "36"; });
  ASSERT_NE(it, t.lines.end());
  EXPECT_EQ(it->device, "virtio1-req.0");
  EXPECT_EQ(it->chip, "PCI-MSIX-0000:00:02.0");
  EXPECT_EQ(it->total, 120696u);
  auto loc =
      std::find_if(t.lines.begin(), t.lines.end(), [](const auto& l) { return l.irq == "LOC"; });
  ASSERT_NE(loc, t.lines.end());
  EXPECT_EQ(loc->device, "Local timer interrupts");
  EXPECT_EQ(loc->total, 993584u + 1049274u);
  auto err =
      std::find_if(t.lines.begin(), t.lines.end(), [](const auto& l) { return l.irq == "ERR"; });
  ASSERT_NE(err, t.lines.end());
  EXPECT_TRUE(err->cpu.empty());
}

TEST(CollectInterrupts, RealDeltasOverOneSecond) {
  auto j = interrupt_deltas(parse_interrupts(slurp("interrupts_before.txt")),
                            parse_interrupts(slurp("interrupts_after.txt")), 1.0);
  EXPECT_GT(j["total"].get<std::uint64_t>(), 0u);
  EXPECT_DOUBLE_EQ(j["per_s"].get<double>(), j["total"].get<double>());
  EXPECT_TRUE(j["irq"].contains("LOC"));
  std::uint64_t sum = 0;
  for (auto& [k, v] : j["irq"].items()) {
    EXPECT_GT(v["count"].get<std::uint64_t>(), 0u) << k;
    sum += v["count"].get<std::uint64_t>();
  }
  EXPECT_EQ(sum, j["total"].get<std::uint64_t>());
  std::uint64_t cpus = 0;
  for (auto& [k, v] : j["cpu"].items()) cpus += v.get<std::uint64_t>();
  EXPECT_EQ(cpus, j["total"].get<std::uint64_t>());
}

TEST(CollectInterrupts, HotplugAndNewLines) {
  auto b = parse_interrupts(slurp("interrupts_hotplug_before.txt"));
  auto a = parse_interrupts(slurp("interrupts_hotplug_after.txt"));
  EXPECT_EQ(b.cpus, (std::vector<int>{0, 1, 3}));
  EXPECT_EQ(a.cpus, (std::vector<int>{0, 1, 2, 3}));
  auto j = interrupt_deltas(b, a, 2.0);
  EXPECT_EQ(j["irq"]["25"]["count"], 500);
  EXPECT_EQ(j["irq"]["26"]["count"], 350);  // 300 on CPU1 + 50 on the new CPU2
  EXPECT_EQ(j["irq"]["40"]["count"], 12);   // registered during the window
  EXPECT_EQ(j["irq"]["ERR"]["count"], 2);
  EXPECT_EQ(j["irq"]["LOC"]["count"], 330);
  EXPECT_FALSE(j["irq"].contains("24"));  // unchanged lines are left out
  EXPECT_EQ(j["device"]["mlx5_comp0@pci:0000:3b:00.0"], 500);
  EXPECT_EQ(j["device"]["ahci[0000:00:1f.2]"], 12);
  EXPECT_EQ(j["device"]["Local timer interrupts"], 330);
  EXPECT_EQ(j["pci"]["0000:3b:00.0"], 850);
  EXPECT_EQ(j["pci"]["0000:00:1f.2"], 12);
  EXPECT_EQ(j["cpu"]["2"], 50 + 12 + 30);
  EXPECT_EQ(j["total"], 500 + 350 + 12 + 2 + 330);
  EXPECT_DOUBLE_EQ(j["irq"]["25"]["per_s"].get<double>(), 250.0);
}

TEST(CollectInterrupts, BadInput) {
  EXPECT_THROW(parse_interrupts(""), ParseError);
  EXPECT_THROW(parse_interrupts("hello world\n"), ParseError);
  EXPECT_THROW(parse_interrupts("   CPU0\n"), ParseError);
}

// ------------------------------------------------------------------ /proc/PID/stat

TEST(CollectProcStat, RealAndAwkwardComm) {
  auto v = parse_proc_stat(slurp("proc_pid_stat.txt"));
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].comm, "cat");
  EXPECT_GT(v[0].starttime, 0u);
  auto w = parse_proc_stat(
      "42 (qemu (x) 1) S 1 2 3 0 -1 4194304 99 0 0 0 1500 250 0 0 20 0 1 0 9999 3133440 409\n"
      "43 (redis-server) R 1 2 3 0 -1 4194304 99 0 0 0 7 8 0 0 20 0 1 0 10000 3133440 409\n");
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].comm, "qemu (x) 1");
  EXPECT_EQ(w[0].utime, 1500u);
  EXPECT_EQ(w[0].stime, 250u);
  EXPECT_EQ(w[0].starttime, 9999u);
  EXPECT_EQ(w[1].pid, 43);
  EXPECT_THROW(parse_proc_stat("42 cat S 1\n"), ParseError);
  EXPECT_THROW(parse_proc_stat("42 (cat) S 1 2 3\n"), ParseError);
}

// ------------------------------------------------------------------ perf stat

TEST(CollectPerfStat, SoftwareCountersAndNotSupported) {
  auto j = parse_perf_stat(slurp("perf_stat_sw.csv"), ',');
  EXPECT_DOUBLE_EQ(j["events"]["task-clock_msec"].get<double>(), 2544.12);
  EXPECT_EQ(j["events"]["context-switches"], 1581);
  EXPECT_EQ(j["events"]["page-faults"], 14093);
  EXPECT_FALSE(j["events"].contains("cycles"));  // absent, not 0
  EXPECT_EQ(j["not_counted"]["cycles"], "<not supported>");
  EXPECT_EQ(j["not_counted"]["instructions"], "<not supported>");
  EXPECT_FALSE(j.contains("multiplexed_pct"));
  auto k = parse_perf_stat(slurp("perf_stat_semicolon.csv"), ';');
  EXPECT_EQ(k["events"]["context-switches"], 268);
  EXPECT_EQ(k["not_counted"]["cycles"], "<not supported>");
}

TEST(CollectPerfStat, MultiplexedAndNotCounted) {
  auto j = parse_perf_stat(slurp("perf_stat_mixed.csv"), ';');
  EXPECT_EQ(j["events"]["cycles"], 123456789);
  EXPECT_EQ(j["events"]["instructions"], 98765432);
  EXPECT_DOUBLE_EQ(j["multiplexed_pct"]["cycles"].get<double>(), 50.0);
  EXPECT_EQ(j["not_counted"]["cache-misses"], "<not counted>");
  EXPECT_EQ(j["not_counted"]["dmar0/iotlb_lookup/"], "<not supported>");
  EXPECT_THROW(parse_perf_stat("", ';'), ParseError);
  EXPECT_THROW(parse_perf_stat("# comment only\n", ';'), ParseError);
  EXPECT_THROW(parse_perf_stat("abc;;cycles;1;100.00;;\n", ';'), ParseError);
}

// ------------------------------------------------------------------ counter files (kvm debugfs)

TEST(CollectCounters, DebugfsDeltas) {
  auto b = parse_counter_files(
      "/sys/kernel/debug/kvm/exits:1000\n/sys/kernel/debug/kvm/io_exits:10\n"
      "/sys/kernel/debug/kvm/mmio_exits:5\n/sys/kernel/debug/kvm/weird:abc\n");
  auto a = parse_counter_files(
      "/sys/kernel/debug/kvm/exits:1500\n/sys/kernel/debug/kvm/io_exits:10\n"
      "/sys/kernel/debug/kvm/mmio_exits:7\n/sys/kernel/debug/kvm/halt_exits:3\n");
  EXPECT_EQ(b.size(), 3u);
  auto d = counter_deltas(b, a);
  EXPECT_EQ(d["exits"], 500);
  EXPECT_EQ(d["io_exits"], 0);
  EXPECT_EQ(d["mmio_exits"], 2);
  EXPECT_FALSE(d.contains("halt_exits"));  // not in both snapshots
}

// ------------------------------------------------------------------ bpftrace

TEST(CollectBpftrace, ScriptProbesEveryFunction) {
  BpftraceTargets t;
  t.kernel = {"iommu_map", "qi_submit_sync"};
  t.qemu = {"vtd_iommu_translate"};
  t.qemu_binary = "/usr/bin/qemu-system-x86_64";
  t.qemu_pid = 4242;
  auto s = bpftrace_script(t);
  EXPECT_NE(s.find("kprobe:iommu_map {"), std::string::npos) << s;
  EXPECT_NE(s.find("kretprobe:iommu_map /@start_0[tid]/"), std::string::npos) << s;
  EXPECT_NE(s.find("kretprobe:qi_submit_sync"), std::string::npos);
  EXPECT_NE(s.find("uprobe:/usr/bin/qemu-system-x86_64:vtd_iommu_translate /pid == 4242/"),
            std::string::npos);
  EXPECT_NE(s.find("uretprobe:/usr/bin/qemu-system-x86_64:vtd_iommu_translate /pid == 4242 && "
                   "@start_2[tid]/"),
            std::string::npos);
  EXPECT_NE(s.find("@calls[\"qemu:vtd_iommu_translate\"] = count()"), std::string::npos);
  EXPECT_NE(s.find("printf(\"iommuvm-bpftrace-start\\n\")"), std::string::npos);
  EXPECT_NE(s.find("printf(\"iommuvm-bpftrace-summary\\n\");"), std::string::npos);
  EXPECT_NE(s.find("print(@calls);"), std::string::npos);
  EXPECT_NE(s.find("clear(@start_1);"), std::string::npos);
  t.kernel = {"iommu_map; system(\"x\")"};
  EXPECT_THROW(bpftrace_script(t), InputError);
}

TEST(CollectBpftrace, FunctionNames) {
  EXPECT_TRUE(is_qemu_function("vtd_mem_write"));
  EXPECT_TRUE(is_qemu_function("vfio_container_dma_map"));
  EXPECT_TRUE(is_qemu_function("qemu:address_space_rw"));
  EXPECT_FALSE(is_qemu_function("iommu_map"));
  EXPECT_EQ(qemu_symbol("qemu:address_space_rw"), "address_space_rw");
  EXPECT_NO_THROW(check_function_name("intel_iommu_iotlb_sync_map"));
  EXPECT_NO_THROW(check_function_name("qi_submit_sync.isra.0"));
  EXPECT_THROW(check_function_name("a b"), InputError);
  EXPECT_THROW(check_function_name("qemu:"), InputError);
  EXPECT_THROW(check_function_name(""), InputError);
}

TEST(CollectBpftrace, SummaryOfRealPrint) {
  auto j = parse_bpftrace_summary(slurp("bpftrace_print.txt"));
  EXPECT_EQ(j["functions"]["iommu_map"]["calls"], 1);
  EXPECT_EQ(j["functions"]["iommu_map"]["total_ns"], 1234);
  EXPECT_DOUBLE_EQ(j["functions"]["iommu_map"]["avg_ns"].get<double>(), 1234.0);
  EXPECT_EQ(j["functions"]["__iommu_unmap"]["total_ns"], 99);
  EXPECT_EQ(j["calls_total"], 2);
  EXPECT_EQ(j["total_ns"], 1333);
}

TEST(CollectBpftrace, SummaryEdgeCases) {
  auto j = parse_bpftrace_summary(
      "Attaching 3 probes...\niommuvm-bpftrace-start\n@calls[x]: 5\n"  // before the marker: ignored
      "iommuvm-bpftrace-summary\n@calls[qemu:vtd_iommu_translate]: "
      "4\n@ns[qemu:vtd_iommu_translate]: 400\n"
      "@calls[\"quoted\"]: 2\n\n");
  EXPECT_EQ(j["functions"].size(), 2u);
  EXPECT_DOUBLE_EQ(j["functions"]["qemu:vtd_iommu_translate"]["avg_ns"].get<double>(), 100.0);
  EXPECT_EQ(j["functions"]["quoted"]["total_ns"], 0);
  auto empty = parse_bpftrace_summary("iommuvm-bpftrace-summary\n\n\n");
  EXPECT_TRUE(empty["functions"].empty());
  EXPECT_EQ(empty["calls_total"], 0);
  EXPECT_THROW(parse_bpftrace_summary("Attaching 1 probe...\n"), ParseError);
}

// ------------------------------------------------------------------ QEMU trace

TEST(CollectQemuTrace, Glob) {
  EXPECT_TRUE(glob_match("vtd_inv*", "vtd_inv_desc"));
  EXPECT_TRUE(glob_match("vtd_inv*", "vtd_inv"));
  EXPECT_TRUE(glob_match("*", "anything"));
  EXPECT_TRUE(glob_match("vtd_?nv_desc", "vtd_inv_desc"));
  EXPECT_TRUE(glob_match("vtd_*_pages", "vtd_inv_desc_iotlb_pages"));
  EXPECT_FALSE(glob_match("vtd_inv*", "vtd_iotlb_page_update"));
  EXPECT_FALSE(glob_match("vtd_inv", "vtd_inv_desc"));
}

TEST(CollectQemuTrace, RealLogBackendLines) {
  auto j = count_qemu_trace(slurp("qemu_trace_log.txt"), {});
  EXPECT_EQ(j["total"], 16);
  EXPECT_EQ(j["events"]["vtd_context_cache_reset"], 2);  // machine creation and reset
  EXPECT_EQ(j["events"]["vtd_switch_address_space"], 12);
  EXPECT_EQ(j["events"]["vtd_ir_remap_msi"], 1);
  EXPECT_GE(j["events"]["vtd_switch_address_space"].get<int>(), 4);
  EXPECT_EQ(j["other_lines"], 0);
  auto k = count_qemu_trace(slurp("qemu_trace_log_timestamps.txt"), {"vtd_switch_address_space"});
  EXPECT_GE(k["total"].get<int>(), 4);
  EXPECT_FALSE(k["events"].contains("vtd_context_cache_reset"));
}

TEST(CollectQemuTrace, InvalidationsPatternsAndUnfinishedLine) {
  auto text = slurp("qemu_trace_inv.txt");
  auto j = count_qemu_trace(text, {"vtd_inv_desc*"});
  EXPECT_EQ(j["events"]["vtd_inv_desc"], 3);
  EXPECT_EQ(j["events"]["vtd_inv_desc_iotlb_pages"], 1);  // the unfinished last one is not counted
  EXPECT_EQ(j["events"]["vtd_inv_desc_wait_sw"], 1);
  EXPECT_EQ(j["events"]["vtd_inv_desc_cc_domain"], 1);
  EXPECT_EQ(j["events"]["vtd_inv_desc_iotlb_domain"], 1);
  EXPECT_FALSE(j["events"].contains("vtd_inv_qi_fetch"));
  EXPECT_EQ(j["total"], 7);
  EXPECT_EQ(j["inv_desc_types"]["iotlb"], 1);
  EXPECT_EQ(j["inv_desc_types"]["wait"], 1);
  EXPECT_EQ(j["inv_desc_types"]["context"], 1);
  EXPECT_EQ(j["other_lines"], 1);  // "qemu-system-x86_64: warning: ..."
  auto all = count_qemu_trace(text, {"vtd_inv*", "vtd_iotlb*"});
  EXPECT_EQ(all["events"]["vtd_inv_qi_fetch"], 2);
  EXPECT_EQ(all["events"]["vtd_iotlb_page_update"], 1);
  EXPECT_EQ(all["total"], 12);
  EXPECT_EQ(count_qemu_trace("", {})["total"], 0);
  EXPECT_EQ(count_qemu_trace("vtd_inv_qi_fetch ", {})["total"], 0);
}

// ------------------------------------------------------------------ custom

TEST(CollectCustom, RegexesLastMatchWins) {
  std::map<std::string, std::string> m{
      {"rate", R"(rate: ([0-9.]+))"}, {"drops", R"(drops=(\d+))"}, {"absent", R"(nothing (\d+))"}};
  auto j = parse_custom("rate: 1.5\nrate: 2.5 drops=7\nrate: x\n", m);
  EXPECT_DOUBLE_EQ(j["rate"].get<double>(), 2.5);
  EXPECT_EQ(j["drops"], 7);
  EXPECT_EQ(j["missing"], json::array({"absent"}));
  EXPECT_THROW(parse_custom("", {{"a", "no group"}}), InputError);
  EXPECT_THROW(parse_custom("", {{"a", "(a)(b)"}}), InputError);
  EXPECT_THROW(parse_custom("", {{"a", "([)"}}), InputError);
  // Empty matches advance; a long line with a nested quantifier finishes (RE2, linear).
  auto e = parse_custom(std::string(200000, 'x') + " n=3", {{"n", R"((?:x*)*\s*n=([0-9]+))"}});
  EXPECT_EQ(e["n"], 3);
  auto empty = parse_custom("a1b22c", {{"n", "([0-9]*)"}});  // the last match is the empty one at the end
  EXPECT_EQ(empty["missing"], json::array({"n"}));
}

TEST(CollectBpftrace, SummaryValuesOutOfRangeAreSkipped) {
  auto j = parse_bpftrace_summary("iommuvm-bpftrace-summary\n@calls[f]: " + std::string(400, '9') +
                                  "\n@calls[g]: -4\n@calls[h]: 2\n");
  EXPECT_EQ(j["functions"]["h"]["calls"], 2);
  EXPECT_FALSE(j["functions"].contains("f"));
  EXPECT_FALSE(j["functions"].contains("g"));
}

// ------------------------------------------------------------------ per_request

TEST(CollectPerRequest, EveryNumericLeaf) {
  json counts{{"total", 1000},
              {"window_s", 2.0},
              {"irq", {{"36", {{"count", 500}, {"per_s", 250.0}}}}},
              {"missing", json::array({"x"})},
              {"name", "qemu"},
              {"flag", true}};
  auto j = per_request(counts, 100);
  EXPECT_DOUBLE_EQ(j["total_per_request"].get<double>(), 10.0);
  EXPECT_DOUBLE_EQ(j["irq"]["36"]["count_per_request"].get<double>(), 5.0);
  EXPECT_TRUE(j["irq"]["36"].contains("per_s_per_request"));
  EXPECT_FALSE(j.contains("window_s_per_request"));
  EXPECT_FALSE(j.contains("flag_per_request"));
  EXPECT_FALSE(j.contains("name_per_request"));
  EXPECT_EQ(j["total"], 1000);                                                  // the counts stay
  EXPECT_EQ(per_request(j, 100)["total_per_request"], j["total_per_request"]);  // idempotent
  EXPECT_EQ(per_request(counts, 0), counts);  // no requests: nothing to divide by
  EXPECT_EQ(per_request(json{{"unsupported", "no perf"}}, 10), (json{{"unsupported", "no perf"}}));
}

// ------------------------------------------------------------------ make()

TEST(CollectMake, KindsAndRequiredFields) {
  auto machine = remote::make_local();
  spec::Spec config;
  spec::CollectorSpec cs;
  cs.name = "c";
  auto make_kind = [&](const std::string& kind) {
    cs.kind = kind;
    return make(Context{*machine, config, cs, "/tmp", "/tmp", nullptr, "", false});
  };
  for (auto k : {"mpstat", "interrupts", "perf-stat", "kvm-exits", "bpftrace-iommu", "dmar-pmu"})
    EXPECT_NE(make_kind(k), nullptr) << k;
  EXPECT_THROW(make_kind("strace"), InputError);
  EXPECT_THROW(make_kind("pidstat"), InputError);
  EXPECT_THROW(make_kind("qemu-trace"), InputError);
  EXPECT_THROW(make_kind("custom"), InputError);
  cs.process = "qemu";
  EXPECT_NE(make_kind("pidstat"), nullptr);
  cs.trace_file = "/tmp/t";
  EXPECT_NE(make_kind("qemu-trace"), nullptr);
  cs.command = {"sleep", "10"};
  cs.metrics = {{"x", "no group"}};
  EXPECT_THROW(make_kind("custom"), InputError);
  cs.metrics = {{"x", "x=(\\d+)"}};
  EXPECT_NE(make_kind("custom"), nullptr);
  cs.functions = {"bad name"};
  EXPECT_THROW(make_kind("bpftrace-iommu"), InputError);
  EXPECT_NE(make_kind("tracepoints"), nullptr);
  cs.events = {"iommu:map", "iommu/../x"};
  EXPECT_THROW(make_kind("tracepoints"), InputError);
}

// ------------------------------------------------------------------ dry run

TEST(CollectDryRun, SimulatedMachineRunsEveryStepAndNothingIsKept) {
  // A dry run's collectors on a simulated machine, with no raw folder: every one gets through
  // prepare, start and stop (its commands are printed), writes nothing and reports a dry run.
  std::ostringstream printed;
  engine::MachineModel model;
  model.name = "host";
  engine::SimulatedRemote machine(model, true, printed);
  spec::Spec config;
  spec::CollectorSpec cs;
  cs.process = "qemu";
  cs.trace_file = "/var/log/qemu-trace.log";
  cs.command = {"my-profiler", "--flag"};
  cs.metrics = {{"x", "x=(\\d+)"}};
  cs.functions = {"iommu_map", "vtd_iommu_translate"};
  for (const auto& k : spec::collector_kinds()) {  // every kind there is
    std::string kind(k.name);
    cs.name = "c-" + kind;
    cs.kind = kind;
    auto c = make(Context{machine, config, cs, "/run/iommuvm/work", "", nullptr, "guest1", true});
    c->prepare();
    c->start();
    EXPECT_EQ(c->stop(), (json{{"dry_run", true}})) << kind;
  }
  auto text = printed.str();
  EXPECT_NE(text.find("mpstat -P ALL 1"), std::string::npos) << text;
  EXPECT_NE(text.find("kill -INT"), std::string::npos) << text;
  EXPECT_NE(text.find("perf stat -a"), std::string::npos) << text;
  EXPECT_NE(text.find("-e dmar0/iommu_requests/"), std::string::npos) << text;
  EXPECT_NE(text.find("my-profiler --flag"), std::string::npos) << text;
  EXPECT_NE(text.find("hist:keys=qw0 /sys/kernel/tracing/events/intel_iommu/qi_submit/trigger"), std::string::npos) << text;
  EXPECT_NE(text.find("bpftrace /run/iommuvm/work/c-bpftrace-iommu.bt"), std::string::npos) << text;
  // pidstat: the QEMU's /proc/PID/stat before and after the window.
  EXPECT_NE(text.find("cat -- /proc/4001/stat"), std::string::npos) << text;
  // qemu-trace: the size at both ends of the window, then the part written during it.
  EXPECT_NE(text.find("tail -c"), std::string::npos) << text;
  EXPECT_NE(text.find("# assumed:"), std::string::npos) << text;
  if (std::getenv("IOMMUVM_SHOW_DRY_RUN")) std::cout << text;
}

TEST(CollectBpftrace, SummaryOfRealUprobeRun) {
  // bpftrace 0.17 running the generator's layout with a uprobe/uretprobe pair on libc getpid.
  auto j = parse_bpftrace_summary(slurp("bpftrace_uprobe_summary.txt"));
  EXPECT_EQ(j["functions"]["qemu:getpid"]["calls"], 374);
  EXPECT_EQ(j["functions"]["qemu:getpid"]["total_ns"], 145467163);
  EXPECT_NEAR(j["functions"]["qemu:getpid"]["avg_ns"].get<double>(), 145467163.0 / 374, 1e-6);
}

// tuning.irq_affinity: the interface's IRQs by exact name, never by prefix (eth1 is not eth10).
TEST(Interrupts, InterfaceIrqsMatchNamesExactly) {
  auto t = parse_interrupts(fs::read_file(test::data_path("collect/interrupts_nic_queues.txt")));
  EXPECT_EQ(interface_irqs(t, "eth1", ""), (std::vector<std::string>{"120", "121", "122", "125", "127"}));
  EXPECT_EQ(interface_irqs(t, "eth10", ""), (std::vector<std::string>{"123"}));
  EXPECT_EQ(interface_irqs(t, "eth12", ""), (std::vector<std::string>{"126"}));
  EXPECT_TRUE(interface_irqs(t, "eth", "").empty());
  // mlx5 names the PCI function, not the interface.
  EXPECT_EQ(interface_irqs(t, "enp202s0f0np0", "0000:ca:00.0"), (std::vector<std::string>{"140", "141", "142"}));
  EXPECT_EQ(interface_irqs(t, "enp202s0f1np1", "0000:ca:00.1"), (std::vector<std::string>{"150"}));
}

// ---------------------------------------------------------------- tracefs hist (tracepoints)

TEST(CollectTracepoints, Names) {
  EXPECT_NO_THROW(check_tracepoint_name("iommu:map"));
  EXPECT_NO_THROW(check_tracepoint_name("intel_iommu:qi_submit"));
  for (const char* bad : {"iommu", ":map", "iommu:", "iommu:map:x", "../iommu:map", "iommu:ma p", "iommu/x:map", ""})
    EXPECT_THROW(check_tracepoint_name(bad), InputError) << bad;
  EXPECT_EQ(hist_trigger("intel_iommu:qi_submit"), "hist:keys=qw0");
  EXPECT_EQ(hist_trigger("iommu:unmap"), "hist:keys=size");
  EXPECT_EQ(hist_trigger("sched:sched_switch"), "hist:keys=common_pid");
}

// The VT-d descriptor type: bits 3:0 of qw0, with bits 11:9 as type bits 6:4.
TEST(CollectTracepoints, DescriptorTypes) {
  EXPECT_EQ(vtd_desc_type(0x10012), "iotlb");  // page-selective, DID 1 (QEMU's trace above)
  EXPECT_EQ(vtd_desc_type(0x11), "context-cache");
  EXPECT_EQ(vtd_desc_type(0x2000000000000025), "wait");
  EXPECT_EQ(vtd_desc_type(0x3), "device");
  EXPECT_EQ(vtd_desc_type(0x4), "iec");
  EXPECT_EQ(vtd_desc_type(0x6), "p-iotlb");
  EXPECT_EQ(vtd_desc_type(0x7), "pasid-cache");
  EXPECT_EQ(vtd_desc_type(0x200), "type-16");  // bit 9 = type bit 4
  EXPECT_EQ(vtd_desc_type(0x0), "type-0");
}

TEST(CollectTracepoints, HistTablesOfTheirTrigger) {
  // Two triggers on one event print two tables; only the one of ours counts.
  std::string text =
      "# event histogram\n#\n# trigger info: hist:keys=common_pid:vals=hitcount:sort=hitcount:size=2048 [active]\n#\n\n"
      "{ common_pid:        123 } hitcount:          7\n\nTotals:\n    Hits: 7\n    Entries: 1\n    Dropped: 0\n\n"
      "# event histogram\n#\n# trigger info: hist:keys=qw0:vals=hitcount:sort=hitcount:size=2048 [active]\n#\n\n"
      "{ qw0:      65554 } hitcount:        457\n"
      "{ qw0:        0x3 } hitcount:        229\n"
      "{ qw0:         17 } hitcount:          1\n\nTotals:\n    Hits: 687\n    Entries: 3\n    Dropped: 2\n";
  auto t = parse_hist(text, "hist:keys=qw0");
  ASSERT_TRUE(t.found);
  EXPECT_EQ(t.hits, 687u);
  EXPECT_EQ(t.dropped, 2u);
  ASSERT_EQ(t.entries.size(), 3u);
  EXPECT_EQ(t.entries[0], std::make_pair(std::uint64_t{65554}, std::uint64_t{457}));
  EXPECT_EQ(t.entries[1].first, 3u);
  auto pid = parse_hist(text, "hist:keys=common_pid");
  EXPECT_EQ(pid.hits, 7u);
  EXPECT_FALSE(parse_hist(text, "hist:keys=size").found);
  // "hist:keys=qw" is not "hist:keys=qw0".
  EXPECT_FALSE(parse_hist(text, "hist:keys=qw").found);
  // An empty table (no event in the window).
  auto empty = parse_hist("# trigger info: hist:keys=size:vals=hitcount:sort=hitcount:size=2048 [active]\n\n"
                          "Totals:\n    Hits: 0\n    Entries: 0\n    Dropped: 0\n",
                          "hist:keys=size");
  EXPECT_TRUE(empty.found);
  EXPECT_EQ(empty.hits, 0u);
  EXPECT_TRUE(empty.entries.empty());
  // Malformed entries are a ParseError, never a crash or a zero.
  for (const char* bad : {"{ size: 4096 hitcount: 1", "{ size: x } hitcount: 1", "{ size: 1 } hits: 1",
                          "{ size: 1 } hitcount: many", "{ size: 99999999999999999999999 } hitcount: 1", "{ size: 0x } hitcount: 1"})
    EXPECT_THROW(parse_hist(std::string("# trigger info: hist:keys=size [active]\n") + bad + "\n", "hist:keys=size"),
                 ParseError)
        << bad;
}

TEST(CollectTracepoints, CountsAndTheReportsFigures) {
  std::map<std::string, HistTable> tables;
  tables["iommu:map"] = {true, 230, 0, {{4096, 228}, {8192, 2}}};
  tables["iommu:unmap"] = {true, 229, 0, {{4096, 229}}};
  tables["intel_iommu:qi_submit"] = {true, 687, 0, {{0x10012, 400}, {0x20012, 57}, {0x3, 229}, {0x11, 1}}};
  tables["sched:sched_switch"] = {true, 12, 3, {{1, 12}}};
  auto j = tracepoint_counts(tables);
  EXPECT_EQ(j["maps"], 230);
  EXPECT_EQ(j["map_bytes"], 228 * 4096 + 2 * 8192);
  EXPECT_EQ(j["unmaps"], 229);
  EXPECT_EQ(j["unmap_bytes"], 229 * 4096);
  EXPECT_EQ(j["iotlb_invalidations"], 457);
  EXPECT_EQ(j["devtlb_invalidations"], 229);
  EXPECT_EQ(j["descriptors"], 687);
  EXPECT_EQ(j["events"]["intel_iommu:qi_submit"]["by_type"]["iotlb"], 457);
  EXPECT_EQ(j["events"]["intel_iommu:qi_submit"]["by_type"]["context-cache"], 1);
  EXPECT_EQ(j["events"]["sched:sched_switch"]["count"], 12);
  EXPECT_EQ(j["events"]["sched:sched_switch"]["dropped"], 3);
  // Figures of events not counted are absent, never 0.
  auto only = tracepoint_counts({{"iommu:unmap", {true, 0, 0, {}}}});
  EXPECT_FALSE(only.contains("iotlb_invalidations"));
  EXPECT_EQ(only["unmaps"], 0);
}

// QEMU's own IOTLB invalidations: one vtd_inv_desc_iotlb_* line per IOTLB descriptor.
TEST(CollectQemuTrace, IotlbInvalidationsForTheCrossCheck) {
  std::string text =
      "vtd_inv_desc_iotlb_pages iotlb invalidate domain 0x1 addr 0x1000 mask 0x0\n"
      "vtd_inv_desc_iotlb_pages iotlb invalidate domain 0x1 addr 0x2000 mask 0x0\n"
      "vtd_inv_desc_iotlb_domain iotlb invalidate whole domain 0x1\n"
      "vtd_inv_desc_cc_domain context invalidate domain 0x1\n";
  EXPECT_EQ(count_qemu_trace(text, {"vtd_inv_desc_*"})["iotlb_invalidations"], 3);
  EXPECT_EQ(count_qemu_trace(text, {})["iotlb_invalidations"], 3);
  // Patterns that cannot select the IOTLB events: no figure (not a 0 that looks measured).
  EXPECT_FALSE(count_qemu_trace(text, {"vtd_inv_desc_cc*"}).contains("iotlb_invalidations"));
}

// Captured in the TCG guest (Debian's 6.1 kernel, QEMU 7.2 intel-iommu in caching mode, strict):
// the collector's stop() output over one redis-benchmark window of 20,000 requests.
TEST(CollectTracepoints, CapturedGuestStrictWindow) {
  auto text = slurp("tracefs_hist_guest_strict.txt");
  std::map<std::string, HistTable> tables;
  for (auto [event, file] : {std::pair{"iommu:map", "iommu/map"}, std::pair{"iommu:unmap", "iommu/unmap"},
                             std::pair{"intel_iommu:qi_submit", "intel_iommu/qi_submit"}}) {
    auto b = text.find(std::string("iommuvm-hist /sys/kernel/tracing/events/") + file + "/trigger\n");
    ASSERT_NE(b, std::string::npos) << event;
    auto e = text.find("iommuvm-hist ", b + 1);
    tables[event] = parse_hist(text.substr(b, e == std::string::npos ? std::string::npos : e - b), hist_trigger(event));
    ASSERT_TRUE(tables[event].found) << event;
  }
  auto j = tracepoint_counts(tables);
  EXPECT_EQ(j["maps"], 80364);
  EXPECT_EQ(j["unmaps"], 80364);
  EXPECT_EQ(j["unmap_bytes"], 75552 * 4096 + 4812 * 8192);
  // qw0 458994 = 0x700f2: a page-selective IOTLB invalidation; 0x10000000003: device IOTLB (ATS).
  EXPECT_EQ(j["iotlb_invalidations"], 160747);
  EXPECT_EQ(j["devtlb_invalidations"], 80371);
  EXPECT_EQ(j["descriptors"], 241118);
}
