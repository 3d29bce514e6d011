// Helpers shared by the tests.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace iommuvm::test {

// A fresh folder under $TMPDIR, removed when the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  std::filesystem::path path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
int free_port();

// tests/data/REL
std::filesystem::path data_path(const std::string& rel);

// Path of the built iommuvm binary.
std::filesystem::path binary_path();

struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
// Run ARGV (no shell), capture stdout and stderr.
ProcessResult run_process(const std::vector<std::string>& argv, const std::string& stdin_data = "");

// True when PROGRAM is found on PATH (or is an existing absolute path).
bool have_program(const std::string& program);

// Figure files: PDF ("%PDF-" header, "%%EOF" near the end), PNG (its 8-byte signature), SVG
// (XML whose root element is <svg>).
bool is_pdf(const std::filesystem::path& p);
bool is_png(const std::filesystem::path& p);
bool is_svg(const std::filesystem::path& p);

}  // namespace iommuvm::test
