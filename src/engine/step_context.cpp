#include "step_context.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "iommuvm/util/error.hpp"
#include "iommuvm/workload/generators.hpp"
#include "iommuvm/workload/commands.hpp"
#include "iommuvm/workload/servers.hpp"

namespace iommuvm::engine {

namespace {
constexpr std::chrono::milliseconds kProbeTimeout{10000};
}  // namespace

std::string Capabilities::version_of(const std::string& m, const std::string& program, std::chrono::milliseconds timeout) {
  // The version flags come from the load generators' and the server kinds' descriptors.
  const std::string file = std::filesystem::path(program).filename().string();
  const std::vector<std::string>* version_args = nullptr;
  if (const auto* g = workload::generator_of_program(file); g && !g->version_args.empty()) version_args = &g->version_args;
  else if (const auto* p = workload::server_program(file); p && !p->version_args.empty()) version_args = &p->version_args;
  if (!version_args) return "";
  std::string key = m + "|" + program;
  if (auto it = versions_.find(key); it != versions_.end()) return it->second;
  std::vector<std::string> argv = {program};
  argv.insert(argv.end(), version_args->begin(), version_args->end());
  auto res = machine_of_(m).run({argv}, {timeout});
  // Some print it on stderr (nginx -v), some exit non-zero after printing it (wrk -v).
  std::string text = !res.out.empty() ? res.out : res.err;
  std::string line = text.substr(0, text.find('\n'));
  versions_[key] = line;
  return line;
}

// The wrk2 binary on MACHINE: `wrk2`, or a `wrk` built from wrk2 (its usage offers -R/--rate).
std::string Capabilities::wrk2_program(const std::string& m, std::chrono::milliseconds timeout) {
  std::string key = m + "|wrk2-binary";
  if (auto it = versions_.find(key); it != versions_.end()) return it->second;
  remote::Remote& r = machine_of_(m);
  std::string found;
  if (r.run({{"sh", "-c", "command -v wrk2"}}, {timeout}).ok()) {
    found = "wrk2";
  } else if (r.run({{"sh", "-c", "command -v wrk"}}, {timeout}).ok()) {
    auto usage = r.run({{"wrk", "--help"}}, {timeout});
    if (workload::wrk_usage_has_rate(usage.out + usage.err)) found = "wrk";
  }
  if (found.empty())
    throw Error(fmt::format("client tool wrk2 is not installed on {}: no `wrk2` in PATH, and no `wrk` that accepts "
                            "-R/--rate (wrk2 built under the name wrk); install wrk2 (https://github.com/giltene/wrk2) "
                            "or use tool wrk",
                            m));
  versions_[key] = found;
  return found;
}

std::chrono::milliseconds StepContext::cap_by(const std::optional<Clock::time_point>& deadline, std::chrono::milliseconds own) {
  if (!deadline) return own;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now());
  left = std::max(left, std::chrono::milliseconds(1));
  return own.count() <= 0 ? left : std::min(own, left);
}

StepContext::Clock::time_point StepContext::cap(Clock::time_point own) const {
  return deadline ? std::min(own, *deadline) : own;
}

StepContext::Clock::time_point StepContext::deadline_in(double seconds) const {
  return cap(Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds)));
}

std::string StepContext::version_of(const std::string& m, const std::string& program) const {
  return caps->version_of(m, program, cap(kProbeTimeout));
}

std::string StepContext::wrk2_program(const std::string& m) const { return caps->wrk2_program(m, cap(kProbeTimeout)); }

std::map<std::string, std::string> StepContext::client_programs(const spec::Workload& w, const std::string& first_machine) const {
  std::map<std::string, std::string> out;
  if (w.client.tool != "wrk2") return out;
  std::vector<std::string> machines = w.client.machines.empty() ? std::vector<std::string>{first_machine} : w.client.machines;
  for (const auto& m : machines) out[m] = wrk2_program(m);
  return out;
}

}  // namespace iommuvm::engine
