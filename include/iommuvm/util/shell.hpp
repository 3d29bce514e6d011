// Shell quoting, in one place. Every command that leaves iommuvm for a shell
// (over SSH, or through sh -c locally) is an argument vector rendered here.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace iommuvm::shell {

// Quote one word for a POSIX shell: the shell passes it to the program byte for byte.
std::string quote(std::string_view word);

// Quote every element and join with single spaces.
std::string join(const std::vector<std::string>& argv);

// Split on whitespace honouring single and double quotes and backslashes, the
// way sh does for a simple command (no expansions). Used for spec fields that
// hold a command line as one string. Throws InputError on an unterminated quote.
std::vector<std::string> split(std::string_view line);

// One word of a systemd unit's Exec*= line (systemd.service(5), "Command lines"): always
// double-quoted, with \\ and \" escaped, '%' doubled (specifiers) and '$' doubled (variable
// expansion), so systemd passes it to the program byte for byte. Throws InputError for
// control characters (newline, ...), which a unit line cannot carry.
std::string systemd_quote(std::string_view word);
// systemd_quote every element, joined with single spaces.
std::string systemd_join(const std::vector<std::string>& argv);

}  // namespace iommuvm::shell
