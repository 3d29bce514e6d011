#include "iommuvm/util/regex.hpp"

#include <fmt/format.h>

namespace iommuvm::regex {

RE2::Options byte_options() {
  RE2::Options o(RE2::Latin1);
  o.set_log_errors(false);
  return o;
}

std::unique_ptr<RE2> compile_metric_pattern(const std::string& pattern, std::string& error) {
  RE2::Options o;
  o.set_log_errors(false);
  auto re = std::make_unique<RE2>(pattern, o);
  if (!re->ok()) {
    error = fmt::format("the regex '{}' does not compile: {}", pattern, re->error());
    return nullptr;
  }
  if (re->NumberOfCapturingGroups() != 1) {
    error = fmt::format("the regex '{}' must have exactly one capture group, it has {}", pattern,
                        re->NumberOfCapturingGroups());
    return nullptr;
  }
  return re;
}

}  // namespace iommuvm::regex
