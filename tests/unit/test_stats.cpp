// Statistics against values computed by hand or from published t tables.
#include <gtest/gtest.h>

#include <cmath>

#include "iommuvm/results/stats.hpp"

using namespace iommuvm::results;

TEST(TQuantile, MatchesPublishedTables) {
  EXPECT_NEAR(t_quantile(0.975, 1), 12.7062, 1e-4);
  EXPECT_NEAR(t_quantile(0.975, 2), 4.3027, 1e-4);
  EXPECT_NEAR(t_quantile(0.975, 4), 2.7764, 1e-4);
  EXPECT_NEAR(t_quantile(0.975, 9), 2.2622, 1e-4);
  EXPECT_NEAR(t_quantile(0.975, 30), 2.0423, 1e-4);
  EXPECT_NEAR(t_quantile(0.975, 1000), 1.9623, 1e-4);
  EXPECT_NEAR(t_quantile(0.95, 10), 1.8125, 1e-4);
  EXPECT_NEAR(t_quantile(0.995, 5), 4.0321, 1e-4);
  EXPECT_NEAR(t_quantile(0.025, 4), -2.7764, 1e-4);
  EXPECT_DOUBLE_EQ(t_quantile(0.5, 7), 0.0);
}

TEST(TQuantile, LargeDfApproachesNormal) { EXPECT_NEAR(t_quantile(0.975, 1e7), 1.95996, 1e-4); }

TEST(TQuantile, RejectsBadArguments) {
  EXPECT_THROW(t_quantile(0, 3), std::invalid_argument);
  EXPECT_THROW(t_quantile(1, 3), std::invalid_argument);
  EXPECT_THROW(t_quantile(0.9, 0), std::invalid_argument);
}

TEST(TCdf, ClosedForms) {
  EXPECT_NEAR(t_cdf(1, 1), 0.75, 1e-12);  // Cauchy: 1/2 + atan(t)/pi
  EXPECT_NEAR(t_cdf(0, 5), 0.5, 1e-12);
  EXPECT_NEAR(t_cdf(2, 2), 0.5 + 2 / (2 * std::sqrt(6.0)), 1e-12);  // df 2: 1/2 + t / (2 sqrt(2 + t^2))
  EXPECT_NEAR(t_cdf(-2, 2), 0.5 - 2 / (2 * std::sqrt(6.0)), 1e-12);
  EXPECT_NEAR(t_cdf(t_quantile(0.9, 2.6764), 2.6764), 0.9, 1e-9);  // fractional df round trip
}

TEST(IncompleteBeta, KnownValues) {
  EXPECT_NEAR(incomplete_beta(1, 1, 0.3), 0.3, 1e-12);        // uniform
  EXPECT_NEAR(incomplete_beta(2, 1, 0.5), 0.25, 1e-12);       // x^2
  EXPECT_NEAR(incomplete_beta(1, 2, 0.5), 0.75, 1e-12);       // 1 - (1-x)^2
  EXPECT_DOUBLE_EQ(incomplete_beta(3, 4, 0), 0.0);
  EXPECT_DOUBLE_EQ(incomplete_beta(3, 4, 1), 1.0);
}

TEST(Describe, OneToFive) {
  Stats s = describe({5, 3, 1, 4, 2});
  EXPECT_EQ(s.n, 5u);
  EXPECT_DOUBLE_EQ(s.mean, 3);
  EXPECT_DOUBLE_EQ(s.median, 3);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 5);
  ASSERT_TRUE(s.sd);
  EXPECT_NEAR(*s.sd, 1.5811388, 1e-6);  // sqrt(10 / 4)
  ASSERT_TRUE(s.cv);
  EXPECT_NEAR(*s.cv, 0.5270463, 1e-6);
  ASSERT_TRUE(s.ci95_low && s.ci95_high);
  // 3 ± 2.776445 * 1.5811388 / sqrt(5) = 3 ± 1.963243
  EXPECT_NEAR(*s.ci95_low, 1.036757, 1e-5);
  EXPECT_NEAR(*s.ci95_high, 4.963243, 1e-5);
  EXPECT_NEAR(*s.ci95_half(), 1.963243, 1e-5);
}

TEST(Describe, EvenCountMedian) {
  Stats s = describe({4, 1, 3, 2});
  EXPECT_DOUBLE_EQ(s.median, 2.5);
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
}

TEST(Describe, SingleValueHasNoSpread) {
  Stats s = describe({42});
  EXPECT_EQ(s.n, 1u);
  EXPECT_DOUBLE_EQ(s.mean, 42);
  EXPECT_DOUBLE_EQ(s.median, 42);
  EXPECT_FALSE(s.sd);
  EXPECT_FALSE(s.cv);
  EXPECT_FALSE(s.ci95_low);
  EXPECT_FALSE(s.ci95_high);
  EXPECT_FALSE(s.ci95_half());
}

TEST(Describe, EmptyAndConstantAndZeroMean) {
  EXPECT_EQ(describe({}).n, 0u);
  Stats c = describe({7, 7, 7});
  EXPECT_DOUBLE_EQ(*c.sd, 0);
  EXPECT_DOUBLE_EQ(*c.cv, 0);
  EXPECT_DOUBLE_EQ(*c.ci95_low, 7);
  Stats z = describe({-1, 1});
  EXPECT_TRUE(z.sd);
  EXPECT_FALSE(z.cv);  // undefined for a zero mean
}

TEST(RatioOfMeans, DeltaMethodWithWelchDf) {
  Stats num = describe({90, 95, 100, 95});  // mean 95, sd 4.0824829
  Stats den = describe({100, 110, 120});    // mean 110, sd 10
  auto r = ratio_of_means(num, den);
  ASSERT_TRUE(r);
  EXPECT_NEAR(r->value, 0.8636364, 1e-6);
  ASSERT_TRUE(r->se);
  // |r| * sqrt(4.0824829^2 / (4 * 95^2) + 10^2 / (3 * 110^2))
  EXPECT_NEAR(*r->se, 0.0489805, 1e-6);
  // Welch-Satterthwaite df on the relative variances: 2.6764189
  double half = t_quantile(0.975, 2.6764189) * 0.0489805;
  EXPECT_NEAR(*r->ci95_low, 0.8636364 - half, 1e-5);
  EXPECT_NEAR(*r->ci95_high, 0.8636364 + half, 1e-5);
}

TEST(RatioOfMeans, AbsentCases) {
  EXPECT_FALSE(ratio_of_means(describe({1, 2}), describe({0, 0})));
  EXPECT_FALSE(ratio_of_means(describe({}), describe({1, 2})));
  auto r = ratio_of_means(describe({2}), describe({4, 4}));  // n = 1: a value, no interval
  ASSERT_TRUE(r);
  EXPECT_DOUBLE_EQ(r->value, 0.5);
  EXPECT_FALSE(r->se);
  EXPECT_FALSE(r->ci95_low);
}
