// UTF-8 checks for text that comes from outside (specs, tool output, kernel logs, sysfs):
// JSON can carry only valid UTF-8, so such text is either refused with its position (a
// spec) or kept with the invalid bytes escaped (data).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace iommuvm::text {

// Length of the valid UTF-8 sequence at T[I] (1-4), or 0 when the bytes there are not one
// (a stray continuation byte, an overlong form, a surrogate, past U+10FFFF, cut short).
std::size_t utf8_length_at(std::string_view t, std::size_t i);

// Offset of the first byte that is not part of valid UTF-8, or npos.
std::size_t first_invalid_utf8(std::string_view t);

// T with each byte that is not part of valid UTF-8 written as \xNN (valid text is unchanged).
std::string escape_invalid_utf8(std::string_view t);

// The lines of T without their '\n' (a '\r' before it stays); no empty last line after a
// final '\n'. The views point into T.
std::vector<std::string_view> split_lines(std::string_view t);

// A message that quotes input (a value of a million digits) cut in the middle to at most
// about 860 bytes, marked "[... N bytes cut ...]"; cuts fall between UTF-8 characters.
std::string bounded(std::string message);

// Line and column (1-based, columns in bytes) of offset POS in T.
std::pair<int, int> line_column(std::string_view t, std::size_t pos);

}  // namespace iommuvm::text
