// plan::build: the order of the runs (grouped, interleaved, extra repetitions), the steps
// laid out around them (switches, reboots, guest restarts) and the totals, from specs
// loaded the way `iommuvm plan` loads them.
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include <string>
#include <utility>
#include <vector>

#include "iommuvm/plan/plan.hpp"
#include "iommuvm/policy/types.hpp"
#include "iommuvm/spec/load.hpp"
#include "iommuvm/spec/matrix.hpp"

using namespace iommuvm;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

namespace {

struct Built {
  spec::Loaded loaded;
  plan::Plan plan;
};

Built build(const std::string& text) {
  Built b{spec::load_text(text, "t.yaml"), {}};
  auto points = spec::expand(b.loaded, b.loaded.diag);
  EXPECT_FALSE(b.loaded.diag.has_errors());
  for (const auto& d : b.loaded.diag.sorted()) ADD_FAILURE() << d.format();
  b.plan = plan::build(b.loaded.spec, std::move(points));
  return b;
}

// Two host policies switched through GRUB (a reboot each), redis driven from a client machine.
std::string host_spec(const std::string& matrix) {
  return R"(name: t
machines:
  host: {ssh: root@r650:22, vendor: intel}
  client: {ssh: {host: client1, user: alice}}
policy:
  host: {policy: [strict, passthrough], method: grub}
workloads:
  redis:
    server: {machine: host}
    client: {machine: client, requests: 1000, warmup: 1s}
matrix: )" + matrix + "\n";
}

// "strict/1": each run's host policy and repetition, in plan order (x: an extra repetition).
std::vector<std::string> run_order(const plan::Plan& p) {
  std::vector<std::string> out;
  for (const auto& r : p.runs)
    out.push_back(std::string(policy::to_string(*r.config.policy.host.policy)) + "/" + std::to_string(r.repetition) +
                  (r.extra ? "x" : ""));
  return out;
}

int count(const plan::Plan& p, const std::string& kind) {
  int n = 0;
  for (const auto& s : p.steps) n += s.kind == kind;
  return n;
}

std::vector<std::string> kinds(const plan::Plan& p) {
  std::vector<std::string> out;
  for (const auto& s : p.steps) out.push_back(s.kind);
  return out;
}

}  // namespace

TEST(Plan, GroupedOrderSwitchesEachConfigurationOnce) {
  auto b = build(host_spec("{repetitions: 2, order: grouped}"));
  const auto& p = b.plan;
  EXPECT_THAT(run_order(p), ElementsAre("strict/1", "strict/2", "passthrough/1", "passthrough/2"));
  EXPECT_EQ(p.totals.runs, 4);
  EXPECT_EQ(p.totals.extra_runs, 0);
  EXPECT_EQ(p.totals.host_reboots, 2);
  EXPECT_EQ(count(p, plan::kind::host_reboot), 2);
  EXPECT_EQ(count(p, plan::kind::host_set_policy), 2);
  EXPECT_EQ(count(p, plan::kind::host_verify_policy), 2);
  EXPECT_EQ(p.totals.guest_restarts, 0);
}

TEST(Plan, InterleavedOrderVisitsEveryConfigurationEachRound) {
  auto b = build(host_spec("{repetitions: 2, order: interleaved}"));
  const auto& p = b.plan;
  EXPECT_THAT(run_order(p), ElementsAre("strict/1", "passthrough/1", "strict/2", "passthrough/2"));
  EXPECT_EQ(p.totals.runs, 4);
  EXPECT_EQ(p.totals.host_reboots, 4);  // one switch before every run
  EXPECT_EQ(count(p, plan::kind::host_reboot), 4);
}

TEST(Plan, StepsOfARunAndTheSwitchesAroundThem) {
  auto b = build(host_spec("{repetitions: 1, cooldown: 2s}"));
  const auto& p = b.plan;
  EXPECT_THAT(kinds(p), ElementsAreArray(std::vector<std::string>{
                            "campaign.begin",
                            "host.set_policy", "host.reboot", "host.verify_policy",
                            "run.begin", "server.start", "client.warmup", "client.measure", "server.stop", "run.end",
                            "cooldown",
                            "host.set_policy", "host.reboot", "host.verify_policy",
                            "run.begin", "server.start", "client.warmup", "client.measure", "server.stop", "run.end",
                            "cooldown",
                            "campaign.end"}));
  // Run steps carry their run; switches between runs do not.
  for (const auto& s : p.steps) {
    bool in_run = s.kind == plan::kind::run_begin || s.kind == plan::kind::server_start ||
                  s.kind == plan::kind::client_warmup || s.kind == plan::kind::client_measure ||
                  s.kind == plan::kind::server_stop || s.kind == plan::kind::run_end || s.kind == plan::kind::cooldown;
    EXPECT_EQ(s.run_index >= 0, in_run) << s.kind;
    if (in_run) {
      EXPECT_EQ(s.run, p.runs[static_cast<std::size_t>(s.run_index)].id) << s.kind;
    }
  }
  // Where each step acts.
  for (const auto& s : p.steps) {
    if (s.kind == plan::kind::host_reboot || s.kind == plan::kind::server_start) {
      EXPECT_EQ(s.machine, "host") << s.kind;
    }
    if (s.kind == plan::kind::client_measure) {
      EXPECT_EQ(s.machine, "client");
    }
  }
}

TEST(Plan, TotalsAddUpRunsAndReboots) {
  auto b = build(host_spec("{repetitions: 3, cooldown: 2s}"));
  const auto& p = b.plan;
  ASSERT_EQ(p.runs.size(), 6u);
  const auto& cfg = p.runs.front().config;
  double per_run = plan::expected_run_seconds(cfg, cfg.workloads.front());
  // 3 s set-up + 1 s warm-up + 1 s measuring (1000 requests, at least 1 s) + 2 s cool-down.
  EXPECT_DOUBLE_EQ(per_run, 7);
  double reboot = b.loaded.spec.machine("host")->reboot.expected_s;
  EXPECT_DOUBLE_EQ(p.totals.estimated_seconds, 6 * per_run + 2 * reboot);
  EXPECT_DOUBLE_EQ(p.totals.extra_seconds, 0);
  auto j = p.to_json();
  EXPECT_EQ(j["totals"]["runs"], 6);
  EXPECT_EQ(j["totals"]["host_reboots"], 2);
}

TEST(Plan, ExtraRepetitionsFollowTheLastPlannedOne) {
  auto grouped = build(host_spec("{repetitions: 2, max_repetitions: 4, max_cv: 10}"));
  const auto& p = grouped.plan;
  EXPECT_THAT(run_order(p), ElementsAre("strict/1", "strict/2", "strict/3x", "strict/4x", "passthrough/1",
                                        "passthrough/2", "passthrough/3x", "passthrough/4x"));
  EXPECT_EQ(p.totals.runs, 4);
  EXPECT_EQ(p.totals.extra_runs, 4);
  EXPECT_DOUBLE_EQ(p.totals.max_cv, 0.1);  // 10 in the spec is a percent
  EXPECT_EQ(p.totals.host_reboots, 2);     // extra runs need no switch of their own
  // Their time is counted apart: the estimate is that of the planned runs.
  auto planned = build(host_spec("{repetitions: 2}"));
  EXPECT_DOUBLE_EQ(p.totals.estimated_seconds, planned.plan.totals.estimated_seconds);
  EXPECT_GT(p.totals.extra_seconds, 0);
  int extra_begins = 0;
  for (const auto& s : p.steps)
    if (s.kind == plan::kind::run_begin && s.args.value("extra", false)) ++extra_begins;
  EXPECT_EQ(extra_begins, 4);

  // Interleaved: the extras stay in the last round, right after their combination's last planned run.
  auto inter = build(host_spec("{repetitions: 2, max_repetitions: 4, max_cv: 0.1, order: interleaved}"));
  EXPECT_THAT(run_order(inter.plan), ElementsAre("strict/1", "passthrough/1", "strict/2", "strict/3x", "strict/4x",
                                                 "passthrough/2", "passthrough/3x", "passthrough/4x"));
  EXPECT_EQ(inter.plan.totals.host_reboots, 4);
}

TEST(Plan, GuestCampaignStopsTheGuestBeforeAHostRebootAndStartsItAgain) {
  const std::string domain_xml = std::string(IOMMUVM_SOURCE_DIR) + "/configs/domains/network-server.xml";
  auto b = build(R"(name: t
machines:
  host: {ssh: root@r650:22, vendor: intel}
  guest: {ssh: {host: 10.0.0.2, user: schai}}
  client: {ssh: {host: client1, user: alice}}
hypervisor: {uri: 'qemu:///system', machine: host}
nic: {pf: enp202s0f0np0, pci: '0000:ca:00.0', num_vfs: 4, host_ip: 10.10.1.1/24}
guests:
  vm: {machine: guest, template: )" + domain_xml + R"(, viommu: intel, vf: 0, data_ip: 10.10.1.100/24}
policy:
  host: {policy: [strict, passthrough], method: grub}
  guest: strict
workloads:
  memcached:
    server: {machine: guest, port: 11211}
    client: {machine: client, tool: memaslap, duration: 5s}
)");
  const auto& p = b.plan;
  const std::vector<std::string> guest_up = {"nic.setup_vfs", "guest.define", "guest.start", "guest.verify_policy",
                                             "guest.network"};
  std::vector<std::string> want = {"campaign.begin", "host.set_policy", "host.reboot", "host.verify_policy"};
  want.insert(want.end(), guest_up.begin(), guest_up.end());
  want.insert(want.end(), {"run.begin", "server.start", "client.measure", "server.stop", "run.end"});
  want.insert(want.end(), {"guest.shutdown", "host.set_policy", "host.reboot", "host.verify_policy"});
  want.insert(want.end(), guest_up.begin(), guest_up.end());
  want.insert(want.end(), {"run.begin", "server.start", "client.measure", "server.stop", "run.end", "campaign.end"});
  EXPECT_THAT(kinds(p), ElementsAreArray(want));
  EXPECT_EQ(p.totals.guest_restarts, 2);
  EXPECT_EQ(p.totals.host_reboots, 2);
  for (const auto& s : p.steps) {
    if (s.kind == plan::kind::guest_start || s.kind == plan::kind::guest_define || s.kind == plan::kind::guest_shutdown) {
      EXPECT_EQ(s.machine, "host") << s.kind;  // the hypervisor's machine
    }
    if (s.kind == plan::kind::guest_verify_policy || s.kind == plan::kind::server_start) {
      EXPECT_EQ(s.machine, "guest") << s.kind;
    }
    if (s.kind == plan::kind::guest_verify_policy) {
      EXPECT_EQ(s.args["expected"], "strict");
    }
  }
  // The estimate holds both boots of the guest and both reboots of the host.
  const auto& cfg = p.runs.front().config;
  double runs = 2 * plan::expected_run_seconds(cfg, cfg.workloads.front());
  double boots = 2 * cfg.guests.front().expected_boot_s + 2 * b.loaded.spec.machine("host")->reboot.expected_s;
  EXPECT_DOUBLE_EQ(p.totals.estimated_seconds, runs + boots);
}

// Canaries: one per workload before the runs of each configuration (after each reboot), on a
// cut-down copy of the first run's configuration, appended to Plan::runs and not counted as runs.
TEST(Plan, ACanaryAfterEveryBootBeforeTheRunsOfItsConfiguration) {
  std::string spec = host_spec("{repetitions: 2, order: interleaved}") + "canary: {requests: 100}\n";
  auto b = build(spec);
  const auto& p = b.plan;
  EXPECT_EQ(p.totals.runs, 4);
  EXPECT_EQ(p.totals.canaries, 4);  // interleaved: strict, passthrough, strict, passthrough: 4 boots
  ASSERT_EQ(p.runs.size(), 8u);
  // The step sequence: every reboot is followed (after its verification) by a canary's run.begin
  // before the first real run.begin.
  std::vector<std::string> seq;
  for (const auto& s : p.steps)
    if (s.kind == plan::kind::host_reboot) seq.push_back("reboot");
    else if (s.kind == plan::kind::run_begin) seq.push_back(p.runs.at(static_cast<std::size_t>(s.run_index)).canary ? "canary" : "run");
  EXPECT_THAT(seq, ElementsAre("reboot", "canary", "run", "reboot", "canary", "run", "reboot", "canary", "run", "reboot",
                               "canary", "run"));
  for (std::size_t i = 4; i < 8; ++i) {
    const auto& c = p.runs[i];
    ASSERT_TRUE(c.canary);
    EXPECT_EQ(c.id.rfind("canary-", 0), 0u);
    const auto& cl = c.config.workloads.front().client;
    EXPECT_EQ(cl.requests, 100);
    EXPECT_EQ(cl.warmup_s, 0);
    EXPECT_TRUE(c.config.collectors.empty());
  }
  // The canary stands for the configuration of the run after it: the same combo.
  EXPECT_EQ(p.runs[4].combo, p.runs[0].combo);
  // Without canary: none.
  auto none = build(host_spec("{repetitions: 2}"));
  EXPECT_EQ(none.plan.totals.canaries, 0);
  EXPECT_EQ(none.plan.runs.size(), 4u);
}

// method: auto picks, per switch, the cheapest method that can reach the policy, and says why.
TEST(Plan, AutoPicksTheCheapestMethodPerSwitch) {
  auto spec = [](const std::string& extra) {
    return R"(name: t
machines:
  host: {ssh: root@r650:22, vendor: intel}
policy:
  host: {policy: [strict, lazy, off, passthrough], method: auto}
workloads:
  redis: {server: {machine: host}, client: {machine: host, requests: 1000}}
)" + extra;
  };
  auto methods = [](const plan::Plan& p) {
    std::vector<std::string> out;
    for (const auto& s : p.steps)
      if (s.kind == plan::kind::host_set_policy) out.push_back(s.args["policy"].get<std::string>() + ":" + s.args["method"].get<std::string>());
    return out;
  };
  // With the NIC under test: the first switch boots (kexec: what is booted is not known), then
  // runtime while the IOMMU stays on; off, and the switch after it, need a boot again.
  auto with_nic = build(spec("nic: {pf: enp202s0f0np0}\nmatrix: {order: grouped}\n"));
  EXPECT_THAT(methods(with_nic.plan), ElementsAre("strict:kexec", "lazy:runtime", "off:kexec", "passthrough:kexec"));
  EXPECT_EQ(with_nic.plan.totals.host_reboots, 3);
  for (const auto& s : with_nic.plan.steps)
    if (s.kind == plan::kind::host_set_policy) {
      ASSERT_TRUE(s.args.contains("auto")) << s.args.dump();
      EXPECT_NE(s.summary.find(s.args["auto"].get<std::string>()), std::string::npos) << s.summary;
    }
  EXPECT_NE(with_nic.plan.steps[1].args["auto"].get<std::string>().find("first switch"), std::string::npos);
  // Without a NIC there is no group to switch: kexec every time.
  auto no_nic = build(spec(""));
  EXPECT_THAT(methods(no_nic.plan), ElementsAre("strict:kexec", "lazy:kexec", "off:kexec", "passthrough:kexec"));
  // A GRUB kernel title without a kexec kernel: only GRUB can boot it.
  auto titled = build(spec("software: {host_kernel: 'Ubuntu, with Linux 6.12.9-vanilla'}\n"));
  EXPECT_THAT(methods(titled.plan), ElementsAre("strict:grub-oneshot", "lazy:grub-oneshot", "off:grub-oneshot",
                                                "passthrough:grub-oneshot"));
}
