// Kernel command line parameters for an IOMMU policy, and rewriting a command
// line to request a policy. Pure functions: no I/O. The table is in docs/policy.md.
//
//   policy       intel                                        amd
//   strict       intel_iommu=on iommu.strict=1 iommu.passthrough=0   iommu.strict=1 iommu.passthrough=0
//   lazy         intel_iommu=on iommu.strict=0 iommu.passthrough=0   iommu.strict=0 iommu.passthrough=0
//   passthrough  intel_iommu=on iommu.passthrough=1               iommu.passthrough=1
//   off          intel_iommu=off                              amd_iommu=off
//
// The same parameters serve hosts and guests; in a guest the vendor is the one
// of the vIOMMU model (QEMU intel-iommu -> intel, amd-iommu -> amd).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iommuvm/policy/types.hpp"

namespace iommuvm::policy {

// The parameters that request POLICY on VENDOR, in the order above.
std::vector<std::string> policy_params(Policy policy, Vendor vendor);

// Split a kernel command line the way the kernel does (lib/cmdline.c next_arg):
// on whitespace, except inside double quotes (`foo="a b"` is one parameter).
// Tokens are returned as written, quotes included. Throws InputError on an
// unterminated double quote.
std::vector<std::string> tokenize_cmdline(std::string_view line);

// Join tokens with single spaces.
std::string join_cmdline(const std::vector<std::string>& tokens);

// The parameter name of TOKEN: the text before the first '=', double quotes
// removed and '-' folded to '_' (the kernel treats them as equal in names).
std::string param_name(std::string_view token);
// The value after the first '=', double quotes removed; nullopt without '='.
std::optional<std::string> param_value(std::string_view token);

// Remove from CMDLINE every parameter that decides the IOMMU policy (of either
// vendor) and append the parameters for POLICY on VENDOR. Every other parameter
// keeps its text and order; parameters after a `--` (for init) are left alone
// and the new ones go before it. Sub-options of intel_iommu= and amd_iommu=
// that do not decide the policy (sm_on, igfx_off, force_isolation, ...) are
// kept; intel ones are merged into the new intel_iommu= parameter.
// Idempotent: rewrite(rewrite(x)) == rewrite(x).
std::string rewrite_cmdline(std::string_view old, Policy policy, Vendor vendor);

// Only the removal half of rewrite_cmdline: every policy-deciding parameter or
// sub-option goes, everything else stays as written (intel_iommu=on,sm_on
// becomes intel_iommu=sm_on in place).
std::string strip_policy_params(std::string_view old);

// What a command line asks for on VENDOR, parameter by parameter (the last
// occurrence wins, as in the kernel; intel_iommu= is ignored on amd and
// amd_iommu= on intel). Unset fields: the command line does not say.
struct CmdlineRequest {
  std::optional<bool> enabled;      // intel_iommu=on|off, amd_iommu=off, iommu=off
  std::optional<bool> passthrough;  // iommu.passthrough=, iommu=pt|nopt
  std::optional<bool> strict;       // iommu.strict=, intel_iommu=strict, amd_iommu=fullflush
  std::vector<std::string> tokens;  // the parameters that decided the fields above, as written
};
CmdlineRequest parse_request(std::string_view cmdline, Vendor vendor);

// The policy a command line requests on VENDOR, or nullopt when it depends on
// the kernel's build configuration (for intel: no intel_iommu=on|off, since
// CONFIG_INTEL_IOMMU_DEFAULT_ON varies; for both: no strict/passthrough choice).
std::optional<Policy> requested_policy(std::string_view cmdline, Vendor vendor);

}  // namespace iommuvm::policy
