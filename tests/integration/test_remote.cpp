// Remote against the controller itself (local) and against a real sshd (SSH).
// The behavioural tests run for both; SSH-only ones (host keys, auth, jump
// host, reconnect) follow.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <thread>

#include "iommuvm/remote/local.hpp"
#include "iommuvm/remote/remote.hpp"
#include "iommuvm/remote/ssh.hpp"
#include "iommuvm/util/error.hpp"
#include "iommuvm/util/fs.hpp"
#include "iommuvm/util/hash.hpp"
#include "sshd_fixture.hpp"
#include "test_support.hpp"

using namespace iommuvm;
using namespace std::chrono_literals;
using remote::Command;
using remote::Remote;
using remote::RunOptions;

namespace {

Command cmd(std::vector<std::string> argv) { return Command{std::move(argv), false, "", {}}; }

// A process that exists and is not a zombie, checked on this machine (the sshd is local too).
bool alive(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("State:", 0) == 0) return line.find('Z') == std::string::npos && line.find('X') == std::string::npos;
  return false;
}

bool gone_within(long pid, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (alive(pid)) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

std::string expected_seq(int n) {
  std::string s;
  for (int i = 1; i <= n; ++i) s += std::to_string(i) + "\n";
  return s;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

struct LocalBackend {
  static std::string unavailable() { return ""; }
  std::unique_ptr<Remote> make(const std::filesystem::path& root) {
    remote::LocalOptions o;
    o.root = root;
    return remote::make_local(o);
  }
};

struct SshBackend {
  static std::string unavailable() { return test::Sshd::unavailable_reason(); }
  std::unique_ptr<test::Sshd> sshd = std::make_unique<test::Sshd>();
  std::unique_ptr<Remote> make(const std::filesystem::path& root) {
    auto o = sshd->options();
    o.root = root;
    return remote::make_ssh(o);
  }
};

template <typename B>
class remote_any : public ::testing::Test {
 protected:
  void SetUp() override {
    auto why = B::unavailable();
    if (!why.empty()) GTEST_SKIP() << why;
    backend = std::make_unique<B>();
    r = backend->make(tmp.path() / "root");
  }
  test::TempDir tmp;
  std::unique_ptr<B> backend;
  std::unique_ptr<Remote> r;
};

using Backends = ::testing::Types<LocalBackend, SshBackend>;
class BackendNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    return std::is_same_v<T, LocalBackend> ? "local" : "ssh";
  }
};
TYPED_TEST_SUITE(remote_any, Backends, BackendNames);

TYPED_TEST(remote_any, ExitStatusAndSeparateStderr) {
  auto res = this->r->run(cmd({"sh", "-c", "echo out; echo err >&2; exit 3"}));
  EXPECT_EQ(res.exit_status, 3);
  EXPECT_EQ(res.out, "out\n");
  EXPECT_EQ(res.err, "err\n");
  EXPECT_FALSE(res.ok());
  EXPECT_FALSE(res.timed_out);
  EXPECT_TRUE(this->r->run(cmd({"true"})).ok());
  EXPECT_EQ(this->r->run(cmd({"false"})).exit_status, 1);
  EXPECT_EQ(this->r->run(cmd({"/nonexistent/program"})).exit_status, 127);
  // Death by a signal reads as 128 + the signal number, as in a shell.
  EXPECT_EQ(this->r->run(cmd({"sh", "-c", "kill -TERM $$"})).exit_status, 128 + SIGTERM);
  EXPECT_EQ(this->r->run(cmd({"sh", "-c", "kill -KILL $$"})).exit_status, 128 + SIGKILL);
}

TYPED_TEST(remote_any, StdinCwdAndEnv) {
  auto dir = this->tmp.path() / "a folder";
  std::filesystem::create_directories(dir);
  Command c{{"sh", "-c", "pwd; printf '%s|' \"$X\"; cat"}, false, dir.string(), {{"X", "$(id) `x` 'q'"}}};
  RunOptions ro;
  ro.stdin_data = "from stdin";
  auto res = this->r->run(c, ro);
  ASSERT_EQ(res.exit_status, 0) << res.err;
  EXPECT_EQ(res.out, dir.string() + "\n$(id) `x` 'q'|from stdin");
}

TYPED_TEST(remote_any, TenMegabytesInMemoryAndStreamedToFile) {
  const int n = 1500000;  // about 10.8 MB
  std::string want = expected_seq(n);
  ASSERT_GT(want.size(), 10u * 1024 * 1024);
  auto res = this->r->run(cmd({"seq", "1", std::to_string(n)}));
  ASSERT_EQ(res.exit_status, 0) << res.err;
  EXPECT_EQ(res.out.size(), want.size());
  EXPECT_EQ(hash::sha256_hex(res.out), hash::sha256_hex(want));

  RunOptions ro;
  ro.stdout_file = this->tmp.path() / "out" / "seq.txt";
  auto streamed = this->r->run(cmd({"sh", "-c", "seq 1 \"$1\"; echo done >&2", "sh", std::to_string(n)}), ro);
  ASSERT_EQ(streamed.exit_status, 0) << streamed.err;
  EXPECT_TRUE(streamed.out.empty());
  EXPECT_EQ(streamed.err, "done\n");
  EXPECT_EQ(std::filesystem::file_size(ro.stdout_file), want.size());
  EXPECT_EQ(hash::sha256_hex(fs::read_file(ro.stdout_file)), hash::sha256_hex(want));
}

TYPED_TEST(remote_any, TimeoutKillsTheProcessAndItsChildren) {
  auto pids = this->tmp.path() / "pids";
  RunOptions ro;
  ro.timeout = 700ms;
  auto res = this->r->run(
      cmd({"sh", "-c", "echo started; sleep 30 & echo $$ $! > \"$1\"; wait", "sh", pids.string()}), ro);
  EXPECT_TRUE(res.timed_out);
  EXPECT_EQ(res.exit_status, -1);
  EXPECT_FALSE(res.ok());
  EXPECT_EQ(res.out, "started\n");
  EXPECT_TRUE(res.err.empty()) << res.err;  // the SSH wrapper's bookkeeping line is not shown
  EXPECT_GE(res.wall, 650ms);
  EXPECT_LT(res.wall, 5000ms);
  long shell = 0, sleeper = 0;
  std::ifstream(pids) >> shell >> sleeper;
  ASSERT_GT(shell, 0);
  ASSERT_GT(sleeper, 0);
  EXPECT_TRUE(gone_within(shell, 3000ms)) << "shell " << shell << " survived the timeout";
  EXPECT_TRUE(gone_within(sleeper, 3000ms)) << "child " << sleeper << " survived the timeout";
  // The remote side agrees.
  auto check = this->r->run(cmd({"kill", "-0", std::to_string(sleeper)}));
  EXPECT_TRUE(check.exit_status != 0 || !alive(sleeper));
}

TYPED_TEST(remote_any, BackgroundProcessStartAndStop) {
  auto log = (this->tmp.path() / "server.log").string();
  auto p = this->r->start(cmd({"sh", "-c", "echo hello from $0; exec sleep 30", "bg"}), log);
  ASSERT_GT(p.pid, 0);
  EXPECT_EQ(p.log_path, log);
  EXPECT_TRUE(this->r->is_running(p));
  EXPECT_TRUE(alive(p.pid));
  for (int i = 0; i < 100 && fs::read_file(log).empty(); ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(fs::read_file(log), "hello from bg\n");
  EXPECT_TRUE(this->r->stop(p, SIGTERM, 2000ms));
  EXPECT_FALSE(this->r->is_running(p));
  EXPECT_FALSE(alive(p.pid));
}

TYPED_TEST(remote_any, StopEscalatesToSigkillAndReachesChildren) {
  auto log = (this->tmp.path() / "stubborn.log").string();
  auto p = this->r->start(
      cmd({"sh", "-c", "trap '' TERM; sleep 30 & echo child $!; while :; do sleep 0.05; done"}), log);
  long child = 0;
  for (int i = 0; i < 100 && child == 0; ++i) {
    std::istringstream in(fs::read_file(log));
    std::string word;
    in >> word >> child;
    if (child == 0) std::this_thread::sleep_for(20ms);
  }
  ASSERT_GT(child, 0);
  EXPECT_TRUE(alive(child));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(this->r->stop(p, SIGTERM, 300ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 300ms);  // it waited the grace period first
  EXPECT_FALSE(alive(p.pid));
  EXPECT_FALSE(alive(child));
}

TYPED_TEST(remote_any, LeftoverProcessesAreStoppedWithTheRemote) {
  auto p = this->r->start(cmd({"sleep", "30"}), (this->tmp.path() / "left.log").string());
  ASSERT_TRUE(alive(p.pid));
  this->r.reset();
  EXPECT_TRUE(gone_within(p.pid, 3000ms));
}

TYPED_TEST(remote_any, FileCopyRoundTrip) {
  std::string data;
  for (long i = 0; i < 300000; ++i) data += static_cast<char>((i * 7919 + i / 13) & 0xff);  // long: i * 7919 passes INT_MAX
  auto src = this->tmp.path() / "src.bin";
  fs::atomic_write(src, data);
  auto remote_path = (this->tmp.path() / "remote-side" / "copy.bin").string();
  std::filesystem::create_directories(this->tmp.path() / "remote-side");
  this->r->upload(src, remote_path);
  auto sum = this->r->run(cmd({"sha256sum", remote_path}));
  ASSERT_EQ(sum.exit_status, 0) << sum.err;
  EXPECT_EQ(sum.out.substr(0, 64), hash::sha256_hex(data));
  auto back = this->tmp.path() / "back" / "copy.bin";
  this->r->download(remote_path, back);
  EXPECT_EQ(hash::sha256_hex(fs::read_file(back)), hash::sha256_hex(data));
  EXPECT_NE(error_of([&] { this->r->download("/nonexistent/file", this->tmp.path() / "x"); }), "");
}

TYPED_TEST(remote_any, HostileArgumentsArriveByteForByte) {
  std::vector<std::string> hostile = {"it's",        "\"dq\"",   "$(touch /tmp/iommuvm-pwned)", "`id`",
                                      "line1\nline2", "; echo x", "&& false",                   "$HOME",
                                      "*",            "",          "  spaces  ",                 "\\back\\",
                                      "'",            "tab\there", "a=b",                        "-n",
                                      "!",            "|",         "ünï"};
  std::vector<std::string> argv = {"printf", "%s\\0"};
  argv.insert(argv.end(), hostile.begin(), hostile.end());
  auto res = this->r->run(cmd(argv));
  ASSERT_EQ(res.exit_status, 0) << res.err;
  std::vector<std::string> got;
  std::size_t start = 0;
  for (std::size_t i = 0; i < res.out.size(); ++i)
    if (res.out[i] == '\0') got.push_back(res.out.substr(start, i - start)), start = i + 1;
  EXPECT_EQ(got, hostile);
  EXPECT_FALSE(std::filesystem::exists("/tmp/iommuvm-pwned"));
}

TYPED_TEST(remote_any, FilesAndBootIdUnderTheRootPrefix) {
  auto root = this->tmp.path() / "root";
  EXPECT_EQ(this->r->root(), root);
  fs::atomic_write(root / "proc/sys/kernel/random/boot_id", "1111-aaaa\n");
  fs::atomic_write(root / "proc/cmdline", "BOOT_IMAGE=/vmlinuz intel_iommu=on\n");
  EXPECT_EQ(this->r->boot_id(), "1111-aaaa");
  EXPECT_EQ(this->r->read_file("/proc/cmdline"), "BOOT_IMAGE=/vmlinuz intel_iommu=on\n");
  auto err = error_of([&] { this->r->read_file("/etc/missing"); });
  EXPECT_NE(err.find((root / "etc/missing").string()), std::string::npos) << err;
  // Unchanged boot id: waiting for a reboot times out.
  auto t0 = std::chrono::steady_clock::now();
  err = error_of([&] { this->r->wait_for_reboot("1111-aaaa", 800ms); });
  EXPECT_NE(err.find("did not come back"), std::string::npos) << err;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
}

// ---- SSH only ----

class remote_ssh : public ::testing::Test {
 protected:
  void SetUp() override {
    auto why = test::Sshd::unavailable_reason();
    if (!why.empty()) GTEST_SKIP() << why;
    sshd = std::make_unique<test::Sshd>();
  }
  test::TempDir tmp;
  std::unique_ptr<test::Sshd> sshd;
};

TEST_F(remote_ssh, WrongKeyIsRefused) {
  auto other = tmp / "other_key";
  ASSERT_EQ(test::run_process({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other.string()}).exit_code, 0);
  auto o = sshd->options("client");
  o.identity_files = {other};
  auto err = error_of([&] { remote::make_ssh(o); });
  EXPECT_NE(err.find("cannot log in to client"), std::string::npos) << err;
  EXPECT_NE(err.find(other.string()), std::string::npos) << err;
}

TEST_F(remote_ssh, RsaAndEcdsaKeyFiles) {
  for (std::string type : {"rsa", "ecdsa"}) {
    auto key = tmp / ("id_" + type);
    ASSERT_EQ(test::run_process({"ssh-keygen", "-q", "-t", type, "-N", "", "-f", key.string()}).exit_code, 0);
    auto o = sshd->options(type);
    o.identity_files = {key};
    EXPECT_NE(error_of([&] { remote::make_ssh(o); }), "") << type << " key accepted before it was authorised";
    sshd->authorize(key.string() + ".pub");
    std::string out;
    EXPECT_NO_THROW(out = remote::make_ssh(o)->run(cmd({"echo", type})).out) << type;
    EXPECT_EQ(out, type + "\n");
  }
}

TEST_F(remote_ssh, UnknownHostKeyIsRefusedUnlessAcceptNew) {
  auto o = sshd->options("host");
  o.known_hosts = tmp / "ssh" / "known_hosts";  // does not exist yet
  auto err = error_of([&] { remote::make_ssh(o); });
  EXPECT_NE(err.find("host key of host"), std::string::npos) << err;
  EXPECT_NE(err.find("unknown"), std::string::npos) << err;
  EXPECT_NE(err.find(o.known_hosts.string()), std::string::npos) << err;

  fs::atomic_write(o.known_hosts, "");  // exists but empty: still unknown
  EXPECT_NE(error_of([&] { remote::make_ssh(o); }).find("unknown"), std::string::npos);

  o.host_key_policy = remote::HostKeyPolicy::accept_new;
  EXPECT_TRUE(remote::make_ssh(o)->run(cmd({"true"})).ok());
  auto recorded = fs::read_file(o.known_hosts);
  EXPECT_NE(recorded.find("ssh-ed25519"), std::string::npos) << recorded;
  o.host_key_policy = remote::HostKeyPolicy::strict;  // now known
  EXPECT_TRUE(remote::make_ssh(o)->run(cmd({"true"})).ok());
}

TEST_F(remote_ssh, ChangedHostKeyIsRefusedWithAMessage) {
  auto o = sshd->options("host");
  ASSERT_TRUE(remote::make_ssh(o)->run(cmd({"true"})).ok());
  sshd->regenerate_host_key();
  sshd->restart();
  for (auto policy : {remote::HostKeyPolicy::strict, remote::HostKeyPolicy::accept_new}) {
    o.host_key_policy = policy;
    auto err = error_of([&] { remote::make_ssh(o); });
    EXPECT_NE(err.find("CHANGED"), std::string::npos) << err;
    EXPECT_NE(err.find("host"), std::string::npos) << err;
    EXPECT_NE(err.find(o.known_hosts.string()), std::string::npos) << err;
  }
  o.host_key_policy = remote::HostKeyPolicy::off;  // explicitly asked
  EXPECT_TRUE(remote::make_ssh(o)->run(cmd({"true"})).ok());
}

TEST_F(remote_ssh, ConnectionRefusedIsAClearError) {
  auto o = sshd->options("client");
  sshd->stop();
  auto err = error_of([&] { remote::make_ssh(o); });
  EXPECT_NE(err.find("cannot connect to client"), std::string::npos) << err;
  EXPECT_NE(err.find(std::to_string(o.port)), std::string::npos) << err;
  EXPECT_NE(err.find("refused"), std::string::npos) << err;
}

TEST_F(remote_ssh, ReconnectsAfterARestartAndSeesTheNewBootId) {
  auto root = tmp / "root";
  auto boot_id = root / "proc/sys/kernel/random/boot_id";
  fs::atomic_write(boot_id, "boot-one\n");
  auto o = sshd->options("host");
  o.root = root;
  auto r = remote::make_ssh(o);
  EXPECT_EQ(r->boot_id(), "boot-one");

  // Simple drop: the next command reconnects transparently.
  sshd->restart();
  auto res = r->run(cmd({"echo", "again"}));
  EXPECT_EQ(res.out, "again\n");

  // A "reboot": sshd down for a while, a new boot id when it is back.
  sshd->stop();
  std::thread reboot([&] {
    std::this_thread::sleep_for(700ms);
    fs::atomic_write(boot_id, "boot-two\n");
    sshd->start();
  });
  std::string got;
  EXPECT_NO_THROW(got = r->wait_for_reboot("boot-one", 10s));
  reboot.join();
  EXPECT_EQ(got, "boot-two");
  EXPECT_TRUE(r->run(cmd({"true"})).ok());
}

TEST_F(remote_ssh, JumpHost) {
  auto o = sshd->options("target");
  o.jump = std::make_shared<remote::SshOptions>(sshd->options("jump"));
  auto r = remote::make_ssh(o);
  auto res = r->run(cmd({"sh", "-c", "echo through; echo e >&2; exit 4"}));
  EXPECT_EQ(res.exit_status, 4);
  EXPECT_EQ(res.out, "through\n");
  EXPECT_EQ(res.err, "e\n");
  auto big = r->run(cmd({"seq", "1", "200000"}));
  EXPECT_EQ(hash::sha256_hex(big.out), hash::sha256_hex(expected_seq(200000)));
  auto src = tmp / "f.txt";
  fs::atomic_write(src, "over the jump\n");
  r->upload(src, (tmp / "g.txt").string());
  EXPECT_EQ(fs::read_file(tmp / "g.txt"), "over the jump\n");
  // A wrong jump host fails with its own name.
  o.jump->identity_files = {tmp / "missing-key"};
  auto err = error_of([&] { remote::make_ssh(o); });
  EXPECT_NE(err.find("jump"), std::string::npos) << err;
}

TEST_F(remote_ssh, SshConfigAlias) {
  auto cfg = tmp / "ssh_config";
  fs::atomic_write(cfg, "Host testbox\n  HostName 127.0.0.1\n  Port " + std::to_string(sshd->port()) +
                            "\n  User " + sshd->user() + "\n  IdentityFile " + sshd->client_key().string() + "\n");
  remote::SshOptions o;
  o.name = "alias";
  o.host = "testbox";
  o.ssh_config = cfg;
  o.use_agent = false;
  o.known_hosts = sshd->known_hosts();
  o.connect_timeout = 5s;
  auto res = remote::make_ssh(o)->run(cmd({"echo", "via alias"}));
  EXPECT_EQ(res.out, "via alias\n");
  o.ssh_config.clear();
  o.read_default_config = false;  // without the config the alias does not resolve
  EXPECT_NE(error_of([&] { remote::make_ssh(o); }), "");
}

TEST_F(remote_ssh, PassphraseKeyThroughTheAgent) {
  if (!test::have_program("ssh-agent") || !test::have_program("ssh-add")) GTEST_SKIP() << "no ssh-agent/ssh-add";
  auto key = tmp / "locked";
  ASSERT_EQ(test::run_process({"ssh-keygen", "-q", "-t", "ecdsa", "-N", "correct horse", "-f", key.string()}).exit_code, 0);
  sshd->authorize(key.string() + ".pub");
  auto o = sshd->options("agent");
  o.identity_files = {key};  // without the agent the locked key is unusable
  auto err = error_of([&] { remote::make_ssh(o); });
  EXPECT_NE(err.find("passphrase"), std::string::npos) << err;

  auto sock = tmp / "agent.sock";
  auto agent = test::run_process({"ssh-agent", "-s", "-a", sock.string()});
  ASSERT_EQ(agent.exit_code, 0) << agent.err;
  auto at = agent.out.find("SSH_AGENT_PID=");
  ASSERT_NE(at, std::string::npos);
  long agent_pid = std::atol(agent.out.c_str() + at + 14);
  std::shared_ptr<void> kill_agent(nullptr, [agent_pid](void*) { ::kill(static_cast<pid_t>(agent_pid), SIGTERM); });
  auto askpass = tmp / "askpass.sh";
  fs::atomic_write(askpass, "#!/bin/sh\necho 'correct horse'\n");
  std::filesystem::permissions(askpass, std::filesystem::perms::owner_all);
  auto add = test::run_process({"env", "SSH_AUTH_SOCK=" + sock.string(), "SSH_ASKPASS=" + askpass.string(),
                                "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0", "ssh-add", key.string()});
  EXPECT_EQ(add.exit_code, 0) << add.err;
  const char* old = std::getenv("SSH_AUTH_SOCK");
  std::string saved = old ? old : "";
  ::setenv("SSH_AUTH_SOCK", sock.c_str(), 1);
  o.identity_files.clear();
  o.use_agent = true;
  std::string out;
  EXPECT_NO_THROW(out = remote::make_ssh(o)->run(cmd({"echo", "agent"})).out);
  EXPECT_EQ(out, "agent\n");
  if (old) ::setenv("SSH_AUTH_SOCK", saved.c_str(), 1); else ::unsetenv("SSH_AUTH_SOCK");
}

TEST_F(remote_ssh, KeepAliveCanBePausedAndTheSessionSurvives) {
  auto o = sshd->options("host");
  o.keepalive_interval = 1s;
  auto r = remote::make_ssh(o);
  std::this_thread::sleep_for(1200ms);  // at least one keep-alive
  r->set_keepalive(false);
  EXPECT_EQ(r->run(cmd({"echo", "a"})).out, "a\n");
  r->set_keepalive(true);
  EXPECT_EQ(r->run(cmd({"echo", "b"})).out, "b\n");
}

// run() turns sudo's password prompt into the clear error. sudo itself is a
// stand-in here (a script on PATH printing what sudo -n prints), since the
// tests run as root; the real message is checked below when sudo exists.
TEST(remote_sudo, PasswordPromptBecomesAClearError) {
  test::TempDir dir;
  fs::atomic_write(dir / "bin/sudo", "#!/bin/sh\necho 'sudo: a password is required' >&2\nexit 1\n");
  std::filesystem::permissions(dir / "bin/sudo", std::filesystem::perms::owner_all);
  std::string saved = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";
  ::setenv("PATH", ((dir / "bin").string() + ":" + saved).c_str(), 1);
  remote::LocalOptions o;
  o.name = "guest";
  o.sudo = remote::SudoMode::always;
  auto r = remote::make_local(o);
  auto err = error_of([&] { r->run(Command{{"modprobe", "kvm"}, true, "", {}}); });
  EXPECT_NE(err.find("sudo on guest needs a password"), std::string::npos) << err;
  EXPECT_NE(err.find("NOPASSWD"), std::string::npos) << err;
  // Without sudo in the command nothing is prefixed, and a plain failure stays a result.
  EXPECT_EQ(r->run(cmd({"sh", "-c", "echo 'sudo: a password is required' >&2; exit 1"})).exit_status, 1);
  o.sudo = remote::SudoMode::never;
  EXPECT_EQ(remote::make_local(o)->run(Command{{"true"}, true, "", {}}).exit_status, 0);
  ::setenv("PATH", saved.c_str(), 1);
}

// The message sudo -n prints for a user without password-less sudo, recognised.
TEST(remote_sudo, RealSudoOutputIsRecognised) {
  if (!test::have_program("sudo")) GTEST_SKIP() << "sudo is not installed";
  if (!test::have_program("setpriv")) GTEST_SKIP() << "setpriv is not installed";
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch to user nobody";
  auto res = test::run_process({"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "sudo", "-n", "true"});
  EXPECT_NE(res.exit_code, 0);
  EXPECT_TRUE(remote::sudo_needs_password(res.err)) << res.err;
}

}  // namespace
