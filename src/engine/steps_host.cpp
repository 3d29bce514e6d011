// Engine steps that change and check the host: IOMMU policy, reboot, tuning, SR-IOV VFs.
#include <unistd.h>

#include <algorithm>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "iommuvm/collect/parsers.hpp"
#include "iommuvm/engine/engine.hpp"
#include "iommuvm/policy/boot.hpp"
#include "iommuvm/policy/cmdline.hpp"
#include "iommuvm/policy/evidence.hpp"
#include "iommuvm/policy/grub.hpp"
#include "iommuvm/tune/knobs.hpp"
#include "iommuvm/util/text.hpp"
#include "iommuvm/remote/sysfs.hpp"
#include "iommuvm/util/shell.hpp"
#include "iommuvm/virt/sriov.hpp"
#include "iommuvm/engine/grub_files.hpp"
#include "machine_files.hpp"
#include "machine_facts.hpp"
#include "sriov_io.hpp"
#include "step_context.hpp"

namespace iommuvm::engine {

using nlohmann::json;

namespace {

// A number read from a machine file; nullopt for anything else (a dry run's placeholder).
std::optional<int> to_int(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  try {
    std::size_t used = 0;
    int v = std::stoi(*text, &used);
    return used > 0 ? std::optional<int>(v) : std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

policy::Policy parse_policy_arg(const json& args) {
  auto p = policy::parse_policy(args.value("policy", std::string()));
  if (!p) throw Error("internal: step without a policy");
  return *p;
}

// Before a grub-reboot: a reboot that never comes must not leave the entry pending.
template <typename Undo>
void undo_next_entry(Undo& undo) {
  undo({{"action", "grubenv_unset"},
        {"path", policy::grubenv_path(policy::GrubFlavor::debian)},
        {"value", "next_entry"},
        {"flavor", "debian"},
        {"why", "grub-reboot's one-shot entry"}});
}

std::string kernel_path_for(const std::string& kernel_choice, const std::string& running) {
  // A path names the kernel directly; a GRUB menu title by the release it names ("... with
  // Linux REL"); empty: the running kernel.
  if (kernel_choice.empty()) return "/boot/vmlinuz-" + running;
  if (kernel_choice.front() == '/') return kernel_choice;
  auto rel = policy::release_of_kernel_choice(kernel_choice);
  if (!rel)
    throw Error(fmt::format("software.host_kernel '{}' names no kernel release ('... with Linux RELEASE'): the one-shot "
                            "entry needs one, or give a /boot path",
                            kernel_choice));
  return "/boot/vmlinuz-" + *rel;
}

// The kernel a verification expects: what software.host_kernel asks for (the GRUB methods)
// or software.host_kexec_kernel (kexec); empty: any.
std::string expected_kernel(const spec::Spec& cfg, const plan::Step& verify) {
  // The method the plan chose (method: auto picks one per switch), else the spec's.
  auto m = policy::parse_method(verify.args.value("method", std::string())).value_or(cfg.policy.host.method);
  if (m == policy::Method::kexec) return cfg.software.host_kexec_kernel;
  if (m == policy::Method::runtime || m == policy::Method::none) return "";
  return cfg.software.host_kernel;
}

// The IOMMU groups of the devices under test on the host: the NIC's, when the spec has one; a
// verdict is about them (a runtime switch changes one group only). NIC_PCI: the NIC's PCI address
// found before, used when its interface is gone for a moment (a driver rebind), updated.
std::vector<int> groups_under_test(remote::Remote& r, const spec::Spec& cfg, std::string& nic_pci) {
  if (!cfg.nic.present()) return {};
  auto nic = cfg.nic;
  auto found = nic_iommu_group(r, nic);
  if (!found.group && nic.pci.empty() && !nic_pci.empty()) {
    nic.pci = nic_pci;
    found = nic_iommu_group(r, nic);
  }
  if (!found.group) return {};
  nic_pci = found.pci;
  return {*found.group};
}

}  // namespace

void Engine::on_host_verify_policy(const plan::Step& s, const StepContext&) {
  std::optional<policy::Policy> expected;
  if (s.args["expected"].is_string()) expected = policy::parse_policy(s.args["expected"].get<std::string>());
  std::string mismatch;
  host_evidence_ = verify_machine(machine(s.machine), expected, mismatch, groups_under_test(machine(s.machine), config(s), nic_pci_));
  // The booted kernel must be the one asked for: GRUB falls back to the default entry when a
  // title does not exist, and that boot must not be measured as the requested kernel's.
  std::string want_kernel = expected_kernel(config(s), s);
  std::string booted = host_evidence_.value("kernel", "");
  if (expected && !policy::kernel_choice_matches(want_kernel, booted)) {
    auto rel = policy::release_of_kernel_choice(want_kernel);
    std::string why = fmt::format("booted kernel {}, but {} asks for {}", booted,
                                  s.args.value("method", std::string()) == "kexec" ? "software.host_kexec_kernel"
                                                                                       : "software.host_kernel",
                                  rel ? *rel : "'" + want_kernel + "' (names no release)");
    host_evidence_["kernel_mismatch"] = why;
    mismatch = mismatch.empty() ? why : mismatch + "; " + why;
  }
  system_["host"] = {{"kernel", host_evidence_["kernel"]},
                     {"cmdline", host_evidence_["cmdline"]},
                     {"cpu_model", host_evidence_.value("cpu_model", "")}};
  blocked_host_.clear();
  if (!mismatch.empty()) {
    bool accept = s.args.value("accept_effective", false);
    host_evidence_["policy_mismatch"] = true;
    if (!accept) {
      blocked_host_ = "policy-mismatch: host: " + mismatch;
      progress_ << fmt::format("! host {}: requested {} is not in effect: {}\n", s.machine,
                               s.args["expected"].get<std::string>(), mismatch);
    }
  }
  if (backends_.hypervisor) {
    system_["libvirt_version"] = backends_.hypervisor->library_version();
    system_["hypervisor_version"] = backends_.hypervisor->hypervisor_version();
  }
  const auto& cfg = config(s);
  if (cfg.nic.present() && !cfg.nic.pf.empty()) {
    auto res = machine(s.machine).run({{"ethtool", "-i", cfg.nic.pf}});
    if (res.ok()) system_["nic"] = res.out;
  }
}

void Engine::switch_by_grub(const StepContext& ctx, const std::string& name, remote::Remote& r, const spec::Machine* m, policy::Policy pol,
                            policy::Method method, const std::string& kernel_choice, const MachineFacts& facts) {
  auto vendor = m ? m->vendor : policy::Vendor::intel;
  std::string cmdline = facts.cmdline.value_or("");
  auto undo = [&](json entry) { ctx.undo(name, std::move(entry)); };
  if (method == policy::Method::grub_oneshot || method == policy::Method::automatic) {
    policy::GrubEntry entry;
    entry.policy = pol;
    entry.kernel = kernel_path_for(kernel_choice, facts.kernel);
    entry.initrd = "/boot/initrd.img-" + policy::kernel_release(entry.kernel);
    if (!r.run({{"test", "-f", machine_path(r, entry.kernel)}, true, "", {}}).ok())
      throw Error(fmt::format("no kernel {} on {} for the one-shot entry (software.host_kernel)", entry.kernel, name));
    entry.root_args = policy::root_args(cmdline);
    entry.cmdline = policy::boot_cmdline(cmdline, pol, vendor);
    const std::string script_path = "/etc/grub.d/45_iommuvm";
    undo({{"action", "remove_file"},
          {"path", script_path},
          {"why", "one-shot GRUB entries of iommuvm"},
          {"after", m && !m->grub_update.empty() ? m->grub_update : std::vector<std::string>{"update-grub"}}});
    write_as_root(r, script_path, policy::grub_script({entry}), "0755");
    auto update = m && !m->grub_update.empty() ? remote::Command{m->grub_update, true, "", {}}
                                                : policy::grub_update_command(policy::GrubFlavor::debian);
    update.sudo = true;
    run_checked(r, update, "updating the GRUB configuration", std::chrono::minutes(5));
    auto once = policy::grub_reboot_command(policy::grub_entry_id(pol), policy::GrubFlavor::debian);
    once.sudo = true;
    undo_next_entry(undo);
    run_checked(r, once, "choosing the one-shot GRUB entry");
  } else {
    // The main file and its drop-ins (/etc/default/grub.d/*.cfg, sourced after it by name):
    // the policy goes into the assignment in effect, wherever it is.
    std::string grub_file = m ? m->grub_file : "/etc/default/grub";
    std::vector<std::string> paths = {grub_file};
    std::vector<policy::GrubSource> sources;
    {
      auto text = try_read(r, grub_file);
      if (!text) throw Error(fmt::format("cannot read {} on {}", grub_file, name));
      sources.push_back({grub_file, *text});
      std::string dropdir = grub_file + ".d";
      auto ls = r.run({{"ls", "-1", machine_path(r, dropdir)}});
      std::vector<std::string> names;
      if (ls.ok()) {
        std::istringstream in(ls.out);
        for (std::string f; std::getline(in, f);)
          if (f.size() > 4 && f.compare(f.size() - 4, 4, ".cfg") == 0) names.push_back(f);
      }
      std::sort(names.begin(), names.end());
      for (const auto& f : names) {
        auto t = try_read(r, dropdir + "/" + f);
        if (!t) throw Error(fmt::format("cannot read {}/{} on {}", dropdir, f, name));
        paths.push_back(dropdir + "/" + f);
        sources.push_back({paths.back(), *t});
      }
    }
    auto updated = policy::grub_set_policy(sources, pol, vendor);
    auto when = std::chrono::system_clock::now();
    for (std::size_t i = 0; i < sources.size(); ++i) {
      if (updated[i] == sources[i].text) continue;
      // The backup first (its unique name is made on the machine), journaled before the edit.
      std::string backup = backup_as_root(r, paths[i], policy::grub_backup_template(paths[i], when),
                                          std::string(policy::kGrubBackupSuffix));
      undo({{"action", "restore_file"},
            {"path", paths[i]},
            {"backup", backup},
            {"after", m ? m->grub_update : std::vector<std::string>{"update-grub"}}});
      progress_ << fmt::format("  {}: backup of {} in {}\n", name, paths[i], backup);
      write_grub_default_as_root(r, paths[i], updated[i]);
    }
    remote::Command update{m ? m->grub_update : std::vector<std::string>{"update-grub"}, true, "", {}};
    run_checked(r, update, "updating the GRUB configuration", std::chrono::minutes(5));
    if (!kernel_choice.empty() && kernel_choice.front() != '/') {
      auto once = policy::grub_reboot_command(kernel_choice, policy::GrubFlavor::debian);
      once.sudo = true;
      undo_next_entry(undo);
      run_checked(r, once, "choosing the kernel with grub-reboot");
    }
  }
}

void Engine::on_host_set_policy(const plan::Step& s, const StepContext& ctx) {
  const auto& cfg = config(s);
  remote::Remote& r = machine(s.machine);
  const spec::Machine* m = cfg.machine(s.machine);
  auto pol = parse_policy_arg(s.args);
  auto vendor = m ? m->vendor : policy::Vendor::intel;
  auto method = policy::parse_method(s.args.value("method", std::string("grub-oneshot"))).value_or(policy::Method::grub_oneshot);
  switch_skip_until_.clear();

  MachineFacts facts = read_facts(r);
  std::string cmdline = facts.cmdline.value_or("");
  // Already there? Then no switch and no reboot: the command line asks for POL, or it asks for
  // no policy (plain intel_iommu=on: the kernel's build default) and the evidence of this boot
  // (kernel log, the group types of the devices under test) shows POL in effect.
  auto already = [&] {
    if (!policy::kernel_choice_matches(expected_kernel(cfg, s), facts.kernel)) return false;
    auto asked = policy::requested_policy(cmdline, vendor);
    if (asked) return *asked == pol;
    std::string mismatch;
    auto ev = verify_facts(s.machine, facts, pol, mismatch, groups_under_test(r, cfg, nic_pci_));
    return mismatch.empty() && ev.value("effective", std::string()) == policy::to_string(pol);
  };
  if (method != policy::Method::runtime && already()) {
    progress_ << fmt::format("  host {} already boots with {}: no switch needed\n", s.machine, policy::to_string(pol));
    switch_skip_until_ = plan::kind::host_verify_policy;
    step_note_ = "already in effect";
    return;
  }
  auto undo = [&](json entry) { ctx.undo(s.machine, std::move(entry)); };

  if (method == policy::Method::grub_oneshot || method == policy::Method::automatic || method == policy::Method::grub) {
    switch_by_grub(ctx, s.machine, r, m, pol, method, cfg.software.host_kernel, facts);
  } else if (method == policy::Method::kexec) {
    // The kernel (default: the running one) and its initrd, as paths on the machine under its root.
    std::string kernel = cfg.software.host_kexec_kernel.empty() ? "/boot/vmlinuz-" + facts.kernel : cfg.software.host_kexec_kernel;
    auto exists = [&](const std::string& abs) { return r.run({{"test", "-f", machine_path(r, abs)}, true, "", {}}).ok(); };
    if (!exists(kernel)) throw Error(fmt::format("no kernel to kexec on {}: {} does not exist", s.machine, machine_path(r, kernel)));
    std::string initrd = cfg.software.host_kexec_initrd;
    if (initrd.empty()) {
      for (const auto& c : policy::initrd_candidates(kernel))
        if (exists(c)) {
          initrd = c;
          break;
        }
      if (initrd.empty()) spdlog::warn("no initrd for {} on {}: kexec without one", kernel, s.machine);
    } else if (!exists(initrd)) {
      throw Error(fmt::format("the kexec initrd {} does not exist on {}", machine_path(r, initrd), s.machine));
    }
    std::vector<std::string> program = m ? m->kexec.command : std::vector<std::string>{"kexec"};
    auto load = policy::kexec_load_command(machine_path(r, kernel), initrd.empty() ? "" : machine_path(r, initrd),
                                           policy::boot_cmdline(cmdline, pol, vendor), program);
    load.sudo = true;
    // A loaded kernel lives in memory only: nothing to undo on the machine.
    run_checked(r, load, "loading the kexec kernel");
  } else if (method == policy::Method::runtime) {
    if (!cfg.nic.present()) throw Error("the runtime method switches the NIC's IOMMU group: the spec needs 'nic'");
    auto nic_group = nic_iommu_group(r, cfg.nic);
    const std::string& pf = nic_group.pci;
    if (!nic_group.group) throw Error(fmt::format("{} has no IOMMU group on {}", pf.empty() ? cfg.nic.pf : pf, s.machine));
    int group = *nic_group.group;
    nic_pci_ = nic_group.pci;
    auto kv = policy::parse_kernel_version(facts.kernel);
    // What the group is now (an earlier runtime switch does not show in /proc/cmdline).
    std::optional<policy::Policy> current;
    if (auto t = facts.group_types.find(group); t != facts.group_types.end()) current = policy::policy_of_group_type(t->second);
    if (!current) current = policy::requested_policy(cmdline, vendor);
    if (current == pol) {
      progress_ << fmt::format("  IOMMU group {} of {} on {} is already {}: no switch needed\n", group, pf, s.machine,
                               policy::to_string(pol));
      switch_skip_until_ = plan::kind::host_verify_policy;
      step_note_ = "already in effect";
      return;
    }
    auto check = policy::runtime_possible(current.value_or(policy::Policy::lazy), pol, kv.value_or(policy::KernelVersion{}));
    if (!check.possible) throw Error("runtime switch not possible: " + check.why);
    auto devices = group_devices(r, group);
    auto sys = remote::remote_sysfs(r);
    std::string previous;
    if (auto t = facts.group_types.find(group); t != facts.group_types.end()) previous = t->second;
    for (const auto& w : policy::runtime_switch_writes(group, devices, pol)) {
      // The boot: sysfs state does not outlive it, so after a reboot there is nothing to undo.
      json entry = {{"action", "sysfs_write"}, {"path", w.path}, {"value", w.value}, {"boot_id", facts.boot_id}};
      // The type before: what `iommuvm restore` puts back (unless a reboot already did).
      if (!previous.empty() && w.path.size() > 5 && w.path.compare(w.path.size() - 5, 5, "/type") == 0)
        entry["previous"] = previous;
      undo(entry);
      sys->write(w);
    }
    // The driver was bound again: its network interface comes back asynchronously (probe,
    // udev rename, address configuration). Wait for it before anything measures through it.
    if (!cfg.nic.pf.empty()) {
      auto until = ctx.deadline_in(60);
      std::string state;
      while (std::chrono::steady_clock::now() < until) {
        state = try_read(r, "/sys/class/net/" + cfg.nic.pf + "/operstate").value_or("");
        if (state.rfind("up", 0) == 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      }
      if (state.rfind("up", 0) != 0)
        throw Error(fmt::format("{} on {} is not up again 60 s after the runtime switch (operstate '{}')", cfg.nic.pf,
                                s.machine, state.substr(0, state.find('\n'))));
    }
    switch_skip_until_ = plan::kind::host_verify_policy;
  } else {
    throw Error(fmt::format("method {} cannot switch a host", policy::to_string(method)));
  }
}

void Engine::on_host_reboot(const plan::Step& s, const StepContext& ctx) {
  const auto& cfg = config(s);
  remote::Remote& r = machine(s.machine);
  const spec::Machine* m = cfg.machine(s.machine);
  if (resume_.is_object()) {
    // The second half of a reboot of the controller's own machine, in the new boot.
    finish_self_reboot(s, r);
    return;
  }
  if (switch_skip_until_ == plan::kind::host_verify_policy) {
    spdlog::info("reboot of {} not needed", s.machine);
    step_note_ = "not needed: the policy was already in effect or switched at runtime";
    return;
  }
  auto method = s.args.value("method", std::string());
  remote::Command cmd{m->reboot.command, true, "", {}};
  if (method == "kexec") cmd = remote::Command{m->kexec.exec, true, "", {}};
  if (!m->controller) return reboot_and_wait(ctx, s.machine, r, *m, cmd);
  // iommuvm itself goes down with this machine: make the campaign durable, leave a unit
  // that starts it again after the boot, reboot, and stop.
  for (const auto& hook : m->reboot.before) run_checked(r, {{"sh", "-c", hook}, true, "", {}}, "reboot hook (before)");
  prepare_self_reboot(ctx, s, r, r.boot_id());
  auto res = r.run(cmd, {ctx.cap(std::chrono::milliseconds(60000))});
  if (!res.ok()) {
    remove_resume_unit(r, resume_);
    if (store_) store_->clear_resume_state();
    resume_ = nullptr;
    throw Error(fmt::format("the reboot command on {} failed (exit {}): {}", s.machine, res.exit_status,
                            res.err.empty() ? res.out : res.err));
  }
  // The simulated machine of a dry run rebooted, but this process did not go down with it:
  // say what a run does here, and go on as the resumed campaign would.
  if (options_.dry_run) {
    progress_ << fmt::format("[controller] exit {}: the unit starts `iommuvm run` again after the boot, which removes it, "
                             "checks the boot id and goes on\n",
                             static_cast<int>(ExitCode::rebooting));
    resume_ = nullptr;
    return;
  }
  rebooting_self_ = true;
}

void Engine::reboot_and_wait(const StepContext& ctx, const std::string& name, remote::Remote& r, const spec::Machine& m,
                             const remote::Command& cmd) {
  for (const auto& hook : m.reboot.before) run_checked(r, {{"sh", "-c", hook}, true, "", {}}, "reboot hook (before)");
  std::string before = r.boot_id();
  // The connection may die under the command: that is the point. Its result does not matter.
  try {
    r.run(cmd, {ctx.cap(std::chrono::milliseconds(30000))});
  } catch (const std::exception& e) {
    spdlog::debug("reboot command on {}: {}", name, e.what());
  }
  auto after = r.wait_for_reboot(before, ctx.cap(std::chrono::milliseconds(static_cast<long long>(m.reboot.timeout_s * 1000))));
  progress_ << fmt::format("  {} is back (boot id {} -> {})\n", name, before.substr(0, 8), after.substr(0, 8));
  for (const auto& hook : m.reboot.after) run_checked(r, {{"sh", "-c", hook}, true, "", {}}, "reboot hook (after)");
}

void Engine::prepare_self_reboot(const StepContext& ctx, const plan::Step& s, remote::Remote& r, const std::string& boot_id_before) {
  if (options_.resume_argv.empty() || options_.resume_cwd.empty())
    throw Error(fmt::format("{} is the machine iommuvm runs on, but this engine does not know how to start the campaign "
                            "again after its reboot",
                            s.machine));
  const std::string unit_path(policy::kResumeUnitPath);
  const std::string wants_path(policy::kResumeWantsPath);
  policy::ResumeUnit unit;
  unit.description = fmt::format("iommuvm: resume campaign {} after the reboot", plan_.name);
  unit.argv = options_.resume_argv;
  unit.working_directory = options_.resume_cwd;
  unit.wants_link = machine_path(r, wants_path);
  if (store_) unit.condition_path = std::filesystem::absolute(store_->dir() / "resume.json").string();
  if (::geteuid() != 0) {
    const char* user = std::getenv("USER");
    const char* home = std::getenv("HOME");
    unit.user = user ? user : "";
    unit.home = home ? home : "";
  }
  auto step = static_cast<std::size_t>(&s - plan_.steps.data());
  json state = {{"step", step},
             {"machine", s.machine},
             {"boot_id_before", boot_id_before},
             {"unit", unit_path},
             {"wants", wants_path},
             {"argv", unit.argv},
             {"cwd", unit.working_directory},
             {"at", results::now_iso8601()}};
  // Undo entries first: whatever happens next, `iommuvm restore` knows what to remove.
  ctx.undo(s.machine, {{"action", "remove_file"}, {"path", wants_path}, {"why", "resume unit (enabled)"}, {"at", state["at"]}});
  ctx.undo(s.machine, {{"action", "remove_file"}, {"path", unit_path}, {"why", "resume unit"}, {"at", state["at"]}});
  run_checked(r, {{"mkdir", "-p", machine_path(r, std::filesystem::path(wants_path).parent_path().string())}, true, "", {}},
              "creating multi-user.target.wants");
  write_as_root(r, unit_path, policy::resume_unit(unit), "0644");
  // What `systemctl enable` does, without needing systemd to answer (or to exist under a root prefix).
  run_checked(r, {{"ln", "-sfn", machine_path(r, unit_path), machine_path(r, wants_path)}, true, "", {}},
              "enabling the resume unit");
  resume_ = state;
  if (store_) {
    store_->set_resume_state(resume_);
    store_->set_status("rebooting");
    store_->make_durable();
  }
  run_checked(r, {{"sync"}, true, "", {}}, "flushing the file systems before the reboot");
  progress_ << fmt::format("  {} is the machine iommuvm runs on: wrote {} (runs `{}` in {}) and rebooting it\n", s.machine,
                           unit_path, shell::join(options_.resume_argv), options_.resume_cwd);
  progress_.flush();
}

void Engine::remove_resume_unit(remote::Remote& r, const json& state) {
  if (!state.is_object()) return;
  for (const char* key : {"wants", "unit"}) {
    std::string path = state.value(key, std::string());
    if (path.empty()) continue;
    run_checked(r, {{"rm", "-f", machine_path(r, path)}, true, "", {}}, "removing the resume unit");
    if (store_)
      store_->undo({{"action", "undone"},
                    {"id", state.value("at", std::string()) + "|remove_file|" + path + "|" + state.value("machine", std::string())},
                    {"at", results::now_iso8601()}});
  }
}

void Engine::finish_self_reboot(const plan::Step& s, remote::Remote& r) {
  json state = resume_;
  resume_ = nullptr;
  if (store_) store_->clear_resume_state();
  const spec::Machine* m = config(s).machine(s.machine);
  std::string before = state.value("boot_id_before", std::string());
  std::string now = r.boot_id();
  if (now.empty() || now == before)
    throw Error(fmt::format("{} did not reboot: its boot id is still {} (was `iommuvm run` started again by hand "
                            "before the reboot?)",
                            s.machine, before));
  progress_ << fmt::format("  {} is back (boot id {} -> {}): the campaign goes on\n", s.machine, before.substr(0, 8),
                           now.substr(0, 8));
  for (const auto& hook : m->reboot.after) run_checked(r, {{"sh", "-c", hook}, true, "", {}}, "reboot hook (after)");
}

void Engine::on_machine_tune(const plan::Step& s, const StepContext& ctx) {
  remote::Remote& r = machine(s.machine);
  const json& t = s.args;
  json applied = json::object();
  auto undo = [&](json entry) { ctx.undo(s.machine, std::move(entry)); };
  std::string ifname = t.value("interface", std::string());
  if (t.contains("mtu")) {
    if (ifname.empty()) throw Error("tuning 'mtu' needs 'interface'");
    auto old = to_int(try_read(r, "/sys/class/net/" + ifname + "/mtu"));
    if (old) undo({{"action", "mtu"}, {"interface", ifname}, {"value", *old}});
    run_checked(r, {{"ip", "link", "set", "dev", ifname, "mtu", std::to_string(t["mtu"].get<int>())}, true, "", {}}, "setting the MTU");
    auto now = to_int(try_read(r, "/sys/class/net/" + ifname + "/mtu"));
    applied["mtu"] = now ? json(*now) : json(t["mtu"]);
  }
  if (t.contains("rx_ring") || t.contains("tx_ring")) {
    std::vector<std::string> argv = {"ethtool", "-G", ifname};
    if (t.contains("rx_ring")) argv.insert(argv.end(), {"rx", std::to_string(t["rx_ring"].get<int>())});
    if (t.contains("tx_ring")) argv.insert(argv.end(), {"tx", std::to_string(t["tx_ring"].get<int>())});
    auto old = r.run({{"ethtool", "-g", ifname}, true, "", {}});
    undo({{"action", "rings"}, {"interface", ifname}, {"ethtool_g", old.out}});
    run_checked(r, {argv, true, "", {}}, "setting ring sizes");
    applied["rings"] = r.run({{"ethtool", "-g", ifname}, true, "", {}}).out;
  }
  if (t.contains("offloads")) {
    std::vector<std::string> argv = {"ethtool", "-K", ifname};
    for (const auto& [k, v] : t["offloads"].items()) argv.insert(argv.end(), {k, v.get<bool>() ? "on" : "off"});
    auto old = r.run({{"ethtool", "-k", ifname}, true, "", {}});
    undo({{"action", "offloads"}, {"interface", ifname}, {"ethtool_k", old.out}});
    run_checked(r, {argv, true, "", {}}, "setting offloads");
    applied["offloads"] = t["offloads"];
  }
  // The file knobs (governor, turbo, deep C-states, SMT, numa_balancing: tune::knobs()): the
  // machine's files are listed with their values, the old values journaled, the new ones
  // written and read back. A knob whose files the machine does not have is not applicable.
  const spec::TuningSpec wanted_spec = tune::knob_settings(t);
  for (const auto& knob : tune::knobs()) {
    if (!t.contains(knob.name)) continue;
    json result;
    for (const auto& where : knob.where) {
      auto value = tune::wanted(wanted_spec, knob, where);
      if (!value) break;
      auto files = list_values(r, where.glob);
      if (files.empty()) continue;  // the next place, if any (turbo: intel_pstate, then cpufreq/boost)
      bool unsupported = false;
      for (const auto& [f, v] : files) unsupported = unsupported || v == "notsupported" || v == "notimplemented" || v == "forceoff";
      if (unsupported) {
        result = {{"not_applicable", fmt::format("{} says {}", files.front().first, files.front().second)}};
        break;
      }
      json old = json::array();
      std::vector<std::string> argv = {"sh", "-c", scripts::kWriteValues, "sh", *value};
      for (const auto& [f, v] : files) {
        old.push_back({f, v});
        argv.push_back(machine_path(r, f));
      }
      undo({{"action", "write_values"}, {"knob", knob.name}, {"values", old}});
      run_checked(r, {argv, true, "", {}}, "setting " + knob.what);
      std::size_t same = 0;
      auto now = list_values(r, where.glob);
      for (const auto& [f, v] : now) same += v == *value;
      result = {{"value", *value}, {"files", files.size()}, {"read_back", same == files.size() ? "ok" : fmt::format("{} of {} files show it", same, files.size())}};
      break;
    }
    if (result.is_null()) {
      std::string places;
      for (const auto& w : knob.where) places += (places.empty() ? "" : " or ") + w.glob;
      result = {{"not_applicable", "no " + places + " on this machine"}};
    }
    applied[knob.name] = result;
  }
  if (t.contains("irqbalance")) {
    bool on = t["irqbalance"].get<bool>();
    auto state = r.run({{"systemctl", "is-active", "irqbalance"}, true, "", {}});
    std::string now = state.out.substr(0, state.out.find('\n'));
    if (now == "unknown" || now.empty() || state.err.find("not be found") != std::string::npos) {
      applied["irqbalance"] = {{"not_applicable", "no irqbalance service"}};
    } else if ((now == "active") == on) {
      applied["irqbalance"] = {{"value", now}, {"changed", false}};
    } else {
      undo({{"action", on ? "service_stop" : "service_start"}, {"unit", "irqbalance"}});
      run_checked(r, {{"systemctl", on ? "start" : "stop", "irqbalance"}, true, "", {}},
                  on ? "starting irqbalance" : "stopping irqbalance");
      applied["irqbalance"] = {{"value", on ? "active" : "inactive"}, {"changed", true}};
    }
  }
  if (t.contains("pause_frames") || t.contains("coalesce")) {
    if (ifname.empty()) throw Error("tuning 'pause_frames' and 'coalesce' need 'interface'");
    auto ethtool_step = [&](const char* key, const char* show, const char* set, std::vector<std::pair<std::string, std::string>> want,
                            auto parse) {
      auto cur = r.run({{"ethtool", show, ifname}, true, "", {}});
      if (!cur.ok()) {
        applied[key] = {{"not_applicable", fmt::format("ethtool {} {}: {}", show, ifname, cur.err.substr(0, cur.err.find('\n')))}};
        return;
      }
      json old = json::array();
      for (const auto& [k, v] : parse(cur.out))
        for (const auto& w : want)
          if (w.first == k) old.push_back({k, v});
      undo({{"action", std::string("ethtool_") + key}, {"interface", ifname}, {"settings", old}});
      std::vector<std::string> argv = {"ethtool", set, ifname};
      for (const auto& [k, v] : want) argv.insert(argv.end(), {k, v});
      auto res = r.run({argv, true, "", {}}, {ctx.cap(std::chrono::milliseconds(30000))});
      if (!res.ok() && res.err.find("not supported") != std::string::npos) {
        applied[key] = {{"not_applicable", res.err.substr(0, res.err.find('\n'))}};
      } else if (!res.ok()) {
        throw Error(fmt::format("ethtool {} {} on {} failed: {}", set, ifname, s.machine, res.err.empty() ? res.out : res.err));
      } else {
        json w = json::object();
        for (const auto& [k, v] : want) w[k] = v;
        applied[key] = w;
      }
    };
    if (t.contains("pause_frames")) {
      std::string v = t["pause_frames"].get<bool>() ? "on" : "off";
      ethtool_step("pause", "-a", "-A", {{"autoneg", "off"}, {"rx", v}, {"tx", v}}, tune::ethtool_pause_settings);
    }
    if (t.contains("coalesce")) {
      std::vector<std::pair<std::string, std::string>> want;
      for (const auto& [k, v] : t["coalesce"].items()) want.emplace_back(k, v.get<std::string>());
      ethtool_step("coalesce", "-c", "-C", want, tune::ethtool_coalesce_settings);
    }
  }
  if (t.contains("irq_affinity")) {
    if (ifname.empty()) throw Error("tuning 'irq_affinity' needs 'interface'");
    // The interface's IRQs by exact name (and its PCI device, for mlx5_comp*@pci:... lines);
    // each one's old affinity journaled before it is changed.
    std::string pci;
    {
      // -e: only when the interface has a device (a virtual one has none).
      auto link = r.run({{"readlink", "-e", machine_path(r, "/sys/class/net/" + ifname + "/device")}});
      if (link.ok()) pci = std::filesystem::path(link.out.substr(0, link.out.find('\n'))).filename().string();
    }
    std::vector<std::string> irqs;
    {
      auto text = try_read(r, "/proc/interrupts");
      if (!text) throw Error(fmt::format("cannot read /proc/interrupts on {}", s.machine));
      irqs = collect::interface_irqs(collect::parse_interrupts(*text), ifname, pci);
      if (irqs.empty()) throw Error(fmt::format("no IRQ of {} in /proc/interrupts on {}", ifname, s.machine));
    }
    auto sys = remote::remote_sysfs(r);
    std::string value = t["irq_affinity"].get<std::string>();
    for (const auto& irq : irqs) {
      std::string path = "/proc/irq/" + irq + "/smp_affinity_list";
      auto old = sys->read(path);
      if (!old) throw Error(fmt::format("cannot read {} on {}", path, s.machine));
      undo({{"action", "irq_affinity"}, {"path", path}, {"interface", ifname}, {"value", *old}});
      sys->write({path, value});
    }
    applied["irq_affinity"] = t["irq_affinity"];
    applied["irqs"] = irqs;
  }
  if (t.contains("commands"))
    for (const auto& c : t["commands"]) run_checked(r, {{"sh", "-c", c.get<std::string>()}, true, "", {}}, "tuning command");
  tuning_applied_[s.machine] = applied;
}

void Engine::on_nic_setup_vfs(const plan::Step& s, const StepContext& ctx) {
  const auto& cfg = config(s);
  auto macs = virt::sriov::vf_macs(cfg.name, cfg.nic.num_vfs, cfg.nic.vf_macs);
  auto undo = [&](json entry) { ctx.undo(s.machine, std::move(entry)); };
  system_["vfs"] = setup_vfs(machine(s.machine), cfg.nic, macs, undo, progress_);
}

}  // namespace iommuvm::engine
