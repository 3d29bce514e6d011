// Regular expressions through RE2: matching is linear in the text and never recurses, so
// no line of tool output and no pattern a user writes can crash or hang iommuvm
// (std::regex recursed once per character and overflowed the stack on long lines).
#pragma once

#include <memory>
#include <string>

#include <re2/re2.h>

namespace iommuvm::regex {

// Options for the program's own fixed patterns: bytes (Latin-1), not UTF-8, so tool output
// and kernel logs with any bytes match as written; errors are not logged to stderr.
RE2::Options byte_options();

// A pattern a user gave (a custom tool's or collector's metric): RE2 syntax over UTF-8
// text, exactly one capture group. Returns the compiled pattern, or nullptr with ERROR set
// to a sentence saying why it is refused.
std::unique_ptr<RE2> compile_metric_pattern(const std::string& pattern, std::string& error);

}  // namespace iommuvm::regex
