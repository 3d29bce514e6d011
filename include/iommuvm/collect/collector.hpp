// Collectors: profilers and counters around a measurement window. The engine starts
// each one just before the window and stops it just after; nothing they do touches
// the machine during the window beyond what the tool itself does (perf, mpstat, ...).
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "iommuvm/remote/remote.hpp"
#include "iommuvm/spec/spec.hpp"
#include "iommuvm/virt/hypervisor.hpp"

namespace iommuvm::collect {

struct Context {
  remote::Remote& machine;        // where the collector runs
  const spec::Spec& config;       // the run's resolved spec
  const spec::CollectorSpec& spec;
  std::string work_dir;           // private folder on the machine for the run
  std::filesystem::path raw_dir;  // the run's raw/ folder on the controller
  virt::Hypervisor* hypervisor = nullptr;  // to find a guest's QEMU process
  std::string domain;             // the first guest's libvirt domain name, if any
  bool dry_run = false;
};

class Collector {
 public:
  virtual ~Collector() = default;
  // Outside the window: find PIDs, check support, take "before" snapshots if cheap.
  virtual void prepare() {}
  // Immediately before the window opens.
  virtual void start() = 0;
  // Immediately after the window closes: stop, fetch raw output into raw_dir, and
  // return normalized metrics (numbers; units in the names). A collector that cannot
  // run here returns {"unsupported": "<why>"} instead of throwing.
  virtual nlohmann::json stop() = 0;
};

// Throws InputError for an unknown kind.
std::unique_ptr<Collector> make(const Context& ctx);

// Per-request figures from a collector's counts and the workload's request count:
// every numeric field X of COUNTS gets X_per_request = X / requests. Pure.
nlohmann::json per_request(const nlohmann::json& counts, double requests);

}  // namespace iommuvm::collect
