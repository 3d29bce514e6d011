#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace iommuvm::fs {

// Largest file read_file reads by default.
inline constexpr std::size_t kMaxReadBytes = 512u << 20;

// Whole file as bytes. Throws Error naming the path when it cannot be read, and InputError
// (exit 2) when it is not a regular file (a FIFO, a device such as /dev/zero, a folder: none
// of them is ever read, so none can block or stream for ever) or is larger than MAX_BYTES.
// Files of /proc and /sys are regular files and read whole.
std::string read_file(const std::filesystem::path& path, std::size_t max_bytes = kMaxReadBytes);

// Write through a temporary file created exclusively next to the file (.NAME.iommuvm-XXXXXX,
// mkstemp), fsync, rename over it, fsync the folder: readers see the old file or the new
// one, never half, and a crash leaves one of them. An existing file keeps its mode and (as
// root) its owner; a new one is 0644. A symbolic link is written through: its target is
// replaced, the link stays. Creates missing parent folders.
void atomic_write(const std::filesystem::path& path, std::string_view content);

// PATH, or what it points to when it is a symbolic link (the file atomic_write replaces).
std::filesystem::path write_target(const std::filesystem::path& path);

// A copy of FILE (its bytes, mode and, as root, owner) in a new file named NAME_TEMPLATE +
// SUFFIX, where the template ends in XXXXXX (mkstemps: created exclusively, so no backup
// ever overwrites another). Returns the name, fsynced with its folder.
std::filesystem::path backup_copy(const std::filesystem::path& file, const std::string& name_template,
                                  const std::string& suffix = "");

// Append one line (a newline is added) and fsync; for journals.
void append_line(const std::filesystem::path& path, std::string_view line);

// fsync a file or a folder (a folder: so that the names created or renamed in it survive a
// crash or a reboot). Throws Error naming the path.
void fsync_path(const std::filesystem::path& path);

// Resolve an absolute machine path (/proc/cmdline) under a root prefix ("/" or a test folder).
std::filesystem::path under_root(const std::filesystem::path& root, const std::filesystem::path& abs);

}  // namespace iommuvm::fs
