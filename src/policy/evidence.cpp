#include "iommuvm/policy/evidence.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "iommuvm/policy/boot.hpp"
#include "iommuvm/policy/cmdline.hpp"
#include "iommuvm/util/regex.hpp"
#include "iommuvm/util/text.hpp"

namespace iommuvm::policy {

namespace {

bool contains(std::string_view s, std::string_view what) { return s.find(what) != std::string_view::npos; }

// Blanks around kernel text: spaces, tabs and line ends (not form feeds).
constexpr std::string_view kBlank = " \t\r\n";

std::string with_source(std::string_view source, std::string_view line) {
  return fmt::format("{}: {}", source, line);
}

}  // namespace

std::string strip_log_prefix(std::string_view line) {
  static const RE2 priority(R"(^<\d+>)", regex::byte_options());
  static const RE2 journal(
      R"(^(?:[A-Z][a-z]{2} [ 0-3]\d \d\d:\d\d:\d\d(?:\.\d+)?|\d{4}-\d\d-\d\dT[0-9:.,+-]+Z?) \S+ kernel: )",
      regex::byte_options());
  static const RE2 bracket(R"(^\[[^\]]*\] ?)", regex::byte_options());
  std::string s = std::string(text::trim(line, kBlank));
  RE2::Replace(&s, priority, "");
  RE2::Replace(&s, journal, "");
  RE2::Replace(&s, bracket, "");
  return std::string(text::trim(s, kBlank));
}

Evidence parse_evidence(const EvidenceInput& input) {
  static const RE2 default_domain(
      R"(iommu: Default domain type: (Translated|Passthrough)(?: \(set via kernel command line\))?$)",
      regex::byte_options());
  static const RE2 invalidation(
      R"(iommu: DMA domain TLB invalidation policy: (strict|lazy) mode(?: \(set via kernel command line\))?$)",
      regex::byte_options());
  Evidence e;
  e.input = input;
  if (input.dmesg) {
    std::size_t start = 0;
    const std::string& text = *input.dmesg;
    while (start < text.size()) {
      std::size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      std::string line = strip_log_prefix(std::string_view(text).substr(start, end - start));
      start = end + 1;
      std::string m;
      if (line.rfind("Linux version ", 0) == 0 || line.rfind("Command line: ", 0) == 0 ||
          line.rfind("Kernel command line: ", 0) == 0)
        e.boot_log = true;
      if (contains(line, "DMAR: Intel(R) Virtualization Technology for Directed I/O")) {
        if (e.vtd_line.empty()) e.vtd_line = line;
      } else if (contains(line, "DMAR: IOMMU enabled")) {
        e.enabled_line = line;
      } else if (contains(line, "DMAR: IOMMU disabled")) {
        e.disabled_line = line;
      } else if (contains(line, "IOMMU batching disallowed due to virtualization") ||
                 contains(line, "Using strict mode due to virtualization")) {
        e.forced_strict_line = line;
      } else if (contains(line, "AMD-Vi:") &&
                 (contains(line, "Found IOMMU") || contains(line, "Interrupt remapping enabled") ||
                  contains(line, "Extended features") || contains(line, "AMD IOMMUv2 loaded and initialized"))) {
        if (e.amd_line.empty()) e.amd_line = line;
      } else if (RE2::PartialMatch(line, default_domain, &m)) {
        e.default_domain_line = line;
        e.default_domain = m;
      } else if (RE2::PartialMatch(line, invalidation, &m)) {
        e.invalidation_line = line;
        e.invalidation = m;
      }
    }
  }
  if (!e.vtd_line.empty() || !e.enabled_line.empty() || !e.disabled_line.empty())
    e.vendor = Vendor::intel;
  else if (!e.amd_line.empty())
    e.vendor = Vendor::amd;
  if (input.cmdline) {
    bool intel_param = contains(*input.cmdline, "intel_iommu=");
    bool amd_param = contains(*input.cmdline, "amd_iommu=");
    if (!e.vendor && intel_param != amd_param) e.vendor = intel_param ? Vendor::intel : Vendor::amd;
    Vendor v = e.vendor.value_or(Vendor::intel);
    e.cmdline_params = parse_request(*input.cmdline, v).tokens;
    e.cmdline_policy = requested_policy(*input.cmdline, v);
  }
  return e;
}

Verdict derive_policy(const Evidence& e) {
  Verdict v;
  const auto& groups = e.input.group_types;
  const auto& devices = e.input.iommu_devices;
  bool vendor_line = !e.vtd_line.empty() || !e.amd_line.empty();

  // 1a. The groups of the devices under test, when known: their type is the policy they run under.
  if (groups && !e.input.groups_under_test.empty()) {
    std::map<Policy, std::vector<int>> by_policy;
    std::string listed;
    for (int n : e.input.groups_under_test) {
      auto it = groups->find(n);
      if (it == groups->end()) continue;
      std::string type = std::string(text::trim(it->second, kBlank));
      listed += fmt::format("{}{} {}", listed.empty() ? "" : ", ", n, type);
      if (auto p = policy_of_group_type(type)) by_policy[*p].push_back(n);
    }
    if (by_policy.size() == 1) {
      v.effective = by_policy.begin()->first;
      v.reasons.push_back(fmt::format("sysfs: /sys/kernel/iommu_groups/N/type of the devices under test: {}", listed));
      std::map<std::string, int> others;
      for (const auto& [n, t] : *groups)
        if (std::find(e.input.groups_under_test.begin(), e.input.groups_under_test.end(), n) ==
            e.input.groups_under_test.end())
          ++others[std::string(text::trim(t, kBlank))];
      std::string summary;
      for (const auto& [type, n] : others) summary += fmt::format("{}{} {}", summary.empty() ? "" : ", ", n, type);
      if (!summary.empty()) v.reasons.push_back(fmt::format("sysfs: the other groups: {}", summary));
      return v;
    }
    if (by_policy.size() > 1) {
      v.reasons.push_back(fmt::format("sysfs: the groups of the devices under test differ: {}", listed));
      return v;
    }
  }

  // 1. IOMMU groups: what the kernel actually set up for every device.
  if (groups && !groups->empty()) {
    std::map<Policy, int> counts;
    std::map<std::string, int> types;
    for (const auto& [n, t] : *groups) {
      std::string type = std::string(text::trim(t, kBlank));
      ++types[type];
      if (auto p = policy_of_group_type(type)) ++counts[*p];
    }
    if (!counts.empty()) {
      auto best = std::max_element(counts.begin(), counts.end(),
                                   [](const auto& a, const auto& b) { return a.second < b.second; });
      v.effective = best->first;
      std::string summary;
      for (const auto& [type, n] : types)
        summary += fmt::format("{}{} {}", summary.empty() ? "" : ", ", n, type);
      v.reasons.push_back(fmt::format("sysfs: /sys/kernel/iommu_groups/*/type: {} of {} groups ({})",
                                      *group_type(best->first), groups->size(), summary));
      if (!e.vtd_line.empty()) v.reasons.push_back(with_source("dmesg", e.vtd_line));
      if (!e.amd_line.empty()) v.reasons.push_back(with_source("dmesg", e.amd_line));
      if (!e.default_domain_line.empty()) v.reasons.push_back(with_source("dmesg", e.default_domain_line));
      if (!e.invalidation_line.empty()) v.reasons.push_back(with_source("dmesg", e.invalidation_line));
      if (!e.forced_strict_line.empty()) v.reasons.push_back(with_source("dmesg", e.forced_strict_line));
      return v;
    }
  }

  // 2. No groups and no IOMMU device in sysfs: no IOMMU translates anything.
  if (groups && groups->empty() && (!devices || devices->empty())) {
    v.effective = Policy::off;
    v.reasons.push_back("sysfs: no IOMMU groups under /sys/kernel/iommu_groups");
    if (devices) v.reasons.push_back("sysfs: no IOMMU under /sys/class/iommu");
    if (!e.disabled_line.empty()) v.reasons.push_back(with_source("dmesg", e.disabled_line));
    if (e.input.dmesg && !vendor_line)
      v.reasons.push_back("dmesg: no DMAR or AMD-Vi initialisation line (no IOMMU, or no vIOMMU in a guest)");
    return v;
  }

  // 3. The kernel log alone.
  if (!e.disabled_line.empty() && e.vtd_line.empty()) {
    v.effective = Policy::off;
    v.reasons.push_back(with_source("dmesg", e.disabled_line));
    return v;
  }
  if (e.input.dmesg && !vendor_line && !e.boot_log) {
    v.reasons.push_back(
        "dmesg: the log does not reach back to the boot (no 'Linux version' or 'Command line:' line): the "
        "absence of IOMMU lines proves nothing; use journalctl -k -b or give sysfs");
    return v;
  }
  if (e.input.dmesg && !vendor_line) {
    v.effective = Policy::off;
    v.reasons.push_back(
        "dmesg: no 'DMAR: Intel(R) Virtualization Technology for Directed I/O' and no AMD-Vi initialisation "
        "line (no IOMMU, or no vIOMMU in a guest)");
    if (!e.default_domain_line.empty())
      v.reasons.push_back(with_source("dmesg", e.default_domain_line + " (printed even without an IOMMU)"));
    return v;
  }
  if (!vendor_line) return v;  // nothing decides
  v.reasons.push_back(with_source("dmesg", e.vtd_line.empty() ? e.amd_line : e.vtd_line));
  if (e.default_domain == "Passthrough") {
    v.effective = Policy::passthrough;
    v.reasons.push_back(with_source("dmesg", e.default_domain_line));
  } else if (!e.forced_strict_line.empty()) {
    v.effective = Policy::strict;
    if (!e.invalidation_line.empty()) v.reasons.push_back(with_source("dmesg", e.invalidation_line));
    v.reasons.push_back(with_source("dmesg", e.forced_strict_line));
  } else if (!e.invalidation.empty()) {
    v.effective = e.invalidation == "strict" ? Policy::strict : Policy::lazy;
    if (!e.default_domain_line.empty()) v.reasons.push_back(with_source("dmesg", e.default_domain_line));
    v.reasons.push_back(with_source("dmesg", e.invalidation_line));
  }
  return v;
}

Comparison compare_policy(Policy requested, const Evidence& e, const Verdict& v) {
  Comparison c;
  if (!v.effective) {
    c.explanation = fmt::format(
        "requested {}, but the evidence does not decide which policy is in effect: give the kernel log and "
        "sysfs",
        to_string(requested));
    return c;
  }
  Policy eff = *v.effective;
  if (eff == requested) {
    c.match = true;
    c.explanation = fmt::format("requested {}, effective {}", to_string(requested), to_string(eff));
    return c;
  }
  std::string first = v.reasons.empty() ? "" : v.reasons.front();
  if (requested == Policy::lazy && eff == Policy::strict && !e.forced_strict_line.empty()) {
    c.explanation = fmt::format(
        "requested lazy, effective strict: the kernel forced strict invalidation ({}). The vIOMMU runs in "
        "caching mode, where every unmap must be seen by the hypervisor; lazy needs scalable mode with "
        "first-level translation, e.g. -device intel-iommu,x-scalable-mode=on,x-flts=on,... (x-flts needs "
        "a recent QEMU) and a guest kernel using scalable mode (intel_iommu=sm_on on kernels that do not "
        "enable it by default)",
        e.forced_strict_line);
  } else if (eff == Policy::off) {
    c.explanation = fmt::format(
        "requested {}, effective off: no IOMMU is in use ({}). In a guest this means the VM has no vIOMMU "
        "(add <iommu model='intel'> to the domain); on a host, check the firmware (VT-d / AMD-Vi) and the "
        "command line",
        to_string(requested), first);
  } else if (requested == Policy::off) {
    c.explanation = fmt::format("requested off, but the IOMMU is in use with {} ({})", to_string(eff), first);
  } else {
    c.explanation = fmt::format("requested {}, effective {} ({})", to_string(requested), to_string(eff), first);
  }
  return c;
}

nlohmann::json to_json(const Evidence& e, const Verdict& v) {
  nlohmann::json j;
  j["effective"] = v.effective ? std::string(to_string(*v.effective)) : "unknown";
  j["reasons"] = v.reasons;
  nlohmann::json ev;
  ev["vendor"] = e.vendor ? nlohmann::json(std::string(to_string(*e.vendor))) : nlohmann::json(nullptr);
  if (e.input.cmdline) {
    ev["cmdline"] = std::string(text::trim(*e.input.cmdline, kBlank));
    ev["cmdline_params"] = e.cmdline_params;
    ev["cmdline_policy"] =
        e.cmdline_policy ? nlohmann::json(std::string(to_string(*e.cmdline_policy))) : nlohmann::json(nullptr);
  }
  if (e.input.dmesg) {
    nlohmann::json d;
    auto put = [&](const char* key, const std::string& line) {
      d[key] = line.empty() ? nlohmann::json(nullptr) : nlohmann::json(line);
    };
    put("vtd", e.vtd_line);
    put("iommu_enabled", e.enabled_line);
    put("iommu_disabled", e.disabled_line);
    put("amd_vi", e.amd_line);
    put("default_domain", e.default_domain_line);
    put("invalidation", e.invalidation_line);
    put("forced_strict", e.forced_strict_line);
    d["boot_log"] = e.boot_log;
    ev["dmesg"] = d;
  }
  if (e.input.group_types) {
    nlohmann::json g = nlohmann::json::object();
    for (const auto& [n, t] : *e.input.group_types) g[std::to_string(n)] = std::string(text::trim(t, kBlank));
    ev["iommu_groups"] = g;
  }
  if (e.input.iommu_devices) ev["iommu_devices"] = *e.input.iommu_devices;
  if (!e.input.groups_under_test.empty()) ev["groups_under_test"] = e.input.groups_under_test;
  j["evidence"] = ev;
  return j;
}

}  // namespace iommuvm::policy
