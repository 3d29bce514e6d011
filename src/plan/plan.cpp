#include "iommuvm/plan/plan.hpp"

#include <algorithm>
#include <map>
#include <numeric>
#include <optional>
#include <tuple>
#include <set>

#include <fmt/format.h>

#include "iommuvm/tune/knobs.hpp"
#include "iommuvm/util/numbers.hpp"
#include "iommuvm/util/text.hpp"


namespace iommuvm::plan {

using nlohmann::json;
using spec::Spec;

std::string server_machine(const Spec& cfg, const spec::Workload& w) {
  if (!w.server.machine.empty()) return w.server.machine;
  if (!cfg.guests.empty() && !cfg.guests.front().machine.empty()) return cfg.guests.front().machine;
  if (const auto* h = cfg.first_with_role(spec::Role::host)) return h->name;
  return cfg.machines.empty() ? "" : cfg.machines.front().name;
}

std::string client_machine(const Spec& cfg, const spec::Workload& w) {
  if (!w.client.machine.empty()) return w.client.machine;
  if (!w.client.machines.empty()) return w.client.machines.front();
  if (const auto* c = cfg.first_with_role(spec::Role::client)) return c->name;
  if (const auto* h = cfg.first_with_role(spec::Role::host)) return h->name;
  return cfg.machines.empty() ? "" : cfg.machines.front().name;
}

namespace {

json policy_json(const spec::LayerPolicy& l) {
  return l.policy ? json(std::string(policy::to_string(*l.policy))) : json("as-is");
}

bool method_reboots(policy::Method m) {
  return m != policy::Method::runtime && m != policy::Method::none;
}

// method: auto, for the host: the cheapest method that reaches POL after the plan's previous
// host policy PREV (nullopt: the first switch, when what is booted is not known), and why.
// runtime (seconds, no reboot) when the IOMMU is on since a switch of this plan, a NIC names
// the device whose group is switched and no other kernel is asked for; else kexec (no
// firmware) unless a kernel is asked for that only GRUB can boot; else grub-oneshot.
std::pair<policy::Method, std::string> auto_method(const Spec& cfg, policy::Policy pol, std::optional<policy::Policy> prev) {
  using policy::Method;
  using policy::Policy;
  bool kernel = !cfg.software.host_kernel.empty();
  if (pol != Policy::off && prev && *prev != Policy::off && !kernel && cfg.nic.present())
    return {Method::runtime, "auto: runtime, no reboot: the IOMMU is on since the last switch, and the NIC's group is what changes"};
  std::string why = pol == Policy::off ? "the IOMMU cannot be turned off at runtime"
                    : !prev            ? "the first switch: the policy booted now is not known"
                    : *prev == Policy::off ? "the IOMMU is off in the kernel booted now"
                    : kernel           ? "software.host_kernel asks for another kernel"
                                       : "no nic: runtime switches the group of the NIC under test only";
  if (!kernel || !cfg.software.host_kexec_kernel.empty())
    return {Method::kexec, fmt::format("auto: kexec, no firmware reboot ({})", why)};
  return {Method::grub_oneshot,
          fmt::format("auto: grub-oneshot ({}; kexec would need software.host_kexec_kernel for that kernel)", why)};
}

std::string host_name(const Spec& cfg) {
  const auto* h = cfg.first_with_role(spec::Role::host);
  return h ? h->name : "";
}

json viommu_json(const spec::ViommuSpec& v) {
  return {{"model", std::string(spec::to_string(v.model))},
          {"caching_mode", v.caching_mode},
          {"intremap", v.intremap},
          {"iotlb", v.iotlb},
          {"aw_bits", v.aw_bits}};
}

// The machine's tuning as the plan and the engine see it: `profile: quiet` resolved into its
// settings (tune::apply_profile), so that `plan` and `--dry-run` show each one.
json tuning_json(const spec::TuningSpec& given) {
  spec::TuningSpec t = given;
  tune::apply_profile(t);
  json j = json::object();
  if (!t.interface.empty()) j["interface"] = t.interface;
  if (t.mtu) j["mtu"] = *t.mtu;
  if (t.rx_ring) j["rx_ring"] = *t.rx_ring;
  if (t.tx_ring) j["tx_ring"] = *t.tx_ring;
  if (!t.offloads.empty()) j["offloads"] = t.offloads;
  if (!t.irq_affinity.empty()) j["irq_affinity"] = t.irq_affinity;
  if (!t.governor.empty()) j["governor"] = t.governor;
  if (t.smt) j["smt"] = *t.smt;
  if (!t.commands.empty()) j["commands"] = t.commands;
  if (!t.profile.empty()) j["profile"] = t.profile;
  if (t.turbo) j["turbo"] = *t.turbo;
  if (t.cstates) j["cstates"] = *t.cstates;
  if (t.numa_balancing) j["numa_balancing"] = *t.numa_balancing;
  if (t.irqbalance) j["irqbalance"] = *t.irqbalance;
  if (t.pause_frames) j["pause_frames"] = *t.pause_frames;
  if (!t.coalesce.empty()) j["coalesce"] = t.coalesce;
  return j;
}

json tuning_key(const Spec& cfg) {
  json j = json::object();
  for (const auto& m : cfg.machines)
    if (!m.tuning.empty()) j[m.name] = tuning_json(m.tuning);
  return j;
}

json nic_key(const Spec& cfg) {
  if (!cfg.nic.present()) return nullptr;
  return {{"pf", cfg.nic.pf}, {"pci", cfg.nic.pci}, {"num_vfs", cfg.nic.num_vfs}, {"vf_macs", cfg.nic.vf_macs}};
}

std::string pct_text(double fraction) { return fmt::format("{:g}", fraction * 100); }

std::string params_line(const json& params) {
  std::string s;
  for (const auto& [k, v] : params.items()) {
    if (!s.empty()) s += ' ';
    s += k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  }
  return s;
}

}  // namespace

json host_key(const Spec& cfg) {
  return {{"policy", policy_json(cfg.policy.host)},
          {"method", std::string(policy::to_string(cfg.policy.host.method))},
          {"kernel", cfg.software.host_kernel},
          {"kexec_kernel", cfg.software.host_kexec_kernel},
          {"kexec_initrd", cfg.software.host_kexec_initrd}};
}

json guest_key(const Spec& cfg, const spec::GuestSpec& g) {
  return {{"policy", policy_json(cfg.policy.guest)},
          {"method", std::string(policy::to_string(cfg.policy.guest.method))},
          {"domain", g.domain},
          {"template", g.template_path},
          {"vcpus", g.vcpus},
          {"memory_mib", g.memory_mib},
          {"kernel", cfg.software.guest_kernel.empty() ? g.kernel : cfg.software.guest_kernel},
          {"initrd", cfg.software.guest_initrd.empty() ? g.initrd : cfg.software.guest_initrd},
          {"cmdline", g.cmdline},
          {"emulator", cfg.software.qemu.empty() ? g.emulator : cfg.software.qemu},
          {"viommu", viommu_json(g.viommu)},
          {"vf", g.vf ? json(*g.vf) : json(nullptr)},
          {"mac", g.mac},
          {"data_ip", g.data_ip}};
}

// The canary of RUN: its configuration with the client cut short (spec canary:), no warm-up,
// no collectors; its combo is RUN's (the configuration it stands for).
namespace {
spec::RunPoint canary_of(const spec::RunPoint& run) {
  spec::RunPoint c;
  c.id = "canary-" + run.id;
  c.combo = run.combo;
  c.workload = run.workload;
  c.canary = true;
  c.params = run.params;
  c.config = run.config;
  auto& cl = c.config.workloads.front().client;
  const auto& k = run.config.canary;
  if (cl.requests > 0) cl.requests = std::min(cl.requests, k.requests);
  if (cl.duration_s > 0) cl.duration_s = std::min(cl.duration_s, k.seconds);
  cl.warmup_s = 0;
  c.config.collectors.clear();
  return c;
}
}  // namespace

double expected_run_seconds(const Spec& cfg, const spec::Workload& w) {
  double measure = w.client.duration_s;
  if (measure <= 0) {
    // Request-count tools: a rough guess of 50k requests per second.
    measure = w.client.requests > 0 ? std::max(1.0, w.client.requests / 50000.0) : 10.0;
  }
  constexpr double kSetup = 3;  // server start, readiness, evidence
  return kSetup + w.client.warmup_s + measure + cfg.matrix.cooldown_s;
}

std::string measured_key(const std::string& kind, const std::string& who, const std::string& how) {
  return how.empty() ? kind + "|" + who : kind + "|" + who + "|" + how;
}

Plan build(const Spec& base, std::vector<spec::RunPoint> points, const Measured& measured) {
  Plan plan;
  plan.name = base.name;
  plan.spec_hash = base.hash;

  // Keys of each run's configurations, and the index of their first appearance: groups
  // are visited in the order the spec first mentions them.
  struct Keys {
    std::size_t host, guest, tune, original;
    int rep;
  };
  std::map<std::string, std::size_t> first_host, first_guest, first_tune;
  std::vector<Keys> keys;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const auto& cfg = points[i].config;
    json gk = json::array();
    for (const auto& g : cfg.guests) gk.push_back(guest_key(cfg, g));
    auto h = first_host.emplace(host_key(cfg).dump(), first_host.size()).first->second;
    auto g = first_guest.emplace(gk.dump(), first_guest.size()).first->second;
    auto t = first_tune.emplace(tuning_key(cfg).dump() + nic_key(cfg).dump(), first_tune.size()).first->second;
    keys.push_back({h, g, t, i, points[i].repetition});
  }
  std::vector<std::size_t> order(points.size());
  std::iota(order.begin(), order.end(), 0);
  bool interleaved = base.matrix.order == spec::Order::interleaved;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const auto& x = keys[a];
    const auto& y = keys[b];
    // Extra repetitions (variance control) stay with the last planned round, where the
    // configuration is still in effect.
    int rx = std::min(x.rep, base.matrix.repetitions), ry = std::min(y.rep, base.matrix.repetitions);
    if (interleaved && rx != ry) return rx < ry;
    return std::tie(x.host, x.guest, x.tune, x.original) < std::tie(y.host, y.guest, y.tune, y.original);
  });
  for (auto i : order) plan.runs.push_back(std::move(points[i]));

  auto& steps = plan.steps;
  auto& totals = plan.totals;
  for (const auto& r : plan.runs) ++(r.extra ? totals.extra_runs : totals.runs);
  totals.max_cv = numbers::fraction_or_percent(base.matrix.max_cv);
  json begin = {{"name", base.name}, {"spec_hash", plan.spec_hash}, {"runs", totals.runs}};
  if (totals.extra_runs) begin["extra_runs"] = totals.extra_runs;
  steps.push_back({kind::campaign_begin, "", "", -1, begin,
                   fmt::format("begin campaign '{}' ({} runs{})", base.name, totals.runs,
                               totals.extra_runs ? fmt::format(", up to {} more if the CV is above {} %",
                                                               totals.extra_runs, pct_text(totals.max_cv))
                                                 : "")});

  std::string cur_host, cur_guest, cur_tune, cur_nic;
  bool guest_running = false;
  std::optional<policy::Policy> prev_host_policy;  // for method: auto
  // A measured time where earlier campaigns have one (noted once), else the spec's.
  std::set<std::string> noted;
  auto estimate = [&](const std::string& key, double expected, const std::string& what) {
    auto it = measured.seconds.find(key);
    if (it == measured.seconds.end()) return expected;
    if (noted.insert(key).second)
      totals.estimate_notes.push_back(fmt::format("{}: {} (median of {} measured in earlier campaigns; the spec says {})", what,
                                                  text::duration_text(it->second.first), it->second.second,
                                                  text::duration_text(expected)));
    return it->second.first;
  };
  // Canaries: appended to plan.runs after the loop (their steps name those indices).
  std::vector<spec::RunPoint> canaries;
  std::set<std::string> canaried;  // workloads with a canary since the last boot
  const std::size_t planned = plan.runs.size();
  for (std::size_t ri = 0; ri < planned; ++ri) {
    const auto& run = plan.runs[ri];
    const Spec& cfg = run.config;
    const auto& w = cfg.workloads.front();
    std::string host = host_name(cfg);
    int run_index = static_cast<int>(ri);

    // Host boot configuration.
    std::string hk = host_key(cfg).dump();
    bool host_rebooted = false, host_switched = hk != cur_host;
    if (hk != cur_host) {
      const auto& hp = cfg.policy.host;
      if (hp.policy && !host.empty()) {
        auto method = hp.method;
        std::string why;
        if (method == policy::Method::automatic) std::tie(method, why) = auto_method(cfg, *hp.policy, prev_host_policy);
        prev_host_policy = *hp.policy;
        const auto* hm = cfg.machine(host);
        std::string pol(policy::to_string(*hp.policy));
        std::string meth(policy::to_string(method));
        if (guest_running && method_reboots(method)) {
          for (const auto& g : cfg.guests)
            steps.push_back({kind::guest_shutdown, host, "", -1, {{"guest", g.name}, {"domain", g.domain}},
                             fmt::format("shut down guest {} before the host reboots", g.domain)});
          guest_running = false;
        }
        steps.push_back({kind::host_set_policy, host, "", -1,
                         {{"policy", pol},
                          {"vendor", std::string(policy::to_string(hm ? hm->vendor : policy::Vendor::intel))},
                          {"method", meth},
                          {"kernel", cfg.software.host_kernel},
                          {"kexec_kernel", cfg.software.host_kexec_kernel},
                          {"kexec_initrd", cfg.software.host_kexec_initrd}},
                         fmt::format("set host IOMMU policy to {} via {}{}{}", pol, meth,
                                     cfg.software.host_kernel.empty() ? "" : " for kernel " + cfg.software.host_kernel,
                                     why.empty() ? "" : " (" + why + ")")});
        if (!why.empty()) steps.back().args["auto"] = why;
        if (method_reboots(method)) {
          steps.push_back({kind::host_reboot, host, "", -1,
                           {{"method", meth}, {"timeout_s", hm ? hm->reboot.timeout_s : 900.0}},
                           fmt::format("reboot {} ({}) and wait for it to come back with a new boot id", host, meth)});
          ++totals.host_reboots;
          totals.estimated_seconds += estimate(measured_key(kind::host_reboot, host, meth), hm ? hm->reboot.expected_s : 240,
                                               fmt::format("reboots of {} via {}", host, meth));
          host_rebooted = true;
        }
        steps.push_back({kind::host_verify_policy, host, "", -1,
                         {{"expected", pol}, {"accept_effective", cfg.policy.accept_effective}, {"method", meth}},
                         fmt::format("verify the host's effective IOMMU policy is {}", pol)});
      } else if (cur_host.empty() && !host.empty()) {
        steps.push_back({kind::host_verify_policy, host, "", -1, {{"expected", nullptr}, {"accept_effective", true}},
                         "record the host's IOMMU policy as it is (no switch)"});
      }
      cur_host = hk;
    }

    // VFs do not survive a reboot; set them up after every host boot. A NIC without VFs
    // (num_vfs 0: no SR-IOV, the PF itself is measured) has nothing to set up.
    std::string nk = nic_key(cfg).dump();
    if (cfg.nic.present() && cfg.nic.num_vfs > 0 && (nk != cur_nic || host_rebooted)) {
      std::string nic_machine = cfg.nic.machine.empty() ? host : cfg.nic.machine;
      steps.push_back({kind::nic_setup_vfs, nic_machine, "", -1, nic_key(cfg),
                       fmt::format("set {} VFs on {} with distinct MACs", cfg.nic.num_vfs,
                                   cfg.nic.pf.empty() ? cfg.nic.pci : cfg.nic.pf)});
      cur_nic = nk;
    }

    // Guests.
    json gk = json::array();
    for (const auto& g : cfg.guests) gk.push_back(guest_key(cfg, g));
    bool guest_restarted = false;
    if (!cfg.guests.empty() && (gk.dump() != cur_guest || host_rebooted || !guest_running)) {
      for (const auto& g : cfg.guests) {
        json settings = guest_key(cfg, g);
        std::string hyp = cfg.hypervisor.machine.empty() ? host : cfg.hypervisor.machine;
        if (guest_running)
          steps.push_back({kind::guest_shutdown, hyp, "", -1, {{"guest", g.name}, {"domain", g.domain}},
                           fmt::format("shut down guest {} to change its configuration", g.domain)});
        steps.push_back({kind::guest_define, hyp, "", -1, {{"guest", g.name}, {"settings", settings}},
                         fmt::format("define guest {} (vIOMMU {}, guest policy {}{})", g.domain,
                                     spec::to_string(g.viommu.model), settings["policy"].get<std::string>(),
                                     g.vf ? fmt::format(", VF {}", *g.vf) : "")});
        steps.push_back({kind::guest_start, hyp, "", -1,
                         {{"guest", g.name}, {"domain", g.domain}, {"machine", g.machine}, {"timeout_s", g.boot_timeout_s}},
                         fmt::format("start guest {} and wait for SSH on {}", g.domain, g.machine)});
        ++totals.guest_restarts;
        totals.estimated_seconds += estimate(measured_key(kind::guest_start, g.name), g.expected_boot_s,
                                             fmt::format("starts of guest {}", g.name));
        std::string expected = settings["policy"].get<std::string>();
        steps.push_back({kind::guest_verify_policy, g.machine, "", -1,
                         {{"guest", g.name},
                          {"expected", expected == "as-is" ? json(nullptr) : json(expected)},
                          {"accept_effective", cfg.policy.accept_effective || expected == "as-is"}},
                         expected == "as-is" ? fmt::format("record guest {}'s IOMMU policy as it is", g.domain)
                                             : fmt::format("verify guest {}'s effective IOMMU policy is {}", g.domain, expected)});
        if (g.vf && !g.data_ip.empty())
          steps.push_back({kind::guest_network, g.machine, "", -1,
                           {{"guest", g.name}, {"data_ip", g.data_ip}, {"mac", g.mac}, {"method", g.net_method}},
                           fmt::format("give the VF in {} address {} and check reachability", g.domain, g.data_ip)});
      }
      cur_guest = gk.dump();
      guest_running = true;
      guest_restarted = true;
    }

    // Tuning: re-applied after a reboot or restart (it does not survive them) or when it changes.
    std::string tk = tuning_key(cfg).dump();
    if (tk != cur_tune || host_rebooted || guest_restarted) {
      for (const auto& m : cfg.machines) {
        if (m.tuning.empty()) continue;
        bool changed = tk != cur_tune;
        bool lost = (m.role == spec::Role::host && host_rebooted) || (m.role == spec::Role::guest && guest_restarted);
        if (!changed && !lost) continue;
        steps.push_back({kind::machine_tune, m.name, "", -1, tuning_json(m.tuning),
                         fmt::format("apply tuning on {}: {}", m.name, tuning_json(m.tuning).dump())});
      }
      cur_tune = tk;
    }

    // The run itself.
    std::string sm = server_machine(cfg, w);
    std::string cm = client_machine(cfg, w);
    std::string cms = cm;  // every client machine, for the step descriptions
    for (std::size_t i = 1; i < w.client.machines.size(); ++i) cms += ", " + w.client.machines[i];

    // A canary of this workload first, after every boot (and at the start): the same steps as
    // a run, on a short copy of this run's configuration.
    if (host_switched || host_rebooted || guest_restarted) canaried.clear();
    if (cfg.canary.enabled && !run.extra && canaried.insert(w.name).second) {
      spec::RunPoint c = canary_of(run);
      int ci = static_cast<int>(planned + canaries.size());
      const auto& cw = c.config.workloads.front();
      std::string amount = cw.client.requests > 0 ? fmt::format("{} requests", cw.client.requests)
                                                  : fmt::format("{} s", cw.client.duration_s);
      steps.push_back({kind::run_begin, "", c.id, ci, {{"params", c.params}, {"repetition", 1}, {"canary", true}},
                       fmt::format("canary {}: a short run of {} ({}) before the runs of this configuration", c.id,
                                   w.name, amount)});
      steps.push_back({kind::server_start, sm, c.id, ci, {{"workload", w.name}, {"kind", w.kind}},
                       fmt::format("start {} server on {} and wait until it answers", w.kind, sm)});
      steps.push_back({kind::client_measure, cm, c.id, ci, {{"workload", w.name}, {"tool", w.client.tool}},
                       fmt::format("canary measurement with {} from {} ({})", w.client.tool, cms, amount)});
      steps.push_back({kind::server_stop, sm, c.id, ci, {{"workload", w.name}},
                       fmt::format("stop the {} server on {}", w.kind, sm)});
      steps.push_back({kind::run_end, "", c.id, ci, {{"canary", true}},
                       fmt::format("compare canary {} with the previous canary of this configuration (max drop {} %)",
                                   c.id, pct_text(numbers::fraction_or_percent(cfg.canary.max_drop)))});
      totals.estimated_seconds += expected_run_seconds(c.config, cw);
      ++totals.canaries;
      canaries.push_back(std::move(c));
    }
    json begin_args = {{"params", run.params}, {"repetition", run.repetition}};
    std::string condition;
    if (run.extra) {
      begin_args["extra"] = true;
      condition = fmt::format(" (extra repetition: only if the CV of r1..r{} is above {} %)", run.repetition - 1,
                              pct_text(totals.max_cv));
    }
    steps.push_back({kind::run_begin, "", run.id, run_index, begin_args,
                     fmt::format("run {}/{} {}: {}{}", ri + 1, plan.runs.size(), run.id, params_line(run.params), condition)});
    steps.push_back({kind::server_start, sm, run.id, run_index, {{"workload", w.name}, {"kind", w.kind}},
                     fmt::format("start {} server on {} and wait until it answers", w.kind, sm)});
    if (w.client.warmup_s > 0)
      steps.push_back({kind::client_warmup, cm, run.id, run_index, {{"workload", w.name}, {"seconds", w.client.warmup_s}},
                       fmt::format("warm up with {} from {} for {} s (kept apart)", w.client.tool, cms, w.client.warmup_s)});
    steps.push_back({kind::client_measure, cm, run.id, run_index, {{"workload", w.name}, {"tool", w.client.tool}},
                     fmt::format("measure with {} from {}", w.client.tool, cms)});
    steps.push_back({kind::server_stop, sm, run.id, run_index, {{"workload", w.name}},
                     fmt::format("stop the {} server on {}", w.kind, sm)});
    steps.push_back({kind::run_end, "", run.id, run_index, json::object(), fmt::format("write results of {}", run.id)});
    if (cfg.matrix.cooldown_s > 0)
      steps.push_back({kind::cooldown, "", run.id, run_index, {{"seconds", cfg.matrix.cooldown_s}},
                       fmt::format("cool down for {} s", cfg.matrix.cooldown_s)});
    (run.extra ? totals.extra_seconds : totals.estimated_seconds) += expected_run_seconds(cfg, w);
  }
  for (auto& c : canaries) plan.runs.push_back(std::move(c));
  std::string cleanup = base.cleanup == spec::Cleanup::keep       ? "keep"
                        : base.cleanup == spec::Cleanup::shutdown ? "shutdown"
                                                                   : "restore";
  steps.push_back({kind::campaign_end, "", "", -1, {{"cleanup", cleanup}},
                   fmt::format("end campaign: stop what was started, cleanup '{}'", cleanup)});
  return plan;
}

json Plan::to_json() const {
  json j;
  j["name"] = name;
  j["spec_hash"] = spec_hash;
  j["runs"] = json::array();
  for (const auto& r : runs)
  {
    json rj = {{"id", r.id}, {"combo", r.combo}, {"workload", r.workload}, {"repetition", r.repetition}, {"params", r.params}};
    if (r.canary) rj["canary"] = true;
    j["runs"].push_back(rj);
  }
  j["steps"] = json::array();
  for (const auto& s : steps) {
    json st = {{"kind", s.kind}, {"summary", s.summary}, {"args", s.args}};
    if (!s.machine.empty()) st["machine"] = s.machine;
    if (!s.run.empty()) st["run"] = s.run;
    j["steps"].push_back(st);
  }
  j["totals"] = {{"runs", totals.runs},
                 {"host_reboots", totals.host_reboots},
                 {"guest_restarts", totals.guest_restarts},
                 {"estimated_seconds", static_cast<long long>(totals.estimated_seconds + 0.5)}};
  if (totals.canaries) j["totals"]["canaries"] = totals.canaries;
  if (!totals.estimate_notes.empty()) j["totals"]["measured"] = totals.estimate_notes;
  if (totals.extra_runs)
    j["totals"]["extra"] = {{"runs", totals.extra_runs},
                            {"max_cv", totals.max_cv},
                            {"estimated_seconds", static_cast<long long>(totals.extra_seconds + 0.5)}};
  return j;
}

void print(const Plan& plan, std::ostream& out) {
  out << fmt::format("Campaign '{}' (spec sha256 {})\n", plan.name, plan.spec_hash.substr(0, 12));
  for (const auto& s : plan.steps) {
    if (s.kind == kind::campaign_begin || s.kind == kind::campaign_end) continue;
    if (s.kind == kind::run_begin) {
      out << "  " << s.summary << "\n";
      continue;
    }
    if (!s.run.empty()) continue;  // the steps inside a run are the same every time; --dry-run shows them
    out << fmt::format("* [{}] {}\n", s.machine.empty() ? "controller" : s.machine, s.summary);
  }
  const auto& t = plan.totals;
  out << fmt::format("Totals: {} runs{}, {} host reboots (at most), {} guest boots, about {}\n", t.runs,
                     t.canaries ? fmt::format(" and {} canaries", t.canaries) : "", t.host_reboots, t.guest_restarts,
                     text::duration_text(t.estimated_seconds));
  for (const auto& n : t.estimate_notes) out << "  estimated from measurements: " << n << "\n";
  if (t.extra_runs)
    out << fmt::format("Variance control: up to {} more repetitions (about {} more) where a combination's throughput CV "
                       "is above {} %; they run within their configuration, no extra reboots\n",
                       t.extra_runs, text::duration_text(t.extra_seconds), pct_text(t.max_cv));
}

}  // namespace iommuvm::plan
