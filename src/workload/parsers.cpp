#include "iommuvm/workload/parsers.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "iommuvm/util/regex.hpp"
#include "iommuvm/util/text.hpp"
#include "iommuvm/workload/generators.hpp"
#include "internal.hpp"

namespace iommuvm::workload {

namespace detail {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    std::size_t b = i;
    while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i > b) out.push_back(s.substr(b, i - b));
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string r(s);
  for (auto& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

std::string upper(std::string_view s) {
  std::string r(s);
  for (auto& c : r) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return r;
}

// A plain decimal number: [-+]digits[.digits][e[-+]digits] (no nan, inf, hex).
// Returns mantissa text (sign, digits, point) and the exponent.
bool split_decimal(std::string_view s, std::string& mantissa, long& exponent) {
  std::size_t i = 0;
  mantissa.clear();
  exponent = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) {
    if (s[i] == '-') mantissa += '-';
    ++i;
  }
  std::size_t digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) mantissa += s[i++], ++digits;
  if (i < s.size() && s[i] == '.') {
    mantissa += s[i++];
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) mantissa += s[i++], ++digits;
  }
  if (digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool neg = false;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
    std::size_t b = i;
    long e = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      if (e < 100000) e = e * 10 + (s[i] - '0');
      ++i;
    }
    if (i == b) return false;
    exponent = neg ? -e : e;
  }
  return i == s.size();
}

std::optional<double> scaled(std::string_view s, int exp10) {
  std::string mantissa;
  long exponent = 0;
  if (!split_decimal(trim(s), mantissa, exponent)) return std::nullopt;
  std::string text = fmt::format("{}e{}", mantissa, exponent + exp10);
  double v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<double> number(std::string_view s) { return scaled(s, 0); }

std::optional<std::uint64_t> integer(std::string_view s) {
  s = trim(s);
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// Splits "1.16ms" into "1.16" and "ms".
std::pair<std::string_view, std::string_view> split_unit(std::string_view s) {
  s = trim(s);
  std::size_t i = s.size();
  while (i > 0 && (std::isalpha(static_cast<unsigned char>(s[i - 1])) || s[i - 1] == '/')) --i;
  return {s.substr(0, i), s.substr(i)};
}

std::optional<double> try_duration_us(std::string_view text) {
  auto [num, unit] = split_unit(text);
  if (unit == "us") return scaled(num, 0);
  if (unit == "ms") return scaled(num, 3);
  if (unit == "s") return scaled(num, 6);
  auto v = scaled(num, 6);
  if (!v) return v;
  if (unit == "m") return *v * 60;
  if (unit == "h") return *v * 3600;
  return std::nullopt;
}

std::optional<double> try_si_count(std::string_view text) {
  auto [num, unit] = split_unit(text);
  if (unit.empty()) return scaled(num, 0);
  if (unit == "k") return scaled(num, 3);
  if (unit == "M") return scaled(num, 6);
  if (unit == "G") return scaled(num, 9);
  if (unit == "T") return scaled(num, 12);
  return std::nullopt;
}

std::optional<double> try_binary_bytes(std::string_view text) {
  auto [num, unit] = split_unit(text);
  static const char* units[] = {"B", "KB", "MB", "GB", "TB", "PB"};
  auto v = number(num);
  if (!v) return v;
  double f = 1;
  for (const char* u : units) {
    if (unit == u) return *v * f;
    f *= 1024;
  }
  return std::nullopt;
}

bool is_latency_key(std::string_view k) {
  return std::any_of(std::begin(kLatencyKeys), std::end(kLatencyKeys),
                     [&](const char* key) { return k == key; });
}

// "50.000" -> "p50", "99.90" -> "p99.9"; empty when not a known percentile.
std::string percentile_key(std::string_view num) {
  num = trim(num);
  if (num.empty() || !number(num)) return {};
  std::string s(num);
  if (s.find('.') != std::string::npos) {
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
  }
  std::string key = "p" + s;
  return is_latency_key(key) ? key : std::string{};
}

std::string shorten(std::string_view line) {
  std::string s(trim(line));
  if (s.size() > 160) s = s.substr(0, 157) + "...";
  return s;
}

// JSON helpers: a JSON number as its shortest decimal text, scaled exactly.
std::optional<double> json_scaled(const json& j, int exp10, std::string_view tool, std::string_view what) {
  if (j.is_null()) return std::nullopt;
  if (!j.is_number()) throw ParseError(tool, fmt::format("{} is not a number: {}", what, j.dump()));
  auto v = scaled(j.dump(), exp10);
  if (!v) throw ParseError(tool, fmt::format("{} is not a finite number: {}", what, j.dump()));
  return v;
}

std::optional<std::uint64_t> json_count(const json& j, std::string_view tool, std::string_view what) {
  if (j.is_null()) return std::nullopt;
  if (j.is_number_unsigned()) return j.get<std::uint64_t>();
  if (j.is_number_integer() && j.get<std::int64_t>() >= 0) return static_cast<std::uint64_t>(j.get<std::int64_t>());
  if (j.is_number_float() && j.get<double>() >= 0 && std::floor(j.get<double>()) == j.get<double>())
    return static_cast<std::uint64_t>(j.get<double>());
  throw ParseError(tool, fmt::format("{} is not a count: {}", what, j.dump()));
}

const json& member(const json& j, const char* key) {
  static const json null_value;
  if (!j.is_object()) return null_value;
  auto it = j.find(key);
  return it == j.end() ? null_value : *it;
}

// memtier writes -nan, nan, inf, -inf as bare words, which is not JSON: turn them into null.
std::string sanitize_non_finite(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) out += text[++i];
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
      out += c;
      continue;
    }
    bool word_start = out.empty() || !std::isalnum(static_cast<unsigned char>(out.back()));
    if (word_start) {
      bool matched = false;
      for (const char* w : {"-nan", "+nan", "nan", "-inf", "+inf", "inf", "-NaN", "NaN", "-Infinity", "Infinity"}) {
        std::size_t n = std::strlen(w);
        if (text.substr(i, n) == w &&
            (i + n == text.size() || !std::isalnum(static_cast<unsigned char>(text[i + n])))) {
          out += "null";
          i += n - 1;
          matched = true;
          break;
        }
      }
      if (matched) continue;
    }
    out += c;
  }
  return out;
}

json parse_json(std::string_view text, std::string_view tool) {
  if (trim(text).empty()) throw ParseError(tool, "empty output");
  try {
    return json::parse(sanitize_non_finite(text));
  } catch (const json::parse_error& e) {
    throw ParseError(tool, fmt::format("not valid JSON (truncated?): {}", e.what()));
  } catch (const json::out_of_range& e) {
    // 1e999, a 400-digit integer: not a measurement.
    throw ParseError(tool, fmt::format("a number is out of range: {}", e.what()));
  }
}

// "a","b" with "" escapes; nullopt on an unterminated quote or junk after a field.
std::optional<std::vector<std::string>> parse_csv_row(std::string_view line) {
  std::vector<std::string> out;
  std::size_t i = 0, n = line.size();
  while (true) {
    std::string f;
    if (i < n && line[i] == '"') {
      ++i;
      bool closed = false;
      while (i < n) {
        if (line[i] == '"') {
          if (i + 1 < n && line[i + 1] == '"') {
            f += '"';
            i += 2;
            continue;
          }
          ++i;
          closed = true;
          break;
        }
        f += line[i++];
      }
      if (!closed) return std::nullopt;
    } else {
      while (i < n && line[i] != ',') f += line[i++];
    }
    out.push_back(std::move(f));
    if (i == n) break;
    if (line[i] != ',') return std::nullopt;
    ++i;
  }
  return out;
}

bool same_op(std::string_view name, std::string_view wanted) {
  std::string n = lower(name), w = lower(trim(wanted));
  if (n == w) return true;
  auto cut = n.find_first_of(" (");
  return cut != std::string::npos && n.substr(0, cut) == w;
}

std::string op_names(const std::map<std::string, OpMetrics>& ops) {
  std::string s;
  for (const auto& [k, v] : ops) s += (s.empty() ? "" : ", ") + k;
  return s;
}

}  // namespace detail

using namespace detail;

ParseError::ParseError(std::string_view tool, std::string_view message)
    : InputError(fmt::format("{} output: {}", tool, message)) {}

ParseError::ParseError(std::string_view tool, std::size_t line_no, std::string_view line,
                       std::string_view message)
    : InputError(fmt::format("{} output, line {}: {}: '{}'", tool, line_no, message, shorten(line))) {}

double decimal_scaled(std::string_view text, int exp10) {
  auto v = scaled(text, exp10);
  if (!v) throw InputError(fmt::format("not a decimal number: '{}'", shorten(text)));
  return *v;
}

double duration_us(std::string_view text) {
  auto v = try_duration_us(text);
  if (!v) throw InputError(fmt::format("not a duration (us, ms, s, m, h): '{}'", shorten(text)));
  return *v;
}

double si_count(std::string_view text) {
  auto v = try_si_count(text);
  if (!v) throw InputError(fmt::format("not a count (k, M, G, T): '{}'", shorten(text)));
  return *v;
}

double binary_bytes(std::string_view text) {
  auto v = try_binary_bytes(text);
  if (!v) throw InputError(fmt::format("not a byte amount (B, KB, MB, GB, TB): '{}'", shorten(text)));
  return *v;
}

// ---------------------------------------------------------------- dispatch

const std::vector<std::string>& parser_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto* g : generators()) out.push_back(g->name);
    return out;
  }();
  return names;
}

Metrics parse_output(std::string_view tool, std::string_view raw, const ParseOptions& opts) {
  // Tool output is data: bytes that are not UTF-8 (a test named in Latin-1, a torn capture)
  // are kept as \xNN, so every name that reaches the metrics can be written as JSON.
  const std::string escaped = text::escape_invalid_utf8(raw);
  if (const auto* g = find_generator(tool)) return g->parse(escaped, opts);
  throw InputError(fmt::format("unknown tool '{}' (known: {})", tool, generator_names()));
}

}  // namespace iommuvm::workload
