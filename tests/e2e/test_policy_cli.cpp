#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "iommuvm/policy/boot.hpp"
#include "iommuvm/util/fs.hpp"
#include "test_support.hpp"

using namespace iommuvm;
namespace stdfs = std::filesystem;

namespace {

test::ProcessResult iommuvm_run(std::vector<std::string> args) {
  args.insert(args.begin(), test::binary_path().string());
  return test::run_process(args);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    std::size_t end = text.find('\n', start);
    out.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

void write(const stdfs::path& p, const std::string& content) { fs::atomic_write(p, content); }

// The generated /etc/grub.d script under a real sh, with grub-mkconfig_lib and grub-probe
// stubbed (no devices to probe here): what grub-mkconfig would put in grub.cfg.
test::ProcessResult run_grub_script(const stdfs::path& dir, const policy::GrubEntry& e) {
  write(dir / "grub-mkconfig_lib",
        "grub_probe=\"$pkgdatadir/probe\"\n"
        "prepare_grub_to_access_device() { echo \"insmod ext2\"; echo \"search --set=root $1\"; }\n"
        "make_system_path_relative_to_its_root() { echo \"${1#/boot}\"; }\n");
  write(dir / "probe", "#!/bin/sh\necho /dev/sda2\n");
  stdfs::permissions(dir / "probe", stdfs::perms::owner_all);
  write(dir / "45_iommuvm", policy::grub_script({e}));
  return test::run_process({"env", "pkgdatadir=" + dir.string(), "sh", (dir / "45_iommuvm").string()});
}

}  // namespace

TEST(PolicyCli, Params) {
  auto r = iommuvm_run({"policy", "params", "--policy", "strict", "--vendor", "intel"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "intel_iommu=on iommu.strict=1 iommu.passthrough=0\n");
  r = iommuvm_run({"policy", "params", "--policy", "off", "--vendor", "amd"});
  EXPECT_EQ(r.out, "amd_iommu=off\n");
  r = iommuvm_run({"policy", "params", "--policy", "fast", "--vendor", "amd"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "iommuvm: error: unknown policy 'fast' (strict, lazy, passthrough, off)\n");
  r = iommuvm_run({"policy", "params", "--policy", "lazy", "--vendor", "arm"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "iommuvm: error: unknown vendor 'arm' (intel, amd)\n");
}

TEST(PolicyCli, SetInPlaceMakesABackupAndChangesOneLine) {
  test::TempDir dir;
  std::string original = fs::read_file(test::data_path("grub/grub-default-testbed"));
  write(dir / "grub", original);
  auto r = iommuvm_run({"policy", "set", "--grub-file", (dir / "grub").string(), "--policy", "passthrough", "--vendor",
                        "intel"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<stdfs::path> backups;
  for (const auto& e : stdfs::directory_iterator(dir.path()))
    if (e.path().filename().string().rfind("grub.iommuvm-", 0) == 0) backups.push_back(e.path());
  ASSERT_EQ(backups.size(), 1u);
  EXPECT_EQ(backups[0].extension(), ".bak");
  EXPECT_EQ(fs::read_file(backups[0]), original);
  EXPECT_NE(r.out.find("wrote " + (dir / "grub").string() + " (backup: " + backups[0].string() + ")\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("kernel command line: init_on_free=0 init_on_alloc=0 noresume intel_iommu=on "
                       "iommu.passthrough=1\n"),
            std::string::npos)
      << r.out;
  auto before = lines_of(original), after = lines_of(fs::read_file(dir / "grub"));
  ASSERT_EQ(before.size(), after.size());
  for (std::size_t i = 0; i < before.size(); ++i) {
    if (i == 75)
      EXPECT_EQ(after[i],
                "GRUB_CMDLINE_LINUX_DEFAULT=\"init_on_free=0 init_on_alloc=0 noresume intel_iommu=on "
                "iommu.passthrough=1\"");
    else
      EXPECT_EQ(after[i], before[i]) << "line " << i + 1;
  }
}

TEST(PolicyCli, SetToOutputLeavesTheFileAlone) {
  test::TempDir dir;
  auto src = test::data_path("grub/grub-single-quoted");
  auto r = iommuvm_run({"policy", "set", "--grub-file", src.string(), "--policy", "lazy", "--vendor", "amd",
                        "--output", (dir / "out").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "wrote " + (dir / "out").string() +
                "\nkernel command line: rd.lvm.lv=vg0/root console=tty0 console=ttyS1,115200n8 iommu=soft "
                "iommu.strict=0 iommu.passthrough=0\n");
  EXPECT_EQ(lines_of(fs::read_file(dir / "out"))[5],
            "GRUB_CMDLINE_LINUX_DEFAULT='console=tty0 console=ttyS1,115200n8 iommu=soft iommu.strict=0 "
            "iommu.passthrough=0'");
  EXPECT_EQ(std::distance(stdfs::directory_iterator(dir.path()), stdfs::directory_iterator()), 1);
}

TEST(PolicyCli, SetWithDropIns) {
  test::TempDir dir;
  std::vector<std::string> args = {"policy", "set", "--policy", "strict", "--vendor", "intel"};
  for (std::string f : {"grub", "50-cloudimg-settings.cfg", "60-iommu.cfg"}) {
    write(dir / f, fs::read_file(test::data_path("grub/dropins/" + f)));
    args.push_back(f == "grub" ? "--grub-file" : "--dropin");
    args.push_back((dir / f).string());
  }
  auto with_output = args;
  with_output.push_back("--output");
  with_output.push_back((dir / "out").string());
  auto r = iommuvm_run(with_output);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("needs an edit too; --output writes only the main file"), std::string::npos) << r.err;
  r = iommuvm_run(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(fs::read_file(dir / "grub"), fs::read_file(test::data_path("grub/dropins/grub")));
  EXPECT_NE(r.out.find("kernel command line: console=tty1 console=ttyS0 vfio-pci.ids=8086:1593 intel_iommu=on "
                       "iommu.strict=1 iommu.passthrough=0\n"),
            std::string::npos)
      << r.out;
}

TEST(PolicyCli, SetRefusesBadInput) {
  test::TempDir dir;
  write(dir / "grub", "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet $(cat /etc/extra)\"\n");
  auto r = iommuvm_run({"policy", "set", "--grub-file", (dir / "grub").string(), "--policy", "lazy", "--vendor",
                        "intel"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("iommuvm: error: " + (dir / "grub").string() + ": line 1: cannot edit", 0), 0u) << r.err;
  EXPECT_EQ(fs::read_file(dir / "grub"), "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet $(cat /etc/extra)\"\n");
  r = iommuvm_run({"policy", "set", "--grub-file", (dir / "missing").string(), "--policy", "lazy", "--vendor",
                   "intel"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "iommuvm: error: no such file: " + (dir / "missing").string() + "\n");
}

TEST(PolicyCli, EvidenceFromFixturesAndSysfs) {
  test::TempDir dir;
  write(dir / "cmdline", "BOOT_IMAGE=/boot/vmlinuz-6.12.9-vanilla root=/dev/vda1 ro intel_iommu=on iommu.strict=0 "
                         "iommu.passthrough=0\n");
  for (int g : {0, 1, 2, 3}) write(dir / ("root/sys/kernel/iommu_groups/" + std::to_string(g) + "/type"), "DMA\n");
  write(dir / "root/sys/class/iommu/dmar0", "");
  auto r = iommuvm_run({"policy", "evidence", "--cmdline", (dir / "cmdline").string(), "--dmesg",
                        test::data_path("dmesg/guest-viommu-lazy-caching-mode.txt").string(), "--sysfs-root",
                        (dir / "root").string(), "--requested", "lazy"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["effective"], "strict");
  EXPECT_EQ(j["reasons"][0], "sysfs: /sys/kernel/iommu_groups/*/type: DMA of 4 groups (4 DMA)");
  EXPECT_EQ(j["reasons"].back(), "dmesg: DMAR: IOMMU batching disallowed due to virtualization");
  EXPECT_EQ(j["evidence"]["cmdline_policy"], "lazy");
  EXPECT_EQ(j["evidence"]["iommu_devices"], nlohmann::json::array({"dmar0"}));
  EXPECT_EQ(j["comparison"]["match"], false);
}

TEST(PolicyCli, EvidenceGuestWithoutVIommu) {
  test::TempDir dir;
  write(dir / "root/sys/kernel/iommu_groups/.keep", "");
  auto r = iommuvm_run({"policy", "evidence", "--dmesg", test::data_path("dmesg/guest-no-viommu.txt").string(),
                        "--sysfs-root", (dir / "root").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["effective"], "off");
  EXPECT_EQ(j["reasons"][0], "sysfs: no IOMMU groups under /sys/kernel/iommu_groups");
  r = iommuvm_run({"policy", "evidence", "--sysfs-root", (dir / "nope").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "iommuvm: error: no such folder: " + (dir / "nope").string() + "\n");
}

TEST(PolicyCli, EvidenceFromStdin) {
  auto dmesg = fs::read_file(test::data_path("dmesg/intel-host-passthrough.txt"));
  auto r = test::run_process({test::binary_path().string(), "policy", "evidence", "--dmesg", "-"}, dmesg);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["effective"], "passthrough");
}

// Not the binary, but a process: the generated /etc/grub.d script under a real
// sh, with grub-mkconfig_lib and grub-probe stubbed.
TEST(PolicyCli, OneShotGrubScriptRunsUnderSh) {
  test::TempDir dir;
  policy::GrubEntry e{policy::Policy::lazy, "/boot/vmlinuz-6.12.9-vanilla", "/boot/initrd.img-6.12.9-vanilla",
                      {"root=UUID=3f1c", "ro"}, "quiet intel_iommu=on iommu.strict=0 iommu.passthrough=0"};
  auto r = run_grub_script(dir.path(), e);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "menuentry 'iommuvm: 6.12.9-vanilla lazy' --id iommuvm-lazy {\n"
            "\tinsmod ext2\n"
            "\tsearch --set=root /dev/sda2\n"
            "\tlinux /vmlinuz-6.12.9-vanilla root=UUID=3f1c ro quiet intel_iommu=on iommu.strict=0 iommu.passthrough=0\n"
            "\tinitrd /initrd.img-6.12.9-vanilla\n"
            "}\n");
}

// Two `policy set` in one second keep both backups; a symlinked file is written through to
// its target (mode kept, the link stays); nothing but the backups is left next to it.
TEST(PolicyCli, SetTwiceKeepsBothBackupsAndWritesThroughASymlink) {
  test::TempDir dir;
  std::string original = fs::read_file(test::data_path("grub/grub-default-testbed"));
  write(dir / "real/grub", original);
  stdfs::permissions(dir / "real/grub", stdfs::perms::owner_read | stdfs::perms::owner_write | stdfs::perms::group_read);
  stdfs::create_symlink(dir / "real/grub", dir / "grub");
  auto set = [&](const char* policy) {
    return iommuvm_run({"policy", "set", "--grub-file", (dir / "grub").string(), "--policy", policy, "--vendor", "intel"});
  };
  auto a = set("lazy");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  std::string after_lazy = fs::read_file(dir / "real/grub");
  auto b = set("passthrough");  // well within the same second
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_TRUE(stdfs::is_symlink(dir / "grub"));
  EXPECT_EQ(stdfs::status(dir / "real/grub").permissions() & stdfs::perms::all,
            stdfs::perms::owner_read | stdfs::perms::owner_write | stdfs::perms::group_read);
  std::vector<std::string> backups;
  for (const auto& e : stdfs::directory_iterator(dir.path()))
    if (e.path().filename().string().rfind("grub.iommuvm-", 0) == 0) backups.push_back(fs::read_file(e.path()));
  ASSERT_EQ(backups.size(), 2u);
  std::sort(backups.begin(), backups.end());
  std::vector<std::string> expected = {original, after_lazy};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(backups, expected) << "each backup holds the file as it was before its edit";
  int in_real = 0;
  for ([[maybe_unused]] const auto& e : stdfs::directory_iterator(dir / "real")) ++in_real;
  EXPECT_EQ(in_real, 1) << "no temporary file left next to the target";
}

// A conditional assignment is refused with the file and line, and the file is not touched.
TEST(PolicyCli, SetRefusesAConditionalAssignment) {
  test::TempDir dir;
  std::string text = fs::read_file(test::data_path("grub/grub-default-testbed")) +
                     "[ -e /etc/iommu-off ] && GRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT intel_iommu=off\"\n";
  write(dir / "grub", text);
  auto r = iommuvm_run({"policy", "set", "--grub-file", (dir / "grub").string(), "--policy", "strict", "--vendor", "intel"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find((dir / "grub").string() + ": line 81: shell code that may set or change the kernel command line"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(fs::read_file(dir / "grub"), text);
  int entries = 0;
  for ([[maybe_unused]] const auto& e : stdfs::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1) << "no backup for an edit that was refused";
}

// software.host_kernel text reaches the GRUB entry quoted for GRUB's script language: GRUB's
// own parser (grub-script-check) accepts the result and sees one menuentry with the text as
// single-quoted words, whatever the text holds.
TEST(PolicyCli, OneShotGrubScriptQuotesHostileTextForGrub) {
  if (!test::have_program("grub-script-check")) GTEST_SKIP() << "grub-script-check (Debian package grub-common) not installed";
  test::TempDir dir;
  policy::GrubEntry e{policy::Policy::strict, "/boot/vmlinuz-6.1'; reboot; echo '{x}$y #z", "/boot/initrd.img-6 1;x",
                      {"root=UUID=3f1c", "ro"}, "quiet a=$(x) b=';' c=\"d e\" f=}{"};
  auto r = run_grub_script(dir.path(), e);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "menuentry 'iommuvm: 6.1'\\''; reboot; echo '\\''{x}$y #z strict' --id iommuvm-strict {\n"
            "\tinsmod ext2\n"
            "\tsearch --set=root /dev/sda2\n"
            "\tlinux '/vmlinuz-6.1'\\''; reboot; echo '\\''{x}$y #z' root=UUID=3f1c ro quiet 'a=$(x)' 'b='\\'';'\\''' "
            "'c=d e' 'f=}{'\n"
            "\tinitrd '/initrd.img-6 1;x'\n"
            "}\n");
  write(dir / "grub.cfg", r.out);
  auto check = test::run_process({"grub-script-check", (dir / "grub.cfg").string()});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  // The same check catches what unquoted text would do.
  write(dir / "bad.cfg", "menuentry 'x' {\n\tlinux /vmlinuz-6.1 a=}{\n}\n}\n");
  EXPECT_NE(test::run_process({"grub-script-check", (dir / "bad.cfg").string()}).exit_code, 0);
}
