// A real guest under QEMU/TCG with the emulated Intel IOMMU, through libvirt (qemu:///system).
// Label "long": not in the default run; IOMMUVM_LONG=1 scripts/test.sh -L long, or ctest -L long.
// Needs: scripts/build-guest.sh (the guest image), scripts/libvirtd.sh start (the network namespace
// "iommuvm" with the tap iommuvm-tap0 at 192.168.150.1/24 inside it, libvirtd and virtlogd running
// in it), root. Everything that talks to the guest (ssh, `iommuvm run` and its redis-benchmark)
// runs inside that namespace (ip netns exec); the root namespace never gets the guest's subnet, and
// the test refuses to run when it has it. Skips with the reason when something is missing,
// or when IOMMUVM_TIME_BUDGET_S (seconds left for this test) is below what it needs.
// Measured on a 2-core shared machine: guest boot 10-30 s, the 7-run campaign 2.5-3.5 min; the
// profile campaign (ProfileInsideTheGuest, scripts/build-guest.sh --with-bpftrace) about 1.5 min.
// The campaign's collectors count the vIOMMU invalidations and QEMU's CPU time per request;
// `iommuvm report --figures` must then draw the throughput and breakdown figures.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "iommuvm/util/fs.hpp"
#include "iommuvm/virt/domain_xml.hpp"
#include "iommuvm/virt/libvirt.hpp"
#include "netns.hpp"
#include "test_support.hpp"

using namespace iommuvm;
namespace stdfs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr const char* kUri = "qemu:///system";
constexpr const char* kTap = "iommuvm-tap0";
constexpr const char* kGuestIp = "192.168.150.2";
constexpr const char* kBootDomain = "iommuvm-long-boot";
// What each part needs at most (seconds), from measured times with margin.
constexpr double kBootNeeds = 150;      // boot + SSH + shutdown, measured 15-40 s
constexpr double kCampaignNeeds = 720;  // 7 runs, measured 3m40s

stdfs::path cache_dir() {
  if (const char* c = std::getenv("IOMMUVM_CACHE"); c && *c) return stdfs::path(c) / "guest";
  const char* home = std::getenv("HOME");
  return stdfs::path(home ? home : "/root") / ".cache/iommuvm/guest";
}

// Empty when the machine can run a real guest; else why not.
std::string missing_prerequisite() {
  if (::geteuid() != 0) return "needs root (qemu:///system, the tap device)";
  if (!test::have_program("qemu-system-x86_64")) return "qemu-system-x86_64 missing (scripts/setup.sh --vm-deps)";
  if (!stdfs::exists("/usr/sbin/libvirtd")) return "libvirtd missing (scripts/setup.sh --vm-deps)";
  if (!test::have_program("ssh")) return "the ssh client is missing";
  auto g = cache_dir();
  for (const char* f : {"vmlinuz", "initrd.img", "id_ed25519"})
    if (!stdfs::exists(g / f)) return fmt::format("guest image not built ({} missing): run scripts/build-guest.sh", (g / f).string());
  const std::string ns = test::test_netns();
  if (!test::netns_exists(ns)) return fmt::format("network namespace {} missing: run scripts/libvirtd.sh start", ns);
  if (test::run_process({"ip", "-n", ns, "link", "show", kTap}).exit_code != 0)
    return fmt::format("tap {} missing in namespace {}: run scripts/libvirtd.sh start", kTap, ns);
  // The guest must be reachable only inside the namespace: never send load through the root one.
  if (auto why = test::root_namespace_reaches(kGuestIp); !why.empty()) return why;
  auto v = test::run_process({"virsh", "-c", kUri, "version"});
  if (v.exit_code != 0) return "libvirtd does not answer on qemu:///system: run scripts/libvirtd.sh start";
  return "";
}

// Skip reason when the time budget is too small, else empty.
std::string over_budget(double needs_s) {
  const char* b = std::getenv("IOMMUVM_TIME_BUDGET_S");
  if (!b || !*b) return "";
  double have = std::strtod(b, nullptr);
  if (have < needs_s)
    return fmt::format("IOMMUVM_TIME_BUDGET_S={} s is less than the {} s this part may need", have, needs_s);
  return "";
}

test::ProcessResult guest_ssh(const std::string& command, int connect_timeout_s = 3) {
  auto g = cache_dir();
  return test::run_process(test::in_netns(
      test::test_netns(), {"ssh", "-i", (g / "id_ed25519").string(), "-o", "BatchMode=yes", "-o",
                           "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o",
                           fmt::format("ConnectTimeout={}", connect_timeout_s), fmt::format("root@{}", kGuestIp), command}));
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (auto p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
}

// The example spec EXAMPLE with this machine's paths, written to DIR/NAME: its template by
// absolute path, the guest image of IMAGE_DIR (cache folder NAME_IN_SPEC in the example;
// libvirt gets kernel paths verbatim). Returns the path written.
stdfs::path example_here(const std::string& example, const std::string& name_in_spec, const stdfs::path& image_dir,
                         const stdfs::path& dir, const std::string& name) {
  std::string spec = fs::read_file(stdfs::path(IOMMUVM_SOURCE_DIR) / "configs/examples" / example);
  replace_all(spec, "../domains/tcg-viommu.xml", (stdfs::path(IOMMUVM_SOURCE_DIR) / "configs/domains/tcg-viommu.xml").string());
  replace_all(spec, "/root/.cache/iommuvm/" + name_in_spec, image_dir.string());
  replace_all(spec, "~/.cache/iommuvm/" + name_in_spec, image_dir.string());
  auto path = dir / name;
  std::ofstream(path) << spec;
  return path;
}

// Our guests share the tap and the address: stop any of them still running (a previous
// campaign leaves tcg-viommu running: campaign.end does not apply 'cleanup: shutdown' yet).
void stop_our_guests(virt::Hypervisor& hv) {
  for (const char* d : {"tcg-viommu", kBootDomain})
    if (hv.is_active(d)) virt::stop_domain(hv, d, std::chrono::seconds(30));
}

}  // namespace

class RealVm : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = missing_prerequisite(); !why.empty()) GTEST_SKIP() << why;
    try {
      hv_ = virt::connect_libvirt(kUri);
    } catch (const std::exception& e) {
      GTEST_SKIP() << "cannot connect to " << kUri << ": " << e.what() << " (scripts/libvirtd.sh start)";
    }
    root_addresses_ = test::non_loopback_addresses();
    checked_ = true;
  }
  // The test added no address outside loopback to the root namespace.
  void TearDown() override {
    if (checked_) EXPECT_EQ(test::non_loopback_addresses(), root_addresses_) << "the root namespace's addresses changed";
  }
  std::unique_ptr<virt::Hypervisor> hv_;
  std::vector<std::string> root_addresses_;
  bool checked_ = false;
};

// (a) The guest boots through libvirt from the rendered template and runs the rendered command line.
TEST_F(RealVm, BootsWithTheRenderedCmdline) {
  if (auto why = over_budget(kBootNeeds); !why.empty()) GTEST_SKIP() << why;
  stop_our_guests(*hv_);
  auto g = cache_dir();
  std::string tpl = fs::read_file(stdfs::path(IOMMUVM_SOURCE_DIR) / "configs/domains/tcg-viommu.xml");
  std::mt19937_64 rng(std::random_device{}());
  std::string nonce = fmt::format("{:016x}", rng());

  virt::DomainSettings d;
  d.name = kBootDomain;
  d.domain_type = "qemu";
  d.vcpus = 1;
  d.memory_mib = 512;
  d.kernel = (g / "vmlinuz").string();
  d.initrd = (g / "initrd.img").string();
  d.cmdline = fmt::format("console=ttyS0,115200 loglevel=4 iommuvm.ip={}/24 intel_iommu=on iommu.strict=1 iommuvm.nonce={}",
                          kGuestIp, nonce);
  d.viommu.model = virt::ViommuModel::intel;
  d.viommu.caching_mode = true;
  std::string xml = virt::render_domain(tpl, d);
  ASSERT_NE(xml.find("<iommu model=\"intel\">"), std::string::npos) << xml;

  if (hv_->domain_xml(kBootDomain, true)) hv_->undefine(kBootDomain);
  hv_->define(xml);
  auto t0 = clock_type::now();
  hv_->start(kBootDomain);
  std::string cmdline, last_err;
  for (;;) {
    auto r = guest_ssh("cat /proc/cmdline");
    if (r.exit_code == 0) {
      cmdline = trim(r.out);
      break;
    }
    last_err = r.err;
    if (clock_type::now() - t0 > std::chrono::seconds(120)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  double boot_s = std::chrono::duration<double>(clock_type::now() - t0).count();
  std::string dmesg = cmdline.empty() ? "" : guest_ssh("dmesg").out;
  bool stopped = virt::stop_domain(*hv_, kBootDomain, std::chrono::seconds(30));
  hv_->undefine(kBootDomain);

  ASSERT_FALSE(cmdline.empty()) << "no SSH answer from the guest within 120 s: " << last_err;
  RecordProperty("boot_s", fmt::format("{:.1f}", boot_s));
  std::printf("guest answered over SSH %.1f s after start\n", boot_s);
  EXPECT_EQ(cmdline, d.cmdline);
  EXPECT_NE(dmesg.find("DMAR: IOMMU enabled"), std::string::npos);
  EXPECT_NE(dmesg.find("strict mode"), std::string::npos);
  EXPECT_TRUE(stopped) << "the guest did not power off on the ACPI request (busybox acpid)";
}

// (b) The whole campaign through the built binary: every run ok but lazy with caching mode on.
TEST_F(RealVm, CampaignTcgViommu) {
  if (auto why = over_budget(kBootNeeds + kCampaignNeeds); !why.empty()) GTEST_SKIP() << why;
  stop_our_guests(*hv_);
  test::TempDir tmp;
  auto g = cache_dir();
  auto spec_path = example_here("tcg-viommu.yaml", "guest", g, tmp.path(), "tcg-viommu.yaml");
  auto out = tmp / "results";
  auto t0 = clock_type::now();
  // iommuvm (the controller) and its redis-benchmark run in the namespace that holds the tap.
  auto r = test::run_process(
      test::in_netns(test::test_netns(), {test::binary_path().string(), "run", spec_path.string(), "--output", out.string()}));
  double took = std::chrono::duration<double>(clock_type::now() - t0).count();
  std::printf("campaign took %.0f s\n%s\n", took, r.out.c_str());
  stop_our_guests(*hv_);
  RecordProperty("campaign_s", fmt::format("{:.0f}", took));

  std::map<std::string, nlohmann::json> runs;  // run id -> run.json
  for (auto& camp : stdfs::directory_iterator(out / "tcg-viommu"))
    for (auto& run : stdfs::directory_iterator(camp.path() / "runs"))
      if (stdfs::exists(run.path() / "run.json"))
        runs[run.path().filename().string()] = nlohmann::json::parse(fs::read_file(run.path() / "run.json"));
  ASSERT_EQ(runs.size(), 7u) << r.out << r.err;
  // One run fails by design (lazy in caching mode): exit 1, never the exit 3 of an error at the
  // campaign's end (the guest's work folder was once removed after the guest was shut down).
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;

  for (const auto& [id, j] : runs) {
    SCOPED_TRACE(id);
    const auto& p = j.at("params");
    std::string model = p.value("guests.tcg-viommu.viommu.model", std::string());
    bool cm = p.value("guests.tcg-viommu.viommu.caching_mode", true);
    std::string requested = p.value("policy.guest.policy", std::string());
    std::string effective = j.at("policy").at("guests").at("tcg-viommu").value("effective", std::string());
    std::string status = j.value("status", std::string());
    if (model == "intel" && cm && requested == "lazy") {
      EXPECT_EQ(status, "failed");
      EXPECT_EQ(j.value("reason", std::string()).rfind("policy-mismatch", 0), 0u) << j.value("reason", std::string());
      EXPECT_EQ(effective, "strict");
    } else {
      EXPECT_EQ(status, "ok") << j.value("reason", std::string());
      EXPECT_EQ(effective, model == "none" ? "off" : requested);
    }
  }
  EXPECT_LT(took, 1500) << "the campaign must stay well under 30 minutes";

  // The collectors of the spec, per ok run: vIOMMU invalidations (QEMU trace events, file found
  // from QEMU's PID) and QEMU's CPU time, both per request.
  std::printf("%-45s %-11s %8s %14s %14s\n", "run", "effective", "ops/s", "inv/request", "QEMU us/req");
  for (const auto& [id, j] : runs) {
    if (j.value("status", std::string()) != "ok") continue;
    SCOPED_TRACE(id);
    std::string eff = j.at("policy").at("guests").at("tcg-viommu").value("effective", std::string());
    bool cm = j.at("params").value("guests.tcg-viommu.viommu.caching_mode", true);
    ASSERT_TRUE(j.contains("collectors")) << j.dump();
    const auto& inv = j["collectors"]["viommu-inv"];
    const auto& cpu = j["collectors"]["qemu-cpu"];
    ASSERT_TRUE(inv.contains("per_request")) << inv.dump();
    ASSERT_TRUE(cpu.contains("per_request")) << cpu.dump();
    EXPECT_EQ(j["metrics"].value("requests", 0), 20000);  // redis-benchmark -n 10000 -t set,get
    double per = inv["per_request"].at("total_per_request").get<double>();
    double cpu_us = cpu["per_request"].at("cpu_s_per_request").get<double>() * 1e6;
    std::printf("%-45s %-11s %8.0f %14.3f %14.1f\n", id.c_str(), eff.c_str(),
                j["metrics"].value("throughput_ops", 0.0), per, cpu_us);
    if (eff == "strict") {
      EXPECT_GT(per, cm ? 4.0 : 2.0);  // measured 8.0 (caching mode) and 4.0 per request
    } else if (eff == "lazy") {
      EXPECT_LT(per, 0.5);  // measured 0.02: whole-domain flushes from the queue
    } else {
      EXPECT_LT(per, 0.01);  // passthrough, off
    }
    // QEMU runs the guest (TCG) and its devices: tens to hundreds of CPU microseconds per request.
    EXPECT_GT(cpu_us, 5.0);
    EXPECT_LT(cpu_us, 20000.0);
    EXPECT_EQ(cpu.value("processes", 0), 1) << cpu.dump();

    // The guest kernel's own counts (tracepoints through tracefs hist triggers, in the guest),
    // against QEMU's view of the same invalidations (its vtd_inv_desc_iotlb_* events).
    const auto& gk = j["collectors"]["guest-iommu"];
    if (eff == "off") {  // no vIOMMU: the guest has no intel_iommu events to count
      EXPECT_TRUE(gk.contains("per_request") || gk.contains("unsupported")) << gk.dump();
      continue;
    }
    ASSERT_TRUE(gk.contains("per_request")) << gk.dump();
    const auto& g = gk["per_request"];
    double unmaps = g.at("unmaps_per_request").get<double>(), maps = g.at("maps_per_request").get<double>();
    double g_inv = g.at("iotlb_invalidations_per_request").get<double>();
    double q_inv = inv["per_request"].at("iotlb_invalidations_per_request").get<double>();
    std::printf("%-45s guest maps/req %.3f unmaps/req %.3f IOTLB inv/req %.3f, QEMU IOTLB inv/req %.3f\n", id.c_str(),
                maps, unmaps, g_inv, q_inv);
    if (eff == "strict") {
      EXPECT_GT(unmaps, 0.5);
      EXPECT_GT(g_inv, 0.5);
      EXPECT_NEAR(g_inv / q_inv, 1.0, 0.25) << "guest " << g_inv << " vs QEMU " << q_inv;
    } else if (eff == "passthrough") {
      EXPECT_EQ(maps, 0.0);
      EXPECT_EQ(unmaps, 0.0);
      EXPECT_EQ(g_inv, 0.0);
      EXPECT_LT(q_inv, 0.01);
    } else {  // lazy: unmaps per request, but the IOTLB flushed in batches
      EXPECT_GT(unmaps, 0.5);
      EXPECT_LT(g_inv, 0.5);
      if (q_inv > 0) {
        EXPECT_NEAR(g_inv / q_inv, 1.0, 0.25) << "guest " << g_inv << " vs QEMU " << q_inv;
      }
    }
  }

  // The report with its breakdown and figures.
  stdfs::path camp;
  for (auto& c : stdfs::directory_iterator(out / "tcg-viommu")) camp = c.path();
  auto rep = test::run_process({test::binary_path().string(), "report", camp.string(), "--figures"});
  ASSERT_EQ(rep.exit_code, 0) << rep.out << rep.err;
  std::printf("%s\n", rep.out.c_str());
  std::string md = fs::read_file(camp / "report/report.md");
  EXPECT_NE(md.find("### Breakdown per request"), std::string::npos) << md;
  EXPECT_NE(md.find("vIOMMU invalidations"), std::string::npos) << md;
  EXPECT_NE(md.find("QEMU CPU"), std::string::npos) << md;
  EXPECT_NE(md.find("guest IOTLB invalidations/req"), std::string::npos) << md;
  EXPECT_NE(md.find("guest ÷ vIOMMU IOTLB inv."), std::string::npos) << md;
  bool drawn = test::have_program("gnuplot");
  for (const char* f : {"throughput-redis", "breakdown-redis"})
    for (const char* ext : {".gp", ".dat", ".svg", ".png"}) {
      if (!drawn && std::string(ext) >= ".p") continue;  // .svg/.png need gnuplot
      auto p = camp / "report/figures" / (std::string(f) + ext);
      EXPECT_TRUE(stdfs::exists(p) && stdfs::file_size(p) > 0) << p;
    }
}

// (c) The guest kernel's own IOMMU profile, inside the guest: bpftrace-iommu (kprobe pairs) in
// the guest image of `scripts/build-guest.sh --with-bpftrace`, next to the tracepoints it counts
// and QEMU's vIOMMU invalidations, for guest strict and passthrough (caching mode on).
TEST_F(RealVm, ProfileInsideTheGuest) {
  if (auto why = over_budget(kBootNeeds + 300); !why.empty()) GTEST_SKIP() << why;
  auto g = cache_dir().parent_path() / "guest-bpftrace";
  for (const char* f : {"vmlinuz", "initrd.img", "id_ed25519"})
    if (!stdfs::exists(g / f))
      GTEST_SKIP() << "the bpftrace guest image is not built (" << (g / f).string()
                   << " missing): run scripts/build-guest.sh --with-bpftrace";
  stop_our_guests(*hv_);
  test::TempDir tmp;
  auto spec_path = example_here("tcg-viommu-profile.yaml", "guest-bpftrace", g, tmp.path(), "profile.yaml");
  auto out = tmp / "results";
  auto t0 = clock_type::now();
  auto r = test::run_process(
      test::in_netns(test::test_netns(), {test::binary_path().string(), "run", spec_path.string(), "--output", out.string()}));
  double took = std::chrono::duration<double>(clock_type::now() - t0).count();
  std::printf("profile campaign took %.0f s\n%s\n", took, r.out.c_str());
  stop_our_guests(*hv_);
  RecordProperty("campaign_s", fmt::format("{:.0f}", took));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;

  std::map<std::string, nlohmann::json> runs;
  stdfs::path camp;
  for (auto& c : stdfs::directory_iterator(out / "tcg-viommu-profile")) camp = c.path();
  ASSERT_FALSE(camp.empty()) << r.out << r.err;
  for (auto& run : stdfs::directory_iterator(camp / "runs"))
    if (stdfs::exists(run.path() / "run.json"))
      runs[run.path().filename().string()] = nlohmann::json::parse(fs::read_file(run.path() / "run.json"));
  ASSERT_EQ(runs.size(), 2u) << r.out << r.err;
  for (const auto& [id, j] : runs) {
    SCOPED_TRACE(id);
    ASSERT_EQ(j.value("status", std::string()), "ok") << j.value("reason", std::string());
    std::string eff = j.at("policy").at("guests").at("tcg-viommu").value("effective", std::string());
    const auto& prof = j["collectors"]["guest-profile"];
    ASSERT_TRUE(prof.contains("per_request")) << prof.dump();
    const auto& fn = prof["functions"];
    const auto& tp = j["collectors"]["guest-iommu"];
    ASSERT_TRUE(tp.contains("per_request")) << tp.dump();
    auto calls = [&](const char* f) { return fn.contains(f) ? fn[f].value("calls", 0.0) : 0.0; };
    double requests = j["metrics"].value("requests", 0.0);
    ASSERT_GT(requests, 0);
    std::printf("%-40s %-11s __iommu_map %.3f/req %.1f us/req, __iommu_unmap %.3f/req %.1f us/req, "
                "qi_submit_sync %.3f/req %.1f us/req; tracepoints: unmaps %.3f/req, descriptors %.3f/req\n",
                id.c_str(), eff.c_str(), calls("__iommu_map") / requests,
                fn.contains("__iommu_map") ? fn["__iommu_map"].value("total_ns", 0.0) / requests / 1000 : 0.0,
                calls("__iommu_unmap") / requests,
                fn.contains("__iommu_unmap") ? fn["__iommu_unmap"].value("total_ns", 0.0) / requests / 1000 : 0.0,
                calls("qi_submit_sync") / requests,
                fn.contains("qi_submit_sync") ? fn["qi_submit_sync"].value("total_ns", 0.0) / requests / 1000 : 0.0,
                tp.value("unmaps", 0.0) / requests, tp.value("descriptors", 0.0) / requests);
    if (eff == "strict") {
      EXPECT_GT(calls("__iommu_unmap") / requests, 0.5);
      EXPECT_GT(fn["__iommu_unmap"].value("total_ns", 0.0), 0.0);
      EXPECT_GT(calls("qi_submit_sync") / requests, 0.5);
      // The kprobes see the calls the tracepoints count (each window is its own collector's).
      EXPECT_NEAR(calls("__iommu_unmap") / tp.value("unmaps", 1.0), 1.0, 0.25);
    } else {
      ASSERT_EQ(eff, "passthrough");
      EXPECT_EQ(calls("__iommu_unmap"), 0.0);
      EXPECT_EQ(calls("qi_submit_sync"), 0.0);
      EXPECT_EQ(tp.value("unmaps", -1.0), 0.0);
    }
  }
  // The report's time breakdown comes from the guest's bpftrace profile.
  auto rep = test::run_process({test::binary_path().string(), "report", camp.string(), "--figures"});
  ASSERT_EQ(rep.exit_code, 0) << rep.out << rep.err;
  std::string md = fs::read_file(camp / "report/report.md");
  EXPECT_NE(md.find("IOMMU µs/req"), std::string::npos) << md;
  EXPECT_NE(md.find("IOTLB flushes/req"), std::string::npos) << md;
}
