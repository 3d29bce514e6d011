// The dry run is the same engine over simulated machines: on the loopback example (made
// short), the commands a dry run prints and the ones a real run sends are the same sequence.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include <fmt/format.h>

#include "iommuvm/util/shell.hpp"
#include "test_support.hpp"

using namespace iommuvm;
namespace stdfs = std::filesystem;

namespace {

// configs/examples/loopback.yaml with 1 repetition and short windows.
std::string loopback_spec(const stdfs::path& root) {
  std::ifstream in(std::string(IOMMUVM_SOURCE_DIR) + "/configs/examples/loopback.yaml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  text = std::regex_replace(text, std::regex("requests: 100000"), "requests: 2000");
  text = std::regex_replace(text, std::regex("duration: 5s"), "duration: 1s");
  text = std::regex_replace(text, std::regex("repetitions: 2"), "repetitions: 1");
  text = std::regex_replace(text, std::regex("cooldown: 1s"), "cooldown: 0s");
  // A root prefix (its /proc files and kernel log are this test's): the kernel log is read from
  // a file, the same way in both runs, whether or not this machine lets dmesg be read.
  text = std::regex_replace(text, std::regex("    sudo: false\n"), "    sudo: false\n    root: " + root.string() + "\n");
  return text;
}

void write(const stdfs::path& p, const std::string& text) {
  stdfs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// What a command is, without what differs between two runs (ports, folders, pids, sizes):
// the program, and for a shell the script it runs.
std::string shape(const std::string& text) {
  auto words = shell::split(text);
  std::size_t i = 0;
  if (words.size() >= 3 && words[0] == "cd" && words[2] == "&&") i = 3;
  if (i + 2 < words.size() && words[i] == "sudo" && words[i + 1] == "-n" && words[i + 2] == "--") i += 3;
  if (i < words.size() && words[i] == "env")
    for (++i; i < words.size() && words[i].find('=') != std::string::npos; ++i) {
    }
  if (i >= words.size()) return text;
  std::string program = stdfs::path(words[i]).filename().string();
  if ((program == "sh" || program == "bash") && i + 2 < words.size() && words[i + 1] == "-c") {
    // The process wrappers of a real machine: what they start is the command.
    if (i + 4 < words.size() && words[i + 3] == "iommuvm-start") return shape(words[i + 4]);
    return program + " -c " + words[i + 2];
  }
  return program;
}

// The shapes in order, a run of the same one counted once (a real run polls readiness).
std::vector<std::string> sequence(const std::vector<std::string>& texts) {
  std::vector<std::string> out;
  for (const auto& t : texts) {
    auto s = shape(t);
    if (out.empty() || out.back() != s) out.push_back(s);
  }
  return out;
}

}  // namespace

TEST(DryRun, PrintsTheCommandsARealRunSends) {
  for (const char* p : {"redis-server", "redis-benchmark", "redis-cli", "memcached", "memcaslap", "nginx", "wrk"})
    if (!test::have_program(p)) GTEST_SKIP() << p << " is not installed (scripts/setup.sh installs it)";
  test::TempDir dir;
  auto root = dir / "root";
  write(root / "proc/cmdline", "BOOT_IMAGE=/boot/vmlinuz-6.1.0 root=/dev/vda1 ro\n");
  write(root / "proc/sys/kernel/osrelease", "6.1.0\n");
  write(root / "proc/sys/kernel/random/boot_id", "8b1d3f4e-0000-4000-8000-000000000001\n");
  write(root / "proc/cpuinfo", "model name\t: test CPU\n");
  write(root / "var/log/dmesg", "Linux version 6.1.0\n");
  // A kernel log with one record: the audit's mark before each run and its read after it, in
  // both sequences.
  write(root / "dev/kmsg", "6,0,1000,-;Linux version 6.1.0\n");  // sequence 0, as the model assumes
  write(dir / "loopback.yaml", loopback_spec(root));

  auto dry = test::run_process({test::binary_path().string(), "run", "--dry-run", (dir / "loopback.yaml").string(), "-o",
                                (dir / "dry").string()});
  ASSERT_EQ(dry.exit_code, 0) << dry.out << dry.err;
  EXPECT_FALSE(stdfs::exists(dir / "dry")) << "a dry run wrote a results folder";
  auto real = test::run_process({test::binary_path().string(), "--log-file", (dir / "real.log").string(), "run",
                                 (dir / "loopback.yaml").string(), "-o", (dir / "real").string()});
  ASSERT_EQ(real.exit_code, 0) << real.out << real.err;

  // The dry run: "[local] $ COMMAND" (a started process: "... > LOG 2>&1 &   # pid <...>").
  std::vector<std::string> printed;
  std::istringstream in(dry.out);
  static const std::regex started(R"( > \S+ 2>&1 &   # pid <[^>]*>$)");
  static const std::regex annotations(R"((  # (timeout|stdout >) [^#]*)+$)");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("[local] $ ", 0) != 0) continue;
    line = std::regex_replace(line.substr(10), started, "");
    printed.push_back(std::regex_replace(line, annotations, ""));
  }
  // The real run: its debug log, "local: `COMMAND` -> STATUS ..." per command; process
  // checks and stops are how a real machine is asked, not commands of the engine's.
  std::ifstream log_in(dir / "real.log");
  std::string log((std::istreambuf_iterator<char>(log_in)), std::istreambuf_iterator<char>());
  std::vector<std::string> sent;
  static const std::regex command_re(R"(local: `([\s\S]*?)` -> -?\d+)");
  for (auto it = std::sregex_iterator(log.begin(), log.end(), command_re); it != std::sregex_iterator(); ++it) {
    std::string text = (*it)[1].str();
    if (text.find("iommuvm-check") != std::string::npos || text.find("iommuvm-stop") != std::string::npos) continue;
    sent.push_back(text);
  }
  auto a = sequence(printed), b = sequence(sent);
  ASSERT_GT(a.size(), 20u) << dry.out;
  std::string diff;
  for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i)
    if (i >= a.size() || i >= b.size() || a[i] != b[i]) {
      diff = fmt::format("first difference at command {}:\n  dry run: {}\n  real run: {}", i,
                         i < a.size() ? a[i] : "(none)", i < b.size() ? b[i] : "(none)");
      break;
    }
  EXPECT_EQ(a, b) << diff;
  // Both runs went through every workload.
  for (const char* program : {"redis-benchmark", "memcaslap", "wrk"})
    EXPECT_NE(std::find(a.begin(), a.end(), program), a.end()) << program;
}
