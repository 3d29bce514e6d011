#include "sshd_fixture.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace iommuvm::test {

namespace {

const char* kSshd = "/usr/sbin/sshd";

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const std::filesystem::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

void keygen(const std::filesystem::path& file) {
  std::filesystem::remove(file);
  std::filesystem::remove(file.string() + ".pub");
  auto r = run_process({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "iommuvm-test", "-f", file.string()});
  if (r.exit_code != 0) throw std::runtime_error("ssh-keygen failed: " + r.err);
}

bool port_accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// pid -> parent pid, for every process.
std::multimap<pid_t, pid_t> children_map() {
  std::multimap<pid_t, pid_t> kids;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    auto name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat = slurp(e.path() / "stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    char state;
    pid_t ppid;
    if (rest >> state >> ppid) kids.emplace(ppid, static_cast<pid_t>(std::stol(name)));
  }
  return kids;
}

}  // namespace

void kill_descendants(pid_t pid) {
  auto kids = children_map();
  std::vector<pid_t> todo{pid}, found;
  while (!todo.empty()) {
    pid_t p = todo.back();
    todo.pop_back();
    auto [b, e] = kids.equal_range(p);
    for (auto it = b; it != e; ++it) found.push_back(it->second), todo.push_back(it->second);
  }
  for (pid_t p : found) ::kill(p, SIGKILL);
}

std::string Sshd::unavailable_reason() {
  if (::access(kSshd, X_OK) != 0) return "sshd is not installed (/usr/sbin/sshd)";
  if (!have_program("ssh-keygen")) return "ssh-keygen is not installed";
  std::error_code ec;
  std::filesystem::create_directories("/run/sshd", ec);
  if (!std::filesystem::is_directory("/run/sshd")) return "cannot create /run/sshd (sshd's privilege separation folder)";
  return "";
}

Sshd::Sshd() {
  const passwd* pw = ::getpwuid(::geteuid());
  if (!pw) throw std::runtime_error("no passwd entry for the current user");
  user_ = pw->pw_name;
  std::filesystem::create_directories(dir_ / "home");
  keygen(dir_ / "host_ed25519");
  keygen(client_key());
  spit(dir_ / "authorized_keys", slurp(client_key().string() + ".pub"));
  start();
}

Sshd::~Sshd() { stop(); }

void Sshd::write_config() {
  std::ostringstream c;
  c << "ListenAddress 127.0.0.1\n"
    << "Port " << port_ << "\n"
    << "HostKey " << (dir_ / "host_ed25519").string() << "\n"
    << "PidFile " << (dir_ / "sshd.pid").string() << "\n"
    << "AuthorizedKeysFile " << (dir_ / "authorized_keys").string() << "\n"
    << "PasswordAuthentication no\n"
    << "KbdInteractiveAuthentication no\n"
    << "UsePAM no\n"
    << "StrictModes no\n"
    << "PermitRootLogin prohibit-password\n"
    << "AllowTcpForwarding yes\n"
    << "Subsystem sftp internal-sftp\n"
    << "MaxStartups 100\n"
    << "LogLevel VERBOSE\n"
    // bash run by sshd sources $HOME/.bashrc; a test must not pay for (or
    // depend on) the real user's shell start-up files.
    << "SetEnv HOME=" << (dir_ / "home").string();
  for (const auto& [name, value] : env_) c << " " << name << "=" << value;
  c << "\n";
  spit(dir_ / "sshd_config", c.str());
}

std::string Sshd::known_hosts_line() const {
  std::string pub = slurp(dir_ / "host_ed25519.pub");
  return "[127.0.0.1]:" + std::to_string(port_) + " " + pub;
}

void Sshd::write_known_hosts() { spit(known_hosts(), known_hosts_line()); }

void Sshd::start() {
  if (pid_ > 0) return;
  std::filesystem::create_directories("/run/sshd");
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (port_ == 0 || attempt > 0) {
      port_ = free_port();
      write_known_hosts();
    }
    write_config();
    auto logfile = dir_ / "sshd.log";
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      ::setsid();
      int fd = ::open(logfile.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      int null = ::open("/dev/null", O_RDONLY);
      ::dup2(null, 0);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::string cfg = (dir_ / "sshd_config").string();
      if (supervised_)
        ::execl("/bin/sh", "sh", "-c", "while :; do \"$0\" -D -e -f \"$1\"; sleep 0.3; done", kSshd, cfg.c_str(),
                static_cast<char*>(nullptr));
      else
        ::execl(kSshd, kSshd, "-D", "-e", "-f", cfg.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    bool died = false;
    while (std::chrono::steady_clock::now() < deadline) {
      int status;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        died = true;
        break;
      }
      if (port_accepts(port_)) {
        pid_ = pid;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!died) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      throw std::runtime_error("sshd did not accept connections within 10 s:\n" + log());
    }
  }
  throw std::runtime_error("sshd would not start:\n" + log());
}

void Sshd::stop() {
  if (pid_ <= 0) return;
  kill_descendants(pid_);
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
  // Wait until the port is closed, so a quick restart cannot race the old listener.
  for (int i = 0; i < 100 && port_accepts(port_); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

void Sshd::regenerate_host_key() { keygen(dir_ / "host_ed25519"); }

void Sshd::authorize(const std::filesystem::path& pub) {
  std::ofstream out(dir_ / "authorized_keys", std::ios::app);
  out << slurp(pub);
}

std::string Sshd::log() const { return slurp(dir_ / "sshd.log"); }

remote::SshOptions Sshd::options(const std::string& name) const {
  remote::SshOptions o;
  o.name = name;
  o.host = "127.0.0.1";
  o.port = port_;
  o.user = user_;
  o.identity_files = {client_key()};
  o.use_agent = false;
  o.known_hosts = known_hosts();
  o.read_default_config = false;
  o.connect_timeout = std::chrono::seconds(5);
  return o;
}

}  // namespace iommuvm::test
