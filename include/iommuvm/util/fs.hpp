#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace iommuvm::fs {

// Whole file as bytes. Throws Error naming the path on failure.
std::string read_file(const std::filesystem::path& path);

// Write to PATH.tmp.<pid>, fsync, rename over PATH: readers see the old file or the new one, never half.
// Creates missing parent folders.
void atomic_write(const std::filesystem::path& path, std::string_view content);

// Append one line (a newline is added) and fsync; for journals.
void append_line(const std::filesystem::path& path, std::string_view line);

// fsync a file or a folder (a folder: so that the names created or renamed in it survive a
// crash or a reboot). Throws Error naming the path.
void fsync_path(const std::filesystem::path& path);

// Resolve an absolute machine path (/proc/cmdline) under a root prefix ("/" or a test folder).
std::filesystem::path under_root(const std::filesystem::path& root, const std::filesystem::path& abs);

}  // namespace iommuvm::fs
