// A spec (YAML or JSON, chosen by the first byte) through loading, matrix expansion and
// planning, and the plan as JSON.
#include "iommuvm/plan/plan.hpp"
#include "iommuvm/spec/load.hpp"
#include "iommuvm/spec/matrix.hpp"
#include "targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace iommuvm;
  return fuzz::guarded([&] {
    std::string text(fuzz::as_text(data, size));
    auto loaded = spec::load_text(text, "fuzz.yaml", "");
    if (loaded.diag.has_errors()) return;
    Diagnostics diag;
    auto points = spec::expand(loaded, diag);
    if (diag.has_errors()) return;
    auto plan = plan::build(loaded.spec, points);
    (void)plan.to_json().dump();
  });
}
