// Descriptive statistics over the repetitions of one combination, Student's t
// confidence intervals, and the ratio of two independent means (delta method).
// docs/report.md gives the formulas.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

namespace iommuvm::results {

// Regularized incomplete beta function I_x(a, b), for a, b > 0 and 0 <= x <= 1.
double incomplete_beta(double a, double b, double x);

// Cumulative distribution function of Student's t with DF degrees of freedom (DF > 0, may be fractional).
double t_cdf(double t, double df);

// The P quantile of Student's t with DF degrees of freedom (0 < P < 1, DF > 0), found by
// bisection on t_cdf; accurate to about 1e-10. t_quantile(0.975, 1) = 12.7062.
double t_quantile(double p, double df);

struct Stats {
  std::size_t n = 0;
  double mean = 0;
  double min = 0;
  double max = 0;
  double median = 0;
  // Absent when n < 2 (one value says nothing about its spread); cv also when mean is 0.
  std::optional<double> sd;  // sample standard deviation (n - 1)
  std::optional<double> cv;  // sd / |mean|, a fraction (0.05 = 5 %)
  std::optional<double> ci95_low;
  std::optional<double> ci95_high;
  // Half width of the 95 % interval: t(0.975, n-1) * sd / sqrt(n).
  std::optional<double> ci95_half() const;
};

// Statistics of VALUES (n >= 1; an empty vector gives n = 0 and nothing else).
Stats describe(std::vector<double> values);

// The ratio of two independent means NUM.mean / DEN.mean with its uncertainty by the
// delta method: se(r) = |r| * sqrt(sd1^2/(n1 m1^2) + sd0^2/(n0 m0^2)); the 95 % interval
// uses Student's t with Welch-Satterthwaite degrees of freedom.
struct Ratio {
  double value = 0;
  std::optional<double> se;
  std::optional<double> ci95_low;
  std::optional<double> ci95_high;
};
// Absent when DEN.mean is 0 or either side has no values.
std::optional<Ratio> ratio_of_means(const Stats& num, const Stats& den);

}  // namespace iommuvm::results
