// The list of load generators: the one place that names them all. Each is defined in
// generators/<tool>.cpp; adding one is a file there, a line here, and its tests.
#include "iommuvm/workload/generators.hpp"

#include <algorithm>

namespace iommuvm::workload {

const Generator& redis_benchmark_generator();
const Generator& memtier_generator();
const Generator& memaslap_generator();
const Generator& wrk_generator();
const Generator& wrk2_generator();
const Generator& iperf3_generator();
const Generator& ab_generator();
const Generator& custom_generator();

const std::vector<const Generator*>& generators() {
  // Functions, not globals: the spec reader's tables may ask before main().
  static const std::vector<const Generator*> all = {&redis_benchmark_generator(), &memtier_generator(),
                                                    &memaslap_generator(),        &wrk_generator(),
                                                    &wrk2_generator(),            &iperf3_generator(),
                                                    &ab_generator(),              &custom_generator()};
  return all;
}

bool Generator::drives(std::string_view kind) const {
  return kinds.empty() || std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
}

const Generator* find_generator(std::string_view name) {
  for (const auto* g : generators()) {
    if (g->name == name) return g;
    if (std::find(g->aliases.begin(), g->aliases.end(), name) != g->aliases.end()) return g;
  }
  return nullptr;
}

const Generator* generator_of_program(std::string_view program) {
  for (const auto* g : generators())
    if (std::find(g->programs.begin(), g->programs.end(), program) != g->programs.end()) return g;
  return nullptr;
}

std::string default_tool(std::string_view kind) {
  for (const auto* g : generators())
    if (std::find(g->default_for.begin(), g->default_for.end(), kind) != g->default_for.end()) return g->name;
  return "custom";
}

std::string generator_names(bool importable_only) {
  std::string out;
  for (const auto* g : generators())
    if (!importable_only || g->importable) out += (out.empty() ? "" : ", ") + g->name;
  return out;
}

}  // namespace iommuvm::workload
