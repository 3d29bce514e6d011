#include <gtest/gtest.h>

#include "iommuvm/policy/boot.hpp"
#include "iommuvm/policy/cmdline.hpp"
#include "iommuvm/util/error.hpp"

using namespace iommuvm;
using namespace iommuvm::policy;

using Tokens = std::vector<std::string>;

TEST(PolicyParams, IntelTable) {
  EXPECT_EQ(join_cmdline(policy_params(Policy::strict, Vendor::intel)), "intel_iommu=on iommu.strict=1 iommu.passthrough=0");
  EXPECT_EQ(join_cmdline(policy_params(Policy::lazy, Vendor::intel)), "intel_iommu=on iommu.strict=0 iommu.passthrough=0");
  EXPECT_EQ(join_cmdline(policy_params(Policy::passthrough, Vendor::intel)), "intel_iommu=on iommu.passthrough=1");
  EXPECT_EQ(join_cmdline(policy_params(Policy::off, Vendor::intel)), "intel_iommu=off");
}

TEST(PolicyParams, AmdTable) {
  EXPECT_EQ(join_cmdline(policy_params(Policy::strict, Vendor::amd)), "iommu.strict=1 iommu.passthrough=0");
  EXPECT_EQ(join_cmdline(policy_params(Policy::lazy, Vendor::amd)), "iommu.strict=0 iommu.passthrough=0");
  EXPECT_EQ(join_cmdline(policy_params(Policy::passthrough, Vendor::amd)), "iommu.passthrough=1");
  EXPECT_EQ(join_cmdline(policy_params(Policy::off, Vendor::amd)), "amd_iommu=off");
}

TEST(PolicyParams, EveryPolicyParsesBackToItself) {
  for (Vendor v : {Vendor::intel, Vendor::amd})
    for (Policy p : {Policy::strict, Policy::lazy, Policy::passthrough, Policy::off})
      EXPECT_EQ(requested_policy(join_cmdline(policy_params(p, v)), v), p) << to_string(p) << " " << to_string(v);
}

TEST(Tokenizer, RespectsDoubleQuotesAndWhitespace) {
  EXPECT_EQ(tokenize_cmdline("  root=/dev/sda1\tro  foo=\"a b\"  \"bar=c d\" quiet\n"),
            (Tokens{"root=/dev/sda1", "ro", "foo=\"a b\"", "\"bar=c d\"", "quiet"}));
  EXPECT_EQ(tokenize_cmdline(""), Tokens{});
  EXPECT_THROW(tokenize_cmdline("foo=\"a b"), InputError);
}

TEST(Tokenizer, NamesAndValues) {
  EXPECT_EQ(param_name("intel-iommu=on"), "intel_iommu");
  EXPECT_EQ(param_name("\"bar=c d\""), "bar");
  EXPECT_EQ(param_name("ro"), "ro");
  EXPECT_EQ(param_value("foo=\"a b\""), std::optional<std::string>("a b"));
  EXPECT_EQ(param_value("ro"), std::nullopt);
}

TEST(Rewrite, KeepsOtherParametersAndTheirOrder) {
  EXPECT_EQ(rewrite_cmdline("BOOT_IMAGE=/boot/vmlinuz root=UUID=x ro quiet splash", Policy::lazy, Vendor::intel),
            "BOOT_IMAGE=/boot/vmlinuz root=UUID=x ro quiet splash intel_iommu=on iommu.strict=0 iommu.passthrough=0");
}

TEST(Rewrite, RemovesEveryConflictingParameter) {
  std::string old =
      "ro intel_iommu=on intel_iommu=strict iommu=pt quiet iommu.strict=1 iommu.passthrough=1 "
      "amd_iommu=off iommu=nopt iommu.strict=0 intel-iommu=off";
  EXPECT_EQ(rewrite_cmdline(old, Policy::strict, Vendor::intel),
            "ro quiet intel_iommu=on iommu.strict=1 iommu.passthrough=0");
  EXPECT_EQ(rewrite_cmdline(old, Policy::off, Vendor::amd), "ro quiet amd_iommu=off");
}

TEST(Rewrite, KeepsNonDecidingSubOptions) {
  EXPECT_EQ(rewrite_cmdline("intel_iommu=on,sm_on,igfx_off x=1", Policy::passthrough, Vendor::intel),
            "x=1 intel_iommu=on,sm_on,igfx_off iommu.passthrough=1");
  EXPECT_EQ(rewrite_cmdline("intel_iommu=sm_on intel_iommu=strict", Policy::lazy, Vendor::intel),
            "intel_iommu=on,sm_on iommu.strict=0 iommu.passthrough=0");
  EXPECT_EQ(rewrite_cmdline("amd_iommu=fullflush,force_isolation amd_iommu_dump iommu=soft,pt", Policy::lazy,
                            Vendor::amd),
            "amd_iommu=force_isolation amd_iommu_dump iommu=soft iommu.strict=0 iommu.passthrough=0");
  // amd machine: an intel_iommu= keeps its non-deciding options in place
  EXPECT_EQ(rewrite_cmdline("intel_iommu=on,igfx_off q", Policy::strict, Vendor::amd),
            "intel_iommu=igfx_off q iommu.strict=1 iommu.passthrough=0");
}

TEST(Rewrite, QuotedParametersSurviveAndInitArgumentsStayLast) {
  EXPECT_EQ(rewrite_cmdline("dyndbg=\"file drivers/iommu/* +p\" iommu.strict=\"1\" -- single foo=bar", Policy::lazy,
                            Vendor::amd),
            "dyndbg=\"file drivers/iommu/* +p\" iommu.strict=0 iommu.passthrough=0 -- single foo=bar");
}

TEST(Rewrite, IsIdempotent) {
  std::string once = rewrite_cmdline("intel_iommu=on,sm_on quiet iommu=pt", Policy::strict, Vendor::intel);
  EXPECT_EQ(rewrite_cmdline(once, Policy::strict, Vendor::intel), once);
  EXPECT_EQ(rewrite_cmdline("", Policy::off, Vendor::intel), "intel_iommu=off");
}

TEST(StripPolicyParams, OnlyRemoves) {
  EXPECT_EQ(strip_policy_params("net.ifnames=0 iommu=pt intel_iommu=on,sm_on iommu.strict=1"),
            "net.ifnames=0 intel_iommu=sm_on");
}

TEST(Request, LastOccurrenceWins) {
  EXPECT_EQ(requested_policy("intel_iommu=on iommu.strict=1 iommu.strict=0", Vendor::intel), Policy::lazy);
  EXPECT_EQ(requested_policy("intel_iommu=on iommu=pt", Vendor::intel), Policy::passthrough);
  EXPECT_EQ(requested_policy("intel_iommu=on iommu=pt iommu.passthrough=n iommu.strict=y", Vendor::intel),
            Policy::strict);
  EXPECT_EQ(requested_policy("intel_iommu=on intel_iommu=strict", Vendor::intel), Policy::strict);
  EXPECT_EQ(requested_policy("intel_iommu=on intel_iommu=off", Vendor::intel), Policy::off);
  EXPECT_EQ(requested_policy("amd_iommu=fullflush", Vendor::amd), Policy::strict);
  EXPECT_EQ(requested_policy("iommu=off", Vendor::amd), Policy::off);
}

TEST(Request, UndecidedWhenTheKernelConfigDecides) {
  EXPECT_EQ(requested_policy("iommu.strict=1", Vendor::intel), std::nullopt);  // intel_iommu default varies
  EXPECT_EQ(requested_policy("intel_iommu=on", Vendor::intel), std::nullopt);  // strict/lazy default varies
  EXPECT_EQ(requested_policy("quiet", Vendor::amd), std::nullopt);
  EXPECT_EQ(requested_policy("amd_iommu=off iommu.strict=1", Vendor::intel), std::nullopt);  // amd_iommu ignored
  EXPECT_EQ(parse_request("ro intel_iommu=on quiet iommu.strict=0", Vendor::intel).tokens,
            (Tokens{"intel_iommu=on", "iommu.strict=0"}));
}

// ---- boot methods -----------------------------------------------------------

TEST(Boot, RootArgsAndBootCmdlineFromProcCmdline) {
  std::string proc =
      "BOOT_IMAGE=/boot/vmlinuz-6.12.9-vanilla root=UUID=3f1c2e7a ro rootflags=subvol=@ quiet intel_iommu=off\n";
  EXPECT_EQ(root_args(proc), (Tokens{"root=UUID=3f1c2e7a", "ro", "rootflags=subvol=@"}));
  EXPECT_EQ(boot_cmdline(proc, Policy::lazy, Vendor::intel),
            "root=UUID=3f1c2e7a ro rootflags=subvol=@ quiet intel_iommu=on iommu.strict=0 iommu.passthrough=0");
}

TEST(Boot, OneShotGrubScript) {
  GrubEntry e;
  e.policy = Policy::strict;
  e.kernel = "/boot/vmlinuz-6.12.9-vanilla";
  e.initrd = "/boot/initrd.img-6.12.9-vanilla";
  e.root_args = {"root=UUID=3f1c2e7a", "ro"};
  e.cmdline = "quiet intel_iommu=on iommu.strict=1 iommu.passthrough=0";
  std::string s = grub_script({e});
  EXPECT_EQ(s.rfind("#!/bin/sh\n", 0), 0u);
  EXPECT_NE(s.find(". \"${pkgdatadir:-/usr/share/grub}/grub-mkconfig_lib\"\n"), std::string::npos);
  EXPECT_NE(s.find("  printf \"menuentry %s --id %s {\\n\" \"$(iommuvm_quote \"$2\")\" \"$(iommuvm_quote \"$1\")\"\n"),
            std::string::npos);
  // One shell word per kernel argument: the script quotes each for GRUB.
  EXPECT_NE(s.find("\niommuvm_entry iommuvm-strict 'iommuvm: 6.12.9-vanilla strict' /boot/vmlinuz-6.12.9-vanilla "
                   "/boot/initrd.img-6.12.9-vanilla "
                   "root=UUID=3f1c2e7a ro quiet intel_iommu=on iommu.strict=1 iommu.passthrough=0\n"),
            std::string::npos)
      << s;
  // root args already in the command line are not repeated
  e.cmdline = "root=/dev/sda2 ro iommu.passthrough=1 intel_iommu=on";
  EXPECT_NE(grub_script({e}).find(" root=/dev/sda2 ro iommu.passthrough=1 intel_iommu=on\n"), std::string::npos);
  // Quotes, '$' and backslashes are carried (quoted for sh here, for GRUB by the script);
  // the kernel's double quotes leave the word (GRUB puts them back around blanks).
  e.cmdline = "foo='x' bar=\"a b\" c=$d";
  EXPECT_NE(grub_script({e}).find(" 'foo='\\''x'\\''' 'bar=a b' 'c=$d'\n"), std::string::npos) << grub_script({e});
  e.cmdline = "ok";
  e.kernel = "vmlinuz";
  EXPECT_THROW(grub_script({e}), InputError);
  e.kernel = "/boot/vmlinuz-6.1\nreboot";
  EXPECT_THROW(grub_script({e}), InputError);  // no quoting carries a newline
}

TEST(Boot, ReleaseAndEntryId) {
  EXPECT_EQ(kernel_release("/boot/vmlinuz-6.1.0-28-amd64"), "6.1.0-28-amd64");
  EXPECT_EQ(kernel_release("bzImage"), "bzImage");
  EXPECT_EQ(grub_entry_id(Policy::passthrough), "iommuvm-passthrough");
}

TEST(Boot, KernelChoiceNamesARelease) {
  EXPECT_EQ(release_of_kernel_choice("/boot/vmlinuz-6.1.0-28-amd64"), "6.1.0-28-amd64");
  EXPECT_EQ(release_of_kernel_choice("Advanced options for Ubuntu>Ubuntu, with Linux 6.12.9-vanilla"), "6.12.9-vanilla");
  EXPECT_EQ(release_of_kernel_choice("Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-57-amd64 (recovery mode)"),
            "6.1.0-57-amd64");
  EXPECT_EQ(release_of_kernel_choice("Debian GNU/Linux"), std::nullopt);
  EXPECT_EQ(release_of_kernel_choice(""), std::nullopt);
  EXPECT_TRUE(kernel_choice_matches("", "6.1.0-57-amd64"));
  EXPECT_TRUE(kernel_choice_matches("Advanced options for Ubuntu>Ubuntu, with Linux 6.12.9-vanilla", "6.12.9-vanilla"));
  // A release that only starts like the running one is another kernel.
  EXPECT_FALSE(kernel_choice_matches("Advanced options for Ubuntu>Ubuntu, with Linux 6.12.9-vanilla", "6.12.9"));
  EXPECT_FALSE(kernel_choice_matches("/boot/vmlinuz-6.12.9-patched", "6.12.9-vanilla"));
  EXPECT_FALSE(kernel_choice_matches("Debian GNU/Linux", "6.1.0-57-amd64"));
}

TEST(Boot, UnsetNextEntry) {
  EXPECT_EQ(grub_unset_next_entry_command(GrubFlavor::debian, "/r/boot/grub/grubenv").argv,
            (Tokens{"grub-editenv", "/r/boot/grub/grubenv", "unset", "next_entry"}));
  EXPECT_EQ(grubenv_path(GrubFlavor::redhat), "/boot/grub2/grubenv");
}

TEST(Boot, Commands) {
  EXPECT_EQ(grub_update_command(GrubFlavor::debian).argv, Tokens{"update-grub"});
  EXPECT_EQ(grub_update_command(GrubFlavor::redhat).argv, (Tokens{"grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"}));
  EXPECT_TRUE(grub_update_command(GrubFlavor::debian).sudo);
  EXPECT_EQ(grub_reboot_command(grub_entry_id(Policy::lazy), GrubFlavor::debian).argv,
            (Tokens{"grub-reboot", "iommuvm-lazy"}));
  EXPECT_EQ(grub_menu_path("Advanced options for Ubuntu", "Ubuntu, with Linux 6.12.9-vanilla"),
            "Advanced options for Ubuntu>Ubuntu, with Linux 6.12.9-vanilla");
  EXPECT_EQ(grub_reboot_command("Advanced options for Ubuntu>Ubuntu, with Linux 6.12.9-vanilla", GrubFlavor::redhat)
                .argv,
            (Tokens{"grub2-reboot", "Advanced options for Ubuntu>Ubuntu, with Linux 6.12.9-vanilla"}));
  EXPECT_EQ(grub_set_default_command("1>2", GrubFlavor::debian).argv, (Tokens{"grub-set-default", "1>2"}));
  EXPECT_EQ(kexec_load_command("/boot/vmlinuz-6.12.9", "/boot/initrd.img-6.12.9", "root=/dev/sda1 ro iommu.strict=0").argv,
            (Tokens{"kexec", "-l", "/boot/vmlinuz-6.12.9", "--initrd=/boot/initrd.img-6.12.9",
                    "--command-line=root=/dev/sda1 ro iommu.strict=0"}));
  EXPECT_EQ(kexec_exec_command().argv, (Tokens{"systemctl", "kexec"}));
  EXPECT_EQ(kexec_exec_command(false).argv, (Tokens{"kexec", "-e"}));
}

TEST(Runtime, KernelVersions) {
  EXPECT_EQ(parse_kernel_version("6.12.9-vanilla"), (KernelVersion{6, 12, 9}));
  EXPECT_EQ(parse_kernel_version("5.15.0-91-generic"), (KernelVersion{5, 15, 0}));
  EXPECT_EQ(parse_kernel_version("Linux version 6.1.0-18-amd64 (debian)"), (KernelVersion{6, 1, 0}));
  EXPECT_EQ(parse_kernel_version("6.8"), (KernelVersion{6, 8, 0}));
  EXPECT_EQ(parse_kernel_version("vanilla"), std::nullopt);
}

TEST(Runtime, WhatCanChangeAtRuntime) {
  EXPECT_TRUE(runtime_possible(Policy::strict, Policy::lazy, {5, 15, 0}).possible);
  EXPECT_FALSE(runtime_possible(Policy::strict, Policy::lazy, {5, 14, 21}).possible);
  EXPECT_EQ(runtime_possible(Policy::strict, Policy::lazy, {5, 14, 21}).why,
            "the DMA-FQ group type (lazy at runtime) exists from Linux 5.15");
  EXPECT_TRUE(runtime_possible(Policy::lazy, Policy::passthrough, {5, 11, 0}).possible);
  EXPECT_FALSE(runtime_possible(Policy::lazy, Policy::passthrough, {5, 10, 200}).possible);
  EXPECT_FALSE(runtime_possible(Policy::off, Policy::strict, {6, 12, 0}).possible);
  EXPECT_FALSE(runtime_possible(Policy::strict, Policy::off, {6, 12, 0}).possible);
}

TEST(Runtime, GroupTypeWrites) {
  EXPECT_EQ(group_type(Policy::lazy), std::optional<std::string>("DMA-FQ"));
  EXPECT_EQ(policy_of_group_type("identity"), Policy::passthrough);
  EXPECT_EQ(policy_of_group_type("unmanaged"), std::nullopt);
  auto w = runtime_switch_writes(17, {{"0000:65:00.0", "ice"}, {"0000:65:00.1", ""}}, Policy::passthrough);
  EXPECT_EQ(w, (std::vector<SysfsWrite>{{"/sys/bus/pci/drivers/ice/unbind", "0000:65:00.0"},
                                        {"/sys/kernel/iommu_groups/17/type", "identity"},
                                        {"/sys/bus/pci/drivers/ice/bind", "0000:65:00.0"}}));
  EXPECT_THROW(runtime_switch_writes(17, {}, Policy::off), InputError);
}

TEST(Kexec, ProgramInitrdAndCandidates) {
  EXPECT_EQ(kexec_load_command("/r/boot/vmlinuz-6.1", "", "ro", {"/usr/sbin/kexec", "--debug"}).argv,
            (Tokens{"/usr/sbin/kexec", "--debug", "-l", "/r/boot/vmlinuz-6.1", "--command-line=ro"}));
  EXPECT_THROW(kexec_load_command("/boot/vmlinuz", "", "ro", {}), InputError);
  EXPECT_EQ(initrd_candidates("/boot/vmlinuz-6.12.9-vanilla"),
            (Tokens{"/boot/initrd.img-6.12.9-vanilla", "/boot/initramfs-6.12.9-vanilla.img"}));
  EXPECT_EQ(initrd_candidates("/opt/k/bzImage-6.13"), (Tokens{"/opt/k/initrd.img-6.13", "/opt/k/initramfs-6.13.img"}));
}

TEST(ResumeUnit, OneShotUnitWithQuotedCommand) {
  ResumeUnit u;
  u.description = "iommuvm: resume campaign testbed after the reboot";
  u.argv = {"/usr/local/bin/iommuvm", "run", "/home/me/my specs/100% \"x\".yaml", "-o", "/data/$results"};
  u.working_directory = "/home/me/100%";
  u.wants_link = std::string(kResumeWantsPath);
  u.condition_path = "/data/results/testbed/20261125T120000Z/resume.json";
  std::string text = resume_unit(u);
  EXPECT_NE(text.find("\nType=oneshot\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nExecStart=\"/usr/local/bin/iommuvm\" \"run\" \"/home/me/my specs/100%% \\\"x\\\".yaml\" \"-o\" "
                      "\"/data/$$results\"\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\nWorkingDirectory=/home/me/100%%\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nExecStartPre=+/bin/rm -f \"/etc/systemd/system/multi-user.target.wants/iommuvm-resume.service\"\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\nConditionPathExists=/data/results/testbed/20261125T120000Z/resume.json\n"), std::string::npos);
  EXPECT_NE(text.find("\nWantedBy=multi-user.target\n"), std::string::npos);
  EXPECT_EQ(text.find("User="), std::string::npos) << "root unless a user is given";
  u.user = "schai";
  u.home = "/home/schai";
  text = resume_unit(u);
  EXPECT_NE(text.find("\nUser=schai\nEnvironment=\"HOME=/home/schai\"\n"), std::string::npos) << text;

  auto bad = u;
  bad.working_directory = "relative";
  EXPECT_THROW(resume_unit(bad), InputError);
  bad = u;
  bad.argv = {"iommuvm", "run"};
  EXPECT_THROW(resume_unit(bad), InputError);
  bad = u;
  bad.argv.push_back("two\nlines");
  EXPECT_THROW(resume_unit(bad), InputError);
}
