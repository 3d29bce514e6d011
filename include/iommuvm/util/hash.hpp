#pragma once

#include <string>
#include <string_view>

namespace iommuvm::hash {

// SHA-256 of DATA as 64 lowercase hex digits.
std::string sha256_hex(std::string_view data);

}  // namespace iommuvm::hash
