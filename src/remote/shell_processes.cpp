#include "shell_processes.hpp"

#include <signal.h>

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "iommuvm/util/error.hpp"

namespace iommuvm::remote {

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

Process ShellProcessRemote::start(const Command& cmd, const std::string& log_path) {
  auto p = start_via_shell(*this, cmd, log_path);
  started_.push_back(p);
  return p;
}

bool ShellProcessRemote::is_running(const Process& p) { return is_running_via_shell(*this, p); }

bool ShellProcessRemote::stop(const Process& p, int signal, std::chrono::milliseconds grace) {
  bool gone = stop_via_shell(*this, p, signal, grace);
  if (gone) std::erase_if(started_, [&](const Process& q) { return q.pid == p.pid; });
  return gone;
}

void ShellProcessRemote::stop_started() noexcept {
  for (const auto& p : started_) {
    try {
      if (!is_running_via_shell(*this, p)) continue;
      spdlog::debug("{}: stopping leftover pid {} ({})", name(), p.pid, p.log_path);
      if (!stop_via_shell(*this, p, SIGTERM, std::chrono::milliseconds(2000)))
        spdlog::warn("{}: pid {} is still running", name(), p.pid);
    } catch (const std::exception& e) {
      spdlog::warn("{}: cannot stop pid {}: {}", name(), p.pid, e.what());
    }
  }
  started_.clear();
}

}  // namespace iommuvm::remote
