// iommuvm policy {params,set,evidence}: the pure policy module plus the file reading and writing.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "iommuvm/cli/cli.hpp"
#include "iommuvm/engine/grub_files.hpp"
#include "iommuvm/policy/cmdline.hpp"
#include "iommuvm/policy/evidence.hpp"
#include "iommuvm/policy/grub.hpp"
#include "iommuvm/remote/local.hpp"
#include "iommuvm/util/error.hpp"
#include "iommuvm/util/fs.hpp"
#include "iommuvm/util/text.hpp"

namespace iommuvm::cli {

namespace {

namespace stdfs = std::filesystem;

policy::Policy need_policy(const std::string& s) {
  auto p = policy::parse_policy(s);
  if (!p) throw InputError(fmt::format("unknown policy '{}' (strict, lazy, passthrough, off)", s));
  return *p;
}

policy::Vendor need_vendor(const std::string& s) {
  auto v = policy::parse_vendor(s);
  if (!v) throw InputError(fmt::format("unknown vendor '{}' (intel, amd)", s));
  return *v;
}

std::string read_input(const std::string& path) {
  if (path == "-") return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  if (!stdfs::exists(path)) throw InputError("no such file: " + path);
  return fs::read_file(path);  // refuses what is not a regular file (exit 2)
}

// This machine, as the user runs iommuvm (no sudo): GRUB files are written the way a
// campaign writes them on a host, checked by sh before they replace the old ones.
std::unique_ptr<remote::Remote> local_files() {
  remote::LocalOptions o;
  o.sudo = remote::SudoMode::never;
  return remote::make_local(o);
}

struct SetOptions {
  std::string grub_file;
  std::vector<std::string> dropins;
  std::string policy;
  std::string vendor;
  std::string output;
};

void run_set(const SetOptions& o) {
  auto pol = need_policy(o.policy);
  auto ven = need_vendor(o.vendor);
  std::vector<policy::GrubSource> sources;
  sources.push_back({o.grub_file, read_input(o.grub_file)});
  for (const auto& d : o.dropins) sources.push_back({d, read_input(d)});
  std::vector<std::string> out = policy::grub_set_policy(sources, pol, ven);
  std::vector<std::size_t> changed;
  for (std::size_t i = 0; i < sources.size(); ++i)
    if (out[i] != sources[i].text) changed.push_back(i);
  if (!o.output.empty()) {
    for (std::size_t i : changed)
      if (i != 0)
        throw InputError(fmt::format("{} needs an edit too; --output writes only the main file: edit in place",
                                     sources[i].name));
    engine::write_grub_default_as_root(*local_files(), stdfs::absolute(o.output).string(), out[0]);
    std::cout << "wrote " << o.output << "\n";
  } else {
    auto now = std::chrono::system_clock::now();
    for (std::size_t i : changed) {
      // The backup is what is on disk now (read again: the file the edit is based on).
      auto backup = fs::backup_copy(sources[i].name, policy::grub_backup_template(sources[i].name, now),
                                    std::string(policy::kGrubBackupSuffix));
      if (fs::read_file(backup) != sources[i].text)
        throw Error(fmt::format("{} changed while iommuvm was editing it: nothing written (backup {})", sources[i].name,
                                backup.string()));
      engine::write_grub_default_as_root(*local_files(), stdfs::absolute(sources[i].name).string(), out[i]);
      std::cout << "wrote " << sources[i].name << " (backup: " << backup.string() << ")\n";
    }
    if (changed.empty()) std::cout << "unchanged: " << o.grub_file << " already requests " << o.policy << "\n";
  }
  std::vector<policy::GrubSource> result = sources;
  for (std::size_t i = 0; i < result.size(); ++i) result[i].text = out[i];
  std::cout << "kernel command line: " << policy::grub_kernel_cmdline(result) << "\n";
}

struct EvidenceOptions {
  std::string cmdline;
  std::string dmesg;
  std::string sysfs_root;
  std::string requested;
};

void run_evidence(const EvidenceOptions& o) {
  policy::EvidenceInput in;
  bool any = !o.cmdline.empty() || !o.dmesg.empty() || !o.sysfs_root.empty();
  std::string cmdline = o.cmdline, sysfs_root = o.sysfs_root;
  if (!any) cmdline = "/proc/cmdline", sysfs_root = "/";  // this machine; pipe dmesg in with --dmesg -
  // What the kernel wrote is data: bytes that are not UTF-8 are kept as \xNN (JSON carries UTF-8 only).
  if (!cmdline.empty()) in.cmdline = text::escape_invalid_utf8(read_input(cmdline));
  if (!o.dmesg.empty()) in.dmesg = text::escape_invalid_utf8(read_input(o.dmesg));
  if (!sysfs_root.empty()) {
    if (!stdfs::is_directory(sysfs_root)) throw InputError("no such folder: " + sysfs_root);
    std::map<int, std::string> groups;
    auto gdir = fs::under_root(sysfs_root, "/sys/kernel/iommu_groups");
    if (stdfs::is_directory(gdir)) {
      for (const auto& entry : stdfs::directory_iterator(gdir)) {
        std::string name = entry.path().filename().string();
        if (name.empty() || name.size() > 9 || name.find_first_not_of("0123456789") != std::string::npos) continue;
        auto type = entry.path() / "type";
        groups[std::stoi(name)] = stdfs::exists(type) ? text::escape_invalid_utf8(fs::read_file(type, 4096)) : "";
      }
    }
    std::vector<std::string> devices;
    auto cdir = fs::under_root(sysfs_root, "/sys/class/iommu");
    if (stdfs::is_directory(cdir))
      for (const auto& entry : stdfs::directory_iterator(cdir))
        devices.push_back(text::escape_invalid_utf8(entry.path().filename().string()));
    std::sort(devices.begin(), devices.end());
    in.group_types = groups;
    in.iommu_devices = devices;
  }
  auto evidence = policy::parse_evidence(in);
  auto verdict = policy::derive_policy(evidence);
  auto j = policy::to_json(evidence, verdict);
  if (!o.requested.empty()) {
    auto c = policy::compare_policy(need_policy(o.requested), evidence, verdict);
    j["comparison"] = {{"requested", o.requested}, {"match", c.match}, {"explanation", c.explanation}};
  }
  std::cout << j.dump(2) << "\n";
}

}  // namespace

void add_policy(CLI::App& app, Context&) {
  auto* sub = app.add_subcommand("policy", "IOMMU policies: kernel parameters, GRUB editing, evidence");
  sub->require_subcommand(1);

  auto params_policy = std::make_shared<std::string>();
  auto params_vendor = std::make_shared<std::string>();
  auto* params = sub->add_subcommand("params", "Print the kernel parameters for a policy");
  params->add_option("--policy", *params_policy, "strict | lazy | passthrough | off")->required();
  params->add_option("--vendor", *params_vendor, "intel | amd")->required();
  params->callback([params_policy, params_vendor] {
    auto p = need_policy(*params_policy);
    auto v = need_vendor(*params_vendor);
    std::cout << policy::join_cmdline(policy::policy_params(p, v)) << "\n";
  });

  auto set = std::make_shared<SetOptions>();
  auto* setc = sub->add_subcommand("set", "Rewrite a GRUB default file (/etc/default/grub) for a policy");
  setc->add_option("--grub-file", set->grub_file, "The GRUB default file")->required();
  setc->add_option("--dropin", set->dropins, "A /etc/default/grub.d/*.cfg drop-in, in sourcing order (repeat)");
  setc->add_option("--policy", set->policy, "strict | lazy | passthrough | off")->required();
  setc->add_option("--vendor", set->vendor, "intel | amd")->required();
  setc->add_option("--output", set->output, "Write the result here instead of editing in place");
  setc->callback([set] { run_set(*set); });

  auto ev = std::make_shared<EvidenceOptions>();
  auto* evc = sub->add_subcommand("evidence", "Which policy is in effect, from cmdline, kernel log and sysfs (JSON)");
  evc->add_option("--cmdline", ev->cmdline, "A /proc/cmdline copy ('-': stdin)");
  evc->add_option("--dmesg", ev->dmesg, "Kernel log text: dmesg or journalctl -k ('-': stdin)");
  evc->add_option("--sysfs-root", ev->sysfs_root, "Root under which sys/kernel/iommu_groups and sys/class/iommu are read");
  evc->add_option("--requested", ev->requested, "Compare with this policy");
  evc->callback([ev] { run_evidence(*ev); });
}

}  // namespace iommuvm::cli
