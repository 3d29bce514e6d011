#include <fmt/format.h>

#include "iommuvm/remote/remote.hpp"
#include "iommuvm/util/shell.hpp"

namespace iommuvm::remote {

std::string render(const Command& cmd, bool as_root_via_sudo) {
  std::vector<std::string> argv;
  if (!cmd.env.empty()) {
    argv.push_back("env");
    for (const auto& [k, v] : cmd.env) argv.push_back(k + "=" + v);
  }
  argv.insert(argv.end(), cmd.argv.begin(), cmd.argv.end());
  std::string text = shell::join(argv);
  if (!cmd.cwd.empty()) text = fmt::format("cd {} && {}", shell::quote(cmd.cwd), text);
  if (!(cmd.sudo && as_root_via_sudo)) return text;
  if (cmd.cwd.empty()) return "sudo -n -- " + text;
  return "sudo -n -- sh -c " + shell::quote(text);
}

}  // namespace iommuvm::remote
