#include "iommuvm/spec/node.hpp"

#include <charconv>
#include <cmath>
#include <optional>
#include <string_view>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "iommuvm/util/regex.hpp"
#include "iommuvm/util/text.hpp"

namespace iommuvm::spec {

const Node* Node::find(const std::string& key) const {
  for (const auto& f : fields)
    if (f.key == key) return &f.value;
  return nullptr;
}

Node* Node::find(const std::string& key) {
  for (auto& f : fields)
    if (f.key == key) return &f.value;
  return nullptr;
}

std::string Node::kind_name() const {
  switch (kind) {
    case Kind::null: return "null";
    case Kind::scalar: return "a scalar";
    case Kind::seq: return "a list";
    case Kind::map: return "a mapping";
  }
  return "?";
}

namespace {

Mark mark_of(const YAML::Mark& m, const std::string& file) {
  if (m.is_null()) return {file, 0, 0};
  return {file, m.line + 1, m.column + 1};
}

// yaml-cpp shares an anchored node between its aliases; converting copies it once per
// alias, so the converter counts what it has made and stops at the limits (a "billion
// laughs" document is a few lines that expand to 10^9 values).
struct Converter {
  const std::string& file;
  Diagnostics& diag;
  bool stopped = false;
  std::size_t nodes = 0;
  std::size_t bytes = 0;

  void stop(const Mark& at, const std::string& message) {
    if (!stopped) diag.error(at, message);
    stopped = true;
  }

  // The text is checked to be UTF-8 before parsing, but yaml-cpp decodes two escapes of a
  // double-quoted scalar ("\_" and "\N", U+00A0 and U+0085) to a single byte that is not: refuse those too,
  // where they are, so that nothing downstream (JSON output, the spec hash) meets them.
  bool decoded_utf8(const std::string& s, const Mark& mark, const char* what) {
    auto bad = text::first_invalid_utf8(s);
    if (bad == std::string::npos) return true;
    diag.error(mark, fmt::format("this {} decodes to byte 0x{:02x}, which is not valid UTF-8 (yaml-cpp's \"\\_\" "
                                 "and \"\\N\" escapes): write the character itself",
                                 what, static_cast<unsigned char>(s[bad])));
    return false;
  }

  Node convert(const YAML::Node& y, int depth) {
    Node n;
    n.mark = mark_of(y.Mark(), file);
    if (stopped) return n;
    if (depth > kMaxDepth) {
      stop(n.mark, fmt::format("document is nested more than {} levels deep (the limit)", kMaxDepth));
      return n;
    }
    if (++nodes > kMaxNodes) {
      stop(n.mark, fmt::format("document has more than {} values once its aliases (*name) are expanded (the limit)",
                               kMaxNodes));
      return n;
    }
    if (y.IsScalar()) {
      const auto size = y.Scalar().size();
      if (size > kMaxScalarBytes) {
        stop(n.mark, fmt::format("a value of {} bytes; values may be at most {} bytes (the limit)", size, kMaxScalarBytes));
        return n;
      }
      bytes += size;
      if (bytes > kMaxExpandedBytes) {
        stop(n.mark, fmt::format("document's values add up to more than {} bytes once its aliases (*name) are expanded "
                                 "(the limit)", kMaxExpandedBytes));
        return n;
      }
    }
    switch (y.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        n.kind = Node::Kind::null;
        break;
      case YAML::NodeType::Scalar:
        n.kind = Node::Kind::scalar;
        n.value = y.Scalar();
        n.quoted = y.Tag() == "!";
        if (!decoded_utf8(n.value, n.mark, "value")) {
          n.kind = Node::Kind::null;
          n.value.clear();
        }
        break;
      case YAML::NodeType::Sequence:
        n.kind = Node::Kind::seq;
        for (const auto& item : y) n.items.push_back(convert(item, depth + 1));
        break;
      case YAML::NodeType::Map:
        n.kind = Node::Kind::map;
        for (const auto& kv : y) {
          Node::Field f;
          f.key_mark = mark_of(kv.first.Mark(), file);
          if (!kv.first.IsScalar()) {
            diag.error(f.key_mark, "mapping keys must be plain strings");
            continue;
          }
          f.key = kv.first.Scalar();
          if (!decoded_utf8(f.key, f.key_mark, "key")) continue;
          if (f.key.size() > kMaxKeyBytes) {
            stop(f.key_mark, fmt::format("a key of {} bytes; keys may be at most {} bytes (the limit)", f.key.size(),
                                         kMaxKeyBytes));
            break;
          }
          bool dup = false;
          for (const auto& existing : n.fields) dup = dup || existing.key == f.key;
          if (dup) {
            diag.error(f.key_mark, fmt::format("duplicate key '{}'", f.key));
            continue;
          }
          f.value = convert(kv.second, depth + 1);
          n.fields.push_back(std::move(f));
        }
        break;
    }
    return n;
  }
};

}  // namespace

namespace {
// yaml-cpp's parser recurses once per level of [ ] and { } nesting, so a document of a
// hundred thousand '[' would overflow the stack before the converter could count levels.
// This scan sees the flow brackets outside quotes and comments; it returns the line and
// column where the nesting first passes LIMIT.
std::optional<std::pair<int, int>> flow_nesting_beyond(const std::string& text, int limit) {
  int depth = 0, line = 1, col = 0;
  char quote = 0;
  bool comment = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    ++col;
    if (c == '\n') {
      ++line, col = 0, comment = false;
      continue;
    }
    if (comment) continue;
    if (quote) {
      if (c == '\\' && quote == '"') ++i, ++col;
      else if (c == quote) quote = 0;
      continue;
    }
    if (c == '"' || c == '\'') {
      if (i == 0 || std::string_view(" \t[{,:\n-").find(text[i - 1]) != std::string_view::npos) quote = c;
    } else if (c == '#' && (i == 0 || text[i - 1] == ' ' || text[i - 1] == '\t')) {
      comment = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return std::make_pair(line, col);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::nullopt;
}
}  // namespace

Node parse_document(const std::string& text, const std::string& file, Diagnostics& diag) {
  if (text.size() > kMaxSpecBytes) {
    diag.error({file, 1, 1}, fmt::format("file is {} bytes; a spec may be at most {} bytes", text.size(), kMaxSpecBytes));
    return {};
  }
  if (text.find('\0') != std::string::npos) {
    auto pos = text.find('\0');
    int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(pos), '\n'));
    diag.error({file, line, 1}, "file contains NUL bytes: expected YAML or JSON text");
    return {};
  }
  if (auto bad = text::first_invalid_utf8(text); bad != std::string::npos) {
    auto [line, col] = text::line_column(text, bad);
    diag.error({file, line, col}, fmt::format("byte 0x{:02x} is not valid UTF-8: a spec is UTF-8 text",
                                              static_cast<unsigned char>(text[bad])));
    return {};
  }
  if (auto too_deep = flow_nesting_beyond(text, kMaxDepth)) {
    diag.error({file, too_deep->first, too_deep->second},
               fmt::format("document is nested more than {} levels deep (the limit)", kMaxDepth));
    return {};
  }
  try {
    YAML::Node root = YAML::Load(text);
    Converter c{file, diag};
    return c.convert(root, 0);
  } catch (const YAML::Exception& e) {
    diag.error(mark_of(e.mark, file), fmt::format("syntax error: {}", e.msg));
  } catch (const std::exception& e) {
    diag.error({file, 1, 1}, fmt::format("cannot parse: {}", e.what()));
  }
  return {};
}

namespace {
bool looks_int(const std::string& s) {
  static const RE2 re(R"([-+]?[0-9]+)", regex::byte_options());
  return RE2::FullMatch(s, re);
}
bool looks_float(const std::string& s) {
  static const RE2 re(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)", regex::byte_options());
  return RE2::FullMatch(s, re);
}
}  // namespace

nlohmann::json to_json(const Node& n) {
  switch (n.kind) {
    case Node::Kind::null: return nullptr;
    case Node::Kind::scalar: {
      if (n.quoted) return n.value;
      const auto& v = n.value;
      if (v == "true" || v == "True" || v == "TRUE") return true;
      if (v == "false" || v == "False" || v == "FALSE") return false;
      if (v == "null" || v == "~" || v == "Null" || v == "NULL") return nullptr;
      if (looks_int(v)) {
        long long x = 0;
        auto* b = v.data() + (v[0] == '+' ? 1 : 0);
        auto [p, ec] = std::from_chars(b, v.data() + v.size(), x);
        if (ec == std::errc() && p == v.data() + v.size()) return x;
        return v;
      }
      if (looks_float(v)) {
        try {
          double d = std::stod(v);
          if (std::isfinite(d)) return d;
        } catch (...) {
        }
      }
      return v;
    }
    case Node::Kind::seq: {
      auto arr = nlohmann::json::array();
      for (const auto& i : n.items) arr.push_back(to_json(i));
      return arr;
    }
    case Node::Kind::map: {
      auto obj = nlohmann::json::object();
      for (const auto& f : n.fields) obj[f.key] = to_json(f.value);
      return obj;
    }
  }
  return nullptr;
}

Node from_json(const nlohmann::json& j, const Mark& mark) {
  Node n;
  n.mark = mark;
  if (j.is_null()) {
    n.kind = Node::Kind::null;
  } else if (j.is_object()) {
    n.kind = Node::Kind::map;
    for (const auto& [k, v] : j.items()) n.fields.push_back({k, mark, from_json(v, mark)});
  } else if (j.is_array()) {
    n.kind = Node::Kind::seq;
    for (const auto& v : j) n.items.push_back(from_json(v, mark));
  } else {
    n.kind = Node::Kind::scalar;
    if (j.is_string()) {
      n.value = j.get<std::string>();
      n.quoted = true;
    } else {
      n.value = j.dump();
    }
  }
  return n;
}

}  // namespace iommuvm::spec
