// One load generator's output (the first byte chooses the parser; a custom tool gets a fixed
// pattern set) through its parser, and the metrics as JSON.
#include "iommuvm/workload/metrics.hpp"
#include "iommuvm/workload/parsers.hpp"
#include "targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace iommuvm;
  if (size == 0) return 0;
  const auto& tools = workload::parser_names();
  std::string tool = tools[data[0] % tools.size()];
  return fuzz::guarded([&] {
    workload::ParseOptions opts;
    if (tool == "custom") opts.custom = {{"throughput_ops", "ops=([0-9.]+)"}, {"latency_p99_us", "p99 ([0-9.e+-]+)"}};
    if (size > 1 && data[1] & 1) opts.primary = "get";
    auto m = workload::parse_output(tool, fuzz::as_text(data + 1, size - 1), opts);
    (void)workload::to_json(m).dump();
  });
}
