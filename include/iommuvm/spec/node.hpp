// A document tree that remembers where each value was written: YAML and JSON
// specs both load into it (through yaml-cpp, which keeps line/column marks).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "iommuvm/util/diagnostic.hpp"

namespace iommuvm::spec {

struct Node {
  enum class Kind { null, scalar, seq, map };
  struct Field;

  Kind kind = Kind::null;
  std::string value;    // scalars: the text as written
  bool quoted = false;  // scalars: written in quotes (a string, never a number or bool)
  Mark mark;
  std::vector<Node> items;    // seq
  std::vector<Field> fields;  // map, in document order

  bool is_map() const { return kind == Kind::map; }
  bool is_seq() const { return kind == Kind::seq; }
  bool is_scalar() const { return kind == Kind::scalar; }
  const Node* find(const std::string& key) const;
  Node* find(const std::string& key);
  std::string kind_name() const;
};

struct Node::Field {
  std::string key;
  Mark key_mark;
  Node value;
};

// Limits that keep hostile inputs from exhausting the machine.
inline constexpr std::size_t kMaxSpecBytes = 8u << 20;
inline constexpr int kMaxDepth = 64;
inline constexpr std::size_t kMaxNodes = 1'000'000;            // values, aliases expanded
inline constexpr std::size_t kMaxExpandedBytes = 64u << 20;    // all scalars, aliases expanded
inline constexpr std::size_t kMaxScalarBytes = 1u << 20;       // one value
inline constexpr std::size_t kMaxKeyBytes = 4096;              // one key

// Parse TEXT (YAML, or JSON which yaml-cpp reads as YAML flow style). FILE names it in marks.
// Syntax errors go to DIAG; the returned node is null then.
Node parse_document(const std::string& text, const std::string& file, Diagnostics& diag);

// Scalar to JSON by YAML 1.2 core schema rules (unquoted true/false/null/numbers are typed).
nlohmann::json to_json(const Node& n);
// JSON back to a node; every new node carries MARK.
Node from_json(const nlohmann::json& j, const Mark& mark);

}  // namespace iommuvm::spec
