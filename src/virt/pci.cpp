#include "iommuvm/virt/pci.hpp"

#include <cstdio>
#include <string>

namespace iommuvm::virt {

namespace {

// Parse exactly DIGITS hex digits from TEXT at POS; advances POS.
bool hex_field(std::string_view text, std::size_t& pos, std::size_t digits, unsigned& out) {
  if (pos + digits > text.size()) return false;
  unsigned value = 0;
  for (std::size_t i = 0; i < digits; ++i) {
    char c = text[pos + i];
    unsigned d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return false;
    value = value * 16 + d;
  }
  pos += digits;
  out = value;
  return true;
}

bool expect(std::string_view text, std::size_t& pos, char c) {
  if (pos >= text.size() || text[pos] != c) return false;
  ++pos;
  return true;
}

}  // namespace

std::optional<PciAddress> PciAddress::parse(std::string_view text) {
  PciAddress a;
  std::size_t pos = 0;
  if (text.starts_with("pci_")) {
    // pci_DDDD_BB_SS_F
    pos = 4;
    if (!hex_field(text, pos, 4, a.domain) || !expect(text, pos, '_') || !hex_field(text, pos, 2, a.bus) ||
        !expect(text, pos, '_') || !hex_field(text, pos, 2, a.slot) || !expect(text, pos, '_') ||
        !hex_field(text, pos, 1, a.function) || pos != text.size())
      return std::nullopt;
  } else {
    if (text.size() == 12) {
      if (!hex_field(text, pos, 4, a.domain) || !expect(text, pos, ':')) return std::nullopt;
    } else if (text.size() != 7) {
      return std::nullopt;
    }
    if (!hex_field(text, pos, 2, a.bus) || !expect(text, pos, ':') || !hex_field(text, pos, 2, a.slot) ||
        !expect(text, pos, '.') || !hex_field(text, pos, 1, a.function) || pos != text.size())
      return std::nullopt;
  }
  if (a.slot > 0x1f || a.function > 7) return std::nullopt;
  return a;
}

std::string PciAddress::str() const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04x:%02x:%02x.%x", domain, bus, slot, function);
  return buf;
}

std::string PciAddress::node_device_name() const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "pci_%04x_%02x_%02x_%x", domain, bus, slot, function);
  return buf;
}

}  // namespace iommuvm::virt
