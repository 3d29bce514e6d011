// What the local and the SSH remote share: a background process started, checked and
// stopped through the machine's shell (one script text each, in shell_processes.cpp), and
// the list of what was started, stopped when the Remote goes away. Each transport only
// runs commands (Remote::run). Internal to remote.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "iommuvm/remote/remote.hpp"

namespace iommuvm::remote {

// start/is_running/stop on top of run(), for any implementation: `setsid` makes the process
// a group leader and signals go to the whole group.
Process start_via_shell(Remote& r, const Command& cmd, const std::string& log_path);
bool is_running_via_shell(Remote& r, const Process& p);
bool stop_via_shell(Remote& r, const Process& p, int signal, std::chrono::milliseconds grace);

// A Remote whose processes go through its shell.
class ShellProcessRemote : public Remote {
 public:
  Process start(const Command& cmd, const std::string& log_path) override;
  bool is_running(const Process& p) override;
  bool stop(const Process& p, int signal, std::chrono::milliseconds grace) override;

 protected:
  // Stops (SIGTERM, SIGKILL after 2 s) what is still running of what start() started,
  // logging and swallowing errors: for the transport's destructor, while run() still works.
  void stop_started() noexcept;

 private:
  std::vector<Process> started_;
};

}  // namespace iommuvm::remote
