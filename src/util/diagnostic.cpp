#include "iommuvm/util/diagnostic.hpp"

#include <algorithm>
#include <tuple>

#include <fmt/format.h>

#include "iommuvm/util/text.hpp"

namespace iommuvm {

std::string Diagnostic::format() const {
  const char* sev = severity == Severity::error ? "error" : "warning";
  return fmt::format("{}:{}:{}: {}: {}", mark.file.empty() ? "<input>" : mark.file, mark.line,
                     mark.column, sev, message);
}

void Diagnostics::error(const Mark& mark, std::string message) {
  items_.push_back({Diagnostic::Severity::error, mark, text::bounded(std::move(message))});
}

void Diagnostics::warning(const Mark& mark, std::string message) {
  items_.push_back({Diagnostic::Severity::warning, mark, text::bounded(std::move(message))});
}

bool Diagnostics::has_errors() const { return error_count() > 0; }

std::size_t Diagnostics::error_count() const {
  return static_cast<std::size_t>(std::count_if(items_.begin(), items_.end(), [](const auto& d) {
    return d.severity == Diagnostic::Severity::error;
  }));
}

std::vector<Diagnostic> Diagnostics::sorted() const {
  auto out = items_;
  auto key = [](const Diagnostic& d) {
    return std::tie(d.mark.file, d.mark.line, d.mark.column, d.severity, d.message);
  };
  std::stable_sort(out.begin(), out.end(),
                   [&](const Diagnostic& a, const Diagnostic& b) { return key(a) < key(b); });
  out.erase(std::unique(out.begin(), out.end(),
                        [&](const Diagnostic& a, const Diagnostic& b) { return key(a) == key(b); }),
            out.end());
  return out;
}

}  // namespace iommuvm
