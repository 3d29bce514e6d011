// Which IOMMU policy is in effect, from what a machine shows: /proc/cmdline,
// the kernel log, /sys/kernel/iommu_groups/*/type and /sys/class/iommu/*.
// Pure: the caller reads the files and runs dmesg. The rules are in docs/policy.md.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "iommuvm/policy/types.hpp"

namespace iommuvm::policy {

// What was read. Unset optionals: that source was not given.
struct EvidenceInput {
  std::optional<std::string> cmdline;                     // /proc/cmdline
  std::optional<std::string> dmesg;                       // dmesg or journalctl -k text
  std::optional<std::map<int, std::string>> group_types;  // group number -> content of its type file
  std::optional<std::vector<std::string>> iommu_devices;  // names under /sys/class/iommu (dmar0, ivhd0, ...)
  // The groups of the devices under test (the NIC's): when given and present in group_types,
  // the verdict is their type, not the type most groups have (a runtime switch changes one group).
  std::vector<int> groups_under_test;
};

struct Evidence {
  EvidenceInput input;
  std::optional<Vendor> vendor;           // from the kernel log (DMAR / AMD-Vi), else the command line
  std::vector<std::string> cmdline_params;  // the policy-deciding parameters in /proc/cmdline
  std::optional<Policy> cmdline_policy;     // what /proc/cmdline requests (requested_policy)
  // The kernel log lines relied on, log prefixes removed; empty when absent.
  std::string vtd_line;            // DMAR: Intel(R) Virtualization Technology for Directed I/O
  std::string enabled_line;        // DMAR: IOMMU enabled          (echo of intel_iommu=on)
  std::string disabled_line;       // DMAR: IOMMU disabled         (echo of intel_iommu=off)
  std::string amd_line;            // AMD-Vi: ... an IOMMU found / initialised
  std::string default_domain_line; // iommu: Default domain type: Translated|Passthrough[ (set via kernel command line)]
  std::string default_domain;      // Translated | Passthrough
  std::string invalidation_line;   // iommu: DMA domain TLB invalidation policy: strict|lazy mode[ ...]
  std::string invalidation;        // strict | lazy
  bool boot_log = false;           // the log still holds the boot (Linux version / Command line: lines)
  std::string forced_strict_line;  // DMAR: IOMMU batching disallowed due to virtualization
                                   // / AMD-Vi: Using strict mode due to virtualization
};

// A kernel log line without its prefix: "[    0.123456] ", "[Thu Jan  2 ...] ",
// "<6>", journalctl's "Jan 02 03:04:05 host kernel: " and the ISO form of it.
std::string strip_log_prefix(std::string_view line);

Evidence parse_evidence(const EvidenceInput& input);

struct Verdict {
  std::optional<Policy> effective;   // nullopt: the evidence does not decide
  std::vector<std::string> reasons;  // "dmesg: <line>", "sysfs: ...", "cmdline: ..."
};
Verdict derive_policy(const Evidence& evidence);

struct Comparison {
  bool match = false;
  std::string explanation;
};
Comparison compare_policy(Policy requested, const Evidence& evidence, const Verdict& verdict);

// {"effective": "lazy" | "unknown", "reasons": [...], "evidence": {...}}
nlohmann::json to_json(const Evidence& evidence, const Verdict& verdict);

}  // namespace iommuvm::policy
