#include "iommuvm/util/shell.hpp"

#include "iommuvm/util/error.hpp"

namespace iommuvm::shell {

namespace {
bool is_safe(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '-' || c == '.' || c == '/' || c == ',' || c == ':' || c == '=' ||
         c == '+' || c == '@' || c == '%';
}
}  // namespace

std::string quote(std::string_view word) {
  if (word.empty()) return "''";
  bool safe = true;
  for (char c : word) safe = safe && is_safe(c);
  if (safe) return std::string(word);
  std::string out = "'";
  for (char c : word) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  out += '\'';
  return out;
}

std::string join(const std::vector<std::string>& argv) {
  std::string out;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    if (i) out += ' ';
    std::string q = quote(argv[i]);
    // A first word holding '=' would be taken by sh as a variable assignment.
    if (i == 0 && q == argv[i] && q.find('=') != std::string::npos) q = "'" + q + "'";
    out += q;
  }
  return out;
}

std::vector<std::string> split(std::string_view line) {
  std::vector<std::string> out;
  std::string cur;
  bool have = false;
  enum { none, single, dbl } q = none;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (q == single) {
      if (c == '\'') q = none; else cur += c;
      continue;
    }
    if (q == dbl) {
      if (c == '"') {
        q = none;
      } else if (c == '\\' && i + 1 < line.size() &&
                 (line[i + 1] == '"' || line[i + 1] == '\\' || line[i + 1] == '$' || line[i + 1] == '`')) {
        cur += line[++i];
      } else {
        cur += c;
      }
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n') {
      if (have) out.push_back(cur), cur.clear(), have = false;
    } else if (c == '\'') {
      q = single, have = true;
    } else if (c == '"') {
      q = dbl, have = true;
    } else if (c == '\\' && i + 1 < line.size()) {
      cur += line[++i], have = true;
    } else {
      cur += c, have = true;
    }
  }
  if (q != none) throw InputError("unterminated quote in command line: " + std::string(line));
  if (have) out.push_back(cur);
  return out;
}

std::string systemd_quote(std::string_view word) {
  std::string out = "\"";
  for (char c : word) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) throw InputError("a systemd unit line cannot carry control characters: " + std::string(word));
    if (c == '\\' || c == '"') out += '\\';
    if (c == '%' || c == '$') out += c;
    out += c;
  }
  out += '"';
  return out;
}

std::string systemd_join(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    out += systemd_quote(a);
  }
  return out;
}

}  // namespace iommuvm::shell
