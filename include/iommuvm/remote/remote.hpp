// Running commands and moving files on a machine. Two implementations: SSH
// (libssh) and local (fork/exec); the engine's dry run uses a recording one.
// Every command is an argument vector; render() is the only place it becomes
// shell text, so what --dry-run prints is exactly what is sent.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace iommuvm::remote {

struct Command {
  std::vector<std::string> argv;
  bool sudo = false;  // run as root; through `sudo -n` when the login user is not root
  std::string cwd;    // empty: the login folder
  std::vector<std::pair<std::string, std::string>> env;
};

// The shell text a machine receives for CMD. as_root_via_sudo: prefix `sudo -n --`.
std::string render(const Command& cmd, bool as_root_via_sudo);

struct RunOptions {
  std::chrono::milliseconds timeout{0};  // 0: no timeout. On expiry the remote process is killed.
  std::filesystem::path stdout_file;     // non-empty: stream stdout to this local file, not memory
  std::filesystem::path stderr_file;
  std::string stdin_data;
};

struct RunResult {
  int exit_status = -1;  // -1 when killed (timeout) or the connection died; 128+N after signal N
  std::string out;
  std::string err;
  std::chrono::milliseconds wall{0};
  bool timed_out = false;
  bool ok() const { return exit_status == 0 && !timed_out; }
};

// A process started in the background on a machine. It leads its own process
// group (setsid), so stop() reaches everything it started.
struct Process {
  long pid = 0;
  std::string log_path;  // its stdout+stderr, on the machine
  bool as_root = false;  // started through sudo: signals go through sudo too
};

// How Command::sudo is honoured: automatic = through `sudo -n` unless the login
// user is root; always = always prefix `sudo -n`; never = run as the login user.
enum class SudoMode { automatic, always, never };

// True when STDERR is what `sudo -n` prints when it would have to ask for a password.
bool sudo_needs_password(std::string_view stderr_text);

// The error for that case, naming the machine and the login user.
std::string sudo_password_message(const std::string& machine, const std::string& user);

class Remote {
 public:
  virtual ~Remote() = default;

  // The machine's name in the spec ("host", "guest", "client", ...).
  virtual const std::string& name() const = 0;

  virtual RunResult run(const Command& cmd, const RunOptions& opts = {}) = 0;

  // Start CMD detached, stdout and stderr to LOG_PATH on the machine; returns its PID.
  virtual Process start(const Command& cmd, const std::string& log_path) = 0;
  virtual bool is_running(const Process& p) = 0;
  // Send SIGNAL to its process group, wait up to GRACE, then SIGKILL. True when the
  // process is gone. Processes still running when the Remote is destroyed are stopped.
  virtual bool stop(const Process& p, int signal, std::chrono::milliseconds grace) = 0;

  virtual void upload(const std::filesystem::path& local, const std::string& remote_path) = 0;
  virtual void download(const std::string& remote_path, const std::filesystem::path& local) = 0;

  // CONTENT as the file REMOTE_PATH on the machine: a local copy in SCRATCH (made when
  // missing), uploaded. A simulated machine takes the content as it is.
  virtual void put_text(const std::string& content, const std::string& remote_path, const std::filesystem::path& scratch);

  // Root prefix under which /proc, /sys and /etc are read and edited ("/" on a real machine).
  virtual const std::filesystem::path& root() const = 0;

  // Keep-alives are paused during measurement windows.
  virtual void set_keepalive(bool enabled) = 0;

  // Contents of the machine file ABS_PATH (/proc/cmdline) read under root(). Throws Error.
  virtual std::string read_file(const std::string& abs_path);

  // /proc/sys/kernel/random/boot_id under root(), without the newline.
  std::string boot_id();

  // Poll (with back-off) until the machine answers with a boot id other than
  // PREVIOUS_BOOT_ID; returns the new one. Throws Error after TIMEOUT.
  virtual std::string wait_for_reboot(const std::string& previous_boot_id, std::chrono::milliseconds timeout);

  // Poll (with back-off) until the machine answers with a boot id (a guest booting); returns
  // it. Throws Error after TIMEOUT, or as soon as GIVE_UP() says so (an interrupt).
  virtual std::string wait_until_up(std::chrono::milliseconds timeout, const std::function<bool()>& give_up);

  // The first of COUNT consecutive TCP ports free on this machine right now, for a server
  // that has none in the spec; 0: the machine does not say (the servers' default ports).
  virtual int free_ports(int count);
};


}  // namespace iommuvm::remote
