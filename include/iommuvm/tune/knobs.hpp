// The quiet-machine settings ("knobs") that are files of /sys and /proc: where each lives,
// what to write for the state a spec asks for, and the `quiet` profile that asks for all of
// them (the F&S artifact's setup-host.sh, ReBench's rebench-denoise). Pure: the engine lists
// the files on the machine, journals their old values, writes and reads back.
//
// A knob a machine does not have (a guest has no cpufreq, an AMD host no intel_pstate) is
// not applicable there, not an error.
#pragma once

#include <optional>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "iommuvm/spec/spec.hpp"

namespace iommuvm::tune {

struct Knob {
  std::string name;                // the tuning key: governor, turbo, cstates, smt, numa_balancing
  std::string what;                // for people
  // Shell globs of the files (the first one that matches any file is used: turbo is
  // intel_pstate/no_turbo on Intel, cpufreq/boost elsewhere), and per glob the text to write
  // for "on" and for "off" (governor: the governor's name for both).
  struct Where {
    std::string glob;
    std::string on, off;
  };
  std::vector<Where> where;
};

// Every file knob, in the order they are applied.
const std::vector<Knob>& knobs();
const Knob* find_knob(const std::string& name);

// What the spec asks of a knob on a machine: nullopt when nothing; else the text to write
// into each file of WHERE (governor: its name; the others: on/off as Where says).
std::optional<std::string> wanted(const spec::TuningSpec& t, const Knob& k, const Knob::Where& where);

// The knob settings of the plan's machine.tune arguments (plan::tuning_json): the governor
// and the on/off knobs, as the engine applies them and doctor checks them.
spec::TuningSpec knob_settings(const nlohmann::json& args);

// The `quiet` profile's values, filled into T where T does not set them itself (a key the
// spec gives wins): governor performance, turbo off, deep C-states off, SMT off,
// numa_balancing off, irqbalance stopped, and with an interface: pause frames off, adaptive
// interrupt coalescing off.
void apply_profile(spec::TuningSpec& t);

// `ethtool -a IF` (pause parameters) and `ethtool -c IF` (coalescing) output: the values
// of the named settings ("RX", "TX", "Autonegotiate"; "Adaptive RX", "rx-usecs", ...) as
// ethtool -A / -C take them ("on"/"off", numbers). Unknown or "n/a" settings are left out.
std::vector<std::pair<std::string, std::string>> ethtool_pause_settings(const std::string& text);
std::vector<std::pair<std::string, std::string>> ethtool_coalesce_settings(const std::string& text);

}  // namespace iommuvm::tune
