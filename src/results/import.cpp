#include "iommuvm/results/import.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>
#include <ctime>

#include <fmt/format.h>

#include "iommuvm/policy/types.hpp"
#include "iommuvm/results/store.hpp"
#include "iommuvm/util/error.hpp"
#include "iommuvm/util/fs.hpp"
#include "iommuvm/util/hash.hpp"
#include "iommuvm/version.hpp"
#include "iommuvm/workload/generators.hpp"
#include "iommuvm/workload/parsers.hpp"

namespace iommuvm::results {

namespace stdfs = std::filesystem;
using json = nlohmann::json;

namespace {

struct Piece {
  bool field = false;
  std::string text;  // literal, or the field's key ("*" = anything)
};

std::vector<Piece> compile(const std::string& pattern) {
  std::vector<Piece> out;
  std::size_t i = 0;
  while (i < pattern.size()) {
    if (pattern[i] == '{') {
      auto e = pattern.find('}', i);
      if (e == std::string::npos) throw InputError(fmt::format("--pattern '{}': '{{' without '}}'", pattern));
      std::string key = pattern.substr(i + 1, e - i - 1);
      if (key.empty()) throw InputError(fmt::format("--pattern '{}': empty field '{{}}'", pattern));
      if (!out.empty() && out.back().field)
        throw InputError(fmt::format("--pattern '{}': two fields next to each other cannot be told apart", pattern));
      out.push_back({true, key});
      i = e + 1;
    } else {
      auto e = pattern.find('{', i);
      std::string lit = pattern.substr(i, e == std::string::npos ? std::string::npos : e - i);
      if (lit.find('}') != std::string::npos) throw InputError(fmt::format("--pattern '{}': '}}' without '{{'", pattern));
      out.push_back({false, lit});
      i = e == std::string::npos ? pattern.size() : e;
    }
  }
  return out;
}

bool match_from(const std::vector<Piece>& ps, std::size_t k, const std::string& s, std::size_t at,
                std::map<std::string, std::string>& out) {
  if (k == ps.size()) return at == s.size();
  const Piece& p = ps[k];
  if (!p.field) return s.compare(at, p.text.size(), p.text) == 0 && match_from(ps, k + 1, s, at + p.text.size(), out);
  for (std::size_t len = 1; at + len <= s.size(); ++len) {
    if (match_from(ps, k + 1, s, at + len, out)) {
      if (p.text != "*") out[p.text] = s.substr(at, len);
      return true;
    }
  }
  return false;
}

// The first server kind the generator drives.
std::string default_workload(const std::string& tool) {
  const auto* g = workload::find_generator(tool);
  return g && !g->kinds.empty() ? g->kinds.front() : "custom";
}

std::string file_time_iso(const stdfs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return now_iso8601();
  std::tm tm{};
  ::gmtime_r(&st.st_mtime, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// A name from the spec or a file becomes one path component: letters, digits, - _ . only.
std::string component(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '-';
  return out.empty() ? "x" : out;
}

struct Log {
  stdfs::path file;
  json params;
  int repetition = 0;  // 0: from the order
  json metrics;
  std::string host_policy, guest_policy;
};

}  // namespace

std::optional<std::map<std::string, std::string>> match_file_name(const std::string& pattern,
                                                                  const std::string& file_name) {
  auto ps = compile(pattern);
  std::map<std::string, std::string> out;
  if (!match_from(ps, 0, file_name, 0, out)) return std::nullopt;
  return out;
}

json param_value(const std::string& text) {
  if (text == "true") return true;
  if (text == "false") return false;
  long long i = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), i);
  if (ec == std::errc() && p == text.data() + text.size() && !text.empty()) return i;
  double d = 0;
  auto [p2, ec2] = std::from_chars(text.data(), text.data() + text.size(), d);
  if (ec2 == std::errc() && p2 == text.data() + text.size() && !text.empty() && std::isfinite(d)) return d;
  return text;
}

std::vector<stdfs::path> import_inputs(const std::vector<stdfs::path>& paths) {
  std::vector<stdfs::path> out;
  for (const auto& p : paths) {
    std::error_code ec;
    if (stdfs::is_directory(p, ec)) {
      std::vector<stdfs::path> in;
      for (const auto& e : stdfs::directory_iterator(p, ec))
        if (e.is_regular_file(ec) && e.path().filename().string()[0] != '.') in.push_back(e.path());
      std::sort(in.begin(), in.end());
      if (in.empty()) throw InputError(fmt::format("{}: no log files in this folder", p.string()));
      out.insert(out.end(), in.begin(), in.end());
    } else if (stdfs::is_regular_file(p, ec)) {
      out.push_back(p);
    } else {
      throw InputError(fmt::format("{}: no such file or folder", p.string()));
    }
  }
  if (out.empty()) throw InputError("no log files given");
  return out;
}

ImportResult import_logs(const std::vector<stdfs::path>& files, const stdfs::path& output, const ImportOptions& o) {
  const auto* generator = workload::find_generator(o.tool);
  if (!generator || generator->name != o.tool || !generator->importable)
    throw InputError(fmt::format("--tool '{}': expected one of {}", o.tool, workload::generator_names(true)));
  const std::string wl = o.workload.empty() ? default_workload(o.tool) : o.workload;
  workload::ParseOptions po;
  po.primary = o.primary;
  po.requests_per_test = o.requests_per_test;
  std::vector<Log> logs;
  for (const auto& f : files) {
    Log log;
    log.file = f;
    std::map<std::string, std::string> fields = o.params;
    if (!o.pattern.empty()) {
      auto m = match_file_name(o.pattern, f.filename().string());
      if (!m) throw InputError(fmt::format("{}: the file name does not match --pattern '{}'", f.string(), o.pattern));
      for (const auto& [k, v] : *m) fields[k] = v;
    }
    log.params = json::object();
    log.params["workload"] = wl;
    for (const auto& [k, v] : fields) {
      if (k == "rep" || k == "repetition") {
        auto r = param_value(v);
        if (!r.is_number_integer() || r.get<long long>() < 1)
          throw InputError(fmt::format("{}: repetition '{}' is not a whole number from 1", f.string(), v));
        log.repetition = static_cast<int>(r.get<long long>());
        continue;
      }
      std::string key = k == "policy" ? "policy.host" : k;
      if (key == "workload") throw InputError("the workload is --workload, not a parameter");
      if (key == "policy.host" || key == "policy.guest") {
        if (!policy::parse_policy(v))
          throw InputError(fmt::format("{}: '{}' = '{}' is not a policy (strict, lazy, passthrough, off)", f.string(), k, v));
        (key == "policy.host" ? log.host_policy : log.guest_policy) = v;
        key += ".policy";
      }
      log.params[key] = param_value(v);
    }
    try {
      log.metrics = workload::to_json(workload::parse_output(o.tool, fs::read_file(f), po));
    } catch (const workload::ParseError& e) {
      throw InputError(fmt::format("{}: {}", f.string(), e.what()));
    }
    logs.push_back(std::move(log));
  }
  // Repetitions: numbered in file order within equal parameters, unless given.
  std::map<std::string, int> count;
  std::set<std::string> ids;
  for (auto& l : logs) {
    std::string key = l.params.dump();
    if (l.repetition == 0) l.repetition = ++count[key];
    std::string id = fmt::format("{}-{}-r{}", component(wl), hash::sha256_hex(key).substr(0, 8), l.repetition);
    if (!ids.insert(id).second)
      throw InputError(fmt::format("{}: a second log with the same parameters and repetition {}", l.file.string(),
                                   l.repetition));
  }

  json spec = {{"name", o.name}, {"description", fmt::format("imported from {} {} logs", logs.size(), o.tool)},
               {"baseline", o.baseline}, {"figures", o.figures.is_array() ? o.figures : json::array()}};
  std::string spec_text = spec.dump(2) + "\n";
  std::string spec_hash = hash::sha256_hex(spec_text);
  std::string now = now_iso8601();
  std::string stamp;
  for (char c : now.substr(0, 19))
    if (c != '-' && c != ':') stamp += c;
  stdfs::path exp = output / component(o.name);
  stdfs::create_directories(exp);
  stdfs::path dir = exp / fmt::format("{}-{}Z-import", component(o.name), stamp);
  std::error_code ec;
  if (!stdfs::create_directory(dir, ec))
    throw InputError(fmt::format("{}: exists already (or cannot be created: {})", dir.string(), ec.message()));
  fs::atomic_write(dir / "spec.json", spec_text);
  for (const auto& l : logs) {
    std::string combo = hash::sha256_hex(l.params.dump()).substr(0, 8);
    std::string id = fmt::format("{}-{}-r{}", component(wl), combo, l.repetition);
    stdfs::path run = dir / "runs" / id;
    stdfs::create_directories(run / "raw");
    std::string raw_name = component(l.file.filename().string());
    fs::atomic_write(run / "raw" / raw_name, fs::read_file(l.file));
    std::string at = file_time_iso(l.file);
    json r = {{"schema", "iommuvm.run/1"}, {"id", id}, {"combo", combo}, {"workload", wl},
              {"repetition", l.repetition}, {"params", l.params}, {"status", "ok"}, {"started_at", at},
              {"finished_at", at}, {"metrics", l.metrics}, {"client", {{"tool", o.tool}}},
              {"raw", json::array({"raw/" + raw_name})}, {"spec_hash", spec_hash},
              {"iommuvm_version", kVersion}, {"imported_from", stdfs::absolute(l.file).string()}};
    auto evidence = [&](const std::string& p) {
      return json{{"requested", p}, {"effective", p}, {"match", true},
                  {"explanation", "imported: the policy given to iommuvm import, not verified from evidence"}};
    };
    if (!l.host_policy.empty()) r["policy"]["host"] = evidence(l.host_policy);
    if (!l.guest_policy.empty()) r["policy"]["guests"]["guest"] = evidence(l.guest_policy);
    fs::atomic_write(run / "run.json", r.dump(2) + "\n");
  }
  json campaign = {{"name", o.name}, {"spec_hash", spec_hash}, {"format", "json"}, {"spec_path", "spec.json"},
                   {"created", now}, {"updated", now}, {"status", "finished"}, {"iommuvm_version", kVersion},
                   {"runs", logs.size()}, {"work_dir", ""}, {"imported", true}};
  fs::atomic_write(dir / "campaign.json", campaign.dump(2) + "\n");
  return {dir, logs.size()};
}

}  // namespace iommuvm::results
