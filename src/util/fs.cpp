#include "iommuvm/util/fs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "iommuvm/util/error.hpp"

namespace iommuvm::fs {

std::string read_file(const std::filesystem::path& path, std::size_t max_bytes) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw Error(fmt::format("cannot read {}: {}", path.string(), std::strerror(errno)));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw Error(fmt::format("cannot read {}: {}", path.string(), std::strerror(errno)));
  if (!S_ISREG(st.st_mode))
    throw InputError(fmt::format("{} is not a regular file ({}); only regular files are read", path.string(),
                                 S_ISDIR(st.st_mode)    ? "a folder"
                                 : S_ISFIFO(st.st_mode) ? "a FIFO"
                                 : S_ISCHR(st.st_mode)  ? "a character device"
                                 : S_ISBLK(st.st_mode)  ? "a block device"
                                 : S_ISSOCK(st.st_mode) ? "a socket"
                                                        : "not a file"));
  if (static_cast<std::size_t>(st.st_size) > max_bytes)
    throw InputError(fmt::format("{} is {} bytes; at most {} bytes are read", path.string(), st.st_size, max_bytes));
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(fmt::format("cannot read {}: {}", path.string(), std::strerror(errno)));
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > max_bytes)  // a file that grows while it is read (or a /proc file)
      throw InputError(fmt::format("{} is more than {} bytes; at most {} bytes are read", path.string(), max_bytes,
                                   max_bytes));
  }
  return out;
}

namespace {
void write_all(int fd, std::string_view data, const std::filesystem::path& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(fmt::format("cannot write {}: {}", path.string(), std::strerror(errno)));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}
}  // namespace

namespace {
// Give FD the mode and owner of the existing file EXISTING (the owner only as root), or
// NEW_MODE when there is none.
void copy_mode_and_owner(int fd, const std::filesystem::path& existing, mode_t new_mode) {
  struct stat st {};
  if (::stat(existing.c_str(), &st) != 0) {
    ::fchmod(fd, new_mode);
    return;
  }
  ::fchmod(fd, st.st_mode & 07777);
  if (::geteuid() == 0 && ::fchown(fd, st.st_uid, st.st_gid) != 0)
    throw Error(fmt::format("cannot give {}'s owner to its new version: {}", existing.string(), std::strerror(errno)));
}

// A new file from the template NAME (XXXXXX, then SUFFIX_LEN more characters), created
// exclusively (mkostemps: O_EXCL, never an existing name or a planted link), with LIKE's
// mode and owner (NEW_MODE when LIKE does not exist), CONTENT written and fsynced. NAME
// becomes the name made; nothing is left behind on failure.
void write_new_file(std::string& name, int suffix_len, const std::filesystem::path& like, mode_t new_mode,
                    std::string_view content) {
  int fd = ::mkostemps(name.data(), suffix_len, O_CLOEXEC);
  if (fd < 0) throw Error(fmt::format("cannot create a file {}: {}", name, std::strerror(errno)));
  try {
    copy_mode_and_owner(fd, like, new_mode);
    write_all(fd, content, name);
    if (::fsync(fd) != 0) throw Error(fmt::format("cannot fsync {}: {}", name, std::strerror(errno)));
  } catch (...) {
    ::close(fd);
    ::unlink(name.c_str());
    throw;
  }
  ::close(fd);
}

std::filesystem::path folder_of(const std::filesystem::path& p) {
  return p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
}
}  // namespace

std::filesystem::path write_target(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_symlink(path, ec)) return path;
  auto target = std::filesystem::weakly_canonical(path, ec);
  if (ec) throw Error(fmt::format("cannot resolve the symbolic link {}: {}", path.string(), ec.message()));
  return target;
}

void atomic_write(const std::filesystem::path& path, std::string_view content) {
  const std::filesystem::path target = write_target(path);
  if (target.has_parent_path()) std::filesystem::create_directories(target.parent_path());
  // Hidden and not ending like the target: no tool takes it for one of its files meanwhile.
  std::string tmp = (folder_of(target) / ("." + target.filename().string() + ".iommuvm-XXXXXX")).string();
  write_new_file(tmp, 0, target, 0644, content);
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw Error(fmt::format("cannot rename {} to {}: {}", tmp, target.string(), std::strerror(e)));
  }
  fsync_path(folder_of(target));
}

std::filesystem::path backup_copy(const std::filesystem::path& file, const std::string& name_template,
                                  const std::string& suffix) {
  std::string name = name_template + suffix;
  write_new_file(name, static_cast<int>(suffix.size()), file, 0600, read_file(file));
  fsync_path(folder_of(name));
  return name;
}

void append_line(const std::filesystem::path& path, std::string_view line) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(fmt::format("cannot open {}: {}", path.string(), std::strerror(errno)));
  std::string buf(line);
  buf += '\n';
  try {
    write_all(fd, buf, path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::fsync(fd);
  ::close(fd);
}

void fsync_path(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(fmt::format("cannot open {}: {}", path.string(), std::strerror(errno)));
  int rc = ::fsync(fd);
  int e = errno;
  ::close(fd);
  if (rc != 0) throw Error(fmt::format("cannot fsync {}: {}", path.string(), std::strerror(e)));
}

std::filesystem::path under_root(const std::filesystem::path& root, const std::filesystem::path& abs) {
  if (root.empty() || root == "/") return abs;
  return root / abs.relative_path();
}

}  // namespace iommuvm::fs
