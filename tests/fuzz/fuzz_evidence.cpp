// A kernel log and command line (split at the first NUL) through the evidence parser and the
// policy verdict, and the evidence as JSON; the same text as /dev/kmsg records through the
// audit's reader.
#include "iommuvm/audit/kmsg.hpp"
#include "iommuvm/policy/evidence.hpp"
#include "iommuvm/util/text.hpp"
#include "targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace iommuvm;
  std::string_view all = fuzz::as_text(data, size);
  auto nul = all.find('\0');
  std::string_view log = all.substr(0, nul), cmdline = nul == std::string_view::npos ? "" : all.substr(nul + 1);
  return fuzz::guarded([&] {
    policy::EvidenceInput in;
    // What iommuvm reads off a machine is escaped the way the engine and `policy evidence` do.
    in.dmesg = text::escape_invalid_utf8(log);
    in.cmdline = text::escape_invalid_utf8(cmdline);
    in.group_types = std::map<int, std::string>{{0, "DMA-FQ"}, {1, "identity"}};
    in.iommu_devices = std::vector<std::string>{"dmar0"};
    auto ev = policy::parse_evidence(in);
    auto verdict = policy::derive_policy(ev);
    (void)policy::to_json(ev, verdict).dump();
    auto machine_log = audit::since("host", 0, log);
    for (const auto& r : machine_log.records) (void)audit::printable(r.text);
  });
}
