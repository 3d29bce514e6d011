#include "iommuvm/policy/cmdline.hpp"

#include <algorithm>

#include "iommuvm/util/error.hpp"

namespace iommuvm::policy {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string strip_quotes(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != '"') out += c;
  return out;
}

std::vector<std::string> split_commas(std::string_view s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t end = s.find(',', start);
    if (end == std::string_view::npos) end = s.size();
    if (end > start) out.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string join_commas(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += ',';
    out += p;
  }
  return out;
}

// The kernel's kstrtobool: 1/y/Y/on -> true, 0/n/N/off -> false.
std::optional<bool> kernel_bool(std::string_view v) {
  if (v.empty()) return std::nullopt;
  if (v[0] == '1' || v[0] == 'y' || v[0] == 'Y') return true;
  if (v[0] == '0' || v[0] == 'n' || v[0] == 'N') return false;
  if (v.size() >= 2 && (v[0] == 'o' || v[0] == 'O')) {
    if (v[1] == 'n' || v[1] == 'N') return true;
    if (v[1] == 'f' || v[1] == 'F') return false;
  }
  return std::nullopt;
}

// Sub-options of the comma-separated vendor parameters that decide the policy.
bool deciding_intel_option(std::string_view o) { return o == "on" || o == "off" || o == "strict"; }
bool deciding_amd_option(std::string_view o) { return o == "off" || o == "fullflush"; }
bool deciding_x86_iommu_option(std::string_view o) { return o == "pt" || o == "nopt" || o == "off"; }

}  // namespace

std::vector<std::string> policy_params(Policy policy, Vendor vendor) {
  if (vendor == Vendor::intel) {
    switch (policy) {
      case Policy::strict: return {"intel_iommu=on", "iommu.strict=1", "iommu.passthrough=0"};
      case Policy::lazy: return {"intel_iommu=on", "iommu.strict=0", "iommu.passthrough=0"};
      case Policy::passthrough: return {"intel_iommu=on", "iommu.passthrough=1"};
      case Policy::off: return {"intel_iommu=off"};
    }
  } else {
    switch (policy) {
      case Policy::strict: return {"iommu.strict=1", "iommu.passthrough=0"};
      case Policy::lazy: return {"iommu.strict=0", "iommu.passthrough=0"};
      case Policy::passthrough: return {"iommu.passthrough=1"};
      case Policy::off: return {"amd_iommu=off"};
    }
  }
  return {};
}

std::vector<std::string> tokenize_cmdline(std::string_view line) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_space(line[i])) ++i;
    if (i >= line.size()) break;
    std::string tok;
    bool in_quote = false;
    while (i < line.size() && (in_quote || !is_space(line[i]))) {
      if (line[i] == '"') in_quote = !in_quote;
      tok += line[i++];
    }
    if (in_quote) throw InputError("unterminated double quote in kernel command line: " + std::string(line));
    out.push_back(std::move(tok));
  }
  return out;
}

std::string join_cmdline(const std::vector<std::string>& tokens) {
  std::string out;
  for (const auto& t : tokens) {
    if (!out.empty()) out += ' ';
    out += t;
  }
  return out;
}

std::string param_name(std::string_view token) {
  std::string name = strip_quotes(token.substr(0, token.find('=')));
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

std::optional<std::string> param_value(std::string_view token) {
  std::size_t eq = token.find('=');
  if (eq == std::string_view::npos) return std::nullopt;
  return strip_quotes(token.substr(eq + 1));
}

namespace {
// Without POLICY: only remove (strip_policy_params).
std::string rewrite_impl(std::string_view old, std::optional<Policy> policy, Vendor vendor) {
  std::vector<std::string> tokens = tokenize_cmdline(old);
  std::vector<std::string> kept;
  std::vector<std::string> intel_kept_options;  // merged into the new intel_iommu= (intel only)
  std::size_t i = 0;
  for (; i < tokens.size(); ++i) {
    const std::string& tok = tokens[i];
    if (tok == "--") break;
    std::string name = param_name(tok);
    std::optional<std::string> value = param_value(tok);
    if (name == "iommu.strict" || name == "iommu.passthrough") continue;
    if ((name == "intel_iommu" || name == "amd_iommu" || name == "iommu") && value) {
      std::vector<std::string> rest;
      for (const auto& o : split_commas(*value)) {
        bool deciding = name == "intel_iommu" ? deciding_intel_option(o)
                        : name == "amd_iommu" ? deciding_amd_option(o)
                                              : deciding_x86_iommu_option(o);
        if (!deciding) rest.push_back(o);
      }
      if (name == "intel_iommu" && vendor == Vendor::intel && policy) {
        for (const auto& o : rest)
          if (std::find(intel_kept_options.begin(), intel_kept_options.end(), o) == intel_kept_options.end())
            intel_kept_options.push_back(o);
        continue;
      }
      if (rest.size() == split_commas(*value).size()) {
        kept.push_back(tok);  // nothing to remove: keep it byte for byte
      } else if (!rest.empty()) {
        kept.push_back(tok.substr(0, tok.find('=')) + "=" + join_commas(rest));
      }
      continue;
    }
    kept.push_back(tok);
  }
  std::vector<std::string> params;
  if (policy) params = policy_params(*policy, vendor);
  if (vendor == Vendor::intel && !intel_kept_options.empty()) {
    for (auto& p : params)
      if (p.rfind("intel_iommu=", 0) == 0) p += "," + join_commas(intel_kept_options);
  }
  kept.insert(kept.end(), params.begin(), params.end());
  kept.insert(kept.end(), tokens.begin() + static_cast<std::ptrdiff_t>(i), tokens.end());
  return join_cmdline(kept);
}
}  // namespace

std::string rewrite_cmdline(std::string_view old, Policy policy, Vendor vendor) {
  return rewrite_impl(old, policy, vendor);
}

std::string strip_policy_params(std::string_view old) { return rewrite_impl(old, std::nullopt, Vendor::amd); }

CmdlineRequest parse_request(std::string_view cmdline, Vendor vendor) {
  CmdlineRequest r;
  for (const auto& tok : tokenize_cmdline(cmdline)) {
    if (tok == "--") break;
    std::string name = param_name(tok);
    std::optional<std::string> value = param_value(tok);
    if (!value) continue;
    bool used = false;
    if (name == "iommu.strict") {
      if (auto b = kernel_bool(*value)) r.strict = *b, used = true;
    } else if (name == "iommu.passthrough") {
      if (auto b = kernel_bool(*value)) r.passthrough = *b, used = true;
    } else if (name == "intel_iommu" && vendor == Vendor::intel) {
      for (const auto& o : split_commas(*value)) {
        if (o == "on") r.enabled = true, used = true;
        if (o == "off") r.enabled = false, used = true;
        if (o == "strict") r.strict = true, used = true;
      }
    } else if (name == "amd_iommu" && vendor == Vendor::amd) {
      for (const auto& o : split_commas(*value)) {
        if (o == "off") r.enabled = false, used = true;
        if (o == "fullflush") r.strict = true, used = true;
      }
    } else if (name == "iommu") {
      for (const auto& o : split_commas(*value)) {
        if (o == "pt") r.passthrough = true, used = true;
        if (o == "nopt") r.passthrough = false, used = true;
        if (o == "off") r.enabled = false, used = true;
      }
    }
    if (used) r.tokens.push_back(tok);
  }
  return r;
}

std::optional<Policy> requested_policy(std::string_view cmdline, Vendor vendor) {
  CmdlineRequest r = parse_request(cmdline, vendor);
  if (r.enabled == false) return Policy::off;
  if (vendor == Vendor::intel && r.enabled != true) return std::nullopt;
  if (r.passthrough == true) return Policy::passthrough;
  if (r.strict == true) return Policy::strict;
  if (r.strict == false) return Policy::lazy;
  return std::nullopt;
}

}  // namespace iommuvm::policy
