// Loading and validating an experiment spec.
#pragma once

#include <filesystem>
#include <string>

#include "iommuvm/spec/node.hpp"
#include "iommuvm/spec/spec.hpp"
#include "iommuvm/util/diagnostic.hpp"

namespace iommuvm::spec {

struct Loaded {
  Spec spec;  // base values (the first value of every axis)
  Node tree;  // the document, for matrix expansion
  Diagnostics diag;
  bool ok() const { return !diag.has_errors(); }
};

// Read and type-check a spec. FORMAT is "yaml" or "json"; empty: from the file extension.
Loaded load_text(const std::string& text, const std::string& file, std::string format = "");
Loaded load_file(const std::filesystem::path& path);

// Type-check TREE into a Spec. With collect_axes, lists given where a single value is
// expected become matrix axes; otherwise they are errors. Used for the base spec and for
// every run point after the matrix substituted its values.
Spec read_spec(const Node& tree, const std::string& file, Diagnostics& diag, bool collect_axes);

// Checks across fields of one fully resolved spec (one run point): contradictions are
// errors, combinations the kernel is known to refuse are warnings.
void check_semantics(const Spec& spec, Diagnostics& diag);

// The nearest of CANDIDATES to WORD by edit distance, or "" when none is close.
std::string nearest(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace iommuvm::spec
