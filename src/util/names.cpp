#include "iommuvm/util/names.hpp"

#include <fmt/format.h>

namespace iommuvm::names {

namespace {
bool ascii_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
}  // namespace

std::string path_name_problem(std::string_view name) {
  if (name.empty()) return "it is empty";
  if (name.size() > kMaxPathName) return fmt::format("it is longer than {} characters", kMaxPathName);
  if (!(ascii_alnum(name[0]) || name[0] == '_'))
    return "it must start with a letter, a digit or '_'";
  for (char c : name)
    if (!(ascii_alnum(c) || c == '.' || c == '_' || c == '-'))
      return "it may hold only letters, digits, '.', '_' and '-'";
  return "";
}

}  // namespace iommuvm::names
