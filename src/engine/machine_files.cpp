#include "machine_files.hpp"

#include <algorithm>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "iommuvm/engine/grub_files.hpp"
#include "iommuvm/policy/boot.hpp"
#include "iommuvm/policy/evidence.hpp"
#include "iommuvm/policy/grub.hpp"
#include "iommuvm/remote/sysfs.hpp"
#include "iommuvm/virt/pci.hpp"
#include "iommuvm/virt/sriov.hpp"
#include "iommuvm/util/error.hpp"
#include "iommuvm/util/fs.hpp"
#include "iommuvm/util/hash.hpp"
#include "iommuvm/util/shell.hpp"
#include "iommuvm/util/text.hpp"

namespace iommuvm::engine {

std::string machine_path(const remote::Remote& r, const std::string& abs) {
  return fs::under_root(r.root(), abs).string();
}

std::optional<std::string> try_read(remote::Remote& r, const std::string& abs) {
  try {
    return r.read_file(abs);
  } catch (const std::exception& e) {
    spdlog::debug("cannot read {} on {}: {}", abs, r.name(), e.what());
    return std::nullopt;
  }
}

remote::RunResult run_checked(remote::Remote& r, remote::Command cmd, const std::string& what,
                              std::chrono::milliseconds timeout) {
  remote::RunOptions opts;
  opts.timeout = timeout;
  auto res = r.run(cmd, opts);
  if (!res.ok())
    throw Error(fmt::format("{} on {} failed (exit {}{}): {}", what, r.name(), res.exit_status,
                            res.timed_out ? ", timed out" : "", res.err.empty() ? res.out : res.err));
  return res;
}

namespace scripts {
// Install a file on a machine as root, atomically: a temporary file made by mktemp next to
// the target (the target of a symbolic link: the link stays), filled from stdin or from the
// file $3, given the target's mode and owner (or $2 for a new file), fsynced, renamed over
// the target, the folder fsynced. Nothing is deleted first, no name is guessable.
std::string install_script(bool check_sh) {
  std::string s =
      "set -eu\n"
      "dest=$1 mode=$2\n"
      "target=$(readlink -f -- \"$dest\")\n"
      "dir=$(dirname -- \"$target\")\n"
      "tmp=$(mktemp -- \"$dir/.$(basename -- \"$target\").iommuvm-XXXXXX\")\n"
      "trap 'rm -f -- \"$tmp\"' EXIT\n"
      "if [ $# -ge 3 ] && [ -n \"$3\" ]; then cat -- \"$3\" > \"$tmp\"; else cat > \"$tmp\"; fi\n";
  if (check_sh)
    // A shell file that grub-mkconfig sources: it must parse, and sourcing it alone (a clean
    // environment, 10 s at most) must give the values iommuvm computed ($4), else nothing
    // replaces the old file.
    s += "sh -n -- \"$tmp\" || { echo \"iommuvm: the edited $dest does not parse as sh; nothing written\" >&2; exit 65; }\n"
         "got=$(timeout 10 env -i sh -c '. \"$1\" >/dev/null 2>&1; printf \"%s|%s\" \"${GRUB_CMDLINE_LINUX-}\" "
         "\"${GRUB_CMDLINE_LINUX_DEFAULT-}\"' sh \"$tmp\" | sha256sum) || { echo \"iommuvm: sourcing the edited $dest "
         "failed; nothing written\" >&2; exit 65; }\n"
         "case $got in \"$4 \"*) ;; *) echo \"iommuvm: sourcing the edited $dest does not give the GRUB_CMDLINE_LINUX and "
         "GRUB_CMDLINE_LINUX_DEFAULT iommuvm computed (or stops early); nothing written\" >&2; exit 65 ;; esac\n";
  s += "if [ -e \"$target\" ]; then\n"
       "  chmod --reference=\"$target\" -- \"$tmp\"\n"
       "  chown --reference=\"$target\" -- \"$tmp\" 2>/dev/null || [ \"$(id -u)\" != 0 ]\n"
       "else\n"
       "  chmod -- \"$mode\" \"$tmp\"\n"
       "fi\n"
       "sync -- \"$tmp\"\n"
       "mv -f -- \"$tmp\" \"$target\"\n"
       "trap - EXIT\n"
       "sync -- \"$dir\"\n";
  return s;
}
}  // namespace scripts

void write_as_root(remote::Remote& r, const std::string& abs, const std::string& content, const std::string& mode) {
  std::string dest = machine_path(r, abs);
  remote::RunOptions opts;
  opts.timeout = std::chrono::milliseconds(120000);
  opts.stdin_data = content;
  auto res = r.run({{"sh", "-c", scripts::install_script(false), "sh", dest, mode}, true, "", {}}, opts);
  if (!res.ok())
    throw Error(fmt::format("writing {} on {} failed (exit {}{}): {}", dest, r.name(), res.exit_status,
                            res.timed_out ? ", timed out" : "", res.err.empty() ? res.out : res.err));
}

void write_grub_default_as_root(remote::Remote& r, const std::string& abs, const std::string& content) {
  policy::GrubSource alone{abs, content};
  // Compared as a SHA-256 (the values may be long; an argument may not be).
  std::string expect = hash::sha256_hex(policy::grub_effective({alone}, policy::kGrubCmdline).value + "|" +
                                        policy::grub_effective({alone}, policy::kGrubCmdlineDefault).value);
  std::string dest = machine_path(r, abs);
  remote::RunOptions opts;
  opts.timeout = std::chrono::milliseconds(120000);
  opts.stdin_data = content;
  auto res = r.run({{"sh", "-c", scripts::install_script(true), "sh", dest, "0644", "", expect}, true, "", {}}, opts);
  if (!res.ok())
    throw Error(fmt::format("writing {} on {} failed (exit {}{}): {}", dest, r.name(), res.exit_status,
                            res.timed_out ? ", timed out" : "", res.err.empty() ? res.out : res.err),
                res.exit_status == 65 ? ExitCode::bad_input : ExitCode::environment);
}

void copy_as_root(remote::Remote& r, const std::string& from_abs, const std::string& abs) {
  std::string dest = machine_path(r, abs);
  run_checked(r, {{"sh", "-c", scripts::install_script(false), "sh", dest, "0644", machine_path(r, from_abs)}, true, "", {}},
              fmt::format("writing {}", dest));
}

std::string backup_as_root(remote::Remote& r, const std::string& abs, const std::string& name_template,
                           const std::string& suffix) {
  auto res = run_checked(r,
                         {{"sh", "-c", scripts::kBackup, "sh", machine_path(r, abs), machine_path(r, name_template), suffix},
                          true, "", {}},
                         "backing up " + abs);
  std::string made = res.out.substr(0, res.out.find('\n'));
  // The journal keeps machine paths without the root prefix, like every other path in it.
  std::string prefix = r.root() == "/" || r.root().empty() ? "" : r.root().string();
  if (!prefix.empty() && made.rfind(prefix, 0) == 0) made = made.substr(prefix.size());
  if (made.empty() || made.front() != '/') throw Error(fmt::format("backing up {} on {}: no backup name", abs, r.name()));
  return made;
}

std::vector<std::pair<std::string, std::string>> list_values(remote::Remote& r, const std::string& glob) {
  auto res = r.run({{"sh", "-c", scripts::kListValues, "sh", machine_path(r, glob)}, true, "", {}});
  std::vector<std::pair<std::string, std::string>> out;
  std::string prefix = r.root() == "/" || r.root().empty() ? "" : r.root().string();
  for (auto line : text::split_lines(res.out)) {
    auto tab = line.find('\t');
    if (tab == std::string_view::npos) continue;
    std::string path(line.substr(0, tab));
    if (!prefix.empty() && path.rfind(prefix, 0) == 0) path = path.substr(prefix.size());
    out.emplace_back(path, std::string(line.substr(tab + 1)));
  }
  return out;
}

}  // namespace iommuvm::engine
