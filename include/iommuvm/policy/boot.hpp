// How a policy gets into effect: the one-shot GRUB entry (host default), the
// persistent GRUB default, kexec, and the runtime sysfs switch. Pure: this
// produces file contents, commands and (path, value) writes; the caller runs them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "iommuvm/policy/types.hpp"
#include "iommuvm/remote/remote.hpp"
#include "iommuvm/remote/sysfs.hpp"

namespace iommuvm::policy {

// ---- GRUB -----------------------------------------------------------------

enum class GrubFlavor { debian, redhat };  // update-grub / grub-reboot vs grub2-mkconfig / grub2-reboot

inline constexpr std::string_view kGrubScriptPath = "/etc/grub.d/45_iommuvm";

// "iommuvm-<policy>": the --id of the one-shot entry, what grub-reboot is given.
std::string grub_entry_id(Policy policy);

// The kernel release in a kernel path: /boot/vmlinuz-6.12.9-vanilla -> 6.12.9-vanilla.
std::string kernel_release(std::string_view kernel_path);

// The kernel release software.host_kernel asks for: a /boot path's release (kernel_release),
// or the release a GRUB menu title names ("...>Debian GNU/Linux, with Linux 6.1.0-30-amd64",
// optionally followed by " (recovery mode)"); nullopt for a title that names none.
std::optional<std::string> release_of_kernel_choice(std::string_view choice);

// Whether RELEASE (uname -r) is the kernel CHOICE asks for; an empty CHOICE accepts any.
bool kernel_choice_matches(std::string_view choice, std::string_view release);

// The arguments of the current boot that say where the root file system is and
// how to mount it, in their order: root=, rootflags=, rootfstype=, rootwait,
// rootdelay=, ro, rw. Source: /proc/cmdline.
std::vector<std::string> root_args(std::string_view proc_cmdline);

// The command line to boot POLICY with, derived from the current boot:
// /proc/cmdline without BOOT_IMAGE= and initrd=, rewritten with rewrite_cmdline.
std::string boot_cmdline(std::string_view proc_cmdline, Policy policy, Vendor vendor);

struct GrubEntry {
  Policy policy = Policy::strict;
  std::string kernel;   // absolute path on the machine: /boot/vmlinuz-6.12.9-vanilla
  std::string initrd;   // absolute path: /boot/initrd.img-6.12.9-vanilla
  std::vector<std::string> root_args;  // root_args(/proc/cmdline)
  std::string cmdline;  // the policy command line (boot_cmdline or the GRUB default one)
};

// The text of /etc/grub.d/45_iommuvm: a script grub-mkconfig runs; it prints one
//   menuentry 'iommuvm: <release> <policy>' --id iommuvm-<policy> { ...
//     linux <kernel> <root args> <cmdline>
//     initrd <initrd> }
// per entry. GRUB paths and the commands that reach the device are computed at
// update-grub time with grub-mkconfig_lib (as 10_linux does), so a separate
// /boot partition works. Root args already in CMDLINE are not repeated.
// Every text from outside (the title with the kernel's release, the kernel and initrd
// paths, each command-line word) is quoted for GRUB's script language by the script
// itself (iommuvm_quote: bare when it holds only letters, digits and ._/:=,+@%-, else in
// single quotes, where GRUB expands nothing), the paths after grub-mkconfig has made them
// relative to their file system. Throws InputError on a newline, which no quoting carries.
std::string grub_script(const std::vector<GrubEntry>& entries);

// update-grub | grub2-mkconfig -o /boot/grub2/grub.cfg
remote::Command grub_update_command(GrubFlavor flavor);
// grub-reboot ENTRY (an --id, a title, or "Submenu title>Entry title"): boot ENTRY once.
remote::Command grub_reboot_command(std::string_view entry, GrubFlavor flavor);
// grub-set-default ENTRY: boot ENTRY from now on (needs GRUB_DEFAULT=saved).
remote::Command grub_set_default_command(std::string_view entry, GrubFlavor flavor);
// What `iommuvm restore` runs so that a grub-reboot whose reboot never happened leaves no
// pending one-shot entry: grub-editenv GRUBENV unset next_entry (grub2-editenv on redhat).
// GRUBENV: the path on the machine (under its root prefix).
remote::Command grub_unset_next_entry_command(GrubFlavor flavor, const std::string& grubenv);
// Where grub-reboot keeps next_entry: /boot/grub/grubenv (/boot/grub2/grubenv on redhat).
std::string grubenv_path(GrubFlavor flavor);
// "Advanced options for Ubuntu>Ubuntu, with Linux 6.12.9-vanilla"
std::string grub_menu_path(std::string_view submenu, std::string_view entry);

// ---- kexec ----------------------------------------------------------------

// kexec -l KERNEL --initrd=INITRD --command-line=CMDLINE (no --initrd when INITRD is empty);
// PROGRAM replaces "kexec" (a path, or a wrapper with its own arguments).
remote::Command kexec_load_command(std::string_view kernel, std::string_view initrd, std::string_view cmdline,
                                   const std::vector<std::string>& program = {"kexec"});
// The initrd that goes with KERNEL, by the distributions' names: /boot/initrd.img-REL (Debian,
// Ubuntu), /boot/initramfs-REL.img (Red Hat, Arch), in that order.
std::vector<std::string> initrd_candidates(std::string_view kernel_path);
// systemctl kexec (clean shutdown, then the loaded kernel) or kexec -e (immediate, no shutdown).
remote::Command kexec_exec_command(bool via_systemd = true);

// ---- the controller reboots its own machine --------------------------------

// A one-shot systemd unit that runs `iommuvm run` again after the boot; enabled by a
// symlink in multi-user.target.wants (what `systemctl enable` creates), so no systemd is
// needed to install it.
inline constexpr std::string_view kResumeUnitPath = "/etc/systemd/system/iommuvm-resume.service";
inline constexpr std::string_view kResumeWantsPath = "/etc/systemd/system/multi-user.target.wants/iommuvm-resume.service";

struct ResumeUnit {
  std::string description;              // "iommuvm: resume campaign NAME after the reboot"
  std::vector<std::string> argv;        // absolute program path first: the same `iommuvm run` again
  std::string working_directory;        // absolute: where the first invocation ran
  std::string user;                     // empty: root
  std::string home;                     // HOME for a non-root user (ssh keys, ~ in the spec)
  std::string wants_link;               // the enabling symlink (as a path on the machine), removed first thing
  std::string condition_path;           // the campaign's resume.json: no state, nothing to resume
};

// The unit's text: [Unit] after network-online.target, ConditionPathExists=CONDITION_PATH;
// [Service] Type=oneshot, ExecStartPre= removes the wants link (so it runs once even when
// `iommuvm run` fails early), ExecStart= the quoted argv, no start timeout; [Install]
// WantedBy=multi-user.target. Throws InputError for relative paths or characters a unit
// line cannot carry.
std::string resume_unit(const ResumeUnit& unit);

// ---- runtime (sysfs) ------------------------------------------------------

struct KernelVersion {
  int major = 0, minor = 0, patch = 0;
  auto operator<=>(const KernelVersion&) const = default;
};
// "6.12.9-vanilla", "5.15.0-91-generic", "Linux version 6.1.0-18-amd64 ..." -> {6,12,9} ...
std::optional<KernelVersion> parse_kernel_version(std::string_view text);

// The value /sys/kernel/iommu_groups/N/type takes for a policy: DMA, DMA-FQ,
// identity; nullopt for off (there is no group type for "no IOMMU").
std::optional<std::string> group_type(Policy policy);
// The policy a group type means: DMA -> strict, DMA-FQ -> lazy, identity -> passthrough.
std::optional<Policy> policy_of_group_type(std::string_view type);

struct RuntimeCheck {
  bool possible = false;
  std::string why;  // always set: the rule that decided
};
// Can FROM be changed into TO by writing group types on KERNEL?
//   - never to or from off: the IOMMU cannot be switched on or off at runtime;
//   - the type file is writable from 5.11; DMA-FQ is accepted from 5.15.
RuntimeCheck runtime_possible(Policy from, Policy to, const KernelVersion& kernel);

struct PciDevice {
  std::string bdf;     // 0000:65:00.0
  std::string driver;  // ice, mlx5_core, ... (empty: no driver bound)
};

using remote::SysfsWrite;  // one (path, value) write, shared with virt::sriov
// The writes, in order, that switch group GROUP to POLICY: unbind every device
// of the group from its driver, write the type, bind the drivers again. Paths
// are absolute (/sys/...); the caller prefixes its root. Throws InputError for off.
std::vector<SysfsWrite> runtime_switch_writes(int group, const std::vector<PciDevice>& devices, Policy policy);

}  // namespace iommuvm::policy
