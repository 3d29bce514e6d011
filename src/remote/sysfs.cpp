#include "iommuvm/remote/sysfs.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <system_error>

#include <fmt/format.h>

#include "iommuvm/util/error.hpp"
#include "iommuvm/util/fs.hpp"
#include "iommuvm/util/text.hpp"

namespace iommuvm::remote {

namespace stdfs = std::filesystem;

namespace {

class LocalSysfs : public Sysfs {
 public:
  explicit LocalSysfs(stdfs::path root) : root_(std::move(root)) {}

  std::optional<std::string> read(const std::string& abs) override {
    std::ifstream in(at(abs));
    if (!in) return std::nullopt;
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return std::string(text::trim(s));
  }
  std::string link(const std::string& abs) override {
    std::error_code ec;
    auto target = stdfs::read_symlink(at(abs), ec);
    return ec ? std::string() : target.string();
  }
  std::vector<std::string> list(const std::string& abs) override {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : stdfs::directory_iterator(at(abs), ec)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
  bool exists(const std::string& abs) override {
    std::error_code ec;
    return stdfs::exists(at(abs), ec);
  }
  void write(const SysfsWrite& w) override {
    auto p = at(w.path);
    // In place, as `echo -n VALUE > PATH` does: sysfs attributes cannot be replaced by a rename.
    std::ofstream out(p, std::ios::out | std::ios::trunc);
    if (!out) throw Error("cannot open " + p.string() + " for writing");
    out << w.value;
    out.flush();
    if (!out) throw Error("writing '" + w.value + "' to " + p.string() + " failed");
  }

 private:
  stdfs::path at(const std::string& abs) const { return fs::under_root(root_, abs); }
  stdfs::path root_;
};

class RemoteSysfs : public Sysfs {
 public:
  explicit RemoteSysfs(Remote& r) : r_(r) {}

  std::optional<std::string> read(const std::string& abs) override {
    auto res = r_.run({{"cat", "--", at(abs)}, false, "", {}});
    if (!res.ok()) return std::nullopt;
    return std::string(text::trim(res.out));
  }
  std::string link(const std::string& abs) override {
    auto res = r_.run({{"readlink", "--", at(abs)}, false, "", {}});
    return res.ok() ? std::string(text::trim(res.out)) : std::string();
  }
  std::vector<std::string> list(const std::string& abs) override {
    auto res = r_.run({{"ls", "-1A", "--", at(abs)}, false, "", {}});
    std::vector<std::string> names;
    if (!res.ok()) return names;
    std::istringstream in(res.out);
    std::string line;
    while (std::getline(in, line))
      if (!line.empty()) names.push_back(line);
    std::sort(names.begin(), names.end());
    return names;
  }
  bool exists(const std::string& abs) override { return r_.run({{"test", "-e", at(abs)}, false, "", {}}).ok(); }
  void write(const SysfsWrite& w) override {
    auto res = r_.run(write_command({at(w.path), w.value}), {std::chrono::milliseconds(60000)});
    if (!res.ok())
      throw Error(fmt::format("writing '{}' to {} on {} failed (exit {}): {}", w.value, at(w.path), r_.name(),
                              res.exit_status, std::string(text::trim(res.err))));
  }

 private:
  std::string at(const std::string& abs) const { return fs::under_root(r_.root(), abs).string(); }
  Remote& r_;
};

}  // namespace

Command write_command(const SysfsWrite& w) {
  Command c;
  c.argv = {"sh", "-c", "printf %s \"$1\" > \"$2\"", "sh", w.value, w.path};
  c.sudo = true;
  return c;
}

std::unique_ptr<Sysfs> local_sysfs(stdfs::path root) { return std::make_unique<LocalSysfs>(std::move(root)); }
std::unique_ptr<Sysfs> remote_sysfs(Remote& r) { return std::make_unique<RemoteSysfs>(r); }

}  // namespace iommuvm::remote
