#include "iommuvm/cli/common.hpp"

#include <iostream>

#include <fmt/format.h>

#include "iommuvm/util/error.hpp"

namespace iommuvm::cli {

Campaign load_campaign(const std::string& spec_path) {
  Campaign c;
  c.loaded = spec::load_file(spec_path);
  Diagnostics& diag = c.loaded.diag;
  if (!diag.has_errors()) c.points = spec::expand(c.loaded, diag);
  for (const auto& d : diag.sorted()) std::cerr << d.format() << "\n";
  if (diag.has_errors())
    throw InputError(fmt::format("{}: {} error{} in the spec", spec_path, diag.error_count(),
                                 diag.error_count() == 1 ? "" : "s"));
  return c;
}

}  // namespace iommuvm::cli
