// The controller machine: fork/exec /bin/sh -c TEXT in a new session, so a
// timeout kills the whole process group.
#include "iommuvm/remote/local.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "iommuvm/util/error.hpp"
#include "iommuvm/util/net.hpp"
#include "shell_processes.hpp"
#include "sink.hpp"

namespace iommuvm::remote {

namespace {

using clock = std::chrono::steady_clock;

class LocalRemote final : public ShellProcessRemote {
 public:
  explicit LocalRemote(LocalOptions o) : opts_(std::move(o)) {}
  ~LocalRemote() override { stop_started(); }

  const std::string& name() const override { return opts_.name; }
  const std::filesystem::path& root() const override { return opts_.root; }
  void set_keepalive(bool) override {}
  // The controller itself: a server there gets ports that are free now (it may run a Redis
  // or nginx of its own on the default port).
  int free_ports(int count) override { return net::free_tcp_ports(count); }

  RunResult run(const Command& cmd, const RunOptions& ro) override {
    bool via_sudo = opts_.sudo == SudoMode::always || (opts_.sudo == SudoMode::automatic && ::geteuid() != 0);
    if (opts_.sudo == SudoMode::never) via_sudo = false;
    std::string text = render(cmd, via_sudo);
    RunResult r;
    detail::Sink out(r.out, ro.stdout_file), err(r.err, ro.stderr_file);
    auto start = clock::now();

    int in[2], po[2], pe[2];
    if (::pipe2(in, O_CLOEXEC) || ::pipe2(po, O_CLOEXEC) || ::pipe2(pe, O_CLOEXEC))
      throw Error(fmt::format("pipe: {}", std::strerror(errno)));
    pid_t pid = ::fork();
    if (pid < 0) throw Error(fmt::format("fork: {}", std::strerror(errno)));
    if (pid == 0) {
      ::setsid();
      ::dup2(in[0], 0);
      ::dup2(po[1], 1);
      ::dup2(pe[1], 2);
      ::signal(SIGPIPE, SIG_DFL);
      ::execl("/bin/sh", "sh", "-c", text.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(po[1]);
    ::close(pe[1]);
    ::fcntl(in[1], F_SETFL, O_NONBLOCK);

    std::string_view pending = ro.stdin_data;
    int in_fd = in[1];
    if (pending.empty()) ::close(in_fd), in_fd = -1;
    pollfd fds[3] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}, {in_fd, POLLOUT, 0}};
    bool killed = false;
    clock::time_point drain_until{};
    char buf[65536];
    while (fds[0].fd >= 0 || fds[1].fd >= 0) {
      int wait_ms = -1;
      auto now = clock::now();
      if (killed) {
        if (now >= drain_until) break;  // something outside the group holds the pipes
        wait_ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(drain_until - now).count());
      } else if (ro.timeout.count() > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(start + ro.timeout - now);
        if (left.count() <= 0) {
          ::kill(-pid, SIGKILL);
          killed = true;
          r.timed_out = true;
          drain_until = clock::now() + std::chrono::seconds(1);
          continue;
        }
        wait_ms = static_cast<int>(left.count());
      }
      int n = ::poll(fds, 3, wait_ms);
      if (n < 0 && errno != EINTR) break;
      if (n <= 0) continue;
      for (int i = 0; i < 2; ++i) {
        if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
          ::close(fds[i].fd);
          fds[i].fd = -1;
        } else {
          (i == 0 ? out : err).write(buf, static_cast<std::size_t>(got));
        }
      }
      if (fds[2].fd >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
        ssize_t w = ::write(fds[2].fd, pending.data(), pending.size());
        if (w > 0) pending.remove_prefix(static_cast<std::size_t>(w));
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || pending.empty()) {
          ::close(fds[2].fd);
          fds[2].fd = -1;
        }
      }
    }
    for (auto& f : fds)
      if (f.fd >= 0) ::close(f.fd);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    r.wall = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start);
    if (r.timed_out)
      r.exit_status = -1;
    else
      r.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    spdlog::debug("{}: `{}` -> {}{} in {} ms", opts_.name, text, r.exit_status,
                  r.timed_out ? " (timed out, killed)" : "", r.wall.count());
    if (cmd.sudo && via_sudo && r.exit_status == 1 && sudo_needs_password(r.err))
      throw Error(sudo_password_message(opts_.name, login_user()));
    return r;
  }


  void upload(const std::filesystem::path& local, const std::string& remote_path) override {
    copy(local, remote_path);
  }
  void download(const std::string& remote_path, const std::filesystem::path& local) override {
    copy(remote_path, local);
  }

 private:
  static std::string login_user() {
    const char* u = std::getenv("USER");
    return u ? u : "";
  }

  void copy(const std::filesystem::path& from, const std::filesystem::path& to) {
    std::error_code ec;
    if (to.has_parent_path()) std::filesystem::create_directories(to.parent_path(), ec);
    std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing, ec);
    if (ec)
      throw Error(fmt::format("cannot copy {} to {} on {}: {}", from.string(), to.string(), opts_.name,
                              ec.message()));
    spdlog::debug("{}: copied {} to {}", opts_.name, from.string(), to.string());
  }

  LocalOptions opts_;
};

}  // namespace

std::unique_ptr<Remote> make_local(LocalOptions opts) { return std::make_unique<LocalRemote>(std::move(opts)); }

}  // namespace iommuvm::remote
