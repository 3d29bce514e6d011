// Kernel attribute files (/sys, /proc/sys) of a machine, read and written under its
// root prefix: the one place where a (path, value) write becomes a command. Policy
// switches (IOMMU group types) and SR-IOV (VF counts, driver binding) plan their
// changes as SysfsWrite lists and apply them through a Sysfs.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "iommuvm/remote/remote.hpp"

namespace iommuvm::remote {

// One write to a kernel attribute. PATH is the absolute path on the machine (/sys/...),
// never prefixed by the root: the Sysfs resolves it.
struct SysfsWrite {
  std::string path;
  std::string value;
  bool operator==(const SysfsWrite&) const = default;
};

// The command that performs one write, PATH taken as given (already under the root):
// sh -c 'printf %s "$1" > "$2"' sh VALUE PATH, as root. Values and paths are arguments,
// never shell text.
Command write_command(const SysfsWrite& w);

class Sysfs {
 public:
  virtual ~Sysfs() = default;
  // Contents with surrounding white space trimmed; nullopt when missing or unreadable.
  virtual std::optional<std::string> read(const std::string& abs) = 0;
  // Target of the symbolic link ABS as stored (../../0000:ca:00.0); empty when ABS is not a link.
  virtual std::string link(const std::string& abs) = 0;
  // Names in the folder ABS, sorted; empty when it does not exist.
  virtual std::vector<std::string> list(const std::string& abs) = 0;
  virtual bool exists(const std::string& abs) = 0;
  // Throws Error naming the path and the machine.
  virtual void write(const SysfsWrite& w) = 0;
  void write_all(const std::vector<SysfsWrite>& writes) {
    for (const auto& w : writes) write(w);
  }
};

// This machine's files under ROOT through std::filesystem (no processes): unit tests, tools.
std::unique_ptr<Sysfs> local_sysfs(std::filesystem::path root);
// A machine's files under R.root() through R's commands (cat, readlink, ls as the login
// user; writes as root), so it works over SSH. R must outlive the Sysfs.
std::unique_ptr<Sysfs> remote_sysfs(Remote& r);

}  // namespace iommuvm::remote
