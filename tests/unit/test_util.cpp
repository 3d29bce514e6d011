#include <gtest/gtest.h>

#include <fstream>

#include <sys/stat.h>
#include <unistd.h>

#include "iommuvm/remote/remote.hpp"
#include "iommuvm/util/error.hpp"
#include "iommuvm/util/fs.hpp"
#include "iommuvm/util/hash.hpp"
#include "iommuvm/util/names.hpp"
#include "iommuvm/results/store.hpp"
#include "iommuvm/util/shell.hpp"
#include "test_support.hpp"

using namespace iommuvm;

TEST(Shell, QuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(shell::quote("redis-server"), "redis-server");
  EXPECT_EQ(shell::quote("iommu.strict=1"), "iommu.strict=1");
  EXPECT_EQ(shell::quote(""), "''");
  EXPECT_EQ(shell::quote("a b"), "'a b'");
  EXPECT_EQ(shell::quote("it's"), "'it'\\''s'");
  EXPECT_EQ(shell::quote("$(reboot)"), "'$(reboot)'");
}

TEST(Shell, HostileArgumentsSurviveARealShell) {
  std::vector<std::string> hostile = {"a b", "'", "\"", "$(echo pwned)", "`id`", "x;y", "line1\nline2",
                                      "\\", "*", "~", "a=b", "-n", "!", "&&", "|"};
  std::vector<std::string> argv = {"printf", "%s\\0"};
  argv.insert(argv.end(), hostile.begin(), hostile.end());
  auto r = test::run_process({"sh", "-c", shell::join(argv)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> got;
  std::size_t start = 0;
  for (std::size_t i = 0; i < r.out.size(); ++i)
    if (r.out[i] == '\0') got.push_back(r.out.substr(start, i - start)), start = i + 1;
  EXPECT_EQ(got, hostile);
}

TEST(Shell, FirstWordWithEqualsIsNotAnAssignment) {
  EXPECT_EQ(shell::join({"a=b", "c"}), "'a=b' c");
}

TEST(Shell, SystemdQuoting) {
  EXPECT_EQ(shell::systemd_quote("run"), "\"run\"");
  EXPECT_EQ(shell::systemd_quote("a b"), "\"a b\"");
  EXPECT_EQ(shell::systemd_quote("100%"), "\"100%%\"");
  EXPECT_EQ(shell::systemd_quote("$HOME"), "\"$$HOME\"");
  EXPECT_EQ(shell::systemd_quote("say \"hi\" \\ 'x'"), "\"say \\\"hi\\\" \\\\ 'x'\"");
  EXPECT_EQ(shell::systemd_quote(""), "\"\"");
  EXPECT_EQ(shell::systemd_join({"/bin/iommuvm", "run", "a b.yaml"}), "\"/bin/iommuvm\" \"run\" \"a b.yaml\"");
  EXPECT_THROW(shell::systemd_quote("two\nlines"), InputError);
  EXPECT_THROW(shell::systemd_quote(std::string("nul\0", 4)), InputError);
}

TEST(Shell, SplitHonoursQuotes) {
  EXPECT_EQ(shell::split(R"(redis-server --save "" --bind '127.0.0.1 ::1' a\ b)"),
            (std::vector<std::string>{"redis-server", "--save", "", "--bind", "127.0.0.1 ::1", "a b"}));
  EXPECT_THROW(shell::split("echo 'oops"), InputError);
}

TEST(Render, SudoCwdAndEnv) {
  remote::Command c{{"cat", "/proc/cmdline"}, true, "", {}};
  EXPECT_EQ(remote::render(c, true), "sudo -n -- cat /proc/cmdline");
  EXPECT_EQ(remote::render(c, false), "cat /proc/cmdline");
  c.cwd = "/tmp/x y";
  c.env = {{"LC_ALL", "C"}};
  EXPECT_EQ(remote::render(c, true), "sudo -n -- sh -c 'cd '\\''/tmp/x y'\\'' && env LC_ALL=C cat /proc/cmdline'");
}

TEST(Hash, Sha256KnownVectors) {
  EXPECT_EQ(hash::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hash::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hash::sha256_hex(std::string(1000, 'a')),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
}

TEST(Fs, AtomicWriteReplacesWholeFile) {
  test::TempDir dir;
  auto p = dir / "a/b/run.json";
  fs::atomic_write(p, "one");
  fs::atomic_write(p, "two");
  EXPECT_EQ(fs::read_file(p), "two");
  int entries = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(p.parent_path())) ++entries;
  EXPECT_EQ(entries, 1) << "no temporary file left behind";
}

TEST(Fs, UnderRoot) {
  EXPECT_EQ(fs::under_root("/", "/proc/cmdline"), "/proc/cmdline");
  EXPECT_EQ(fs::under_root("/tmp/fake", "/proc/cmdline"), "/tmp/fake/proc/cmdline");
}

TEST(Names, OneRuleForEveryNameThatBecomesAPath) {
  for (const std::string ok : std::vector<std::string>{"loopback", "e2e-guest", "redis_1", "a.b", "0x", "_x", std::string(64, 'a')})
    EXPECT_TRUE(names::is_path_name(ok)) << ok;
  for (const std::string bad : {"", ".", "..", ".hidden", "-rf", "a/b", "../../x", "a b", "a\\b", "x\n", "caf\xc3\xa9", "a:b"})
    EXPECT_FALSE(names::is_path_name(bad)) << bad;
  EXPECT_NE(names::path_name_problem(std::string(65, 'a')).find("longer than 64"), std::string::npos);
}

TEST(Fs, AtomicWriteKeepsModeAndWritesThroughSymlinks) {
  test::TempDir dir;
  auto target = dir / "real/grub";
  fs::atomic_write(target, "old\n");
  ::chmod(target.c_str(), 0600);
  std::filesystem::create_symlink(target, dir / "grub");
  fs::atomic_write(dir / "grub", "new\n");
  EXPECT_TRUE(std::filesystem::is_symlink(dir / "grub")) << "the link stays a link";
  EXPECT_EQ(fs::read_file(target), "new\n");
  struct stat st {};
  ASSERT_EQ(::stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u) << "the target keeps its mode";
  int entries = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(target.parent_path())) ++entries;
  EXPECT_EQ(entries, 1) << "no temporary file left behind";
}

TEST(Fs, AtomicWriteUsesAnUnguessableTemporaryName) {
  // A planted file (or symlink) at the old fixed temporary name PATH.tmp.<pid> is not touched.
  test::TempDir dir;
  auto p = dir / "run.json";
  auto planted = dir / ("run.json.tmp." + std::to_string(::getpid()));
  fs::atomic_write(dir / "victim", "keep");
  std::filesystem::create_symlink(dir / "victim", planted);
  fs::atomic_write(p, "data");
  EXPECT_EQ(fs::read_file(dir / "victim"), "keep");
  EXPECT_EQ(fs::read_file(p), "data");
}

TEST(Fs, BackupsNeverOverwriteEachOther) {
  test::TempDir dir;
  auto f = dir / "grub";
  fs::atomic_write(f, "one");
  ::chmod(f.c_str(), 0640);
  std::string tmpl = (dir / "grub.iommuvm-20260101T000000Z-XXXXXX").string();
  auto a = fs::backup_copy(f, tmpl, ".bak");
  fs::atomic_write(f, "two");
  auto b = fs::backup_copy(f, tmpl, ".bak");  // the same second: another name
  EXPECT_NE(a, b);
  EXPECT_EQ(a.extension(), ".bak");
  EXPECT_EQ(fs::read_file(a), "one");
  EXPECT_EQ(fs::read_file(b), "two");
  struct stat st {};
  ASSERT_EQ(::stat(a.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

TEST(Store, ContainedPathRefusesWhatLeavesTheFolderAndCreatesNothing) {
  test::TempDir dir;
  auto campaign = dir / "results/e/c1";
  std::filesystem::create_directories(campaign / "runs");
  EXPECT_EQ(results::contained_path(campaign, "runs/r1/raw/cpu.txt"), campaign / "runs/r1/raw/cpu.txt");
  EXPECT_EQ(results::contained_path(campaign, "runs/../x"), campaign / "x");
  EXPECT_THROW(results::contained_path(campaign, "../../x"), InputError);
  EXPECT_THROW(results::contained_path(campaign, "runs/r1/raw/../../../../x/y.log"), InputError);
  EXPECT_THROW(results::contained_path(campaign, "/etc/passwd"), InputError);
  EXPECT_THROW(results::contained_path(campaign, ""), InputError);
  // A symbolic link inside the folder that points outside is followed, and refused.
  std::filesystem::create_directory_symlink(dir.path(), campaign / "runs/out");
  EXPECT_THROW(results::contained_path(campaign, "runs/out/x"), InputError);
  EXPECT_FALSE(std::filesystem::exists(dir / "results/x"));
  EXPECT_FALSE(std::filesystem::exists(dir / "x"));
}

#include "iommuvm/util/text.hpp"

TEST(Text, Utf8IsCheckedAndEscapedBytewise) {
  using namespace iommuvm::text;
  EXPECT_EQ(first_invalid_utf8("plain"), std::string_view::npos);
  EXPECT_EQ(first_invalid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x99\x82"), std::string_view::npos);
  EXPECT_EQ(first_invalid_utf8("ab\xff"), 2u);
  EXPECT_EQ(first_invalid_utf8("a\xc3"), 1u) << "cut short";
  EXPECT_EQ(first_invalid_utf8("\xc0\xaf"), 0u) << "overlong";
  EXPECT_EQ(first_invalid_utf8("\xed\xa0\x80"), 0u) << "surrogate";
  EXPECT_EQ(first_invalid_utf8("\xf4\x90\x80\x80"), 0u) << "past U+10FFFF";
  EXPECT_EQ(escape_invalid_utf8("a\xff" "b\xc3\xa9"), "a\\xffb\xc3\xa9");
  EXPECT_EQ(line_column("ab\ncd\nef", 7), (std::pair<int, int>{3, 2}));
}

TEST(Text, BoundedCutsLongMessagesInTheMiddle) {
  using namespace iommuvm::text;
  EXPECT_EQ(bounded("short"), "short");
  std::string m = "value '" + std::string(100000, '9') + "' is not an integer";
  auto b = bounded(m);
  EXPECT_LT(b.size(), 900u);
  EXPECT_EQ(b.rfind("value '9", 0), 0u);
  EXPECT_NE(b.find("bytes cut ...]"), std::string::npos);
  EXPECT_EQ(b.substr(b.size() - 19), "' is not an integer");
  // Never inside a UTF-8 character.
  std::string e;
  for (int i = 0; i < 2000; ++i) e += "\xe2\x82\xac";
  EXPECT_EQ(first_invalid_utf8(bounded(e)), std::string_view::npos);
}

TEST(Text, SplitLines) {
  using namespace iommuvm::text;
  EXPECT_EQ(split_lines("a\nb\r\n\nc"), (std::vector<std::string_view>{"a", "b\r", "", "c"}));
  EXPECT_EQ(split_lines("a\n"), (std::vector<std::string_view>{"a"}));
  EXPECT_TRUE(split_lines("").empty());
}

TEST(Text, SplitLinesDropsCarriageReturnsWhenAsked) {
  using namespace iommuvm::text;
  using V = std::vector<std::string_view>;
  EXPECT_EQ(split_lines("a\r\nb\r\n", {.drop_cr = true}), (V{"a", "b"}));
  EXPECT_EQ(split_lines("a\r\r\nb\r", {.drop_cr = true}), (V{"a\r", "b"}));  // one '\r', the one before '\n'
  EXPECT_EQ(split_lines("\r\n", {.drop_cr = true}), (V{""}));
}

TEST(Text, SplitLinesKeepsTheLastEmptyLineWhenAsked) {
  using namespace iommuvm::text;
  using V = std::vector<std::string_view>;
  EXPECT_EQ(split_lines("a\nb\n", {.keep_last_empty = true}), (V{"a", "b", ""}));
  EXPECT_EQ(split_lines("a\nb", {.keep_last_empty = true}), (V{"a", "b"}));
  EXPECT_EQ(split_lines("", {.keep_last_empty = true}), (V{""}));
  EXPECT_EQ(split_lines("\n\n", {.keep_last_empty = true}), (V{"", "", ""}));
  // Joined with '\n', the lines give the text back (GRUB files are edited that way).
  for (std::string_view t : {"", "x", "x\n", "\nx\n\n", "a\r\nb"}) {
    std::string joined;
    auto lines = split_lines(t, {.keep_last_empty = true});
    for (std::size_t i = 0; i < lines.size(); ++i) joined += (i ? "\n" : "") + std::string(lines[i]);
    EXPECT_EQ(joined, t);
  }
}

TEST(Text, Trim) {
  using namespace iommuvm::text;
  EXPECT_EQ(trim("  a b \t\r\n\f\v"), "a b");
  EXPECT_EQ(trim(" \t\n "), "");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim("x"), "x");
  // Callers name what they strip: kernel text keeps a form feed, tool lines keep a newline.
  EXPECT_EQ(trim("\f a \n", " \t\r\n"), "\f a");
  EXPECT_EQ(trim("\n a \r", " \t\r"), "\n a");
  std::string_view s = "  keep  ";
  EXPECT_EQ(trim(s).data(), s.data() + 2);  // a view into the text, no copy
}

TEST(Text, DurationText) {
  using iommuvm::text::duration_text;
  EXPECT_EQ(duration_text(0), "0s");
  EXPECT_EQ(duration_text(59.4), "59s");
  EXPECT_EQ(duration_text(59.5), "1m00s");
  EXPECT_EQ(duration_text(185), "3m05s");
  EXPECT_EQ(duration_text(3599), "59m59s");
  EXPECT_EQ(duration_text(3600), "1h00m");
  EXPECT_EQ(duration_text(7650), "2h07m");
}

TEST(Fs, ReadFileRefusesWhatIsNotARegularFile) {
  iommuvm::test::TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  for (const std::string p : {(dir / "fifo").string(), std::string("/dev/zero"), dir.path().string()}) {
    try {
      iommuvm::fs::read_file(p);
      ADD_FAILURE() << p << " was read";
    } catch (const iommuvm::InputError& e) {
      EXPECT_NE(std::string(e.what()).find("is not a regular file"), std::string::npos) << e.what();
    }
  }
  {
    std::ofstream(dir / "f") << std::string(100, 'x');
  }
  EXPECT_THROW(iommuvm::fs::read_file(dir / "f", 99), iommuvm::InputError);
  EXPECT_EQ(iommuvm::fs::read_file(dir / "f", 100).size(), 100u);
  EXPECT_FALSE(iommuvm::fs::read_file("/proc/self/status").empty()) << "/proc files are read whole";
}
