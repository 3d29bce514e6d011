// A machine over SSH with libssh: one session per machine, host keys checked
// against known_hosts, keys/agent/ssh_config, ProxyJump through a
// direct-tcpip channel pumped into a socketpair, SFTP for files.
#include "iommuvm/remote/ssh.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/sftp.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "iommuvm/util/error.hpp"
#include "iommuvm/util/shell.hpp"
#include "shell_processes.hpp"
#include "sink.hpp"

namespace iommuvm::remote {

HostKeyPolicy parse_host_key_policy(const std::string& text) {
  if (text == "strict") return HostKeyPolicy::strict;
  if (text == "accept-new") return HostKeyPolicy::accept_new;
  if (text == "off") return HostKeyPolicy::off;
  throw InputError(fmt::format("unknown host key policy '{}' (expected strict, accept-new or off)", text));
}

namespace {

using clock = std::chrono::steady_clock;

struct SessionFree {
  void operator()(ssh_session s) const {
    if (ssh_is_connected(s)) ssh_disconnect(s);
    ssh_free(s);
  }
};
using SessionPtr = std::unique_ptr<ssh_session_struct, SessionFree>;

struct ChannelFree {
  void operator()(ssh_channel c) const {
    if (ssh_channel_is_open(c)) ssh_channel_close(c);
    ssh_channel_free(c);
  }
};
using ChannelPtr = std::unique_ptr<ssh_channel_struct, ChannelFree>;

struct KeyFree {
  void operator()(ssh_key k) const { ssh_key_free(k); }
};
using KeyPtr = std::unique_ptr<ssh_key_struct, KeyFree>;

struct SftpFree {
  void operator()(sftp_session s) const { sftp_free(s); }
};
using SftpPtr = std::unique_ptr<sftp_session_struct, SftpFree>;

struct SftpFileClose {
  void operator()(sftp_file f) const { sftp_close(f); }
};
using SftpFilePtr = std::unique_ptr<sftp_file_struct, SftpFileClose>;

std::string option_string(ssh_session s, ssh_options_e what) {
  char* v = nullptr;
  if (ssh_options_get(s, what, &v) != SSH_OK || !v) return "";
  std::string out = v;
  ssh_string_free_char(v);
  return out;
}

// The number for an SSH exit-signal name ("TERM"); 0 when unknown.
int signal_number(const std::string& name) {
  static const std::pair<const char*, int> table[] = {
      {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ILL", SIGILL},   {"ABRT", SIGABRT},
      {"FPE", SIGFPE},   {"KILL", SIGKILL}, {"SEGV", SIGSEGV}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},
      {"TERM", SIGTERM}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"BUS", SIGBUS},   {"XCPU", SIGXCPU}};
  for (const auto& [n, v] : table)
    if (name == n) return v;
  return 0;
}

void on_exit_signal(ssh_session, ssh_channel, const char* signal, int, const char*, const char*, void* userdata) {
  *static_cast<std::string*>(userdata) = signal ? signal : "";
}

std::string machine_label(const SshOptions& o) { return o.name.empty() ? o.host : o.name; }

// Options, ssh_config and host name only; no network.
SessionPtr new_session(const SshOptions& o) {
  SessionPtr s(ssh_new());
  if (!s) throw Error("ssh_new failed");
  ssh_options_set(s.get(), SSH_OPTIONS_HOST, o.host.c_str());
  int no = 0;
  if (!o.ssh_config.empty()) {
    if (ssh_options_parse_config(s.get(), o.ssh_config.c_str()) != SSH_OK)
      throw Error(fmt::format("cannot read ssh config {}: {}", o.ssh_config.string(), ssh_get_error(s.get())));
  } else if (o.read_default_config) {
    ssh_options_parse_config(s.get(), nullptr);
  }
  ssh_options_set(s.get(), SSH_OPTIONS_PROCESS_CONFIG, &no);
  if (o.port > 0) {
    unsigned int port = static_cast<unsigned int>(o.port);
    ssh_options_set(s.get(), SSH_OPTIONS_PORT, &port);
  }
  if (!o.user.empty()) ssh_options_set(s.get(), SSH_OPTIONS_USER, o.user.c_str());
  if (!o.known_hosts.empty()) ssh_options_set(s.get(), SSH_OPTIONS_KNOWNHOSTS, o.known_hosts.c_str());
  long timeout = static_cast<long>(o.connect_timeout.count());
  if (timeout > 0) ssh_options_set(s.get(), SSH_OPTIONS_TIMEOUT, &timeout);
  return s;
}

std::string endpoint(ssh_session s) {
  unsigned int port = 22;
  ssh_options_get_port(s, &port);
  return fmt::format("{}@{}:{}", option_string(s, SSH_OPTIONS_USER), option_string(s, SSH_OPTIONS_HOST), port);
}

void verify_host_key(ssh_session s, const SshOptions& o) {
  if (o.host_key_policy == HostKeyPolicy::off) {
    spdlog::warn("{}: host key not checked (host key policy off)", machine_label(o));
    return;
  }
  std::string file = option_string(s, SSH_OPTIONS_KNOWNHOSTS);
  std::string host = option_string(s, SSH_OPTIONS_HOST);
  unsigned int port = 22;
  ssh_options_get_port(s, &port);
  std::string where = port == 22 ? host : fmt::format("[{}]:{}", host, port);
  switch (ssh_session_is_known_server(s)) {
    case SSH_KNOWN_HOSTS_OK:
      return;
    case SSH_KNOWN_HOSTS_CHANGED:
    case SSH_KNOWN_HOSTS_OTHER:
      throw Error(fmt::format(
          "host key of {} ({}) has CHANGED and does not match {}; refusing to connect. If the machine "
          "was reinstalled, remove the old key with: ssh-keygen -f {} -R '{}'",
          machine_label(o), where, file, file, where));
    case SSH_KNOWN_HOSTS_NOT_FOUND:
    case SSH_KNOWN_HOSTS_UNKNOWN:
      if (o.host_key_policy == HostKeyPolicy::accept_new) {
        if (ssh_session_update_known_hosts(s) != SSH_OK)
          throw Error(fmt::format("cannot record the host key of {} in {}: {}", machine_label(o), file,
                                  ssh_get_error(s)));
        spdlog::info("{}: recorded new host key of {} in {}", machine_label(o), where, file);
        return;
      }
      throw Error(fmt::format(
          "host key of {} ({}) is unknown: not in {}; refusing to connect (add it with ssh-keyscan, "
          "or use host key policy accept-new)",
          machine_label(o), where, file));
    case SSH_KNOWN_HOSTS_ERROR:
    default:
      throw Error(fmt::format("cannot check the host key of {} against {}: {}", machine_label(o), file,
                              ssh_get_error(s)));
  }
}

void authenticate(ssh_session s, const SshOptions& o) {
  std::string user = option_string(s, SSH_OPTIONS_USER);
  if (ssh_userauth_none(s, nullptr) == SSH_AUTH_SUCCESS) return;
  std::vector<std::string> tried;
  for (const auto& f : o.identity_files) {
    ssh_key raw = nullptr;
    if (ssh_pki_import_privkey_file(f.c_str(), nullptr, nullptr, nullptr, &raw) != SSH_OK) {
      tried.push_back(fmt::format("{} (unreadable, or has a passphrase: load it into ssh-agent)", f.string()));
      continue;
    }
    KeyPtr key(raw);
    int rc = ssh_userauth_publickey(s, nullptr, key.get());
    if (rc == SSH_AUTH_SUCCESS) return;
    if (rc == SSH_AUTH_ERROR) break;
    tried.push_back(f.string());
  }
  if (o.use_agent && std::getenv("SSH_AUTH_SOCK")) {
    if (ssh_userauth_agent(s, nullptr) == SSH_AUTH_SUCCESS) return;
    tried.push_back("ssh-agent");
  }
  if (o.identity_files.empty()) {
    if (ssh_userauth_publickey_auto(s, nullptr, nullptr) == SSH_AUTH_SUCCESS) return;
    tried.push_back("default keys");
  }
  std::string list;
  for (const auto& t : tried) list += (list.empty() ? "" : ", ") + t;
  throw Error(fmt::format("cannot log in to {} ({}): no key was accepted (tried: {}){}", machine_label(o),
                          endpoint(s), list.empty() ? "nothing" : list,
                          ssh_get_error(s)[0] ? std::string("; ") + ssh_get_error(s) : ""));
}

void connect_and_login(ssh_session s, const SshOptions& o) {
  if (ssh_connect(s) != SSH_OK)
    throw Error(fmt::format("cannot connect to {} ({}): {}", machine_label(o), endpoint(s), ssh_get_error(s)));
  verify_host_key(s, o);
  authenticate(s, o);
}

// A jump host session with a direct-tcpip channel to the target, pumped into
// one end of a socketpair; the target session runs over the other end.
class Tunnel {
 public:
  Tunnel(const SshOptions& jump, const std::string& host, int port) : label_(machine_label(jump)) {
    session_ = new_session(jump);
    connect_and_login(session_.get(), jump);
    channel_.reset(ssh_channel_new(session_.get()));
    if (!channel_ || ssh_channel_open_forward(channel_.get(), host.c_str(), port, "127.0.0.1", 0) != SSH_OK)
      throw Error(fmt::format("jump host {} cannot open a connection to {}:{}: {}", label_, host, port,
                              ssh_get_error(session_.get())));
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
      throw Error(fmt::format("socketpair: {}", std::strerror(errno)));
    ours_ = fds[0];
    theirs_ = fds[1];
    spdlog::debug("tunnel through {} to {}:{} open", label_, host, port);
    thread_ = std::thread([this] { pump(); });
  }
  ~Tunnel() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (ours_ >= 0) ::close(ours_);
    if (theirs_ >= 0) ::close(theirs_);  // not handed over
  }
  Tunnel(const Tunnel&) = delete;
  Tunnel& operator=(const Tunnel&) = delete;

  // The fd for the target session; libssh closes it.
  int take_fd() {
    int fd = theirs_;
    theirs_ = -1;
    return fd;
  }

 private:
  void pump() {
    ssh_channel ch = channel_.get();
    char buf[32768];
    bool local_eof = false;
    while (!stop_) {
      int n;
      while ((n = ssh_channel_read_nonblocking(ch, buf, sizeof buf, 0)) > 0)
        if (!write_all(buf, static_cast<std::size_t>(n))) return finish();
      if (n == SSH_ERROR || (n == SSH_EOF) || ssh_channel_is_eof(ch)) return finish();
      pollfd fds[2] = {{ours_, static_cast<short>(local_eof ? 0 : POLLIN), 0},
                       {ssh_get_fd(session_.get()), POLLIN, 0}};
      if (::poll(fds, 2, 50) < 0 && errno != EINTR) return finish();
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t got = ::read(ours_, buf, sizeof buf);
        if (got <= 0) {
          local_eof = true;
          ssh_channel_send_eof(ch);
          return finish();
        }
        if (ssh_channel_write(ch, buf, static_cast<uint32_t>(got)) == SSH_ERROR) return finish();
      }
    }
    finish();
  }
  bool write_all(const char* p, std::size_t n) {
    while (n > 0) {
      ssize_t w = ::write(ours_, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    return true;
  }
  void finish() {
    ::shutdown(ours_, SHUT_RDWR);  // the target session sees the connection drop
    spdlog::debug("tunnel through {} closed", label_);
  }

  std::string label_;
  SessionPtr session_;
  ChannelPtr channel_;
  int ours_ = -1, theirs_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct Connection {
  std::unique_ptr<Tunnel> tunnel;  // destroyed after the session (declared first)
  SessionPtr session;
};

std::unique_ptr<Connection> open_connection(const SshOptions& o) {
  auto c = std::make_unique<Connection>();
  c->session = new_session(o);
  if (o.jump) {
    unsigned int port = 22;
    ssh_options_get_port(c->session.get(), &port);
    std::string host = option_string(c->session.get(), SSH_OPTIONS_HOST);
    c->tunnel = std::make_unique<Tunnel>(*o.jump, host, static_cast<int>(port));
    socket_t fd = c->tunnel->take_fd();
    ssh_options_set(c->session.get(), SSH_OPTIONS_FD, &fd);
  }
  connect_and_login(c->session.get(), o);
  spdlog::debug("{}: connected to {}{}", machine_label(o), endpoint(c->session.get()),
                o.jump ? " through " + machine_label(*o.jump) : "");
  return c;
}

class SshRemote final : public ShellProcessRemote {
 public:
  explicit SshRemote(SshOptions o) : opts_(std::move(o)) {
    if (opts_.name.empty()) opts_.name = opts_.host;
    conn_ = open_connection(opts_);
    user_ = option_string(conn_->session.get(), SSH_OPTIONS_USER);
    if (opts_.keepalive_interval.count() > 0) keepalive_ = std::thread([this] { keepalive_loop(); });
  }
  ~SshRemote() override {
    stop_started();
    {
      std::lock_guard lock(ka_mu_);
      stopping_ = true;
    }
    ka_cv_.notify_all();
    if (keepalive_.joinable()) keepalive_.join();
  }

  const std::string& name() const override { return opts_.name; }
  const std::filesystem::path& root() const override { return opts_.root; }

  void set_keepalive(bool enabled) override {
    std::lock_guard lock(ka_mu_);
    keepalive_enabled_ = enabled;
  }

  RunResult run(const Command& cmd, const RunOptions& ro) override {
    std::lock_guard lock(mu_);
    bool via_sudo = opts_.sudo == SudoMode::always || (opts_.sudo == SudoMode::automatic && user_ != "root");
    std::string text = render(cmd, via_sudo);
    std::string sent = text;
    bool track = ro.timeout.count() > 0;
    if (track)  // a new process group whose id comes first on stderr, so a timeout can kill it all
      sent = "exec setsid -w sh -c 'echo \"iommuvm-pgid:$$\" >&2; exec sh -c \"$1\"' iommuvm-run " +
             shell::quote(text);

    RunResult r;
    detail::Sink out(r.out, ro.stdout_file), err(r.err, ro.stderr_file);
    auto start = clock::now();
    std::string exit_signal;  // set by the callback when the command dies of a signal
    ssh_channel_callbacks_struct callbacks{};
    ssh_callbacks_init(&callbacks);
    callbacks.userdata = &exit_signal;
    callbacks.channel_exit_signal_function = on_exit_signal;
    ChannelPtr ch = exec(sent, &callbacks);
    if (!ro.stdin_data.empty())
      ssh_channel_write(ch.get(), ro.stdin_data.data(), static_cast<uint32_t>(ro.stdin_data.size()));
    ssh_channel_send_eof(ch.get());

    std::string head;  // stderr until the pgid line is complete
    bool head_done = !track;
    long pgid = 0;
    bool lost = false;
    char buf[65536];
    for (;;) {
      // EOF seen before this drain: everything it carried is already buffered.
      bool finished = ssh_channel_is_eof(ch.get()) || !ssh_channel_is_open(ch.get());
      bool got = false;
      for (int is_err = 0; is_err < 2; ++is_err) {
        int n = ssh_channel_read_nonblocking(ch.get(), buf, sizeof buf, is_err);
        if (n == SSH_ERROR) lost = true;
        if (n <= 0) continue;
        got = true;
        if (!is_err) {
          out.write(buf, static_cast<std::size_t>(n));
        } else if (head_done) {
          err.write(buf, static_cast<std::size_t>(n));
        } else {
          head.append(buf, static_cast<std::size_t>(n));
          auto nl = head.find('\n');
          if (nl != std::string::npos) {
            head_done = true;
            std::string first = head.substr(0, nl);
            std::size_t skip = 0;
            if (first.rfind("iommuvm-pgid:", 0) == 0) {
              pgid = std::atol(first.c_str() + 13);
              skip = nl + 1;
            }
            err.write(head.data() + skip, head.size() - skip);
            head.clear();
          }
        }
      }
      if (lost) break;
      if (got) continue;
      if (finished) break;
      int wait_ms = 50;
      if (track) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(start + ro.timeout - clock::now());
        if (left.count() <= 0) {
          r.timed_out = true;
          break;
        }
        wait_ms = static_cast<int>(std::min<long>(50, left.count()));
      }
      if (ssh_channel_poll_timeout(ch.get(), wait_ms, 0) == SSH_ERROR) lost = true;
    }
    if (!head.empty()) err.write(head.data(), head.size());

    if (r.timed_out) {
      kill_group(pgid, cmd.sudo && via_sudo);
      ch.reset();
      r.exit_status = -1;
    } else if (lost) {
      spdlog::warn("{}: connection lost while running `{}`", opts_.name, text);
      ch.reset();
      conn_.reset();
      r.exit_status = -1;
    } else {
      ssh_channel_close(ch.get());
      r.exit_status = ssh_channel_get_exit_status(ch.get());
      if (r.exit_status < 0 && signal_number(exit_signal) > 0) r.exit_status = 128 + signal_number(exit_signal);
    }
    r.wall = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start);
    spdlog::debug("{}: `{}` -> {}{} in {} ms", opts_.name, text, r.exit_status,
                  r.timed_out ? " (timed out, killed)" : "", r.wall.count());
    if (cmd.sudo && via_sudo && r.exit_status == 1 && sudo_needs_password(r.err))
      throw Error(sudo_password_message(opts_.name, user_));
    return r;
  }


  void upload(const std::filesystem::path& local, const std::string& remote_path) override {
    std::lock_guard lock(mu_);
    auto start = clock::now();
    int fd = ::open(local.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(fmt::format("cannot read {}: {}", local.string(), std::strerror(errno)));
    struct stat st {};
    ::fstat(fd, &st);
    try {
      SftpPtr sftp = open_sftp();
      SftpFilePtr f(sftp_open(sftp.get(), remote_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, st.st_mode & 0777));
      if (!f) throw sftp_error(sftp.get(), "cannot create", remote_path);
      char buf[32768];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof buf)) > 0)
        if (sftp_write(f.get(), buf, static_cast<std::size_t>(n)) != n)
          throw sftp_error(sftp.get(), "cannot write", remote_path);
      if (n < 0) throw Error(fmt::format("cannot read {}: {}", local.string(), std::strerror(errno)));
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
    spdlog::debug("{}: uploaded {} to {} ({} bytes) in {} ms", opts_.name, local.string(), remote_path,
                  st.st_size, ms_since(start));
  }

  void download(const std::string& remote_path, const std::filesystem::path& local) override {
    std::lock_guard lock(mu_);
    auto start = clock::now();
    SftpPtr sftp = open_sftp();
    SftpFilePtr f(sftp_open(sftp.get(), remote_path.c_str(), O_RDONLY, 0));
    if (!f) throw sftp_error(sftp.get(), "cannot open", remote_path);
    if (local.has_parent_path()) std::filesystem::create_directories(local.parent_path());
    auto tmp = local;
    tmp += fmt::format(".part.{}", ::getpid());
    std::string unused;
    std::size_t total = 0;
    {
      detail::Sink sink(unused, tmp);
      char buf[32768];
      ssize_t n;
      while ((n = sftp_read(f.get(), buf, sizeof buf)) > 0) {
        sink.write(buf, static_cast<std::size_t>(n));
        total += static_cast<std::size_t>(n);
      }
      if (n < 0) {
        std::filesystem::remove(tmp);
        throw sftp_error(sftp.get(), "cannot read", remote_path);
      }
    }
    std::filesystem::rename(tmp, local);
    spdlog::debug("{}: downloaded {} to {} ({} bytes) in {} ms", opts_.name, remote_path, local.string(), total,
                  ms_since(start));
  }

 private:
  static long ms_since(clock::time_point t) {
    return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t).count());
  }

  void reconnect() {
    conn_.reset();
    spdlog::debug("{}: (re)connecting", opts_.name);
    conn_ = open_connection(opts_);
  }

  // An exec channel running TEXT with CALLBACKS; reconnects once when the session is dead.
  ChannelPtr exec(const std::string& text, ssh_channel_callbacks callbacks) {
    for (int attempt = 0;; ++attempt) {
      if (!conn_ || !ssh_is_connected(conn_->session.get())) reconnect();
      ssh_session s = conn_->session.get();
      ChannelPtr ch(ssh_channel_new(s));
      if (ch) ssh_set_channel_callbacks(ch.get(), callbacks);
      if (ch && ssh_channel_open_session(ch.get()) == SSH_OK &&
          ssh_channel_request_exec(ch.get(), text.c_str()) == SSH_OK)
        return ch;
      std::string why = ssh_get_error(s);
      ch.reset();
      if (attempt > 0) throw Error(fmt::format("cannot run a command on {}: {}", opts_.name, why));
      spdlog::debug("{}: session unusable ({}), reconnecting once", opts_.name, why);
      conn_.reset();
    }
  }

  SftpPtr open_sftp() {
    for (int attempt = 0;; ++attempt) {
      if (!conn_ || !ssh_is_connected(conn_->session.get())) reconnect();
      ssh_session s = conn_->session.get();
      SftpPtr sftp(sftp_new(s));
      if (sftp && sftp_init(sftp.get()) == SSH_OK) return sftp;
      std::string why = ssh_get_error(s);
      sftp.reset();
      if (attempt > 0) throw Error(fmt::format("cannot start SFTP on {}: {}", opts_.name, why));
      conn_.reset();
    }
  }

  Error sftp_error(sftp_session sftp, const char* what, const std::string& path) {
    return Error(fmt::format("{} {} on {}: {} (sftp error {})", what, path, opts_.name,
                             ssh_get_error(conn_->session.get()), sftp_get_error(sftp)));
  }

  void kill_group(long pgid, bool sudo) {
    if (pgid <= 0) {
      spdlog::warn("{}: timed out before the process group was known; closing the channel only", opts_.name);
      return;
    }
    std::string text = render(Command{{"sh", "-c", "kill -KILL -\"$1\"", "iommuvm-kill", std::to_string(pgid)}, sudo, "", {}}, sudo);
    ChannelPtr k(ssh_channel_new(conn_->session.get()));
    if (k && ssh_channel_open_session(k.get()) == SSH_OK && ssh_channel_request_exec(k.get(), text.c_str()) == SSH_OK) {
      ssh_channel_send_eof(k.get());
      char buf[256];
      while (ssh_channel_read_timeout(k.get(), buf, sizeof buf, 0, 5000) > 0) {
      }
      ssh_channel_close(k.get());
      spdlog::debug("{}: `{}` -> {}", opts_.name, text, ssh_channel_get_exit_status(k.get()));
    } else {
      spdlog::warn("{}: cannot kill process group {}: {}", opts_.name, pgid, ssh_get_error(conn_->session.get()));
    }
  }

  void keepalive_loop() {
    std::unique_lock lk(ka_mu_);
    while (!stopping_) {
      ka_cv_.wait_for(lk, opts_.keepalive_interval, [this] { return stopping_; });
      if (stopping_ || !keepalive_enabled_) continue;
      std::unique_lock session_lock(mu_, std::try_to_lock);  // busy: traffic flows anyway
      if (!session_lock || !conn_) continue;
      if (ssh_send_ignore(conn_->session.get(), "keepalive") != SSH_OK)
        spdlog::debug("{}: keep-alive failed; will reconnect on next use", opts_.name);
    }
  }

  SshOptions opts_;
  std::string user_;
  std::mutex mu_;  // the session is used by one thread at a time
  std::unique_ptr<Connection> conn_;
  std::mutex ka_mu_;
  std::condition_variable ka_cv_;
  bool stopping_ = false;
  bool keepalive_enabled_ = true;
  std::thread keepalive_;
};

}  // namespace

std::unique_ptr<Remote> make_ssh(SshOptions opts) {
  if (opts.host.empty()) throw InputError(fmt::format("machine {}: no SSH host given", opts.name));
  if (opts.port < 0 || opts.port > 65535)
    throw InputError(fmt::format("machine {}: SSH port {} is out of range", opts.name, opts.port));
  return std::make_unique<SshRemote>(std::move(opts));
}

}  // namespace iommuvm::remote
