// Where a command's stdout or stderr goes: memory, or a local file (streamed).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "iommuvm/util/error.hpp"

namespace iommuvm::remote::detail {

class Sink {
 public:
  Sink(std::string& mem, const std::filesystem::path& file) : mem_(mem) {
    if (file.empty()) return;
    if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
    fd_ = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error(fmt::format("cannot create {}: {}", file.string(), std::strerror(errno)));
    path_ = file;
  }
  ~Sink() {
    if (fd_ >= 0) ::close(fd_);
  }
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;

  void write(const char* data, std::size_t n) {
    if (fd_ < 0) {
      mem_.append(data, n);
      return;
    }
    while (n > 0) {
      ssize_t w = ::write(fd_, data, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        throw Error(fmt::format("cannot write {}: {}", path_.string(), std::strerror(errno)));
      }
      data += w;
      n -= static_cast<std::size_t>(w);
    }
  }

 private:
  std::string& mem_;
  int fd_ = -1;
  std::filesystem::path path_;
};

}  // namespace iommuvm::remote::detail
