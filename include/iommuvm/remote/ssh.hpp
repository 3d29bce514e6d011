// A machine reached over SSH (libssh). One session per machine, reused for
// every command; reconnects once when it finds the session dead.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "iommuvm/remote/remote.hpp"

namespace iommuvm::remote {

enum class HostKeyPolicy {
  strict,      // the key must be in known_hosts (default)
  accept_new,  // unknown keys are recorded; changed keys are still refused
  off,         // no check at all; only when explicitly asked
};

// "strict", "accept-new", "off"; throws InputError otherwise.
HostKeyPolicy parse_host_key_policy(const std::string& text);

struct SshOptions {
  std::string name;              // machine name in the spec, for messages
  std::string host;              // host name, address or ~/.ssh/config alias
  int port = 0;                  // 0: from ssh_config, else 22
  std::string user;              // empty: from ssh_config, else the local user
  std::vector<std::filesystem::path> identity_files;  // empty: agent + ssh_config/default keys
  bool use_agent = true;         // try ssh-agent ($SSH_AUTH_SOCK)
  std::shared_ptr<SshOptions> jump;  // reach HOST through this machine (ProxyJump)
  std::filesystem::path known_hosts;  // empty: ~/.ssh/known_hosts
  HostKeyPolicy host_key_policy = HostKeyPolicy::strict;
  std::chrono::seconds connect_timeout{10};
  std::chrono::seconds keepalive_interval{30};  // 0: none
  std::filesystem::path ssh_config;  // read this file for host aliases
  bool read_default_config = true;   // when ssh_config is empty: ~/.ssh/config and /etc/ssh/ssh_config
  SudoMode sudo = SudoMode::automatic;
  std::filesystem::path root = "/";  // root prefix for /proc, /sys, /etc
};

// Connects (and authenticates) now; throws Error with a clear message on failure.
std::unique_ptr<Remote> make_ssh(SshOptions opts);

}  // namespace iommuvm::remote
