// The collectors for real on this machine through remote::make_local(), around
// short windows with known activity. Those the machine cannot run (no PMU, no
// kprobes, no kvm) skip with the collector's own reason.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <thread>

#include <unistd.h>

#include "iommuvm/collect/collector.hpp"
#include "iommuvm/remote/local.hpp"
#include "iommuvm/util/fs.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using namespace iommuvm::collect;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

class CollectLive : public ::testing::Test {
 protected:
  std::unique_ptr<remote::Remote> machine = remote::make_local();
  spec::Spec config;
  spec::CollectorSpec cs;
  test::TempDir dir;

  std::unique_ptr<Collector> make_collector(const std::string& kind) {
    cs.name = "c-" + kind;
    cs.kind = kind;
    std::filesystem::create_directories(dir / "work");
    return make(
        Context{*machine, config, cs, (dir / "work").string(), dir / "raw", nullptr, "", false});
  }

  // prepare, start, run BODY (the window), stop.
  template <typename Fn>
  json around(Collector& c, Fn body) {
    c.prepare();
    c.start();
    body();
    return c.stop();
  }
  json around_sleep(Collector& c, std::chrono::milliseconds d) {
    return around(c, [&] { std::this_thread::sleep_for(d); });
  }
};

// Spins one thread for D.
void busy_for(std::chrono::milliseconds d) {
  std::atomic<bool> stop{false};
  std::thread t([&] {
    volatile unsigned long x = 0;
    while (!stop.load(std::memory_order_relaxed)) x = x + 1;
  });
  std::this_thread::sleep_for(d);
  stop = true;
  t.join();
}

}  // namespace

TEST_F(CollectLive, MpstatAroundABusyLoop) {
  if (!test::have_program("mpstat")) GTEST_SKIP() << "mpstat not installed (sysstat)";
  auto c = make_collector("mpstat");
  auto m = around(*c, [] { busy_for(2500ms); });
  ASSERT_FALSE(m.contains("error")) << m.dump();
  ASSERT_FALSE(m.contains("unsupported")) << m.dump();
  EXPECT_GE(m["cpus"].get<int>(), 1);
  double busiest = 0;
  for (auto& [n, cpu] : m["cpu"].items()) {
    for (auto key : {"usr", "sys", "irq", "soft", "idle", "busy"}) {
      EXPECT_GE(cpu[key].get<double>(), 0.0) << n << " " << key;
      EXPECT_LE(cpu[key].get<double>(), 100.0) << n << " " << key;
    }
    busiest = std::max(busiest, cpu["busy"].get<double>());
  }
  EXPECT_GT(busiest, 0.0);
  EXPECT_GT(m["cpu_total"]["busy"].get<double>(), 0.0);
  EXPECT_TRUE(std::filesystem::exists(dir / "raw" / "c-mpstat.txt"));
}

TEST_F(CollectLive, InterruptsOverOneSecond) {
  auto c = make_collector("interrupts");
  auto m = around_sleep(*c, 1000ms);
  ASSERT_FALSE(m.contains("error")) << m.dump();
  EXPECT_GT(m["total"].get<std::uint64_t>(), 0u);
  EXPECT_GT(m["per_s"].get<double>(), 0.0);
  EXPECT_NEAR(m["window_s"].get<double>(), 1.0, 0.5);
  for (auto& [irq, e] : m["irq"].items()) EXPECT_GT(e["count"].get<std::uint64_t>(), 0u) << irq;
  EXPECT_TRUE(std::filesystem::exists(dir / "raw" / "c-interrupts.txt"));
}

TEST_F(CollectLive, PerfStatCountsOrSaysWhyNot) {
  if (!test::have_program("perf")) GTEST_SKIP() << "perf not installed (linux-perf)";
  cs.events = {"cycles", "instructions", "task-clock", "context-switches"};
  auto c = make_collector("perf-stat");
  auto m = around(*c, [] { busy_for(1000ms); });
  if (m.contains("unsupported")) GTEST_SKIP() << m["unsupported"].get<std::string>();
  ASSERT_FALSE(m.contains("error")) << m.dump();
  EXPECT_TRUE(std::filesystem::exists(dir / "raw" / "c-perf-stat.csv"));
  if (m["events"].contains("task-clock_msec")) {
    EXPECT_GT(m["events"]["task-clock_msec"].get<double>(), 0.0);
  }
  if (!m["events"].contains("cycles"))
    GTEST_SKIP() << "no hardware counters here: " << m["notes"].dump();
  EXPECT_GT(m["events"]["cycles"].get<double>(), 0.0);
}

TEST_F(CollectLive, ProcessCpuTimeOfABusyProcess) {
  if (!test::have_program("pgrep")) GTEST_SKIP() << "pgrep not installed (procps)";
  // A busy process with a name nothing else here has.
  auto tool = std::filesystem::path("/usr/bin/sha256sum");
  if (!std::filesystem::exists(tool)) GTEST_SKIP() << "no sha256sum";
  auto copy = dir / "iommuvm-spin";
  std::filesystem::copy_file(tool, copy);
  auto spin = machine->start(remote::Command{{copy.string(), "/dev/zero"}, false, "", {}},
                             (dir / "spin.log").string());
  std::this_thread::sleep_for(200ms);
  cs.process = "iommuvm-spin";
  auto c = make_collector("pidstat");
  auto m = around_sleep(*c, 1500ms);
  machine->stop(spin, SIGTERM, 2000ms);
  ASSERT_FALSE(m.contains("error")) << m.dump();
  EXPECT_EQ(m["processes"], 1);
  EXPECT_GT(m["cpu_s"].get<double>(), 0.2);  // a shared 2-core machine still gives it a good part
  EXPECT_LE(m["cpu_util_pct"].get<double>(), 105.0);
  EXPECT_NEAR(m["cpu_s"].get<double>(), m["user_s"].get<double>() + m["system_s"].get<double>(),
              1e-9);
}

TEST_F(CollectLive, QemuProcessNeedsADomain) {
  cs.process = "qemu";
  auto c = make_collector("pidstat");
  auto m = around_sleep(*c, 10ms);
  ASSERT_TRUE(m.contains("unsupported")) << m.dump();
}

TEST_F(CollectLive, QemuTraceCountsOnlyTheWindow) {
  auto trace = dir / "qemu-trace.log";
  {
    std::ofstream out(trace);
    out << "vtd_inv_desc invalidate desc type iotlb high 0x0 low 0x10012\n"
        << "vtd_inv_qi_fetch \n";
  }
  cs.trace_file = trace.string();
  cs.events = {"vtd_inv*"};
  auto c = make_collector("qemu-trace");
  auto m = around(*c, [&] {
    std::ofstream out(trace, std::ios::app);
    for (int i = 0; i < 5; ++i)
      out << "vtd_inv_desc_iotlb_pages iotlb invalidate domain 0x1 addr 0x1000 mask 0x0\n";
    out << "12@1795610700.561341:vtd_inv_desc invalidate desc type wait high 0x0 low 0x25\n";
    out << "vtd_iotlb_page_hit IOTLB page hit sid 0x8 iova 0x1000 slpte 0x1 domain 0x1\n";
    out << "vtd_inv_qi_fetch";  // QEMU still writing this one
    out.flush();
    std::this_thread::sleep_for(100ms);
  });
  ASSERT_FALSE(m.contains("error")) << m.dump();
  EXPECT_EQ(m["events"]["vtd_inv_desc_iotlb_pages"], 5);
  EXPECT_EQ(m["events"]["vtd_inv_desc"], 1);
  EXPECT_FALSE(m["events"].contains("vtd_inv_qi_fetch"));
  EXPECT_EQ(m["total"], 6);
  EXPECT_EQ(m["inv_desc_types"]["wait"], 1);
  EXPECT_GT(m["bytes"].get<int>(), 0);
  EXPECT_TRUE(std::filesystem::exists(dir / "raw" / "c-qemu-trace.log"));
  // A trace file that appears during the window is read from its start.
  auto later = dir / "later.log";
  cs.trace_file = later.string();
  auto c2 = make_collector("qemu-trace");
  auto m2 = around(*c2, [&] { std::ofstream(later) << "vtd_inv_qi_fetch \n"; });
  EXPECT_EQ(m2["total"], 1) << m2.dump();
}

// trace_file with QEMU's %d: the PID of the domain's QEMU, from libvirt's pid file (under a
// fake root prefix); the file itself is read where it is.
TEST(CollectLiveQemuTrace, PercentDIsTheDomainsQemuPid) {
  test::TempDir dir;
  auto root = dir / "root";
  std::filesystem::create_directories(root / "run/libvirt/qemu");
  std::ofstream(root / "run/libvirt/qemu/guest1.pid") << "4242\n";
  auto trace = dir / "trace-4242.log";
  std::ofstream(trace) << "vtd_inv_desc_iotlb_pages before the window\n";
  remote::LocalOptions lo;
  lo.root = root;
  auto machine = remote::make_local(lo);
  spec::Spec config;
  spec::CollectorSpec cs;
  cs.name = "inv";
  cs.kind = "qemu-trace";
  cs.trace_file = (dir / "trace-%d.log").string();
  auto c = make(Context{*machine, config, cs, (dir / "work").string(), dir / "raw", nullptr, "guest1", false});
  c->prepare();
  c->start();
  {
    std::ofstream out(trace, std::ios::app);
    for (int i = 0; i < 3; ++i) out << "vtd_inv_desc_iotlb_pages iotlb invalidate domain 0x1 addr 0x1000 mask 0x0\n";
  }
  auto m = c->stop();
  ASSERT_FALSE(m.contains("error")) << m.dump();
  EXPECT_EQ(m["total"], 3) << m.dump();
  EXPECT_EQ(m["trace_file"], trace.string());
  // Without a domain there is no QEMU to ask: unsupported, with the reason.
  auto none = make(Context{*machine, config, cs, (dir / "work").string(), dir / "raw", nullptr, "", false});
  none->prepare();
  none->start();
  auto u = none->stop();
  ASSERT_TRUE(u.contains("unsupported")) << u.dump();
}

TEST_F(CollectLive, CustomCommandAndItsRegexes) {
  cs.command = {"sh", "-c", "echo 'rate: 12.5 ops'; echo drops=3; sleep 0.3"};
  cs.metrics = {
      {"rate_ops", R"(rate: ([0-9.]+))"}, {"drops", R"(drops=(\d+))"}, {"absent", R"(none (\d+))"}};
  auto c = make_collector("custom");
  auto m = around_sleep(*c, 1000ms);
  ASSERT_FALSE(m.contains("error")) << m.dump();
  EXPECT_DOUBLE_EQ(m["rate_ops"].get<double>(), 12.5);
  EXPECT_EQ(m["drops"], 3);
  EXPECT_EQ(m["missing"], json::array({"absent"}));
  EXPECT_TRUE(m.contains("notes"));  // it exited before the window closed
}

TEST_F(CollectLive, BpftraceIommuOrItsReason) {
  if (!test::have_program("bpftrace")) GTEST_SKIP() << "bpftrace not installed";
  auto c = make_collector("bpftrace-iommu");
  auto m = around(*c, [] {
    // Some DMA-ish activity; on a machine with an IOMMU in translated mode this maps pages.
    test::run_process({"dd", "if=/dev/zero", "of=/dev/null", "bs=1M", "count=50"});
    std::this_thread::sleep_for(500ms);
  });
  if (m.contains("unsupported")) GTEST_SKIP() << m["unsupported"].get<std::string>();
  ASSERT_FALSE(m.contains("error")) << m.dump();
  EXPECT_TRUE(m.contains("functions"));
  EXPECT_TRUE(m["missing"].is_array());
}

TEST_F(CollectLive, KvmExitsOrItsReason) {
  auto c = make_collector("kvm-exits");
  auto m = around_sleep(*c, 500ms);
  if (m.contains("unsupported")) GTEST_SKIP() << m["unsupported"].get<std::string>();
  ASSERT_FALSE(m.contains("error")) << m.dump();
  EXPECT_GE(m["exits"].get<std::int64_t>(), 0);
}

TEST_F(CollectLive, DmarPmuOrItsReason) {
  auto c = make_collector("dmar-pmu");
  auto m = around_sleep(*c, 500ms);
  if (m.contains("unsupported")) GTEST_SKIP() << m["unsupported"].get<std::string>();
  ASSERT_FALSE(m.contains("error")) << m.dump();
  EXPECT_FALSE(m["events"].empty());
}

// The QEMU half of bpftrace-iommu (uprobes on the guest's process, found through
// libvirt's pid file) against a stand-in: a python3 process calling getpid() in a
// loop, under a fake root prefix holding /run/libvirt/qemu/<domain>.pid and a
// /proc/<pid>/exe that points at libc (where getpid is). Uprobes work in more places
// than kprobes (this sandbox has no kprobes).
TEST(CollectLiveBpftrace, UprobesOnTheProcessOfTheDomain) {
  if (!test::have_program("bpftrace")) GTEST_SKIP() << "bpftrace not installed";
  auto python = std::filesystem::path("/usr/bin/python3");
  if (!std::filesystem::exists(python)) GTEST_SKIP() << "no python3";
  auto exe = std::filesystem::canonical(python);
  auto libc = std::filesystem::path("/lib/x86_64-linux-gnu/libc.so.6");
  if (!std::filesystem::exists(libc)) GTEST_SKIP() << "no " << libc;
  test::TempDir dir;
  auto root = dir / "root";
  remote::LocalOptions lo;
  lo.root = root;
  auto machine = remote::make_local(lo);
  auto proc = machine->start(
      remote::Command{
          {exe.string(), "-c", "import os, time\nwhile True:\n  os.getpid(); time.sleep(0.001)"},
          false,
          "",
          {}},
      (dir / "py.log").string());
  // The started PID may be the sh that runs python3: the stand-in is its child then.
  std::this_thread::sleep_for(200ms);
  long pid = proc.pid;
  auto child = test::run_process({"pgrep", "-P", std::to_string(proc.pid)});
  if (child.exit_code == 0) pid = std::stol(child.out);
  std::filesystem::create_directories(root / "run/libvirt/qemu");
  std::ofstream(root / "run/libvirt/qemu/guest1.pid") << pid << "\n";
  std::filesystem::create_directories(root / "proc" / std::to_string(pid));
  std::filesystem::create_symlink(libc, root / "proc" / std::to_string(pid) / "exe");

  spec::Spec config;
  spec::CollectorSpec cs;
  cs.name = "bt";
  cs.kind = "bpftrace-iommu";
  cs.functions = {"qemu:getpid", "vtd_iommu_translate"};
  std::filesystem::create_directories(dir / "work");
  auto c = make(Context{*machine, config, cs, (dir / "work").string(), dir / "raw", nullptr,
                        "guest1", false});
  c->prepare();
  c->start();
  std::this_thread::sleep_for(1000ms);
  auto m = c->stop();
  machine->stop(proc, SIGTERM, 2000ms);
  if (m.contains("unsupported")) GTEST_SKIP() << m["unsupported"].get<std::string>();
  ASSERT_FALSE(m.contains("error")) << m.dump();
  EXPECT_EQ(m["missing"], json::array({"qemu:vtd_iommu_translate"})) << m.dump();
  ASSERT_TRUE(m["functions"].contains("qemu:getpid")) << m.dump();
  auto f = m["functions"]["qemu:getpid"];
  EXPECT_GT(f["calls"].get<std::uint64_t>(), 10u) << m.dump();
  EXPECT_GT(f["avg_ns"].get<double>(), 0.0);
  EXPECT_TRUE(std::filesystem::exists(dir / "raw" / "bt.bt"));
  EXPECT_TRUE(std::filesystem::exists(dir / "raw" / "bt.txt"));
}

// process: qemu finds the guest's process through libvirt's pid file (under a fake
// root prefix whose /proc/<pid> links to the real one).
TEST(CollectLivePidstat, QemuFromTheLibvirtPidFile) {
  if (!test::have_program("pgrep")) GTEST_SKIP() << "pgrep not installed (procps)";
  test::TempDir dir;
  auto root = dir / "root";
  remote::LocalOptions lo;
  lo.root = root;
  auto machine = remote::make_local(lo);
  auto proc = machine->start(remote::Command{{"sh", "-c", "while :; do :; done"}, false, "", {}},
                             (dir / "busy.log").string());
  // The started PID may be the sh that runs the loop: the stand-in is its child then.
  std::this_thread::sleep_for(200ms);
  long pid = proc.pid;
  auto child = test::run_process({"pgrep", "-P", std::to_string(proc.pid)});
  if (child.exit_code == 0) pid = std::stol(child.out);
  std::filesystem::create_directories(root / "run/libvirt/qemu");
  std::ofstream(root / "run/libvirt/qemu/guest1.pid") << pid << "\n";
  std::filesystem::create_directories(root / "proc");
  std::filesystem::create_directory_symlink("/proc/" + std::to_string(pid),
                                            root / "proc" / std::to_string(pid));

  spec::Spec config;
  spec::CollectorSpec cs;
  cs.name = "qemu-cpu";
  cs.kind = "pidstat";
  cs.process = "qemu";
  auto c = make(Context{*machine, config, cs, (dir / "work").string(), dir / "raw", nullptr,
                        "guest1", false});
  c->prepare();
  c->start();
  std::this_thread::sleep_for(1000ms);
  auto m = c->stop();
  machine->stop(proc, SIGKILL, 1000ms);
  ASSERT_FALSE(m.contains("error")) << m.dump();
  ASSERT_FALSE(m.contains("unsupported")) << m.dump();
  EXPECT_EQ(m["processes"], 1);
  EXPECT_GT(m["cpu_s"].get<double>(), 0.1) << m.dump();
  EXPECT_FALSE(m.contains("vhost_threads"));
  EXPECT_TRUE(std::filesystem::exists(dir / "raw" / "qemu-cpu.txt"));
}

// The tracepoints collector on this machine's own kernel: tracefs mounted under a root prefix
// (a second mount of the same tracing instance), hist triggers attached and removed for real.
// A kernel without hist triggers (CONFIG_HIST_TRIGGERS) must say so; one with them must count
// the execs of the window. The IOMMU events themselves are counted in the TCG guest
// (tests/long/test_real_vm.cpp): this machine has no IOMMU.
TEST(CollectLiveTracepoints, HistTriggersOnThisKernelOrItsReason) {
  if (geteuid() != 0) GTEST_SKIP() << "mounting tracefs needs root";
  test::TempDir dir;
  auto root = dir / "root";
  auto tracing = root / "sys/kernel/tracing";
  std::filesystem::create_directories(tracing);
  auto mounted = test::run_process({"mount", "-t", "tracefs", "nodev", tracing.string()});
  if (mounted.exit_code != 0) GTEST_SKIP() << "cannot mount tracefs here: " << mounted.err;
  struct Unmount {
    std::filesystem::path p;
    ~Unmount() { test::run_process({"umount", p.string()}); }
  } unmount{tracing};
  remote::LocalOptions lo;
  lo.root = root;
  auto machine = remote::make_local(lo);
  spec::Spec config;
  spec::CollectorSpec cs;
  cs.name = "tp";
  cs.kind = "tracepoints";
  cs.events = {"sched:sched_process_exec", "iommu:map", "no_such_subsystem:no_event"};
  auto c = make(Context{*machine, config, cs, (dir / "work").string(), dir / "raw", nullptr, "", false});
  c->prepare();
  c->start();
  for (int i = 0; i < 5; ++i) test::run_process({"/bin/true"});
  auto m = c->stop();
  std::string trigger = iommuvm::fs::read_file(tracing / "events/sched/sched_process_exec/trigger");
  if (trigger.find("hist") == std::string::npos) {
    ASSERT_TRUE(m.contains("unsupported")) << m.dump();
    EXPECT_NE(m["unsupported"].get<std::string>().find("CONFIG_HIST_TRIGGERS"), std::string::npos) << m.dump();
    GTEST_SKIP() << "this kernel has no hist triggers; the collector said so: " << m["unsupported"].get<std::string>();
  }
  ASSERT_FALSE(m.contains("error")) << m.dump();
  ASSERT_FALSE(m.contains("unsupported")) << m.dump();
  EXPECT_GE(m["events"]["sched:sched_process_exec"]["count"].get<int>(), 5) << m.dump();
  EXPECT_EQ(m["missing"], json::array({"no_such_subsystem:no_event"})) << m.dump();
  // The triggers are gone after the window.
  EXPECT_EQ(iommuvm::fs::read_file(tracing / "events/sched/sched_process_exec/trigger").find("hist:keys"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(dir / "raw" / "tp.txt"));
}
