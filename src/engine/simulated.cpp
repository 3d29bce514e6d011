// The simulated machines of a dry run: RecordingRemote's printing, answers from a model.
#include "iommuvm/engine/simulated.hpp"

#include "iommuvm/audit/kmsg.hpp"
#include "iommuvm/collect/parsers.hpp"
#include "iommuvm/engine/connect.hpp"

#include <fnmatch.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <pugixml.hpp>

#include "iommuvm/policy/boot.hpp"
#include "iommuvm/policy/cmdline.hpp"
#include "iommuvm/policy/grub.hpp"
#include "iommuvm/remote/sysfs.hpp"
#include "iommuvm/util/fs.hpp"
#include "iommuvm/util/shell.hpp"
#include "iommuvm/virt/pci.hpp"
#include "machine_files.hpp"

namespace iommuvm::engine {

namespace {

remote::RunResult answered(std::string out, int status = 0) {
  remote::RunResult r;
  r.exit_status = status;
  r.out = std::move(out);
  return r;
}

bool starts_with(const std::string& s, std::string_view head) { return s.rfind(head, 0) == 0; }
bool ends_with(const std::string& s, std::string_view tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string boot_id_of(int boot) { return fmt::format("{:08x}-0000-4000-8000-00000000d000", boot); }

std::string first_tag(const std::string& xml, const std::string& tag) {
  auto b = xml.find("<" + tag + ">");
  auto e = xml.find("</" + tag + ">");
  if (b == std::string::npos || e == std::string::npos || e < b) return "";
  return xml.substr(b + tag.size() + 2, e - b - tag.size() - 2);
}

// The kernel, initrd and arguments of the one-shot GRUB entry ID in the script 45_iommuvm.
std::optional<std::pair<std::string, std::string>> grub_script_entry(const std::string& script, const std::string& id) {
  std::istringstream in(script);
  for (std::string line; std::getline(in, line);) {
    if (!starts_with(line, "iommuvm_entry ")) continue;
    auto words = shell::split(line);
    if (words.size() < 5 || words[1] != id) continue;
    std::string cmdline = "BOOT_IMAGE=" + words[3];
    for (std::size_t i = 5; i < words.size(); ++i) cmdline += " " + words[i];
    return std::make_pair(words[3], cmdline);
  }
  return std::nullopt;
}

}  // namespace

SimulatedRemote::SimulatedRemote(MachineModel& model, bool login_is_root, std::ostream& out)
    : RecordingRemote(model.name, login_is_root, model.spec.root, out), out_(out), model_(model) {}

void SimulatedRemote::assume(const std::string& what) {
  if (model_.assumed.insert(what).second) out_ << fmt::format("[{}] # assumed: {}\n", model_.name, what);
}

remote::RunResult SimulatedRemote::run(const remote::Command& cmd, const remote::RunOptions& opts) {
  auto printed = RecordingRemote::run(cmd, opts);
  auto a = answer(cmd, opts);
  return a.exit_status == -2 ? printed : a;
}

// What the machine answers CMD; exit status -2: nothing modelled, the placeholder stands.
remote::RunResult SimulatedRemote::answer(const remote::Command& cmd, const remote::RunOptions& opts) {
  const auto& argv = cmd.argv;
  remote::RunResult none;
  none.exit_status = -2;
  if (argv.empty()) return none;
  auto at = [&](const std::string& abs) { return fs::under_root(root(), abs).string(); };
  const std::string& prog = argv[0];
  const std::string last = argv.back();

  if (prog == "cat" && argv.size() == 3) {
    const std::string p = canonical(argv[2]);
    if (p == at("/proc/cmdline")) return answered(model_.cmdline + "\n");
    if (p == at("/proc/sys/kernel/osrelease")) {
      if (starts_with(model_.kernel, "<")) assume("the running kernel's release is not known: shown as " + model_.kernel);
      return answered(model_.kernel + "\n");
    }
    if (p == at("/proc/sys/kernel/random/boot_id")) return answered(boot_id_of(model_.boot) + "\n");
    if (auto f = model_.files.find(p); f != model_.files.end()) return answered(f->second);
    if (starts_with(p, at("/run/libvirt/qemu/")) && ends_with(p, ".pid")) {
      assume("QEMU of " + p + " runs as pid 4001");
      return answered("4001\n");
    }
    if (auto slash = p.rfind('/'); slash != std::string::npos && p.find("/sys/class/net/") != std::string::npos &&
                                   p.find("/statistics/") != std::string::npos) {
      // The VF's counters: the load crosses it (a real run checks that it did).
      assume("the guests' network interfaces carry the load: their counters grow by 10^9 between two readings");
      auto& n = model_.files["#reads " + p];
      n = std::to_string((n.empty() ? 0 : std::stoll(n)) + 1000000000LL);
      return answered(n + "\n");
    }
    if (p.find("/tracing/events/") != std::string::npos && ends_with(p, "/trigger")) {
      assume("tracefs offers hist triggers (CONFIG_HIST_TRIGGERS)");
      return answered("# Available triggers:\n# traceon traceoff snapshot stacktrace enable_event disable_event enable_hist "
                      "disable_hist hist\n");
    }
    if (p.find("/sys/class/net/") != std::string::npos && ends_with(p, "/address")) {
      std::string ifname = std::filesystem::path(p).parent_path().filename().string();
      if (auto m = model_.macs.find(ifname); m != model_.macs.end()) return answered(m->second + "\n");
    }
    return none;
  }
  if (prog == "test" && argv.size() == 3) {
    const std::string p = canonical(argv[2]);
    bool known = model_.files.count(p) || model_.links.count(p) || model_.dirs.count(p);
    if (!known && starts_with(p, at("/boot/"))) assume(p + " exists");
    return answered("");
  }
  if (prog == "readlink") {
    std::filesystem::path asked(last);
    std::string link = (std::filesystem::path(canonical(asked.parent_path().string())) / asked.filename()).string();
    if (auto l = model_.links.find(link); l != model_.links.end()) {
      std::string target = l->second;
      if (argv.size() > 1 && (argv[1] == "-f" || argv[1] == "-e"))
        target = (std::filesystem::path(link).parent_path() / target).lexically_normal().string();
      return answered(target + "\n");
    }
    if (starts_with(last, at("/proc/")) && ends_with(last, "/exe")) {
      assume("QEMU is /usr/bin/qemu-system-x86_64");
      return answered("/usr/bin/qemu-system-x86_64\n");
    }
    return answered("", 1);
  }
  if (prog == "ls") {
    if (auto d = model_.dirs.find(canonical(last)); d != model_.dirs.end()) {
      std::string out;
      for (const auto& n : d->second) out += n + "\n";
      return answered(out);
    }
    if (last == at("/sys/class/net")) {
      std::string out = "lo\n";
      for (const auto& [ifname, mac] : model_.macs) out += ifname + "\n";
      return answered(out);
    }
    std::string grub_file = model_.spec.grub_file.empty() ? "/etc/default/grub" : model_.spec.grub_file;
    if (last == at(grub_file + ".d")) {
      assume(grub_file + " has no drop-in folder " + grub_file + ".d");
      return answered("", 2);
    }
    return none;
  }
  if (prog == "sh" && argv.size() >= 3 && argv[1] == "-c") {
    const std::string& script = argv[2];
    if (script == remote::write_command({"", ""}).argv[2] && argv.size() == 6) {
      const std::string target = canonical(argv[5]);
      model_.files[target] = argv[4];
      // SR-IOV: a VF count makes (or removes) the PF's virtfnN links and the VFs' devices.
      if (ends_with(target, "/sriov_numvfs")) {
        std::string dir = std::filesystem::path(target).parent_path().string();
        auto pf = virt::PciAddress::parse(std::filesystem::path(dir).filename().string());
        int n = 0;
        try {
          n = std::stoi(argv[4]);
        } catch (const std::exception&) {
        }
        for (int i = 0; pf && i < 256; ++i) {
          std::string link = dir + "/virtfn" + std::to_string(i);
          if (i >= n) {
            model_.links.erase(link);
            continue;
          }
          virt::PciAddress vf{pf->domain, pf->bus, pf->slot, pf->function + 2 + static_cast<unsigned>(i)};
          if (i == 0) assume(fmt::format("the VFs of {} are at {} and on: function 2 + VF index", pf->str(), vf.str()));
          std::string vdir = at("/sys/bus/pci/devices/" + vf.str());
          model_.links[link] = "../" + vf.str();
          model_.links[vdir + "/driver"] = "../../../../bus/pci/drivers/mlx5_core";
          model_.links[vdir + "/iommu_group"] = "../../../../kernel/iommu_groups/" + std::to_string(model_.nic_group.value_or(0) + 1 + i);
          model_.dirs[vdir + "/net"];
        }
      }
      // The driver a device is bound to after drivers_probe: its driver_override.
      if (ends_with(target, "/drivers_probe")) {
        std::string dev = at("/sys/bus/pci/devices/" + argv[4]);
        if (auto o = model_.files.find(dev + "/driver_override"); o != model_.files.end())
          model_.links[dev + "/driver"] = "../../../../bus/pci/drivers/" + o->second;
      }
      return answered("");
    }
    if ((script == scripts::install_script(false) || script == scripts::install_script(true)) && argv.size() >= 6) {
      std::string from = argv.size() >= 7 ? argv[6] : "";
      model_.files[argv[4]] = from.empty() ? opts.stdin_data : model_.files[from];
      return answered("");
    }
    if (script == scripts::kBackup && argv.size() == 7) {
      // mktemp's random part shown as XXXXXX.
      std::string made = argv[5] + argv[6];
      model_.files[made] = model_.files[argv[4]];
      return answered(made + "\n");
    }
    if (script == scripts::kMakeWorkDir && argv.size() == 5) return answered(fmt::format("/tmp/{}.XXXXXXXX\n", argv[4]));
    if (script == scripts::kListValues && argv.size() == 5) {
      std::string out;
      for (const auto& [path, value] : model_.files)
        if (::fnmatch(argv[4].c_str(), path.c_str(), FNM_PATHNAME) == 0) out += path + "\t" + value + "\n";
      if (out.empty()) {
        assume(fmt::format("the files {} stands for are not known: shown as the pattern, with the value <old>", argv[4]));
        model_.files[argv[4]] = "<old>";
        out = argv[4] + "\t<old>\n";
      }
      return answered(out);
    }
    if (script == scripts::kWriteValues && argv.size() >= 5) {
      for (std::size_t i = 5; i < argv.size(); ++i) model_.files[argv[i]] = argv[4];
      return answered("");
    }
    if (script == scripts::kGroupTypes) {
      if (!model_.has_iommu) return answered("");
      auto requested = policy::requested_policy(model_.cmdline, model_.spec.vendor);
      auto type = requested ? policy::group_type(*requested) : std::nullopt;
      if (!requested) {
        assume("the kernel's default IOMMU policy (no policy on its command line) is lazy");
        type = policy::group_type(policy::Policy::lazy);
      }
      std::set<int> groups = {0};
      if (model_.nic_group) groups.insert(*model_.nic_group);
      std::string out;
      for (int g : groups) {
        auto f = model_.files.find(at(fmt::format("/sys/kernel/iommu_groups/{}/type", g)));
        std::string t = f != model_.files.end() ? f->second : type.value_or("");
        if (!t.empty()) out += fmt::format("{} {}\n", g, t);
      }
      return answered(out);
    }
    if (script == scripts::kListIommu) {
      if (!model_.has_iommu || !policy::group_type(policy::requested_policy(model_.cmdline, model_.spec.vendor)
                                                       .value_or(policy::Policy::lazy)))
        return answered("");
      return answered(model_.spec.vendor == policy::Vendor::amd ? "ivhd0\n" : "dmar0\n");
    }
    if (starts_with(script, "command -v")) {
      std::string program = argv.size() >= 5 ? argv[4] : script.substr(11);
      assume(program + " is installed");
      return answered("/usr/bin/" + program + "\n");
    }
    // The kernel-log audit: a log with nothing new, its last sequence number 0 (steps_audit.cpp).
    if (script == audit::read_command(at("/dev/kmsg"), std::nullopt)) {
      assume("the kernel log says nothing during the runs (its mark is sequence number 0)");
      return answered("0\n");
    }
    if (script == audit::read_command(at("/dev/kmsg"), 0)) return answered("");
    if (script == collect::kTracefsListScript) {
      assume("tracefs has every tracepoint the collectors ask for");
      std::string out;
      for (std::size_t i = 4; i < argv.size(); ++i) out += argv[i] + "\n";
      return answered(out);
    }
    if (script.find("for d in dmar*") != std::string::npos) {
      assume("the dmar PMU dmar0 counts iommu_requests");
      return answered("dmar0/iommu_requests\n");
    }
    return none;
  }
  // A server's readiness: a started server answers as its protocol does.
  if (prog == "redis-cli" && last == "ping") return answered("PONG\n");
  if (prog == "bash" && argv.size() >= 6 && argv[3] == "iommuvm-ready") {
    if (argv[2].find("version") != std::string::npos) return answered("VERSION 1.6.21\n");
    if (argv[2].find("GET") != std::string::npos) return answered("HTTP/1.1 200 OK\n");
    return answered("");
  }
  if (prog == "grub-reboot" || prog == "grub2-reboot") {
    model_.next_entry = last;
    return answered("");
  }
  if ((prog == "grub-editenv" || prog == "grub2-editenv") && last == "next_entry") {
    model_.next_entry.clear();
    return answered("");
  }
  if (std::find(argv.begin(), argv.end(), "-l") != argv.end() &&
      (prog == "kexec" || argv == model_.spec.kexec.command ||
       (argv.size() > model_.spec.kexec.command.size() &&
        std::equal(model_.spec.kexec.command.begin(), model_.spec.kexec.command.end(), argv.begin())))) {
    auto l = std::find(argv.begin(), argv.end(), "-l");
    std::string kernel = l + 1 != argv.end() ? *(l + 1) : "";
    std::string cmdline;
    for (const auto& a : argv)
      if (starts_with(a, "--command-line=")) cmdline = a.substr(15);
    model_.kexec_loaded = std::make_pair(kernel, "BOOT_IMAGE=" + kernel + " " + cmdline);
    return answered("");
  }
  if (argv == model_.spec.reboot.command || argv == model_.spec.kexec.exec ||
      argv == std::vector<std::string>{"systemctl", "reboot"} || argv == std::vector<std::string>{"reboot"}) {
    reboot_into_next();
    return answered("");
  }
  if (prog == "systemctl" && argv.size() == 3) {
    if (argv[1] == "is-active") {
      auto s = model_.services.find(argv[2]);
      if (s == model_.services.end()) {
        assume(argv[2] + " is active");
        s = model_.services.emplace(argv[2], "active").first;
      }
      return answered(s->second + "\n", s->second == "active" ? 0 : 3);
    }
    if (argv[1] == "start" || argv[1] == "stop") {
      model_.services[argv[2]] = argv[1] == "start" ? "active" : "inactive";
      return answered("");
    }
  }
  if (prog == "ip" && argv.size() == 3 && argv[1] == "-o" && argv[2] == "link") {
    std::string out = "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    "
                      "link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n";
    int n = 2;
    for (const auto& [ifname, mac] : model_.macs)
      out += fmt::format("{}: {}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP mode DEFAULT group default "
                         "qlen 1000\\    link/ether {} brd ff:ff:ff:ff:ff:ff\n",
                         n++, ifname, mac);
    return answered(out);
  }
  if (prog == "getconf" && last == "CLK_TCK") return answered("100\n");
  if (prog == "pgrep") {
    std::string out;
    for (const auto& [pid, args] : model_.running)
      for (const auto& a : args)
        if (std::filesystem::path(a).filename().string() == last) {
          out += std::to_string(pid) + "\n";
          break;
        }
    if (out.empty() && !starts_with(last, "vhost-")) {
      assume("a process named " + last + " runs as pid 4002");
      out = "4002\n";
    }
    return answered(out, out.empty() ? 1 : 0);
  }
  if (prog == "stat" && argv.size() >= 4 && argv[1] == "-c" && argv[2] == "%s") {
    auto f = model_.files.find(last);
    if (f == model_.files.end()) assume(last + " exists and is empty");
    return answered(std::to_string(f == model_.files.end() ? 0 : f->second.size()) + "\n");
  }
  if (prog == "grep" && argv.size() >= 4 && argv[1] == "-E" && starts_with(argv[2], "^(")) {
    // The kernel functions asked for: every one can be probed.
    auto e = argv[2].find(")(");
    std::string names = argv[2].substr(2, e == std::string::npos ? std::string::npos : e - 2);
    std::string out;
    for (auto p = names.find('|'); ; p = names.find('|')) {
      out += names.substr(0, p) + "\n";
      if (p == std::string::npos) break;
      names = names.substr(p + 1);
    }
    assume("the kernel can probe the functions asked for");
    return answered(out);
  }
  if (prog == "ping") return answered("");
  return none;
}

// P with every symbolic link among its folders followed (the model keeps files by their real path).
std::string SimulatedRemote::canonical(const std::string& p) const {
  std::filesystem::path done;
  const std::filesystem::path whole(p);
  std::vector<std::filesystem::path> parts(whole.begin(), whole.end());
  for (std::size_t i = 0; i < parts.size(); ++i) {
    done /= parts[i];
    if (i + 1 == parts.size()) break;
    if (auto l = model_.links.find(done.string()); l != model_.links.end())
      done = (done.parent_path() / l->second).lexically_normal();
  }
  return done.string();
}

void SimulatedRemote::reboot_into_next() {
  std::string kernel_path;
  std::string cmdline;
  if (model_.kexec_loaded) {
    std::tie(kernel_path, cmdline) = *model_.kexec_loaded;
    model_.kexec_loaded.reset();
  } else if (!model_.next_entry.empty() &&
             model_.files.count(fs::under_root(root(), "/etc/grub.d/45_iommuvm").string()) &&
             grub_script_entry(model_.files[fs::under_root(root(), "/etc/grub.d/45_iommuvm").string()], model_.next_entry)) {
    std::tie(kernel_path, cmdline) =
        *grub_script_entry(model_.files[fs::under_root(root(), "/etc/grub.d/45_iommuvm").string()], model_.next_entry);
  } else {
    // The GRUB default entry (or the menu entry grub-reboot named): the GRUB default file's command line.
    if (auto rel = policy::release_of_kernel_choice(model_.next_entry); rel && !model_.next_entry.empty()) model_.kernel = *rel;
    kernel_path = "/boot/vmlinuz-" + model_.kernel;
    std::string grub_file = model_.spec.grub_file.empty() ? "/etc/default/grub" : model_.spec.grub_file;
    std::vector<policy::GrubSource> sources = {{grub_file, model_.files[fs::under_root(root(), grub_file).string()]}};
    cmdline = "BOOT_IMAGE=" + kernel_path;
    for (const auto& a : policy::root_args(model_.cmdline)) cmdline += " " + a;
    for (auto key : {policy::kGrubCmdline, policy::kGrubCmdlineDefault}) {
      std::string v = policy::grub_effective(sources, key).value;
      if (!v.empty()) cmdline += " " + v;
    }
  }
  model_.next_entry.clear();
  model_.kernel = policy::kernel_release(kernel_path);
  model_.cmdline = cmdline;
  ++model_.boot;
  model_.running.clear();
  // sysfs does not outlive the boot.
  const std::string sys = fs::under_root(root(), "/sys/").string();
  std::erase_if(model_.files, [&](const auto& f) { return starts_with(f.first, sys); });
  std::erase_if(model_.links, [&](const auto& l) { return starts_with(l.first, sys); });
  model_.files.insert(model_.boot_sysfs_files.begin(), model_.boot_sysfs_files.end());
  model_.links.insert(model_.boot_sysfs_links.begin(), model_.boot_sysfs_links.end());
}

remote::Process SimulatedRemote::start(const remote::Command& cmd, const std::string& log_path) {
  auto p = RecordingRemote::start(cmd, log_path);
  model_.running[p.pid] = cmd.argv;
  return p;
}

void SimulatedRemote::put_text(const std::string& content, const std::string& remote_path, const std::filesystem::path&) {
  out_ << fmt::format("[{}] write {} ({} bytes)\n", model_.name, remote_path, content.size());
  model_.files[remote_path] = content;
}

bool SimulatedRemote::is_running(const remote::Process& p) { return model_.running.count(p.pid) > 0; }

bool SimulatedRemote::stop(const remote::Process& p, int signal, std::chrono::milliseconds grace) {
  RecordingRemote::stop(p, signal, grace);
  model_.running.erase(p.pid);
  return true;
}

std::string SimulatedRemote::wait_for_reboot(const std::string& previous, std::chrono::milliseconds timeout) {
  out_ << fmt::format("[{}] wait until boot id differs from {} (up to {} s)\n", model_.name, previous,
                      static_cast<double>(timeout.count()) / 1000.0);
  return boot_id_of(model_.boot);
}

std::string SimulatedRemote::wait_until_up(std::chrono::milliseconds timeout, const std::function<bool()>&) {
  out_ << fmt::format("[{}] wait until it answers (up to {} s) and read its boot id\n", model_.name,
                      static_cast<double>(timeout.count()) / 1000.0);
  return boot_id_of(model_.boot);
}

SimulatedHypervisor::SimulatedHypervisor(std::string uri, std::ostream& out, std::map<std::string, MachineModel*> guests,
                                         MachineModel* host)
    : RecordingHypervisor(std::move(uri), out), out_(out), guests_(std::move(guests)), host_(host) {}

void SimulatedHypervisor::define(const std::string& xml) {
  RecordingHypervisor::define(xml);
  defined_[first_tag(xml, "name")] = xml;
}

void SimulatedHypervisor::undefine(const std::string& name) {
  RecordingHypervisor::undefine(name);
  defined_.erase(name);
}

void SimulatedHypervisor::start(const std::string& name) {
  RecordingHypervisor::start(name);
  active_[name] = host_ ? host_->boot : 0;
  if (host_) {
    host_->files[fs::under_root(host_->spec.root, "/run/libvirt/qemu/" + name + ".pid").string()] = std::to_string(next_qemu_pid_) + "\n";
    host_->running[next_qemu_pid_++] = {"/usr/bin/qemu-system-x86_64", "-name", "guest=" + name};
  }
  auto g = guests_.find(name);
  if (g == guests_.end() || !g->second) return;
  // The guest boots the domain's kernel with the domain's command line (or its own disk's).
  MachineModel& m = *g->second;
  const std::string xml = defined_.count(name) ? defined_[name] : "";
  m.has_iommu = xml.find("<iommu") != std::string::npos;
  std::string kernel = first_tag(xml, "kernel");
  if (!kernel.empty()) {
    m.kernel = policy::kernel_release(kernel);
    m.cmdline = first_tag(xml, "cmdline");
  }
  ++m.boot;
  m.running.clear();
  m.macs.clear();
  // The domain's interfaces' MACs in the order of its XML (pugixml: the XML as libvirt reads it).
  pugi::xml_document doc;
  int n = 1;
  if (doc.load_string(xml.c_str()))
    for (const auto& x : doc.select_nodes("/domain/devices/interface/mac[@address]"))
      m.macs[fmt::format("enp{}s0", n++)] = x.node().attribute("address").value();
  if (!m.macs.empty() && m.assumed.insert("interface names").second)
    out_ << fmt::format("[{}] # assumed: the domain's network interfaces are enp1s0, enp2s0, ... in the order of its XML\n",
                        m.name);
}

bool SimulatedHypervisor::shutdown(const std::string& name, std::chrono::seconds timeout) {
  RecordingHypervisor::shutdown(name, timeout);
  active_.erase(name);
  return true;
}

void SimulatedHypervisor::destroy(const std::string& name) {
  RecordingHypervisor::destroy(name);
  active_.erase(name);
}

// A domain runs until it is stopped, or until its host reboots.
bool SimulatedHypervisor::is_active(const std::string& name) {
  auto a = active_.find(name);
  return a != active_.end() && a->second == (host_ ? host_->boot : 0);
}

// The host's PCI devices that libvirt would list: the VFs the host model has now.
std::vector<std::string> SimulatedHypervisor::node_devices(const std::string& capability) {
  RecordingHypervisor::node_devices(capability);
  std::vector<std::string> out;
  if (!host_ || capability != "pci") return out;
  for (const auto& [link, target] : host_->links) {
    auto pos = link.rfind("/virtfn");
    if (pos == std::string::npos) continue;
    auto pf = virt::PciAddress::parse(std::filesystem::path(link.substr(0, pos)).filename().string());
    auto vf = virt::PciAddress::parse(std::filesystem::path(target).filename().string());
    if (!pf || !vf) continue;
    out.push_back(vf->node_device_name());
    node_xml_[out.back()] = fmt::format(
        "<device><name>{}</name><driver><name>mlx5_core</name></driver><capability type='pci'><domain>{}</domain>"
        "<bus>{}</bus><slot>{}</slot><function>{}</function><capability type='phys_function'><address domain='0x{:04x}' "
        "bus='0x{:02x}' slot='0x{:02x}' function='0x{:x}'/></capability></capability></device>",
        out.back(), vf->domain, vf->bus, vf->slot, vf->function, pf->domain, pf->bus, pf->slot, pf->function);
  }
  return out;
}

std::string SimulatedHypervisor::node_device_xml(const std::string& name) {
  RecordingHypervisor::node_device_xml(name);
  auto x = node_xml_.find(name);
  return x == node_xml_.end() ? "<device/>" : x->second;
}

std::optional<std::string> SimulatedHypervisor::domain_xml(const std::string& name, bool inactive) {
  RecordingHypervisor::domain_xml(name, inactive);
  if (auto d = defined_.find(name); d != defined_.end()) return d->second;
  return std::nullopt;
}

std::map<std::string, remote::Remote*> SimulatedSite::by_name() const {
  std::map<std::string, remote::Remote*> out;
  for (const auto& m : machines) out[m->name()] = m.get();
  return out;
}

SimulatedSite simulate(const spec::Spec& spec, std::ostream& out) {
  SimulatedSite site;
  std::map<std::string, MachineModel*> by_name;
  for (const auto& m : spec.machines) {
    auto model = std::make_unique<MachineModel>();
    model->name = m.name;
    model->spec = m;
    model->kernel = "<" + m.name + ":kernel release>";
    model->cmdline = "BOOT_IMAGE=/boot/vmlinuz-" + model->kernel + " root=<" + m.name + ":root> ro";
    auto at = [&](const std::string& abs) { return fs::under_root(m.root, abs).string(); };
    std::string grub_file = m.grub_file.empty() ? "/etc/default/grub" : m.grub_file;
    model->files[at(grub_file)] = "GRUB_CMDLINE_LINUX_DEFAULT=\"\"\n";
    std::string nic_machine = spec.nic.machine.empty() ? (spec.hypervisor.machine.empty() ? "" : spec.hypervisor.machine)
                                                       : spec.nic.machine;
    if (spec.nic.present() && (nic_machine == m.name || (nic_machine.empty() && m.role == spec::Role::host))) {
      std::string pci = spec.nic.pci.empty() ? "0000:01:00.0" : spec.nic.pci;
      std::string dev = at("/sys/bus/pci/devices/" + pci);
      model->nic_group = 1;
      model->links[dev + "/iommu_group"] = "../../../../kernel/iommu_groups/1";
      model->links[dev + "/driver"] = "../../../../bus/pci/drivers/mlx5_core";
      model->files[dev + "/sriov_totalvfs"] = std::to_string(std::max(8, spec.nic.num_vfs));
      model->files[dev + "/sriov_numvfs"] = "0";
      model->dirs[at("/sys/kernel/iommu_groups/1/devices")] = {pci};
      if (!spec.nic.pf.empty()) {
        model->links[at("/sys/class/net/" + spec.nic.pf + "/device")] = "../../../bus/pci/devices/" + pci;
        model->dirs[dev + "/net"] = {spec.nic.pf};
        model->files[at("/sys/class/net/" + spec.nic.pf + "/operstate")] = "up\n";
      }
    }
    const std::string sys = at("/sys/");
    for (const auto& [path, text] : model->files)
      if (starts_with(path, sys)) model->boot_sysfs_files[path] = text;
    for (const auto& [path, target] : model->links)
      if (starts_with(path, sys)) model->boot_sysfs_links[path] = target;
    by_name[m.name] = model.get();
    bool root = m.local ? ::geteuid() == 0 : m.ssh.user == "root";
    site.machines.push_back(std::make_unique<SimulatedRemote>(*model, root || !m.sudo, out));
    site.models.push_back(std::move(model));
  }
  if (!spec.guests.empty()) {
    std::map<std::string, MachineModel*> guests;
    for (const auto& g : spec.guests) guests[g.domain] = by_name.count(g.machine) ? by_name[g.machine] : nullptr;
    MachineModel* host = by_name.count(spec.hypervisor.machine) ? by_name[spec.hypervisor.machine] : nullptr;
    site.hypervisor = std::make_unique<SimulatedHypervisor>(hypervisor_uri(spec), out, guests, host);
  }
  return site;
}

}  // namespace iommuvm::engine
