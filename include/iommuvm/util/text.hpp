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

// ASCII white space: what trim() removes unless told otherwise.
inline constexpr std::string_view kWhitespace = " \t\r\n\f\v";

// T without the characters of CHARS at either end. The view points into T.
std::string_view trim(std::string_view t, std::string_view chars = kWhitespace);

struct LineOptions {
  bool drop_cr = false;          // drop one '\r' before each '\n' (and at the end): CRLF text
  bool keep_last_empty = false;  // a final '\n' ends in an empty last line ("" gives one empty line)
};

// The lines of T without their '\n' (a '\r' before it stays unless O.drop_cr); no empty last
// line after a final '\n' unless O.keep_last_empty. The views point into T.
std::vector<std::string_view> split_lines(std::string_view t, LineOptions o = {});

// A duration for people: "42s", "3m05s", "2h07m" (SECONDS rounded to the second).
std::string duration_text(double seconds);

// A message that quotes input (a value of a million digits) cut in the middle to at most
// about 860 bytes, marked "[... N bytes cut ...]"; cuts fall between UTF-8 characters.
std::string bounded(std::string message);

// Line and column (1-based, columns in bytes) of offset POS in T.
std::pair<int, int> line_column(std::string_view t, std::size_t pos);

}  // namespace iommuvm::text
