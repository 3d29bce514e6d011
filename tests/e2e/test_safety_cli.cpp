// What iommuvm writes, and where, through the real binary: the campaign lock against a
// second run or restore (a real second process, and a stale lock of a killed one), and the
// files a whole local campaign leaves (only the campaign folder and private mktemp -d
// work folders; nothing with a guessable name in a shared folder).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "campaign_fixture.hpp"
#include "iommuvm/util/fs.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using nlohmann::json;
namespace stdfs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

void write(const stdfs::path& p, const std::string& s) {
  stdfs::create_directories(p.parent_path());
  std::ofstream(p) << s;
}

// `iommuvm run SPEC` in the background, its output to LOG.
pid_t start_run(const stdfs::path& spec, const stdfs::path& log) {
  pid_t pid = ::fork();
  if (pid == 0) {
    FILE* f = std::fopen(log.c_str(), "w");
    if (f) {
      ::dup2(fileno(f), 1);
      ::dup2(fileno(f), 2);
    }
    ::execl(test::binary_path().c_str(), "iommuvm", "run", "--plain", spec.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

// The one campaign folder under RESULTS/NAME once its lock names a running `run`.
stdfs::path wait_for_lock(const stdfs::path& results, const std::string& name, std::chrono::seconds limit) {
  auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (stdfs::exists(results / name))
      for (const auto& e : stdfs::directory_iterator(results / name))
        if (stdfs::exists(e.path() / "campaign.lock") &&
            fs::read_file(e.path() / "campaign.lock").rfind("run pid ", 0) == 0)
          return e.path();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return {};
}

// Every file and folder under ROOT (paths relative to it).
std::set<std::string> tree(const stdfs::path& root) {
  std::set<std::string> out;
  for (auto it = stdfs::recursive_directory_iterator(root, stdfs::directory_options::none);
       it != stdfs::recursive_directory_iterator(); ++it)
    out.insert(stdfs::relative(it->path(), root).string());
  return out;
}

}  // namespace

// A second `iommuvm run` (and an `iommuvm restore`) on a running campaign exits at once
// with code 4 and says who holds it; after the first is killed (SIGKILL: no clean-up, the
// lock file stays), the next run takes the lock over and finishes the campaign.
TEST(CampaignLock, SecondRunAndRestoreAreRefusedAStaleLockIsTakenOver) {
  test::TempDir dir;
  auto spec = dir / "lock.yaml";
  write(spec, "name: lock\noutput: " + (dir / "results").string() +
                  "\nmachines:\n  local: {local: true, sudo: false}\n"
                  "workloads:\n"
                  "  slow:\n    kind: custom\n    server: {command: [sleep, '20'], ready: none}\n"
                  "    client: {command: [sh, -c, 'sleep 4; echo ops=5'], metrics: {throughput_ops: 'ops=([0-9]+)'}}\n"
                  "matrix: {repetitions: 2}\n");
  pid_t first = start_run(spec, dir / "first.log");
  auto campaign = wait_for_lock(dir / "results", "lock", std::chrono::seconds(60));
  ASSERT_FALSE(campaign.empty()) << fs::read_file(dir / "first.log");

  auto t0 = Clock::now();
  auto second = test::run_process({test::binary_path().string(), "run", "--plain", spec.string()});
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_EQ(second.exit_code, 4) << second.out << second.err;
  EXPECT_LT(secs, 3) << "at once, not after the first run";
  EXPECT_NE(second.err.find("is in use by another iommuvm (run pid " + std::to_string(first) + ")"), std::string::npos)
      << second.err;
  auto restore = test::run_process({test::binary_path().string(), "restore", campaign.string()});
  EXPECT_EQ(restore.exit_code, 4) << restore.out << restore.err;
  EXPECT_NE(restore.err.find("not starting restore on it"), std::string::npos) << restore.err;
  EXPECT_EQ(test::runs_of(campaign).size(), 0u) << "the second run measured nothing";

  ::kill(first, SIGKILL);
  int status = 0;
  ::waitpid(first, &status, 0);
  ASSERT_TRUE(stdfs::exists(campaign / "campaign.lock")) << "the killed run's lock file stays";
  auto third = test::run_process({test::binary_path().string(), "run", "--plain", spec.string()});
  EXPECT_EQ(third.exit_code, 0) << third.out << third.err;
  EXPECT_EQ(third.err.find("in use"), std::string::npos) << third.err;
  EXPECT_EQ(test::only_campaign(dir / "results", "lock"), campaign) << "the same campaign was resumed";
  auto runs = test::runs_of(campaign);
  ASSERT_EQ(runs.size(), 2u);
  for (const auto& r : runs) EXPECT_EQ(r["status"], "ok") << r.dump(1);
}

// A whole campaign on this machine (run as whoever runs the tests; root in CI) with real
// servers, generators, uploaded config files and collectors: every new file is in the
// campaign folder or in a private work folder that mktemp -d made in $TMPDIR (0700, a
// random suffix); $HOME and the working folder stay empty; nothing lands in the old fixed
// places (/tmp/iommuvm/<work id>).
TEST(FilesWritten, OnlyTheCampaignFolderAndPrivateWorkFolders) {
  for (const char* p : {"nginx", "wrk", "redis-server", "redis-benchmark"})
    if (!test::have_program(p)) GTEST_SKIP() << p << " is not installed (scripts/setup.sh installs it)";
  test::TempDir dir;
  for (const char* d : {"home", "tmp", "cwd", "results"}) stdfs::create_directories(dir / d);
  auto spec = dir / "files.yaml";
  write(spec, "name: files\noutput: " + (dir / "results").string() +
                  "\nmachines:\n  local: {local: true, sudo: false}\n"
                  "workloads:\n"
                  "  nginx:\n    server: {bind: 127.0.0.1, threads: 1, file_size: 1KiB}\n"
                  "    client: {tool: wrk, duration: 1s, warmup: 1s, threads: 1, connections: 4}\n"
                  "  redis:\n    server: {bind: 127.0.0.1, threads: 1}\n"
                  "    client: {tool: redis-benchmark, requests: 2000, connections: 4, tests: [get]}\n"
                  "collectors:\n"
                  "  irqs: {kind: interrupts}\n"
                  "  probe: {kind: custom, command: [sh, -c, 'echo n=3; sleep 30'], metrics: {n: 'n=([0-9]+)'}}\n");
  std::string spec_before = fs::read_file(spec);
  auto r = test::run_process({"env", "HOME=" + (dir / "home").string(), "TMPDIR=" + (dir / "tmp").string(), "sh", "-c",
                              "cd \"$1\" && exec \"$2\" run --plain \"$3\"", "sh", (dir / "cwd").string(),
                              test::binary_path().string(), spec.string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto campaign = test::only_campaign(dir / "results", "files");
  std::string work_prefix = test::read_json(campaign / "campaign.json")["work_dir"];
  ASSERT_EQ(work_prefix.rfind("iommuvm-files-", 0), 0u) << work_prefix;

  EXPECT_TRUE(tree(dir / "home").empty()) << *tree(dir / "home").begin();
  EXPECT_TRUE(tree(dir / "cwd").empty()) << *tree(dir / "cwd").begin();
  EXPECT_EQ(fs::read_file(spec), spec_before);
  std::set<std::string> top;
  for (const auto& e : stdfs::directory_iterator(dir.path())) top.insert(e.path().filename().string());
  EXPECT_EQ(top, (std::set<std::string>{"home", "tmp", "cwd", "results", "files.yaml"}));
  auto results = tree(dir / "results");
  std::string inside = stdfs::relative(campaign, dir / "results").string();
  for (const auto& f : results)
    EXPECT_TRUE(f == "files" || f == inside || f.rfind(inside + "/", 0) == 0) << "outside the campaign folder: " << f;
  // The collectors' and generators' raw files are in the campaign folder.
  int raw = 0;
  for (const auto& f : results) raw += f.find("/raw/") != std::string::npos;
  EXPECT_GT(raw, 4);

  // The work folders are removed at the campaign's end (cleanup: restore, the default).
  EXPECT_TRUE(tree(dir / "tmp").empty()) << "left in $TMPDIR: " << *tree(dir / "tmp").begin();

  // With cleanup: keep they stay: $TMPDIR holds only the private work folders, one per
  // invocation and machine.
  std::string keep_text = spec_before;
  keep_text.replace(0, std::string("name: files").size(), "name: files-kept");
  write(spec, keep_text + "cleanup: keep\n");
  auto kept = test::run_process({"env", "HOME=" + (dir / "home").string(), "TMPDIR=" + (dir / "tmp").string(), "sh", "-c",
                                 "cd \"$1\" && exec \"$2\" run --plain \"$3\"", "sh", (dir / "cwd").string(),
                                 test::binary_path().string(), spec.string()});
  ASSERT_EQ(kept.exit_code, 0) << kept.out << kept.err;
  std::string kept_prefix =
      test::read_json(test::only_campaign(dir / "results", "files-kept") / "campaign.json")["work_dir"];
  std::regex private_name("^" + std::regex_replace(kept_prefix, std::regex("[.]"), "\\.") + "\\.[A-Za-z0-9]{8}$");
  int folders = 0;
  for (const auto& e : stdfs::directory_iterator(dir / "tmp")) {
    std::string name = e.path().filename().string();
    EXPECT_TRUE(std::regex_match(name, private_name)) << "a guessable or foreign name in $TMPDIR: " << name;
    struct stat st {};
    ASSERT_EQ(::lstat(e.path().c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode)) << name;
    EXPECT_EQ(st.st_mode & 07777, 0700u) << name;
    EXPECT_EQ(st.st_uid, ::geteuid()) << name;
    ++folders;
  }
  EXPECT_EQ(folders, 1);
  // The old fixed places are not used.
  std::string work_id = work_prefix.substr(std::string("iommuvm-").size());
  EXPECT_FALSE(stdfs::exists("/tmp/iommuvm/" + work_id));
  for (const auto& e : stdfs::directory_iterator("/tmp"))
    EXPECT_EQ(e.path().filename().string().find(work_id), std::string::npos) << e.path();
}

// tuning.irq_affinity pins the IRQs of eth1 by exact name (eth1, eth1-TxRx-*, i40e-eth1-*,
// a shared line naming eth1), not those of eth10, eth11 or eth12; each old affinity is
// journaled, and `iommuvm restore` puts them back (cleanup: keep leaves them for the check).
TEST(Tuning, IrqAffinityMatchesTheInterfaceExactlyAndIsUndone) {
  test::TempDir dir;
  auto root = dir / "root";
  write(root / "proc/interrupts", fs::read_file(test::data_path("collect/interrupts_nic_queues.txt")));
  const std::vector<std::string> all = {"0", "120", "121", "122", "123", "124", "125", "126", "127", "140", "141", "142", "150"};
  for (const auto& irq : all) write(root / "proc/irq" / irq / "smp_affinity_list", "0-3\n");
  auto spec = dir / "irq.yaml";
  write(spec, "name: irq\noutput: " + (dir / "results").string() + "\ncleanup: keep\n" +
                  "machines:\n  local: {local: true, sudo: false, root: " + root.string() +
                  ", tuning: {interface: eth1, irq_affinity: '2'}}\n"
                  "workloads:\n"
                  "  w:\n    kind: custom\n    server: {command: [sleep, '30'], ready: none}\n"
                  "    client: {command: [sh, -c, 'echo ops=1'], metrics: {throughput_ops: 'ops=([0-9]+)'}}\n");
  auto r = test::run_process({test::binary_path().string(), "run", "--plain", spec.string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::set<std::string> eth1 = {"120", "121", "122", "125", "127"};
  for (const auto& irq : all) {
    std::string now = fs::read_file(root / "proc/irq" / irq / "smp_affinity_list");
    EXPECT_EQ(now, eth1.count(irq) ? "2" : "0-3\n") << "IRQ " << irq;
  }
  auto campaign = test::only_campaign(dir / "results", "irq");
  std::set<std::string> journaled;
  std::ifstream undo(campaign / "undo.jsonl");
  for (std::string line; std::getline(undo, line);) {
    auto j = json::parse(line);
    if (j.value("action", "") != "irq_affinity") continue;
    EXPECT_EQ(j["value"], "0-3");
    journaled.insert(j["path"].get<std::string>());
  }
  std::set<std::string> expected;
  for (const auto& irq : eth1) expected.insert("/proc/irq/" + irq + "/smp_affinity_list");
  EXPECT_EQ(journaled, expected);
  auto runs = test::runs_of(campaign);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["tuning"]["local"]["irqs"], json(std::vector<std::string>(eth1.begin(), eth1.end())));

  auto restore = test::run_process({test::binary_path().string(), "restore", campaign.string()});
  EXPECT_EQ(restore.exit_code, 0) << restore.out << restore.err;
  for (const auto& irq : all)
    EXPECT_EQ(fs::read_file(root / "proc/irq" / irq / "smp_affinity_list"), eth1.count(irq) ? "0-3" : "0-3\n") << irq;
}
