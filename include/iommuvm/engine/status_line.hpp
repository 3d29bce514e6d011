#pragma once

// The live status line of `iommuvm run` on a terminal: one line, rewritten in place at the
// start of every step ("[3/12] redis-strict-r1 · client.measure: ..."), erased before any
// permanent output so the plain per-run lines stay intact. It is only written by the
// controller between steps, never sent to a machine, so it costs the measurement nothing.

#include <cstddef>
#include <streambuf>
#include <string>
#include <string_view>

namespace iommuvm::engine {

// The status text, cut to `width` columns (counted in UTF-8 code points) with a trailing "…"
// when longer; width 0 means no limit. Pure.
std::string status_line(int done, std::size_t total, std::string_view run, std::string_view step, std::size_t width);

// A stream buffer in front of a terminal's: set_status() shows a status line; the next write
// of ordinary output first erases it ("\r\033[K"). The width is the terminal's when fd is one.
class LiveStatus : public std::streambuf {
 public:
  LiveStatus(std::streambuf* out, int fd);
  ~LiveStatus() override;
  LiveStatus(const LiveStatus&) = delete;
  LiveStatus& operator=(const LiveStatus&) = delete;

  void set_status(const std::string& text);  // text without newline; cut to the terminal width
  void clear();

 protected:
  int overflow(int c) override;
  std::streamsize xsputn(const char* s, std::streamsize n) override;
  int sync() override;

 private:
  std::size_t width() const;
  std::streambuf* out_;
  int fd_;
  bool shown_ = false;
};

}  // namespace iommuvm::engine
