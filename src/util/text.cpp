#include "iommuvm/util/text.hpp"

#include <utility>

#include <fmt/format.h>

namespace iommuvm::text {

std::size_t utf8_length_at(std::string_view t, std::size_t i) {
  auto c = static_cast<unsigned char>(t[i]);
  std::size_t n = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
  if (n == 0 || i + n > t.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(t[i + k]) & 0xC0) != 0x80) return 0;
  auto c1 = n > 1 ? static_cast<unsigned char>(t[i + 1]) : 0;
  if (n == 3 && ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0))) return 0;  // overlong, surrogate
  if (n == 4 && ((c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 >= 0x90))) return 0;  // overlong, > U+10FFFF
  return n;
}

std::size_t first_invalid_utf8(std::string_view t) {
  for (std::size_t i = 0; i < t.size();) {
    if (static_cast<unsigned char>(t[i]) < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = utf8_length_at(t, i);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

std::string escape_invalid_utf8(std::string_view t) {
  if (first_invalid_utf8(t) == std::string_view::npos) return std::string(t);
  std::string out;
  out.reserve(t.size() + 16);
  for (std::size_t i = 0; i < t.size();) {
    std::size_t n = utf8_length_at(t, i);
    if (n) {
      out.append(t.substr(i, n));
      i += n;
    } else {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(t[i]));
      ++i;
    }
  }
  return out;
}

std::string_view trim(std::string_view t, std::string_view chars) {
  auto b = t.find_first_not_of(chars);
  if (b == std::string_view::npos) return t.substr(t.size());
  auto e = t.find_last_not_of(chars);
  return t.substr(b, e - b + 1);
}

std::vector<std::string_view> split_lines(std::string_view t, LineOptions o) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start < t.size() || (o.keep_last_empty && start == t.size())) {
    auto nl = t.find('\n', start);
    if (nl == std::string_view::npos) nl = t.size();
    auto line = t.substr(start, nl - start);
    if (o.drop_cr && !line.empty() && line.back() == '\r') line.remove_suffix(1);
    out.push_back(line);
    if (nl == t.size()) break;
    start = nl + 1;
  }
  return out;
}

std::string duration_text(double s) {
  long long t = static_cast<long long>(s + 0.5);
  if (t < 60) return fmt::format("{}s", t);
  if (t < 3600) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
}

std::string bounded(std::string m) {
  constexpr std::size_t kHead = 600, kTail = 200;
  if (m.size() <= kHead + kTail + 64) return m;
  auto boundary = [&](std::size_t i) {
    while (i > 0 && i < m.size() && (static_cast<unsigned char>(m[i]) & 0xC0) == 0x80) --i;
    return i;
  };
  std::size_t head = boundary(kHead), tail = boundary(m.size() - kTail);
  return m.substr(0, head) + fmt::format(" [... {} bytes cut ...] ", tail - head) + m.substr(tail);
}

std::pair<int, int> line_column(std::string_view t, std::size_t pos) {
  int line = 1, col = 1;
  for (std::size_t i = 0; i < pos && i < t.size(); ++i) {
    if (t[i] == '\n') ++line, col = 1;
    else ++col;
  }
  return {line, col};
}

}  // namespace iommuvm::text
