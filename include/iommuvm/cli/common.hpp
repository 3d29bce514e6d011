#pragma once

#include <string>
#include <vector>

#include "iommuvm/spec/matrix.hpp"

namespace iommuvm::cli {

struct Campaign {
  spec::Loaded loaded;
  std::vector<spec::RunPoint> points;
};

// Load, type-check and expand SPEC_PATH; print every diagnostic (errors and warnings)
// to stderr as FILE:LINE:COL: ...; throw InputError (exit 2) when there are errors.
Campaign load_campaign(const std::string& spec_path);

}  // namespace iommuvm::cli
