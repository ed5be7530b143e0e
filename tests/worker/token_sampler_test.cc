// TokenSampler and DeriveSeed.
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "worker/tasks/token_sampler.h"

namespace kvfunda {
namespace {

TEST(TokenSamplerTest, GreedyTakesTheArgMaxLowestIdOnTies) {
  std::mt19937_64 rng(1);
  const TokenSampler greedy(0.0, 1.0);
  EXPECT_EQ(greedy.Choose(std::vector<double>{0.1, 2.0, -1.0, 2.0}, rng), 1);
  EXPECT_EQ(greedy.Choose(std::vector<double>{-5.0}, rng), 0);
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(greedy.Choose(std::vector<double>{-inf, -inf, -3.0}, rng), 2);
}

TEST(TokenSamplerTest, SamplingFollowsTheDistributionAndSkipsBannedTokens) {
  const double inf = std::numeric_limits<double>::infinity();
  // p = (0.5, 0.25, 0.25, 0) at temperature 1.
  const std::vector<double> logits = {std::log(2.0), 0.0, 0.0, -inf};
  const TokenSampler sampler(1.0, 1.0);
  std::mt19937_64 rng(42);
  std::map<int32_t, int> counts;
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++counts[sampler.Choose(logits, rng)];
  EXPECT_EQ(counts.count(3), 0u);
  EXPECT_NEAR(counts[0] / static_cast<double>(n), 0.5, 0.02);
  EXPECT_NEAR(counts[1] / static_cast<double>(n), 0.25, 0.02);
  EXPECT_NEAR(counts[2] / static_cast<double>(n), 0.25, 0.02);
}

TEST(TokenSamplerTest, TopPKeepsOnlyTheNucleus) {
  // p = (0.5, 0.3, 0.2): top_p 0.6 keeps tokens 0 and 1 only, in ratio 5:3.
  const std::vector<double> logits = {std::log(0.5), std::log(0.3), std::log(0.2)};
  const TokenSampler sampler(1.0, 0.6);
  std::mt19937_64 rng(7);
  std::map<int32_t, int> counts;
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++counts[sampler.Choose(logits, rng)];
  EXPECT_EQ(counts.count(2), 0u);
  EXPECT_NEAR(counts[0] / static_cast<double>(n), 0.625, 0.02);
  // A tiny top_p is greedy.
  const TokenSampler tiny(1.0, 1e-6);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(tiny.Choose(logits, rng), 0);
}

TEST(TokenSamplerTest, SameSeedSameDraws) {
  const std::vector<double> logits = {0.3, 0.1, 0.9, 0.5, 0.2};
  const TokenSampler sampler(0.8, 0.95);
  std::mt19937_64 a(DeriveSeed(5, 3, 1));
  std::mt19937_64 b(DeriveSeed(5, 3, 1));
  std::vector<int32_t> da, db;
  for (int i = 0; i < 50; ++i) {
    da.push_back(sampler.Choose(logits, a));
    db.push_back(sampler.Choose(logits, b));
  }
  EXPECT_EQ(da, db);
}

TEST(DeriveSeedTest, DistinctInputsGiveDistinctSeeds) {
  EXPECT_EQ(DeriveSeed(1, 2, 3), DeriveSeed(1, 2, 3));
  EXPECT_NE(DeriveSeed(1, 2, 3), DeriveSeed(1, 3, 3));
  EXPECT_NE(DeriveSeed(1, 2, 3), DeriveSeed(2, 2, 3));
  EXPECT_NE(DeriveSeed(1, 2, 3), DeriveSeed(1, 2, 4));
  EXPECT_NE(DeriveSeed(0, 1, 0), DeriveSeed(1, 0, 0));
}

}  // namespace
}  // namespace kvfunda
