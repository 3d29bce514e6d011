#include "iommuvm/engine/status_line.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <fmt/format.h>

namespace iommuvm::engine {

namespace {

constexpr std::string_view kErase = "\r\033[K";

bool continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Cut s to at most `cols` code points, ending with "…" when it was longer.
std::string cut(const std::string& s, std::size_t cols) {
  if (cols == 0) return s;
  std::size_t points = 0;
  for (unsigned char c : s)
    if (!continuation(c)) ++points;
  if (points <= cols) return s;
  std::size_t keep = cols > 1 ? cols - 1 : 0, seen = 0, i = 0;
  for (; i < s.size(); ++i) {
    if (!continuation(static_cast<unsigned char>(s[i]))) {
      if (seen == keep) break;
      ++seen;
    }
  }
  return s.substr(0, i) + "…";
}

}  // namespace

std::string status_line(int done, std::size_t total, std::string_view run, std::string_view step, std::size_t width) {
  std::string text = fmt::format("[{}/{}] ", done, total);
  if (!run.empty()) text += fmt::format("{} · ", run);
  text += step;
  for (char& c : text)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  return cut(text, width);
}

LiveStatus::LiveStatus(std::streambuf* out, int fd) : out_(out), fd_(fd) {}

LiveStatus::~LiveStatus() { clear(); }

std::size_t LiveStatus::width() const {
  struct winsize ws {};
  if (::ioctl(fd_, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1) return ws.ws_col - 1;  // never wrap
  return 79;
}

void LiveStatus::set_status(const std::string& text) {
  out_->sputn(kErase.data(), static_cast<std::streamsize>(kErase.size()));
  std::string t = cut(text, width());
  out_->sputn(t.data(), static_cast<std::streamsize>(t.size()));
  out_->pubsync();
  shown_ = true;
}

void LiveStatus::clear() {
  if (!shown_) return;
  out_->sputn(kErase.data(), static_cast<std::streamsize>(kErase.size()));
  out_->pubsync();
  shown_ = false;
}

int LiveStatus::overflow(int c) {
  if (c == traits_type::eof()) return traits_type::not_eof(c);
  clear();
  return out_->sputc(static_cast<char>(c));
}

std::streamsize LiveStatus::xsputn(const char* s, std::streamsize n) {
  if (n > 0) clear();
  return out_->sputn(s, n);
}

int LiveStatus::sync() { return out_->pubsync(); }

}  // namespace iommuvm::engine
