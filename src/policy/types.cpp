#include "iommuvm/policy/types.hpp"

#include <array>
#include <utility>

namespace iommuvm::policy {

namespace {
constexpr std::array<std::pair<Policy, std::string_view>, 4> kPolicies = {{
    {Policy::strict, "strict"}, {Policy::lazy, "lazy"}, {Policy::passthrough, "passthrough"}, {Policy::off, "off"}}};
constexpr std::array<std::pair<Vendor, std::string_view>, 2> kVendors = {{{Vendor::intel, "intel"}, {Vendor::amd, "amd"}}};
constexpr std::array<std::pair<Method, std::string_view>, 7> kMethods = {{{Method::automatic, "auto"},
                                                                          {Method::runtime, "runtime"},
                                                                          {Method::kexec, "kexec"},
                                                                          {Method::grub_oneshot, "grub-oneshot"},
                                                                          {Method::grub, "grub"},
                                                                          {Method::libvirt_cmdline, "libvirt-cmdline"},
                                                                          {Method::none, "none"}}};

template <class E, std::size_t N>
std::string_view name_of(const std::array<std::pair<E, std::string_view>, N>& table, E e) {
  for (const auto& [v, n] : table)
    if (v == e) return n;
  return "?";
}
template <class E, std::size_t N>
std::optional<E> parse(const std::array<std::pair<E, std::string_view>, N>& table, std::string_view s) {
  for (const auto& [v, n] : table)
    if (n == s) return v;
  return std::nullopt;
}
}  // namespace

std::string_view to_string(Policy p) { return name_of(kPolicies, p); }
std::string_view to_string(Vendor v) { return name_of(kVendors, v); }
std::string_view to_string(Method m) { return name_of(kMethods, m); }
std::optional<Policy> parse_policy(std::string_view s) { return parse(kPolicies, s); }
std::optional<Vendor> parse_vendor(std::string_view s) { return parse(kVendors, s); }
std::optional<Method> parse_method(std::string_view s) { return parse(kMethods, s); }
std::vector<Method> all_methods() {
  std::vector<Method> out;
  for (const auto& [m, n] : kMethods) out.push_back(m);
  return out;
}

}  // namespace iommuvm::policy
