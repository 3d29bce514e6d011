// Small numeric conventions with no iommuvm-specific knowledge.
#pragma once

namespace iommuvm::numbers {

// A ratio given as a fraction or as a percent: values above 1 are percents (10 -> 0.1),
// others fractions as they are (0.1 -> 0.1).
inline double fraction_or_percent(double v) { return v > 1 ? v / 100 : v; }

}  // namespace iommuvm::numbers
