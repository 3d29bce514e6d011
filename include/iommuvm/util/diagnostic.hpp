#pragma once

#include <string>
#include <vector>

namespace iommuvm {

// Where something is in an input file. line and column are 1-based; 0 means unknown.
struct Mark {
  std::string file;
  int line = 0;
  int column = 0;
};

struct Diagnostic {
  enum class Severity { error, warning };
  Severity severity = Severity::error;
  Mark mark;
  std::string message;

  // "FILE:LINE:COL: error: MESSAGE"
  std::string format() const;
};

class Diagnostics {
 public:
  void error(const Mark& mark, std::string message);
  void warning(const Mark& mark, std::string message);
  bool has_errors() const;
  const std::vector<Diagnostic>& all() const { return items_; }
  std::size_t error_count() const;
  // Sorted by file, line, column; duplicates removed.
  std::vector<Diagnostic> sorted() const;

 private:
  std::vector<Diagnostic> items_;
};

}  // namespace iommuvm
