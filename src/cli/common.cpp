#include "iommuvm/cli/common.hpp"

#include <iostream>

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "iommuvm/util/error.hpp"
#include "iommuvm/util/fs.hpp"

namespace iommuvm::cli {

Campaign load_campaign(const std::string& spec_path) {
  Campaign c;
  c.loaded = spec::load_file(spec_path);
  Diagnostics& diag = c.loaded.diag;
  if (!diag.has_errors()) c.points = spec::expand(c.loaded, diag);
  for (const auto& d : diag.sorted()) std::cerr << d.format() << "\n";
  if (diag.has_errors())
    throw InputError(fmt::format("{}: {} error{} in the spec", spec_path, diag.error_count(),
                                 diag.error_count() == 1 ? "" : "s"));
  return c;
}

plan::Measured measured_switch_times(const std::filesystem::path& experiment_dir) {
  using nlohmann::json;
  std::map<std::string, std::vector<double>> seen;
  std::error_code ec;
  if (!std::filesystem::is_directory(experiment_dir, ec)) return {};
  for (const auto& camp : std::filesystem::directory_iterator(experiment_dir, ec)) {
    auto plan_file = camp.path() / "plan.json", journal = camp.path() / "journal.jsonl";
    if (!std::filesystem::is_regular_file(plan_file, ec) || !std::filesystem::is_regular_file(journal, ec)) continue;
    try {
      auto steps = json::parse(fs::read_file(plan_file)).at("steps");
      std::ifstream in(journal);
      for (std::string line; std::getline(in, line);) {
        auto j = json::parse(line, nullptr, false);
        if (!j.is_object() || j.value("status", "") != "ok" || !j["seconds"].is_number()) continue;
        auto kind = j.value("kind", std::string());
        auto index = j.value("step", std::size_t{0});
        if (index >= steps.size() || steps[index].value("kind", std::string()) != kind) continue;
        const auto& args = steps[index]["args"];
        std::string key;
        if (kind == plan::kind::host_reboot)
          key = plan::measured_key(kind, j.value("machine", std::string()), args.value("method", std::string()));
        else if (kind == plan::kind::guest_start)
          key = plan::measured_key(kind, args.value("guest", std::string()));
        if (!key.empty()) seen[key].push_back(j["seconds"].get<double>());
      }
    } catch (const std::exception& e) {
      spdlog::debug("{}: no switch times from it: {}", camp.path().string(), e.what());
    }
  }
  plan::Measured m;
  for (auto& [k, v] : seen) {
    std::sort(v.begin(), v.end());
    double median = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
    m.seconds[k] = {median, static_cast<int>(v.size())};
  }
  return m;
}

}  // namespace iommuvm::cli
