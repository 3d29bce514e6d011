// What every Remote shares: sudo diagnostics, background processes through the
// shell, and reading machine files under the root prefix.
#include "iommuvm/remote/remote.hpp"

#include <signal.h>

#include <algorithm>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "iommuvm/util/error.hpp"
#include "iommuvm/util/fs.hpp"

namespace iommuvm::remote {

bool sudo_needs_password(std::string_view err) {
  return err.find("sudo: a password is required") != std::string_view::npos ||
         err.find("sudo: a terminal is required") != std::string_view::npos ||
         err.find("sudo: no tty present") != std::string_view::npos;
}

std::string sudo_password_message(const std::string& machine, const std::string& user) {
  return fmt::format(
      "sudo on {} needs a password; configure NOPASSWD for {} in /etc/sudoers on {} "
      "(iommuvm runs sudo -n and never types passwords)",
      machine, user.empty() ? "the login user" : user, machine);
}

std::string Remote::read_file(const std::string& abs_path) {
  auto path = fs::under_root(root(), abs_path).string();
  auto r = run(Command{{"cat", "--", path}, false, "", {}});
  if (!r.ok())
    throw Error(fmt::format("cannot read {} on {}: {}", path, name(),
                            r.err.empty() ? fmt::format("exit status {}", r.exit_status) : r.err));
  return r.out;
}

std::string Remote::boot_id() {
  auto id = read_file("/proc/sys/kernel/random/boot_id");
  while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
  return id;
}

std::string Remote::wait_for_reboot(const std::string& previous, std::chrono::milliseconds timeout) {
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + timeout;
  auto delay = std::chrono::milliseconds(200);
  std::string last = "no answer";
  for (;;) {
    try {
      auto id = boot_id();
      if (id != previous) {
        spdlog::debug("{}: rebooted, boot id {} -> {}", name(), previous, id);
        return id;
      }
      last = "boot id unchanged (" + id + ")";
    } catch (const Error& e) {
      last = e.what();
    }
    auto now = clock::now();
    if (now >= deadline)
      throw Error(fmt::format("{} did not come back from a reboot within {} s: {}", name(),
                              timeout.count() / 1000.0, last));
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    std::this_thread::sleep_for(std::min(delay, left));
    delay = std::min(delay * 3 / 2, std::chrono::milliseconds(5000));
  }
}

std::string Remote::wait_until_up(std::chrono::milliseconds timeout, const std::function<bool()>& give_up) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last;
  for (int attempt = 0;; ++attempt) {
    try {
      std::string id = boot_id();
      if (!id.empty()) return id;
    } catch (const std::exception& e) {
      last = e.what();
    }
    if (std::chrono::steady_clock::now() > deadline || (give_up && give_up()))
      throw Error(fmt::format("{} did not answer within {} s: {}", name(), timeout.count() / 1000.0, last));
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(500 * (attempt + 1), 5000)));
  }
}

int Remote::free_ports(int) { return 0; }

void Remote::put_text(const std::string& content, const std::string& remote_path, const std::filesystem::path& scratch) {
  if (scratch.empty()) throw Error(fmt::format("internal: no local folder for the copy of {} on {}", remote_path, name()));
  std::filesystem::create_directories(scratch);
  auto local = scratch / std::filesystem::path(remote_path).filename();
  fs::atomic_write(local, content);
  upload(local, remote_path);
}

}  // namespace iommuvm::remote
