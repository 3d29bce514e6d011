// The one rule for a name that becomes part of a path (a campaign, machine, guest,
// workload, collector or figure name): it names a file or folder inside its own folder
// and nothing else. Checked by `validate` (spec::read) for every such name; the results
// store refuses paths outside the campaign folder as a second line of defence.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace iommuvm::names {

inline constexpr std::size_t kMaxPathName = 64;

// Empty when NAME is a valid path name: 1 to 64 characters from letters, digits, '.', '_'
// and '-', starting with a letter, a digit or '_' (so never ".", "..", a hidden file or
// something a command takes for an option). Otherwise why not, for an error message.
std::string path_name_problem(std::string_view name);

inline bool is_path_name(std::string_view name) { return path_name_problem(name).empty(); }

}  // namespace iommuvm::names
