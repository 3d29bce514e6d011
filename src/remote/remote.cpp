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

namespace {
// Exits 0 while a live (not zombie) process is in group $pid; shell built-ins only.
constexpr const char* kGroupAlive =
    "alive() { for f in /proc/[0-9]*/stat; do "
    "{ read -r l < \"$f\"; } 2>/dev/null || continue; r=${l#*) }; set -- $r; "
    "[ \"$3\" = \"$pid\" ] && [ \"$1\" != Z ] && [ \"$1\" != X ] && return 0; "
    "done; return 1; }; ";
}  // namespace

Process start_via_shell(Remote& r, const Command& cmd, const std::string& log_path) {
  bool as_root = cmd.sudo;
  // Non-interactive sh puts no background job in its own group, so setsid does
  // not fork: $! is the new session (and group) leader.
  Command inner = cmd;
  Command wrapper{{"sh", "-c", "setsid sh -c \"$1\" >\"$2\" 2>&1 </dev/null & echo $!", "iommuvm-start",
                   "", log_path},
                  false, "", {}};
  inner.sudo = false;
  wrapper.argv[4] = render(inner, false);
  wrapper.sudo = as_root;
  auto res = r.run(wrapper);
  if (!res.ok())
    throw Error(fmt::format("cannot start {} on {}: {}", render(cmd, false), r.name(), res.err));
  long pid = 0;
  try {
    pid = std::stol(res.out);
  } catch (...) {
    throw Error(fmt::format("cannot start on {}: no PID in {:?}", r.name(), res.out));
  }
  spdlog::debug("{}: started pid {} (log {})", r.name(), pid, log_path);
  return Process{pid, log_path, as_root};
}

bool is_running_via_shell(Remote& r, const Process& p) {
  Command c{{"sh", "-c",
             "s=$(cat /proc/$1/stat 2>/dev/null) || exit 1; s=${s##*) }; "
             "case $s in Z*|X*) exit 1;; esac; exit 0",
             "iommuvm-check", std::to_string(p.pid)},
            false, "", {}};
  return r.run(c).exit_status == 0;
}

bool stop_via_shell(Remote& r, const Process& p, int signal, std::chrono::milliseconds grace) {
  long steps = std::max<long>(1, static_cast<long>(grace.count() / 50));
  std::string script = std::string(kGroupAlive) +
                       "pid=$1; steps=$3; kill -\"$2\" -\"$pid\" 2>/dev/null; "
                       "i=0; while alive && [ $i -lt \"$steps\" ]; do sleep 0.05; i=$((i+1)); done; "
                       "if alive; then echo killed; kill -KILL -\"$pid\" 2>/dev/null; fi; "
                       "i=0; while alive && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; "
                       "alive && exit 1; exit 0";
  Command c{{"sh", "-c", script, "iommuvm-stop", std::to_string(p.pid), std::to_string(signal),
             std::to_string(steps)},
            p.as_root, "", {}};
  auto res = r.run(c);
  if (res.out.find("killed") != std::string::npos)
    spdlog::debug("{}: pid {} ignored signal {}, sent SIGKILL", r.name(), p.pid, signal);
  return res.exit_status == 0;
}

void forget(std::vector<Process>& started, const Process& p) {
  std::erase_if(started, [&](const Process& q) { return q.pid == p.pid; });
}

void stop_leftovers(Remote& r, std::vector<Process>& started) noexcept {
  for (const auto& p : started) {
    try {
      if (!is_running_via_shell(r, p)) continue;
      spdlog::debug("{}: stopping leftover pid {} ({})", r.name(), p.pid, p.log_path);
      if (!stop_via_shell(r, p, SIGTERM, std::chrono::milliseconds(2000)))
        spdlog::warn("{}: pid {} is still running", r.name(), p.pid);
    } catch (const std::exception& e) {
      spdlog::warn("{}: cannot stop pid {}: {}", r.name(), p.pid, e.what());
    }
  }
  started.clear();
}

}  // namespace iommuvm::remote
