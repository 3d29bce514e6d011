#include "iommuvm/results/stats.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace iommuvm::results {

namespace {

// Continued fraction for the incomplete beta function (modified Lentz, as in Numerical Recipes).
double beta_cf(double a, double b, double x) {
  const double tiny = 1e-300;
  const double eps = 1e-15;
  double qab = a + b, qap = a + 1, qam = a - 1;
  double c = 1, d = 1 - qab * x / qap;
  if (std::fabs(d) < tiny) d = tiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= 1000; ++m) {
    double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    double del = d * c;
    h *= del;
    if (std::fabs(del - 1) < eps) break;
  }
  return h;
}

}  // namespace

double incomplete_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  double lbt = std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  double bt = std::exp(lbt);
  if (x < (a + 1) / (a + b + 2)) return bt * beta_cf(a, b, x) / a;
  return 1 - bt * beta_cf(b, a, 1 - x) / b;
}

double t_cdf(double t, double df) {
  if (!(df > 0)) throw std::invalid_argument("t_cdf: degrees of freedom must be positive");
  double x = df / (df + t * t);
  double tail = 0.5 * incomplete_beta(df / 2, 0.5, x);  // P(T > |t|)
  return t >= 0 ? 1 - tail : tail;
}

double t_quantile(double p, double df) {
  if (!(p > 0 && p < 1)) throw std::invalid_argument("t_quantile: p must be in (0, 1)");
  if (!(df > 0)) throw std::invalid_argument("t_quantile: degrees of freedom must be positive");
  if (p == 0.5) return 0;
  if (p < 0.5) return -t_quantile(1 - p, df);
  double lo = 0, hi = 1;
  while (t_cdf(hi, df) < p && hi < 1e12) hi *= 2;
  for (int i = 0; i < 200 && hi - lo > 1e-12 * std::max(1.0, hi); ++i) {
    double mid = 0.5 * (lo + hi);
    if (t_cdf(mid, df) < p)
      lo = mid;
    else
      hi = mid;
  }
  return 0.5 * (lo + hi);
}

std::optional<double> Stats::ci95_half() const {
  if (!ci95_high) return std::nullopt;
  return *ci95_high - mean;
}

Stats describe(std::vector<double> values) {
  Stats s;
  s.n = values.size();
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  s.min = values.front();
  s.max = values.back();
  std::size_t n = values.size();
  s.median = n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / static_cast<double>(n);
  if (n < 2) return s;
  double ss = 0;
  for (double v : values) ss += (v - s.mean) * (v - s.mean);
  double sd = std::sqrt(ss / static_cast<double>(n - 1));
  s.sd = sd;
  if (s.mean != 0) s.cv = sd / std::fabs(s.mean);
  double half = t_quantile(0.975, static_cast<double>(n - 1)) * sd / std::sqrt(static_cast<double>(n));
  s.ci95_low = s.mean - half;
  s.ci95_high = s.mean + half;
  return s;
}

std::optional<Ratio> ratio_of_means(const Stats& num, const Stats& den) {
  if (num.n == 0 || den.n == 0 || den.mean == 0) return std::nullopt;
  Ratio r;
  r.value = num.mean / den.mean;
  if (!num.sd || !den.sd) return r;
  // Squared relative standard errors of each mean.
  double a = *num.sd * *num.sd / static_cast<double>(num.n);
  double b = *den.sd * *den.sd / static_cast<double>(den.n);
  double rel_a = num.mean != 0 ? a / (num.mean * num.mean) : 0;
  double rel_b = b / (den.mean * den.mean);
  if (num.mean == 0 && a > 0) return r;  // relative error undefined
  double se = std::fabs(r.value) * std::sqrt(rel_a + rel_b);
  r.se = se;
  if (se == 0) {
    r.ci95_low = r.value;
    r.ci95_high = r.value;
    return r;
  }
  // Welch-Satterthwaite degrees of freedom on the relative variances.
  double df = (rel_a + rel_b) * (rel_a + rel_b) /
              (rel_a * rel_a / static_cast<double>(num.n - 1) + rel_b * rel_b / static_cast<double>(den.n - 1));
  double half = t_quantile(0.975, df) * se;
  r.ci95_low = r.value - half;
  r.ci95_high = r.value + half;
  return r;
}

}  // namespace iommuvm::results
