// A real OpenSSH server for tests: /usr/sbin/sshd -D -e on 127.0.0.1 and a
// free port, with its own host key, a client ed25519 key it accepts and a
// known_hosts file for the client, all in a temporary folder.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "iommuvm/remote/ssh.hpp"
#include "test_support.hpp"

namespace iommuvm::test {

class Sshd {
 public:
  // Empty when sshd can run here; otherwise why not (for GTEST_SKIP).
  static std::string unavailable_reason();

  // Generates keys and config and starts sshd. Throws std::runtime_error on failure.
  Sshd();
  ~Sshd();
  Sshd(const Sshd&) = delete;
  Sshd& operator=(const Sshd&) = delete;

  void start();
  // Run sshd under a shell loop that starts it again whenever it exits, as a machine
  // comes back after a reboot. Call before start(); stop() ends the loop too.
  void supervise() {
    supervised_ = true;
    if (running()) restart();
  }
  std::filesystem::path pid_file() const { return dir_ / "sshd.pid"; }
  // Kills sshd and every session it serves (as a reboot would).
  void stop();
  void restart() { stop(), start(); }
  bool running() const { return pid_ > 0; }

  // Sessions get NAME=VALUE in their environment (sshd's SetEnv), from the next start();
  // e.g. a PATH with fake commands first.
  void set_env(const std::string& name, const std::string& value) { env_.emplace_back(name, value); }

  // A new host key, used from the next start(); known_hosts keeps the old one.
  void regenerate_host_key();
  // Also accept logins with the key whose public half is PUB.
  void authorize(const std::filesystem::path& pub);

  int port() const { return port_; }
  const std::string& user() const { return user_; }
  const std::filesystem::path& dir() const { return dir_.path(); }
  std::filesystem::path client_key() const { return dir_ / "id_ed25519"; }
  std::filesystem::path known_hosts() const { return dir_ / "known_hosts"; }
  // One known_hosts line for the current host key.
  std::string known_hosts_line() const;
  std::string log() const;

  // Options that reach this sshd: key file, known_hosts, strict host keys,
  // no agent and no ~/.ssh/config.
  remote::SshOptions options(const std::string& name = "sshd-test") const;

 private:
  void write_config();
  void write_known_hosts();

  bool supervised_ = false;
  std::vector<std::pair<std::string, std::string>> env_;
  TempDir dir_;
  std::string user_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// Kill -9 every descendant of PID (not PID itself).
void kill_descendants(pid_t pid);

}  // namespace iommuvm::test
