#include "iommuvm/tune/knobs.hpp"

#include <algorithm>
#include <cctype>

#include "iommuvm/util/text.hpp"

namespace iommuvm::tune {

const std::vector<Knob>& knobs() {
  static const std::vector<Knob> k = {
      {"governor", "cpufreq governor of every CPU", {{"/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor", "", ""}}},
      {"turbo",
       "turbo/boost",
       {{"/sys/devices/system/cpu/intel_pstate/no_turbo", "0", "1"}, {"/sys/devices/system/cpu/cpufreq/boost", "1", "0"}}},
      // state0 is POLL (no sleep at all): the deep states are state1 and beyond.
      {"cstates", "deep C-states of every CPU", {{"/sys/devices/system/cpu/cpu[0-9]*/cpuidle/state[1-9]*/disable", "0", "1"}}},
      {"smt", "simultaneous multithreading", {{"/sys/devices/system/cpu/smt/control", "on", "off"}}},
      {"numa_balancing", "automatic NUMA balancing", {{"/proc/sys/kernel/numa_balancing", "1", "0"}}},
  };
  return k;
}

const Knob* find_knob(const std::string& name) {
  for (const auto& k : knobs())
    if (k.name == name) return &k;
  return nullptr;
}

namespace {
// The on/off knobs and the TuningSpec field each one reads.
constexpr std::pair<const char*, std::optional<bool> spec::TuningSpec::*> kSwitches[] = {
    {"turbo", &spec::TuningSpec::turbo},
    {"cstates", &spec::TuningSpec::cstates},
    {"smt", &spec::TuningSpec::smt},
    {"numa_balancing", &spec::TuningSpec::numa_balancing},
};
}  // namespace

std::optional<std::string> wanted(const spec::TuningSpec& t, const Knob& k, const Knob::Where& where) {
  if (k.name == "governor") return t.governor.empty() ? std::nullopt : std::optional<std::string>(t.governor);
  for (const auto& [name, field] : kSwitches)
    if (k.name == name) {
      const auto& on = t.*field;
      if (!on) return std::nullopt;
      return *on ? where.on : where.off;
    }
  return std::nullopt;
}

spec::TuningSpec knob_settings(const nlohmann::json& args) {
  spec::TuningSpec t;
  if (!args.is_object()) return t;
  if (args.contains("governor") && args["governor"].is_string()) t.governor = args["governor"].get<std::string>();
  for (const auto& [name, field] : kSwitches)
    if (args.contains(name) && args[name].is_boolean()) t.*field = args[name].get<bool>();
  return t;
}

void apply_profile(spec::TuningSpec& t) {
  if (t.profile != "quiet") return;
  if (t.governor.empty()) t.governor = "performance";
  for (auto* b : {&t.turbo, &t.cstates, &t.smt, &t.numa_balancing, &t.irqbalance})
    if (!*b) *b = false;
  if (!t.interface.empty()) {
    if (!t.pause_frames) t.pause_frames = false;
    for (const char* c : {"adaptive-rx", "adaptive-tx"})
      if (!t.coalesce.count(c)) t.coalesce[c] = "off";
  }
}

namespace {

// "Name:   value" lines of ethtool, NAMES mapping ethtool's label to its -A/-C keyword.
std::vector<std::pair<std::string, std::string>> labelled(const std::string& text,
                                                          const std::vector<std::pair<std::string, std::string>>& names) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    std::string line = text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    start = nl == std::string::npos ? text.size() : nl + 1;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string label = std::string(text::trim(line.substr(0, colon)));
    std::string rest = std::string(text::trim(line.substr(colon + 1)));
    // "Adaptive RX: off  TX: off" holds two settings.
    if (label == "Adaptive RX") {
      auto tx = rest.find("TX:");
      if (tx != std::string::npos) {
        std::string txv = std::string(text::trim(rest.substr(tx + 3)));
        rest = std::string(text::trim(rest.substr(0, tx)));
        if (txv == "on" || txv == "off") out.emplace_back("adaptive-tx", txv);
      }
    }
    for (const auto& [l, key] : names)
      if (label == l && !rest.empty() && rest != "n/a") {
        if (rest == "on" || rest == "off" || std::all_of(rest.begin(), rest.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
          out.emplace_back(key, rest);
      }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> ethtool_pause_settings(const std::string& text) {
  return labelled(text, {{"Autonegotiate", "autoneg"}, {"RX", "rx"}, {"TX", "tx"}});
}

std::vector<std::pair<std::string, std::string>> ethtool_coalesce_settings(const std::string& text) {
  return labelled(text, {{"Adaptive RX", "adaptive-rx"}, {"rx-usecs", "rx-usecs"}, {"rx-frames", "rx-frames"},
                         {"tx-usecs", "tx-usecs"}, {"tx-frames", "tx-frames"}});
}

}  // namespace iommuvm::tune
