// Writing a GRUB default file (/etc/default/grub, /etc/default/grub.d/*.cfg) on a machine,
// for the engine's `grub` switch and for `iommuvm policy set`.
#pragma once

#include <string>

#include "iommuvm/remote/remote.hpp"

namespace iommuvm::engine {

// Write CONTENT to ABS (under R's root prefix) atomically, as root when R needs it: a
// temporary file next to the target (a symbolic link's target), checked before it replaces
// the old file: `sh -n` parses it, and sourcing it alone in a clean environment (10 s at
// most) gives the GRUB_CMDLINE_LINUX and GRUB_CMDLINE_LINUX_DEFAULT that
// policy::grub_effective computes from CONTENT. Otherwise nothing is written and Error
// (exit 2: the file is what is wrong) says why. Mode and owner are kept; a new file is 0644.
void write_grub_default_as_root(remote::Remote& r, const std::string& abs, const std::string& content);

}  // namespace iommuvm::engine
