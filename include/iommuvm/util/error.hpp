// One error policy for the whole tool: recoverable problems are returned as
// values (Diagnostics, results with a status); anything that ends the command
// is an iommuvm::Error, caught once in cli::main and printed as
// "iommuvm: error: <what>".
#pragma once

#include <stdexcept>
#include <string>

namespace iommuvm {

// Process exit codes, documented in README.md.
enum class ExitCode : int {
  ok = 0,
  run_failed = 1,     // the campaign ran but at least one run failed
  bad_input = 2,      // malformed spec, bad arguments, unparsable file
  environment = 3,    // a machine, libvirt or a tool is missing or unreachable
  busy = 4,           // the campaign is in use: another iommuvm run or restore holds its lock
  rebooting = 75,     // the controller is rebooting its own machine; a systemd unit resumes the campaign after the boot
  interrupted = 130,  // SIGINT/SIGTERM
};

class Error : public std::runtime_error {
 public:
  explicit Error(std::string what, ExitCode code = ExitCode::environment)
      : std::runtime_error(std::move(what)), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

// Bad input from the user: exit code 2.
class InputError : public Error {
 public:
  explicit InputError(std::string what) : Error(std::move(what), ExitCode::bad_input) {}
};

}  // namespace iommuvm
