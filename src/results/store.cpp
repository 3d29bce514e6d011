#include "iommuvm/results/store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "iommuvm/util/error.hpp"
#include "iommuvm/util/fs.hpp"
#include "iommuvm/util/hash.hpp"
#include "iommuvm/util/text.hpp"
#include "iommuvm/version.hpp"

namespace iommuvm::results {

namespace stdfs = std::filesystem;
using nlohmann::json;

std::string now_iso8601() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, ms);
}

namespace {

json read_json(const stdfs::path& p) {
  try {
    return json::parse(fs::read_file(p));
  } catch (const std::exception&) {
    return nullptr;
  }
}

// A new campaign folder under PARENT, named by the time; created exclusively (mkdir), so
// two runs started in the same second get two folders.
stdfs::path new_campaign_dir(const stdfs::path& parent) {
  auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  for (int i = 1;; ++i) {
    stdfs::path dir = parent / (i == 1 ? std::string(buf) : fmt::format("{}-{}", buf, i));
    if (::mkdir(dir.c_str(), 0755) == 0) return dir;
    if (errno != EEXIST || i > 10000)
      throw Error(fmt::format("cannot create the campaign folder {}: {}", dir.string(), std::strerror(errno)));
  }
}

}  // namespace

CampaignStore CampaignStore::open(const stdfs::path& output_root, const spec::Spec& spec, const json& plan,
                                  const OpenOptions& opts) {
  stdfs::path parent = output_root / spec.name;
  std::error_code ec;
  stdfs::create_directories(parent, ec);
  if (ec) throw Error(fmt::format("cannot create results folder {}: {}", parent.string(), ec.message()));
  // Choosing or creating the campaign folder, and locking it, happen under a lock of the
  // experiment's folder: a second run started meanwhile waits for that (a moment), then
  // finds the first one's campaign and its lock.
  struct ExperimentLock {
    int fd = -1;
    ~ExperimentLock() {
      if (fd >= 0) ::close(fd);
    }
  } experiment;
  // flock on the folder itself: no file of its own in it.
  experiment.fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (experiment.fd < 0 || ::flock(experiment.fd, LOCK_EX) != 0)
    throw Error(fmt::format("cannot lock {}: {}", parent.string(), std::strerror(errno)));

  if (!opts.fresh) {
    // The latest campaign folder decides: names sort by time.
    std::vector<stdfs::path> dirs;
    for (const auto& e : stdfs::directory_iterator(parent))
      if (e.is_directory() && stdfs::exists(e.path() / "campaign.json")) dirs.push_back(e.path());
    std::sort(dirs.begin(), dirs.end());
    for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
      json c = read_json(*it / "campaign.json");
      if (!c.is_object()) continue;
      if (c.value("status", "") == "finished") {
        // The same spec again: that campaign is done (the caller says so; --fresh starts another).
        if (c.value("spec_hash", "") == spec.hash) {
          CampaignStore s(*it);
          s.lock_ = std::make_shared<CampaignLock>(*it, "run");
          s.resumed_ = true;
          return s;
        }
        break;  // a different spec after a finished campaign: a new campaign
      }
      if (c.value("spec_hash", "") != spec.hash)
        throw InputError(fmt::format(
            "the spec changed since the unfinished campaign {} (spec hash {} there, {} now): resuming would mix "
            "results of two different specs. Run with --fresh to start a new campaign, or restore the spec saved in {}",
            it->string(), c.value("spec_hash", "?").substr(0, 12), spec.hash.substr(0, 12), (*it / ("spec." + c.value("format", std::string("yaml")))).string()));
      CampaignStore s(*it);
      s.lock_ = std::make_shared<CampaignLock>(*it, "run");
      s.resumed_ = true;
      json cj = s.campaign();
      cj["status"] = "running";
      if (!cj["resumed_at"].is_array()) cj["resumed_at"] = json::array();
      cj["resumed_at"].push_back(now_iso8601());
      fs::atomic_write(s.dir_ / "campaign.json", cj.dump(2));
      return s;
    }
  }
  CampaignStore s(new_campaign_dir(parent));
  s.lock_ = std::make_shared<CampaignLock>(s.dir_, "run");
  stdfs::create_directories(s.dir_ / "runs");
  fs::atomic_write(s.dir_ / ("spec." + (spec.format.empty() ? std::string("yaml") : spec.format)), spec.source_text);
  fs::atomic_write(s.dir_ / "plan.json", plan.dump(2));
  json c = {{"name", spec.name},
            {"spec_hash", spec.hash},
            {"format", spec.format},
            {"spec_path", spec.source_path},
            {"created", now_iso8601()},
            {"status", "running"},
            {"iommuvm_version", kVersion},
            {"runs", plan["totals"].value("runs", 0)},
            {"extra_runs", plan["totals"].contains("extra") ? plan["totals"]["extra"].value("runs", 0) : 0},
            {"work_dir", "iommuvm-" + s.work_id()}};
  fs::atomic_write(s.dir_ / "campaign.json", c.dump(2));
  return s;
}

CampaignStore CampaignStore::at(const stdfs::path& dir, const std::string& lock_for) {
  if (!stdfs::exists(dir / "campaign.json"))
    throw InputError(fmt::format("{} is not a campaign folder (no campaign.json)", dir.string()));
  CampaignStore s(dir);
  if (!lock_for.empty()) s.lock_ = std::make_shared<CampaignLock>(dir, lock_for);
  return s;
}

CampaignLock::CampaignLock(const stdfs::path& dir, const std::string& what) {
  stdfs::path path = dir / "campaign.lock";
  // O_NOFOLLOW: a symbolic link planted in place of the lock is refused, not followed.
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd_ < 0) throw Error(fmt::format("cannot open the campaign lock {}: {}", path.string(), std::strerror(errno)));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    std::string holder;
    char buf[64] = {};
    ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    if (n > 0) holder = std::string(buf, static_cast<std::size_t>(n));
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    ::close(fd_);
    fd_ = -1;
    if (e != EWOULDBLOCK)
      throw Error(fmt::format("cannot lock the campaign {}: {}", dir.string(), std::strerror(e)));
    throw Error(fmt::format("the campaign {} is in use by another iommuvm ({}): not starting {} on it; wait for it "
                            "to end, or stop it (Ctrl-C, or kill the PID)",
                            dir.string(), holder.empty() ? "PID unknown" : holder, what),
                ExitCode::busy);
  }
  // Who holds it, for the message above (the lock itself is the flock, not this text).
  std::string me = fmt::format("{} pid {}\n", what, ::getpid());
  if (::ftruncate(fd_, 0) == 0) {
    ssize_t w = ::pwrite(fd_, me.data(), me.size(), 0);
    (void)w;
  }
}

CampaignLock::~CampaignLock() {
  if (fd_ >= 0) ::close(fd_);
}

std::set<std::string> CampaignStore::finished_runs() const {
  std::set<std::string> out;
  std::error_code ec;
  if (!stdfs::exists(dir_ / "runs", ec)) return out;
  for (const auto& e : stdfs::directory_iterator(dir_ / "runs")) {
    json r = read_json(e.path() / "run.json");
    if (!r.is_object()) continue;
    std::string st = r.value("status", "");
    if (st == "ok" || st == "failed" || st == "skipped") out.insert(r.value("id", e.path().filename().string()));
  }
  return out;
}

json CampaignStore::read_run(const std::string& run_id) const { return read_json(run_dir(run_id) / "run.json"); }

std::string CampaignStore::work_id() const {
  std::error_code ec;
  auto abs = stdfs::absolute(dir_, ec);
  return fmt::format("{}-{}-{}", dir_.parent_path().filename().string(), campaign_id(),
                     hash::sha256_hex(abs.string()).substr(0, 6));
}

stdfs::path contained_path(const stdfs::path& folder, const stdfs::path& rel) {
  auto refuse = [&](const std::string& why) {
    return InputError(fmt::format("refusing the path {} in {}: {}", rel.string(), folder.string(), why));
  };
  if (rel.empty()) throw refuse("it is empty");
  if (rel.is_absolute() || rel.has_root_name()) throw refuse("it is absolute");
  std::error_code ec;
  stdfs::path base = stdfs::weakly_canonical(stdfs::absolute(folder), ec);
  if (ec) throw refuse(ec.message());
  stdfs::path full = stdfs::weakly_canonical(stdfs::absolute(folder / rel), ec);
  if (ec) throw refuse(ec.message());
  auto b = base.begin(), f = full.begin();
  for (; b != base.end() && !b->empty(); ++b, ++f)
    if (f == full.end() || *b != *f) throw refuse(fmt::format("it resolves to {}, outside the folder", full.string()));
  return (folder / rel).lexically_normal();
}

stdfs::path CampaignStore::run_dir(const std::string& id) const { return contained_path(dir_, stdfs::path("runs") / id); }
stdfs::path CampaignStore::raw_dir(const std::string& id) const { return contained_path(dir_, stdfs::path("runs") / id / "raw"); }

void CampaignStore::write_run(const json& run) {
  fs::atomic_write(run_dir(run.at("id").get<std::string>()) / "run.json", run.dump(2));
}

void CampaignStore::journal(const json& entry) { fs::append_line(dir_ / "journal.jsonl", entry.dump()); }
void CampaignStore::undo(const json& entry) { fs::append_line(dir_ / "undo.jsonl", entry.dump()); }

stdfs::path CampaignStore::canary_raw_dir(const std::string& id) const {
  return contained_path(dir_, stdfs::path("canaries") / id / "raw");
}
void CampaignStore::append_canary(const json& entry) { fs::append_line(dir_ / "canaries.jsonl", entry.dump()); }
std::vector<json> CampaignStore::canaries() const {
  std::vector<json> out;
  std::error_code ec;
  if (!stdfs::exists(dir_ / "canaries.jsonl", ec)) return out;
  std::size_t n = 0;
  std::string content = fs::read_file(dir_ / "canaries.jsonl");
  for (auto l : text::split_lines(content)) {
    ++n;
    if (l.empty()) continue;
    try {
      auto j = json::parse(l);
      if (j.is_object()) {
        out.push_back(std::move(j));
        continue;
      }
    } catch (const json::exception&) {
    }
    spdlog::warn("{}:{}: not a canary entry, ignored: {}", (dir_ / "canaries.jsonl").string(), n,
                 text::escape_invalid_utf8(std::string(l.substr(0, 200))));
  }
  return out;
}

std::vector<json> CampaignStore::undo_entries() const {
  std::vector<json> out;
  std::error_code ec;
  if (!stdfs::exists(dir_ / "undo.jsonl", ec)) return out;
  std::string content = fs::read_file(dir_ / "undo.jsonl");
  std::vector<std::string> lines;
  for (auto l : text::split_lines(content))
    if (!l.empty()) lines.emplace_back(l);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    try {
      out.push_back(json::parse(lines[i]));
      if (!out.back().is_object()) throw json::other_error::create(501, "not an object", nullptr);
    } catch (const json::exception&) {
      std::string shown = text::escape_invalid_utf8(lines[i].substr(0, 200));
      if (i + 1 == lines.size()) {
        // The last line, torn by a crash while it was appended: what it would have undone was
        // never done either (entries are journaled before their change), but say so.
        spdlog::warn("{}: line {} is torn (the process stopped while writing it) and is ignored: {}",
                     (dir_ / "undo.jsonl").string(), i + 1, shown);
        continue;
      }
      throw InputError(fmt::format("{}:{}:1: not an undo entry (the file is damaged; restore by hand what it lists): {}",
                                   (dir_ / "undo.jsonl").string(), i + 1, shown));
    }
  }
  return out;
}

void CampaignStore::set_status(const std::string& status) {
  json c = campaign();
  c["status"] = status;
  c["updated"] = now_iso8601();
  fs::atomic_write(dir_ / "campaign.json", c.dump(2));
}

void CampaignStore::set_resume_state(const json& state) { fs::atomic_write(dir_ / "resume.json", state.dump(2)); }

json CampaignStore::resume_state() const {
  std::error_code ec;
  if (!stdfs::exists(dir_ / "resume.json", ec)) return nullptr;
  return read_json(dir_ / "resume.json");
}

void CampaignStore::clear_resume_state() {
  std::error_code ec;
  stdfs::remove(dir_ / "resume.json", ec);
  fs::fsync_path(dir_);
}

void CampaignStore::make_durable() const {
  std::error_code ec;
  for (const char* f : {"campaign.json", "journal.jsonl", "undo.jsonl", "resume.json"})
    if (stdfs::exists(dir_ / f, ec)) fs::fsync_path(dir_ / f);
  if (stdfs::exists(dir_ / "runs", ec)) {
    for (const auto& e : stdfs::directory_iterator(dir_ / "runs")) {
      if (stdfs::exists(e.path() / "run.json", ec)) fs::fsync_path(e.path() / "run.json");
      fs::fsync_path(e.path());
    }
    fs::fsync_path(dir_ / "runs");
  }
  fs::fsync_path(dir_);
  if (dir_.has_parent_path()) fs::fsync_path(dir_.parent_path());
}

json CampaignStore::campaign() const { return read_json(dir_ / "campaign.json"); }

}  // namespace iommuvm::results
