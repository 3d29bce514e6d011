// /etc/default/grub (and /etc/default/grub.d/*.cfg drop-ins): find the
// assignment of GRUB_CMDLINE_LINUX_DEFAULT / GRUB_CMDLINE_LINUX in effect and
// rewrite it for a policy, leaving every other byte of the files alone.
// Pure: callers read and write the files.
//
// Supported value forms: "double quoted", 'single quoted', bare words, and
// $VAR / ${VAR} references inside double quotes or bare words (expanded from
// earlier assignments, as sh does when grub-mkconfig sources the files).
// GRUB_CMDLINE_* values with command substitution, backticks, escaped '$',
// a value spanning lines, or mixed quoting ("a"'b') are refused (InputError):
// iommuvm cannot edit them safely; edit them by hand.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iommuvm/policy/types.hpp"

namespace iommuvm::policy {

inline constexpr std::string_view kGrubCmdlineDefault = "GRUB_CMDLINE_LINUX_DEFAULT";
inline constexpr std::string_view kGrubCmdline = "GRUB_CMDLINE_LINUX";

// One file in the order grub-mkconfig sources it: /etc/default/grub first,
// then /etc/default/grub.d/*.cfg sorted by name (later files win).
struct GrubSource {
  std::string name;  // for messages and locations
  std::string text;
};

// One `KEY=VALUE` line (optionally `export KEY=VALUE`, leading blanks, a trailing comment).
struct GrubAssignment {
  std::size_t line = 0;       // 1-based
  std::string key;
  std::string raw_value;      // as written, quotes included
  std::string value;          // quotes removed, $VAR references not expanded
  char quote = 0;             // '"', '\'' or 0 for a bare word
  std::size_t value_begin = 0;  // byte offsets of raw_value in the line
  std::size_t value_end = 0;
};

// Limits on what is edited: larger files or lines are refused (InputError), not parsed.
inline constexpr std::size_t kMaxGrubFileBytes = 1u << 20;
inline constexpr std::size_t kMaxGrubLineBytes = 16384;

// Every assignment in TEXT, in order. Commented lines are not assignments.
// Throws InputError for a GRUB_CMDLINE_* assignment it cannot edit safely.
std::vector<GrubAssignment> parse_grub_assignments(std::string_view text);

struct GrubLocation {
  std::size_t file = 0;  // index into the sources
  std::size_t line = 0;  // 1-based
  bool operator==(const GrubLocation&) const = default;
};

struct GrubEffective {
  std::string key;
  std::string value;                      // after expansion: what grub-mkconfig uses
  std::optional<GrubLocation> location;   // the assignment in effect; nullopt: never assigned
  // The assignments whose text ends up in the value through $KEY
  // self-references ("$GRUB_CMDLINE_LINUX_DEFAULT iommu=pt"), in effect first.
  std::vector<GrubLocation> chain;
};

// The value of KEY after sourcing SOURCES in order.
GrubEffective grub_effective(const std::vector<GrubSource>& sources, std::string_view key);

// Rewrite SOURCES to request POLICY on VENDOR. Returns the new text of every
// source (same order; unchanged files are returned unchanged):
// - the policy parameters are appended to the GRUB_CMDLINE_LINUX_DEFAULT
//   assignment in effect (a new line at the end of sources[0] when there is none);
// - conflicting IOMMU parameters are removed from every assignment in the
//   GRUB_CMDLINE_LINUX_DEFAULT and GRUB_CMDLINE_LINUX chains;
// - every other line, and every line whose value does not change, stays byte
//   for byte; the quote style of an edited value is kept.
// Validation: each edited line must parse back as the same assignment with
// balanced quotes, and the resulting "$GRUB_CMDLINE_LINUX $GRUB_CMDLINE_LINUX_DEFAULT"
// must request POLICY (requested_policy) and hold no policy parameter but the
// ones written (one could come through $OTHER_VARIABLE); otherwise throws Error
// (exit code 2).
std::vector<std::string> grub_set_policy(const std::vector<GrubSource>& sources, Policy policy,
                                         Vendor vendor);

// The single-file case: /etc/default/grub without drop-ins.
std::string grub_set_policy(std::string_view text, Policy policy, Vendor vendor);

// The kernel command line the normal (non-recovery) entries get:
// "$GRUB_CMDLINE_LINUX $GRUB_CMDLINE_LINUX_DEFAULT", as 10_linux builds it.
std::string grub_kernel_cmdline(const std::vector<GrubSource>& sources);

// Backups next to PATH: PATH.iommuvm-YYYYmmddTHHMMSSZ-XXXXXX.bak (UTC), the XXXXXX made
// unique when the file is created (mkstemps; `mktemp --suffix=.bak` on a machine), so two
// backups never share a name. It does not end in .cfg: a drop-in's backup is not sourced.
inline constexpr std::string_view kGrubBackupSuffix = ".bak";
// The name up to and including the XXXXXX.
std::string grub_backup_template(std::string_view path, std::chrono::system_clock::time_point when);

}  // namespace iommuvm::policy
