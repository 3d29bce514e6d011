#include "iommuvm/workload/parsers.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "iommuvm/util/regex.hpp"
#include "iommuvm/util/text.hpp"

namespace iommuvm::workload {

namespace {

using json = nlohmann::json;

std::string_view trim(std::string_view s) {
  const char* ws = " \t\r\n\f\v";
  auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

using text::split_lines;

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

}  // namespace

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

// ---------------------------------------------------------------- redis-benchmark

namespace {

using RedisRows = std::vector<std::pair<std::string, OpMetrics>>;

// The visible text of a redis-benchmark line: progress lines end in \r and are overwritten
// by what follows, so only the part after the last \r counts.
std::string_view redis_visible(std::string_view line) {
  while (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (auto cr = line.rfind('\r'); cr != std::string_view::npos) line = line.substr(cr + 1);
  return trim(line);
}

bool redis_noise(std::string_view line) {
  return line.find("rps=") != std::string_view::npos || starts_with(line, "WARNING") || starts_with(line, "Warning");
}

// --csv: quoted rows, with or without the Redis 7 header.
RedisRows redis_csv_rows(const std::vector<std::string_view>& lines, const char* tool) {
  std::vector<std::string> header;
  RedisRows rows;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view raw = lines[i];
    std::string_view line = redis_visible(raw);
    if (line.empty()) continue;
    if (line.front() != '"') {
      if (redis_noise(line)) continue;
      throw ParseError(tool, i + 1, raw, "not a --csv row");
    }
    auto fields = parse_csv_row(line);
    if (!fields) throw ParseError(tool, i + 1, raw, "malformed CSV row (truncated?)");
    if ((*fields)[0] == "test") {
      header = *fields;
      continue;
    }
    std::vector<std::string> cols = header.empty() ? std::vector<std::string>{"test", "rps"} : header;
    if (fields->size() != cols.size())
      throw ParseError(tool, i + 1, raw,
                       fmt::format("expected {} fields, found {} (truncated?)", cols.size(), fields->size()));
    OpMetrics op;
    for (std::size_t c = 1; c < cols.size(); ++c) {
      const std::string& col = cols[c];
      const std::string& val = (*fields)[c];
      if (col == "rps") {
        op.throughput_ops = number(val);
        if (!op.throughput_ops) throw ParseError(tool, i + 1, raw, "rps is not a number");
      } else if (col.size() > 11 && col.ends_with("_latency_ms")) {
        std::string key = col.substr(0, col.size() - 11);
        auto v = scaled(val, 3);
        if (!v) throw ParseError(tool, i + 1, raw, fmt::format("{} is not a number", col));
        if (is_latency_key(key)) op.latency_us[key] = *v;
      }
    }
    if (!op.throughput_ops) throw ParseError(tool, i + 1, raw, "no rps column");
    rows.emplace_back(upper((*fields)[0]), std::move(op));
  }
  return rows;
}

// "X requests per second" at the end of LINE (after "throughput summary:" or "NAME:"):
// the number X, or nullopt when LINE does not end so.
std::optional<double> redis_rps_suffix(std::string_view line, std::string_view& before) {
  static constexpr std::string_view suffix = " requests per second";
  auto at = line.find(suffix);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view head = trim(line.substr(0, at));
  auto sp = head.find_last_of(" \t");
  std::string_view num = sp == std::string_view::npos ? head : head.substr(sp + 1);
  before = sp == std::string_view::npos ? std::string_view{} : trim(head.substr(0, sp));
  return number(num);
}

// The default output: a "====== NAME ======" block per test with "N requests completed in
// T seconds", the latency distribution, then "Summary:" with "throughput summary: X requests
// per second" and "latency summary (msec):" (a header line of latency keys, a line of values).
// Redis before 6 ends a block with "X requests per second" instead.
RedisRows redis_default_rows(const std::vector<std::string_view>& lines, const char* tool) {
  RedisRows rows;
  std::vector<std::string> latency_header;
  bool in_summary = false, want_values = false;
  std::size_t block_line = 0;
  auto finish = [&]() {
    if (!rows.empty() && !rows.back().second.throughput_ops)
      throw ParseError(tool, block_line, lines[block_line - 1],
                       fmt::format("test {} has no 'requests per second' line (truncated?)", rows.back().first));
  };
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view raw = lines[i];
    std::string_view line = redis_visible(raw);
    if (line.empty() || redis_noise(line)) continue;
    if (starts_with(line, "======") && line.size() > 12 && line.ends_with("======")) {
      finish();
      std::string name(trim(line.substr(6, line.size() - 12)));
      if (name.empty()) throw ParseError(tool, i + 1, raw, "test block without a name");
      rows.emplace_back(upper(name), OpMetrics{});
      block_line = i + 1;
      in_summary = want_values = false;
      continue;
    }
    if (rows.empty()) throw ParseError(tool, i + 1, raw, "not redis-benchmark output (expected '====== TEST ======')");
    OpMetrics& op = rows.back().second;
    if (want_values) {
      auto vals = split_ws(line);
      if (vals.size() != latency_header.size())
        throw ParseError(tool, i + 1, raw,
                         fmt::format("expected {} latency values, found {} (truncated?)", latency_header.size(),
                                     vals.size()));
      for (std::size_t k = 0; k < vals.size(); ++k) {
        auto v = scaled(vals[k], 3);
        if (!v) throw ParseError(tool, i + 1, raw, fmt::format("{} latency is not a number", latency_header[k]));
        if (is_latency_key(latency_header[k])) op.latency_us[latency_header[k]] = *v;
      }
      want_values = false;
      latency_header.clear();
      continue;
    }
    if (line == "Summary:") {
      in_summary = true;
      continue;
    }
    std::string_view before;
    if (auto rps = redis_rps_suffix(line, before)) {
      if (!before.empty() && before != "throughput summary:")
        throw ParseError(tool, i + 1, raw, "unexpected text before 'requests per second'");
      op.throughput_ops = *rps;
      continue;
    }
    if (line.find("requests per second") != std::string_view::npos)
      throw ParseError(tool, i + 1, raw, "requests per second is not a number");
    if (auto at = line.find(" requests completed in "); at != std::string_view::npos) {
      auto n = integer(line.substr(0, at));
      if (!n) throw ParseError(tool, i + 1, raw, "bad request count");
      op.requests = *n;
      continue;
    }
    if (in_summary) {
      if (starts_with(line, "latency summary")) {
        if (line.find("(msec)") == std::string_view::npos)
          throw ParseError(tool, i + 1, raw, "latency summary in an unknown unit");
        if (++i >= lines.size()) throw ParseError(tool, i, lines[i - 1], "latency summary without values (truncated?)");
        for (auto k : split_ws(redis_visible(lines[i]))) latency_header.emplace_back(k);
        if (latency_header.empty()) throw ParseError(tool, i + 1, lines[i], "latency summary without a header");
        want_values = true;
        continue;
      }
      throw ParseError(tool, i + 1, raw, "unexpected line in a test's summary");
    }
    // Before "Summary:": the description of the run and the latency distribution (the
    // summary repeats what is needed of it); ignored.
  }
  if (want_values) throw ParseError(tool, lines.size(), lines.back(), "latency summary without values (truncated?)");
  finish();
  return rows;
}

// -q: one "NAME: X requests per second[, p50=Y msec]" line per test.
RedisRows redis_quiet_rows(const std::vector<std::string_view>& lines, const char* tool) {
  RedisRows rows;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view raw = lines[i];
    std::string_view line = redis_visible(raw);
    if (line.empty() || redis_noise(line)) continue;
    std::string_view before;
    auto rps = redis_rps_suffix(line, before);
    if (!rps || before.size() < 2 || before.back() != ':')
      throw ParseError(tool, i + 1, raw, "not a 'TEST: X requests per second' line");
    OpMetrics op;
    op.throughput_ops = *rps;
    if (auto p = line.find(", p50="); p != std::string_view::npos) {
      std::string_view rest = trim(line.substr(p + 6));
      if (!rest.ends_with(" msec")) throw ParseError(tool, i + 1, raw, "p50 in an unknown unit");
      auto v = scaled(trim(rest.substr(0, rest.size() - 5)), 3);
      if (!v) throw ParseError(tool, i + 1, raw, "p50 is not a number");
      op.latency_us["p50"] = *v;
    }
    rows.emplace_back(upper(trim(before.substr(0, before.size() - 1))), std::move(op));
  }
  return rows;
}

enum class RedisFormat { csv, normal, quiet };

RedisFormat redis_format(const std::vector<std::string_view>& lines) {
  for (auto raw : lines) {
    std::string_view line = redis_visible(raw);
    if (line.empty() || redis_noise(line)) continue;
    if (line.front() == '"') return RedisFormat::csv;
    if (starts_with(line, "======")) return RedisFormat::normal;
    if (line.find(" requests per second") != std::string_view::npos) return RedisFormat::quiet;
    return RedisFormat::csv;  // the CSV reader names the offending line
  }
  return RedisFormat::csv;
}

}  // namespace

Metrics parse_redis_benchmark(std::string_view text, std::string_view primary) {
  const char* tool = "redis-benchmark";
  if (trim(text).empty()) throw ParseError(tool, "empty output");
  auto lines = split_lines(text);
  RedisRows rows;
  switch (redis_format(lines)) {
    case RedisFormat::csv: rows = redis_csv_rows(lines, tool); break;
    case RedisFormat::normal: rows = redis_default_rows(lines, tool); break;
    case RedisFormat::quiet: rows = redis_quiet_rows(lines, tool); break;
  }
  if (rows.empty()) throw ParseError(tool, "no result row (truncated, or not redis-benchmark output?)");
  Metrics m;
  m.tool = tool;
  std::uint64_t requests = 0;
  bool all_counted = true;
  for (const auto& [name, op] : rows) {
    m.ops[name] = op;
    if (op.requests) requests += *op.requests;
    else all_counted = false;
  }
  if (all_counted) m.requests = requests;  // the default output says "N requests completed"
  const std::pair<std::string, OpMetrics>* chosen = &rows.back();
  if (!trim(primary).empty()) {
    auto it = std::find_if(rows.begin(), rows.end(), [&](const auto& r) { return same_op(r.first, primary); });
    if (it == rows.end())
      throw ParseError(tool, fmt::format("primary operation '{}' is not among the tests ({})", primary,
                                         op_names(m.ops)));
    chosen = &*it;
  }
  m.primary = chosen->first;
  m.throughput_ops = chosen->second.throughput_ops;
  m.latency_us = chosen->second.latency_us;
  return m;
}

// ---------------------------------------------------------------- memtier

namespace {

OpMetrics memtier_op(const json& o, std::string_view tool, const std::string& name) {
  OpMetrics op;
  op.throughput_ops = json_scaled(member(o, "Ops/sec"), 0, tool, name + " Ops/sec");
  op.requests = json_count(member(o, "Count"), tool, name + " Count");
  const json& avg = member(o, "Average Latency").is_null() ? member(o, "Latency") : member(o, "Average Latency");
  if (auto v = json_scaled(avg, 3, tool, name + " Average Latency")) op.latency_us["avg"] = *v;
  if (auto v = json_scaled(member(o, "Min Latency"), 3, tool, name + " Min Latency")) op.latency_us["min"] = *v;
  if (auto v = json_scaled(member(o, "Max Latency"), 3, tool, name + " Max Latency")) op.latency_us["max"] = *v;
  const json& pct = member(o, "Percentile Latencies");
  if (pct.is_object()) {
    for (const auto& [k, v] : pct.items()) {
      if (k.size() < 2 || k[0] != 'p' || !std::isdigit(static_cast<unsigned char>(k[1]))) continue;
      std::string key = percentile_key(std::string_view(k).substr(1));
      if (key.empty()) continue;
      if (auto x = json_scaled(v, 3, tool, name + " " + k)) op.latency_us[key] = *x;
    }
  }
  return op;
}

}  // namespace

Metrics parse_memtier(std::string_view text, std::string_view primary) {
  const char* tool = "memtier";
  json j = parse_json(text, tool);
  const json& all = member(j, "ALL STATS");
  if (!all.is_object()) throw ParseError(tool, "no \"ALL STATS\" section (truncated, or not --json-out-file?)");
  const json& totals = member(all, "Totals");
  if (!totals.is_object()) throw ParseError(tool, "no \"ALL STATS\".\"Totals\" section");
  Metrics m;
  m.tool = tool;
  OpMetrics t = memtier_op(totals, tool, "Totals");
  if (!t.throughput_ops) throw ParseError(tool, "\"Totals\" has no \"Ops/sec\"");
  static const std::pair<const char*, const char*> names[] = {{"Sets", "SET"}, {"Gets", "GET"}, {"Waits", "WAIT"}};
  for (const auto& [section, op] : names) {
    const json& o = member(all, section);
    if (!o.is_object()) continue;
    OpMetrics x = memtier_op(o, tool, section);
    if (x.requests && *x.requests == 0) continue;
    m.ops[op] = x;
  }
  const OpMetrics* chosen = &t;
  if (!trim(primary).empty()) {
    auto it = m.ops.find(upper(trim(primary)));
    if (it == m.ops.end())
      throw ParseError(tool, fmt::format("primary operation '{}' is not in the output ({})", primary, op_names(m.ops)));
    chosen = &it->second;
    m.primary = it->first;
  }
  m.throughput_ops = chosen->throughput_ops;
  m.latency_us = chosen->latency_us;
  m.requests = chosen->requests;
  const json& runtime = member(all, "Runtime");
  if (auto d = json_scaled(member(runtime, "Total duration"), -3, tool, "Total duration")) m.duration_s = *d;
  if (auto kb = json_scaled(member(totals, "KB/sec"), 0, tool, "KB/sec")) m.extra["kbytes_per_s"] = *kb;
  return m;
}

// ---------------------------------------------------------------- memaslap

Metrics parse_memaslap(std::string_view text) {
  const char* tool = "memaslap";
  if (trim(text).empty()) throw ParseError(tool, "empty output");
  static const RE2 summary(
      R"(^Run time:\s*([0-9.]+)s\s+Ops:\s*([0-9]+)\s+TPS:\s*([0-9]+)\s+Net_rate:\s*([0-9.]+)M/s$)",
      regex::byte_options());
  Metrics m;
  m.tool = tool;
  bool have_summary = false;
  // With --stat_freq (-S) memaslap ends with "Get|Set|Total Statistics (N events)" blocks
  // whose Min/Max/Avg/Std lines are the latency of the whole run in microseconds.
  std::string stat_block;  // "GET", "SET", "TOTAL" inside such a block, else ""
  auto lines = split_lines(text);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string line(trim(lines[i]));
    if (line.empty()) continue;
    if (auto p = line.find(" Statistics ("); p != std::string::npos && line.ends_with(" events)")) {
      stat_block = upper(line.substr(0, p));
      continue;
    }
    if (!stat_block.empty()) {
      static const std::pair<const char*, const char*> lat[] = {
          {"Min:", "min"}, {"Max:", "max"}, {"Avg:", "avg"}, {"Std:", "stdev"}};
      bool hit = false;
      for (const auto& [prefix, key] : lat) {
        if (!starts_with(line, prefix)) continue;
        auto v = number(trim(std::string_view(line).substr(std::strlen(prefix))));
        if (!v) throw ParseError(tool, i + 1, lines[i], fmt::format("{} is not a number", prefix));
        (stat_block == "TOTAL" ? m.latency_us : m.ops[stat_block].latency_us)[key] = *v;
        hit = true;
      }
      if (hit || starts_with(line, "Geo:") || starts_with(line, "Log2 Dist:") ||
          std::isdigit(static_cast<unsigned char>(line[0])))
        continue;
      stat_block.clear();
    }
    if (starts_with(line, "Run time:")) {
      std::string run_time, ops, tps, net_rate;
      if (!RE2::FullMatch(line, summary, &run_time, &ops, &tps, &net_rate))
        throw ParseError(tool, i + 1, lines[i], "malformed 'Run time: ... Ops: ... TPS: ... Net_rate: ...' line");
      m.duration_s = number(run_time);
      m.requests = integer(ops);
      m.throughput_ops = number(tps);
      if (auto v = number(net_rate)) m.extra["net_rate_mib_per_s"] = *v;
      if (!m.duration_s || !m.requests || !m.throughput_ops)
        throw ParseError(tool, i + 1, lines[i], "bad number in the summary line");
      have_summary = true;
      continue;
    }
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key(trim(std::string_view(line).substr(0, colon)));
    std::string_view value = trim(std::string_view(line).substr(colon + 1));
    static const std::pair<const char*, const char*> counters[] = {{"cmd_get", "GET"}, {"cmd_set", "SET"}};
    bool counter = false;
    for (const auto& [k, op] : counters) {
      if (key != k) continue;
      auto v = integer(value);
      if (!v) throw ParseError(tool, i + 1, lines[i], fmt::format("{} is not a count", k));
      m.ops[op].requests = *v;
      counter = true;
    }
    if (counter) continue;
    for (const char* k : {"get_misses", "written_bytes", "read_bytes", "object_bytes"}) {
      if (key != k) continue;
      auto v = integer(value);
      if (!v) throw ParseError(tool, i + 1, lines[i], fmt::format("{} is not a count", k));
      m.extra[k] = static_cast<double>(*v);
    }
  }
  if (!have_summary) throw ParseError(tool, "no 'Run time: ... TPS: ...' summary line (truncated?)");
  return m;
}

// ---------------------------------------------------------------- wrk, wrk2

namespace {

void wrk_json_line(Metrics& m, std::string_view line, std::size_t line_no, const char* tool) {
  json j;
  try {
    j = json::parse(line);
  } catch (const json::parse_error&) {
    throw ParseError(tool, line_no, line, "bad summary JSON line (truncated?)");
  } catch (const json::out_of_range&) {
    throw ParseError(tool, line_no, line, "a number in the summary JSON line is out of range");
  }
  try {
    auto req = json_count(member(j, "requests"), tool, "requests");
    auto dur = json_count(member(j, "duration_us"), tool, "duration_us");
    if (!req || !dur || *dur == 0) throw ParseError(tool, line_no, line, "summary JSON lacks requests or duration_us");
    m.requests = *req;
    m.duration_s = static_cast<double>(*dur) / 1e6;
    m.throughput_ops = static_cast<double>(*req) * 1e6 / static_cast<double>(*dur);
    if (auto b = json_count(member(j, "bytes"), tool, "bytes")) m.extra["bytes_read"] = static_cast<double>(*b);
    std::uint64_t errors = 0;
    const json& e = member(j, "errors");
    for (const char* k : {"connect", "read", "write", "status", "timeout"}) {
      auto v = json_count(member(e, k), tool, std::string("errors.") + k);
      if (!v) throw ParseError(tool, line_no, line, fmt::format("summary JSON lacks errors.{}", k));
      errors += *v;
      m.extra[std::string("errors_") + k] = static_cast<double>(*v);
    }
    m.errors = errors;
    m.latency_us.clear();
    const json& lat = member(j, "latency_us");
    if (lat.is_object()) {
      for (const auto& [k, v] : lat.items()) {
        std::string key = k == "mean" ? "avg" : k;
        if (!is_latency_key(key)) continue;
        if (auto x = json_scaled(v, 0, tool, "latency_us." + k)) m.latency_us[key] = *x;
      }
    }
    // The whole distribution: value, count, value, count, ... ascending (for combining clients).
    m.latency_histogram_us.clear();
    const json& hist = member(j, "histogram_us");
    if (hist.is_array()) {
      if (hist.size() % 2 != 0) throw ParseError(tool, line_no, line, "histogram_us has an odd number of entries");
      for (std::size_t k = 0; k < hist.size(); k += 2) {
        auto v = json_count(hist[k], tool, "histogram_us value");
        auto c = json_count(hist[k + 1], tool, "histogram_us count");
        if (!v || !c) throw ParseError(tool, line_no, line, "histogram_us holds a non-number");
        if (!m.latency_histogram_us.empty() && *v <= m.latency_histogram_us.back().first)
          throw ParseError(tool, line_no, line, "histogram_us values are not ascending");
        m.latency_histogram_us.emplace_back(*v, *c);
      }
    }
  } catch (const ParseError&) {
    throw;
  } catch (const json::exception& e) {
    throw ParseError(tool, line_no, line, e.what());
  }
}

Metrics parse_wrk_like(std::string_view text, const char* tool) {
  if (trim(text).empty()) throw ParseError(tool, "empty output");
  Metrics m;
  m.tool = tool;
  enum class Section { none, distribution, spectrum } section = Section::none;
  bool have_requests = false, have_json = false, no_samples = false;
  std::uint64_t errors = 0;
  std::map<std::string, double> latency;
  auto lines = split_lines(text);
  static const RE2 requests_re(R"(^([0-9]+) requests in ([0-9.]+[a-z]+), ([0-9.]+[KMGTP]?B) read$)",
                               regex::byte_options());
  static const RE2 socket_re(
      R"(^Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)$)", regex::byte_options());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view raw = lines[i];
    std::string_view t = trim(raw);
    std::size_t no = i + 1;
    if (t.empty()) continue;
    if (t.front() == '{') {
      if (t.find("\"iommuvm_wrk\"") == std::string_view::npos) throw ParseError(tool, no, raw, "unexpected JSON line");
      wrk_json_line(m, t, no, tool);
      have_json = true;
      continue;
    }
    if (section == Section::spectrum) {
      if (starts_with(t, "----")) section = Section::none;
      continue;
    }
    if (starts_with(t, "Running ") || t.find(" threads and ") != std::string_view::npos ||
        starts_with(t, "Thread Stats") || starts_with(t, "Req/Sec") || starts_with(t, "Thread calibration") ||
        starts_with(t, "#["))
      continue;
    if (starts_with(t, "Latency Distribution")) {
      section = Section::distribution;
      continue;
    }
    if (starts_with(t, "Detailed Percentile spectrum")) {
      section = Section::spectrum;
      continue;
    }
    auto tok = split_ws(t);
    if (tok[0] == "Latency") {
      if (tok.size() < 4) throw ParseError(tool, no, raw, "short Latency line (truncated?)");
      auto avg = try_duration_us(tok[1]), stdev = try_duration_us(tok[2]), max = try_duration_us(tok[3]);
      if (!avg || !stdev || !max) throw ParseError(tool, no, raw, "bad duration in the Latency line");
      if (*avg == 0 && *max == 0) {
        no_samples = true;  // every request failed: wrk prints zeros and -nan%
      } else {
        latency["avg"] = *avg;
        latency["stdev"] = *stdev;
        latency["max"] = *max;
      }
      continue;
    }
    if (section == Section::distribution && tok.size() == 2 && tok[0].size() > 1 && tok[0].back() == '%') {
      std::string key = percentile_key(tok[0].substr(0, tok[0].size() - 1));
      auto v = try_duration_us(tok[1]);
      if (!v || (key.empty() && !number(tok[0].substr(0, tok[0].size() - 1))))
        throw ParseError(tool, no, raw, "bad latency percentile line");
      if (!key.empty()) latency[key] = *v;
      continue;
    }
    section = Section::none;
    std::string count, duration, bytes;
    if (RE2::FullMatch(t, requests_re, &count, &duration, &bytes)) {
      auto n = integer(count);
      auto d = try_duration_us(duration);
      auto b = try_binary_bytes(bytes);
      if (!n || !d || !b) throw ParseError(tool, no, raw, "bad number in the requests line");
      m.requests = *n;
      m.duration_s = *d / 1e6;
      m.extra["bytes_read"] = *b;
      have_requests = true;
      continue;
    }
    if (starts_with(t, "Socket errors:")) {
      std::string counts[4];
      if (!RE2::FullMatch(t, socket_re, &counts[0], &counts[1], &counts[2], &counts[3]))
        throw ParseError(tool, no, raw, "malformed Socket errors line");
      const char* kinds[] = {"connect", "read", "write", "timeout"};
      for (int k = 0; k < 4; ++k) {
        auto v = integer(counts[k]);
        if (!v) throw ParseError(tool, no, raw, "bad count in the Socket errors line");
        errors += *v;
        m.extra[std::string("errors_") + kinds[k]] = static_cast<double>(*v);
      }
      continue;
    }
    if (starts_with(t, "Non-2xx or 3xx responses:")) {
      auto v = integer(t.substr(std::strlen("Non-2xx or 3xx responses:")));
      if (!v) throw ParseError(tool, no, raw, "bad count of Non-2xx or 3xx responses");
      errors += *v;
      m.extra["errors_status"] = static_cast<double>(*v);
      continue;
    }
    if (starts_with(t, "Requests/sec:")) {
      m.throughput_ops = number(t.substr(std::strlen("Requests/sec:")));
      if (!m.throughput_ops) throw ParseError(tool, no, raw, "Requests/sec is not a number");
      continue;
    }
    if (starts_with(t, "Transfer/sec:")) {
      auto v = try_binary_bytes(t.substr(std::strlen("Transfer/sec:")));
      if (!v) throw ParseError(tool, no, raw, "Transfer/sec is not a byte amount");
      m.extra["transfer_bytes_per_s"] = *v;
      continue;
    }
    throw ParseError(tool, no, raw, "unexpected line");
  }
  if (have_json) return m;  // the script's figures are exact; they win over the text
  if (!have_requests) throw ParseError(tool, "no 'N requests in T, B read' line (truncated?)");
  if (!m.throughput_ops) throw ParseError(tool, "no 'Requests/sec:' line (truncated?)");
  m.errors = errors;
  if (!no_samples) m.latency_us = latency;
  return m;
}

}  // namespace

Metrics parse_wrk(std::string_view text) { return parse_wrk_like(text, "wrk"); }
Metrics parse_wrk2(std::string_view text) { return parse_wrk_like(text, "wrk2"); }

// ---------------------------------------------------------------- iperf3

Metrics parse_iperf3(std::string_view text) {
  const char* tool = "iperf3";
  json j = parse_json(text, tool);
  if (!j.is_object()) throw ParseError(tool, "not an iperf3 -J object");
  if (const json& err = member(j, "error"); err.is_string())
    throw ParseError(tool, fmt::format("iperf3 failed: {}", err.get<std::string>()));
  const json& end = member(j, "end");
  const json& recv = member(end, "sum_received").is_object() ? member(end, "sum_received") : member(end, "sum");
  if (!recv.is_object()) throw ParseError(tool, "no \"end\" summary (sum_received or sum; truncated?)");
  Metrics m;
  m.tool = tool;
  m.throughput_gbps = json_scaled(member(recv, "bits_per_second"), -9, tool, "bits_per_second");
  if (!m.throughput_gbps) throw ParseError(tool, "the end summary has no bits_per_second");
  m.duration_s = json_scaled(member(recv, "seconds"), 0, tool, "seconds");
  if (auto b = json_scaled(member(recv, "bytes"), 0, tool, "bytes")) m.extra["bytes_received"] = *b;
  const json& sent = member(end, "sum_sent");
  if (sent.is_object()) {
    if (auto b = json_scaled(member(sent, "bytes"), 0, tool, "bytes")) m.extra["bytes_sent"] = *b;
    if (auto g = json_scaled(member(sent, "bits_per_second"), -9, tool, "bits_per_second")) m.extra["sender_gbps"] = *g;
    if (auto r = json_scaled(member(sent, "retransmits"), 0, tool, "retransmits")) m.extra["retransmits"] = *r;
  }
  for (const char* k : {"jitter_ms", "lost_packets", "packets", "lost_percent"}) {
    if (auto v = json_scaled(member(recv, k), 0, tool, k)) m.extra[k] = *v;
  }
  const json& cpu = member(end, "cpu_utilization_percent");
  if (auto v = json_scaled(member(cpu, "host_total"), 0, tool, "host_total")) m.extra["cpu_host_percent"] = *v;
  if (auto v = json_scaled(member(cpu, "remote_total"), 0, tool, "remote_total")) m.extra["cpu_remote_percent"] = *v;
  return m;
}

// ---------------------------------------------------------------- custom

Metrics parse_custom(std::string_view text, const std::map<std::string, std::string>& metrics) {
  const char* tool = "custom";
  if (metrics.empty()) throw InputError("custom output: no metrics (name -> regex) given");
  Metrics m;
  m.tool = tool;
  for (const auto& [name, pattern] : metrics) {
    std::string error;
    auto re = regex::compile_metric_pattern(pattern, error);
    if (!re) throw InputError(fmt::format("custom metric '{}': {}", name, error));
    std::string value;
    if (!RE2::PartialMatch(text, *re, &value))
      throw ParseError(tool, fmt::format("metric '{}': the regex '{}' does not match", name, pattern));
    auto v = number(value);
    if (!v) throw ParseError(tool, fmt::format("metric '{}': '{}' is not a number", name, shorten(value)));
    if (name == "throughput_ops") m.throughput_ops = *v;
    else if (name == "throughput_gbps") m.throughput_gbps = *v;
    else if (name == "duration_s") m.duration_s = *v;
    else if (name == "errors" || name == "requests") {
      auto n = integer(value);
      if (!n) throw ParseError(tool, fmt::format("metric '{}': '{}' is not a count", name, shorten(value)));
      (name == "errors" ? m.errors : m.requests) = *n;
    } else if (starts_with(name, "latency_us.")) {
      m.latency_us[name.substr(std::strlen("latency_us."))] = *v;
    } else {
      m.extra[name] = *v;
    }
  }
  return m;
}

// ---------------------------------------------------------------- dispatch

const std::vector<std::string>& parser_names() {
  static const std::vector<std::string> names = {"redis-benchmark", "memtier", "memaslap", "wrk",
                                                 "wrk2",            "iperf3",  "custom"};
  return names;
}

Metrics parse_output(std::string_view tool, std::string_view raw, const ParseOptions& opts) {
  // Tool output is data: bytes that are not UTF-8 (a test named in Latin-1, a torn capture)
  // are kept as \xNN, so every name that reaches the metrics can be written as JSON.
  const std::string escaped = text::escape_invalid_utf8(raw);
  const std::string_view text = escaped;
  if (tool == "redis-benchmark") {
    auto m = parse_redis_benchmark(text, opts.primary);
    if (opts.requests_per_test > 0) {  // -n N: N requests per test, none of it in the output
      for (auto& [name, op] : m.ops) op.requests = opts.requests_per_test;
      m.requests = opts.requests_per_test * m.ops.size();
    }
    return m;
  }
  if (tool == "memtier" || tool == "memtier_benchmark") return parse_memtier(text, opts.primary);
  if (tool == "memaslap" || tool == "memcaslap") return parse_memaslap(text);
  if (tool == "wrk") return parse_wrk(text);
  if (tool == "wrk2") return parse_wrk2(text);
  if (tool == "iperf3") return parse_iperf3(text);
  if (tool == "custom") return parse_custom(text, opts.custom);
  std::string names;
  for (const auto& n : parser_names()) names += (names.empty() ? "" : ", ") + n;
  throw InputError(fmt::format("unknown tool '{}' (known: {})", tool, names));
}

}  // namespace iommuvm::workload
