// Reading and changing files on a machine through its Remote, under its root prefix, as root
// (atomic writes, backups), and running a command that must succeed. Internal to the engine.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "iommuvm/remote/remote.hpp"

namespace iommuvm::engine {

// The shell scripts the engine sends (sh -c SCRIPT sh ARGS...), named so that the simulated
// machine of a dry run (simulated.cpp) answers them from its model.
namespace scripts {
// $1: a name prefix; prints the private work folder it made.
inline constexpr const char* kMakeWorkDir = "umask 077 && mktemp -d -- \"${TMPDIR:-/tmp}/$1.XXXXXXXX\"";
// $1 file, $2 name template (ends in XXXXXX), $3 suffix; prints the backup's name.
inline constexpr const char* kBackup =
    "set -eu\n"
    "b=$(mktemp --suffix=\"$3\" -- \"$2\")\n"
    "cp -p -- \"$1\" \"$b\"\n"
    "sync -- \"$b\"\n"
    "printf '%s\\n' \"$b\"\n";
// $1 a glob; prints "FILE<tab>FIRST LINE" per file it matches.
inline constexpr const char* kListValues =
    "for f in $1; do [ -e \"$f\" ] || continue; printf '%s\\t%s\\n' \"$f\" \"$(head -n 1 -- \"$f\" 2>/dev/null)\"; done";
// $1 a value, then files: writes the value to each.
inline constexpr const char* kWriteValues = "v=$1; shift; for f; do printf '%s' \"$v\" > \"$f\" || exit 1; done";
// $1 /sys/kernel/iommu_groups; prints "GROUP TYPE" per group.
inline constexpr const char* kGroupTypes =
    "cd \"$1\" 2>/dev/null || exit 0; for t in */type; do [ -r \"$t\" ] && printf '%s %s\\n' \"${t%/type}\" \"$(cat \"$t\")\"; done; exit 0";
// $1 /sys/class/iommu; prints its names.
inline constexpr const char* kListIommu = "ls -1 \"$1\" 2>/dev/null; exit 0";
// write_as_root's installer (CHECK_SH: write_grub_default_as_root's, which checks the file sources).
std::string install_script(bool check_sh);
}  // namespace scripts

// ABS (e.g. /etc/default/grub) under the machine's root prefix, as a path on that machine.
std::string machine_path(const remote::Remote& r, const std::string& abs);

// Contents of a file, or nullopt when it does not exist or cannot be read.
std::optional<std::string> try_read(remote::Remote& r, const std::string& abs);

// Write CONTENT to ABS (under the root prefix) as root, atomically: sent on stdin to a
// temporary file that mktemp makes next to the target (a symbolic link's target: the link
// stays), fsynced and renamed over it. An existing file keeps its mode and owner; a new one
// gets MODE ("0644"). No staging file anywhere else.
void write_as_root(remote::Remote& r, const std::string& abs, const std::string& content, const std::string& mode = "0644");

// The same, with the content of the machine file FROM_ABS (restoring a backup).
void copy_as_root(remote::Remote& r, const std::string& from_abs, const std::string& abs);

// A backup of ABS in a new file NAME_TEMPLATE (ends in XXXXXX) + SUFFIX made by mktemp on
// the machine (never overwrites another), with the file's mode and owner (cp -p), fsynced.
// Returns its path (without the root prefix).
std::string backup_as_root(remote::Remote& r, const std::string& abs, const std::string& name_template,
                           const std::string& suffix);

// The files that GLOB (a shell glob of machine paths, e.g. /sys/devices/system/cpu/cpu[0-9]*/
// cpufreq/scaling_governor) matches on R, with their first line, as machine paths without
// the root prefix.
std::vector<std::pair<std::string, std::string>> list_values(remote::Remote& r, const std::string& glob);

// Run as root; throws Error with the command's stderr when it fails.
remote::RunResult run_checked(remote::Remote& r, remote::Command cmd, const std::string& what,
                              std::chrono::milliseconds timeout = std::chrono::milliseconds(120000));

}  // namespace iommuvm::engine
