// iommuvm import's pure parts: file-name patterns and parameter values.
#include <gtest/gtest.h>

#include "iommuvm/results/import.hpp"
#include "iommuvm/util/error.hpp"

using namespace iommuvm;
using namespace iommuvm::results;

TEST(ImportPattern, FieldsFromFileNames) {
  auto m = match_file_name("redis-{policy.host}-c{conn}-{rep}.txt", "redis-strict-c64-3.txt");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->at("policy.host"), "strict");
  EXPECT_EQ(m->at("conn"), "64");
  EXPECT_EQ(m->at("rep"), "3");
  // A field takes the shortest text that lets the rest match; {*} is not kept.
  auto n = match_file_name("{a}-{*}.log", "x-y-z.log");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->at("a"), "x");
  EXPECT_EQ(n->size(), 1u);
  EXPECT_FALSE(match_file_name("redis-{p}.txt", "redis-.txt"));
  EXPECT_FALSE(match_file_name("redis-{p}.txt", "memcached-strict.txt"));
  EXPECT_FALSE(match_file_name("a.txt", "a.txt.bak"));
  EXPECT_THROW(match_file_name("redis-{p.txt", "x"), InputError);
  EXPECT_THROW(match_file_name("redis-{}.txt", "x"), InputError);
  EXPECT_THROW(match_file_name("{a}{b}", "xy"), InputError);
}

TEST(ImportPattern, ValuesAreTyped) {
  EXPECT_EQ(param_value("16"), 16);
  EXPECT_EQ(param_value("0.5"), 0.5);
  EXPECT_EQ(param_value("true"), true);
  EXPECT_EQ(param_value("strict"), "strict");
  EXPECT_EQ(param_value("16k"), "16k");
  EXPECT_EQ(param_value(""), "");
}
