// Hand-computed cases for SnapKV, PyramidKV, H2O and ChunkKV (kvfundabench-spec.md
// §3.2–3.6, docs/methods.md): statistics are built by hand, so each expected
// kept set follows from the formulas alone.
#include <cstdint>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "method_test_util.h"
#include "worker/compression/attention_scores.h"
#include "worker/compression/chunkkv_policy.h"
#include "worker/compression/h2o_policy.h"
#include "worker/compression/pyramidkv_policy.h"
#include "worker/compression/snapkv_policy.h"

namespace kvfunda {
namespace {

using testing::FloatTensor;
using testing::MethodConfig;
using testing::PlanOrDie;

// Prefix token scores s (in units of 1/64, exact in fp32) of a 12-token prompt
// whose window is its last 2 tokens (positions 10, 11):
//   position: 0  1  2  3  4  5  6  7  8  9
//   s:        4  0  1  0  9  0  2  7  0  5
// split over the two window queries (row 1 below, row 0 = s - row 1). A third,
// earlier query row (as computed for a policy with w = 3) puts 100 on position 0:
// a w = 2 policy must ignore it.
PrefillStats SnapStats() {
  const std::vector<float> s = {4, 0, 1, 0, 9, 0, 2, 7, 0, 5};
  const std::vector<float> row1 = {1, 0, 0, 0, 3, 0, 2, 0, 0, 1};
  std::vector<float> values(3 * 12, 0.f);
  values[0] = 100.f / 64;  // row 0: query 9, to be ignored
  for (size_t t = 0; t < 10; ++t) {
    values[12 + t] = (s[t] - row1[t]) / 64;  // row 1: query 10
    values[24 + t] = row1[t] / 64;           // row 2: query 11
  }
  values[12 + 10] = 30.f / 64;  // window keys: always kept anyway
  values[24 + 10] = 10.f / 64;
  values[24 + 11] = 20.f / 64;
  PrefillStats stats;
  stats.window_attention.push_back(FloatTensor({1, 3, 12}, values));
  return stats;
}

ScoringOptions Scoring(int32_t kernel, Pooling pooling) {
  ScoringOptions o;
  o.kernel = kernel;
  o.pooling = pooling;
  return o;
}

TEST(SnapKvTest, MaxPoolKernel3) {
  // Max-pool k = 3 (padding 1): 4 4 1 9 9 9 7 7 7 5.
  // B = 6: top 4 = the three 9s (3, 4, 5) and the lowest 7 (6; ties to the lower).
  const ModelConfig config = MethodConfig(1, 1, 1);
  const PrefillStats stats = SnapStats();
  const SnapKvPolicy policy(2, Scoring(3, Pooling::kMax));
  EXPECT_EQ(PlanOrDie(policy, config, stats, 12, 6).kept[0][0],
            (std::vector<int32_t>{3, 4, 5, 6, 10, 11}));
  EXPECT_EQ(PlanOrDie(policy, config, stats, 12, 5).kept[0][0],
            (std::vector<int32_t>{3, 4, 5, 10, 11}));
  // B = 9: 7 prefix tokens: the 9s, the 7s, then the 5 at 9 (over the 4s at 0, 1).
  EXPECT_EQ(PlanOrDie(policy, config, stats, 12, 9).kept[0][0],
            (std::vector<int32_t>{3, 4, 5, 6, 7, 8, 9, 10, 11}));
}

TEST(SnapKvTest, AvgPoolKernel3CountsPadding) {
  // Avg-pool k = 3, sums / 3 with zero padding: 4 5 1 10 9 11 9 9 12 5 (thirds).
  // B = 6: 12 (8), 11 (5), 10 (3), then 9 at 4, 6, 7 -> 4.
  const ModelConfig config = MethodConfig(1, 1, 1);
  const PrefillStats stats = SnapStats();
  const SnapKvPolicy policy(2, Scoring(3, Pooling::kAvg));
  EXPECT_EQ(PlanOrDie(policy, config, stats, 12, 6).kept[0][0],
            (std::vector<int32_t>{3, 4, 5, 8, 10, 11}));
  // B = 4: 12 (8), 11 (5).
  EXPECT_EQ(PlanOrDie(policy, config, stats, 12, 4).kept[0][0],
            (std::vector<int32_t>{5, 8, 10, 11}));
}

TEST(SnapKvTest, NoPoolingAndSmallBudgets) {
  const ModelConfig config = MethodConfig(1, 1, 1);
  const PrefillStats stats = SnapStats();
  // Kernel 1: raw s; top 4 = 9 (4), 7 (7), 5 (9), 4 (0).
  const SnapKvPolicy raw(2, Scoring(1, Pooling::kMax));
  EXPECT_EQ(PlanOrDie(raw, config, stats, 12, 6).kept[0][0],
            (std::vector<int32_t>{0, 4, 7, 9, 10, 11}));
  // B <= w keeps the last B tokens; B >= L keeps everything.
  EXPECT_EQ(PlanOrDie(raw, config, stats, 12, 2).kept[0][0], (std::vector<int32_t>{10, 11}));
  EXPECT_EQ(PlanOrDie(raw, config, stats, 12, 1).kept[0][0], (std::vector<int32_t>{11}));
  EXPECT_EQ(PlanOrDie(raw, config, stats, 12, 12).kept[0][0], testing::Positions(0, 12));
}

TEST(SnapKvTest, PoolPrimitive) {
  const std::vector<float> s = {4, 0, 1, 0, 9, 0, 2, 7, 0, 5};
  EXPECT_EQ(Pool1d(s, 3, Pooling::kMax), (std::vector<float>{4, 4, 1, 9, 9, 9, 7, 7, 7, 5}));
  EXPECT_EQ(Pool1d(s, 5, Pooling::kMax), (std::vector<float>{4, 4, 9, 9, 9, 9, 9, 7, 7, 7}));
  const std::vector<float> avg = Pool1d(s, 3, Pooling::kAvg);
  const std::vector<float> thirds = {4, 5, 1, 10, 9, 11, 9, 9, 12, 5};
  for (size_t i = 0; i < avg.size(); ++i) EXPECT_FLOAT_EQ(avg[i], thirds[i] / 3) << i;
  EXPECT_EQ(Pool1d(s, 1, Pooling::kAvg), s);
  EXPECT_EQ(TopKPositions({1, 3, 3, 2, 3}, 2), (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(TopKPositions({1, 3, 3, 2, 3}, 0), (std::vector<int32_t>{}));
}

// 4 query heads, 2 KV heads, L = 8, w = 2 (prefix 0..5), kernel 1, B = 3 (one
// prefix token per unit). Scores per query head:
//   head 0: 0 5 0 0 0 4     head 1: 0 0 0 0 0 4     (KV head 0)
//   head 2: 3 0 0 0 0 0     head 3: 3 0 0 0 0 0     (KV head 1)
// mean over group 0: 0 2.5 0 0 0 4 -> 5; max: 5 at 1 -> 1. KV head 1 -> 0.
// One unit per layer (sum of all four): 6 5 0 0 0 8 -> 5.
PrefillStats GroupStats() {
  const std::vector<std::vector<float>> s = {
      {0, 5, 0, 0, 0, 4}, {0, 0, 0, 0, 0, 4}, {3, 0, 0, 0, 0, 0}, {3, 0, 0, 0, 0, 0}};
  std::vector<float> values(4 * 2 * 8, 0.f);
  for (size_t h = 0; h < 4; ++h) {
    for (size_t t = 0; t < 6; ++t) values[(h * 2 + 1) * 8 + t] = s[h][t];  // query 7 only
  }
  PrefillStats stats;
  stats.window_attention.push_back(FloatTensor({4, 2, 8}, values));
  return stats;
}

TEST(SnapKvTest, GroupedQueryHeads) {
  const ModelConfig config = MethodConfig(1, 4, 2);
  const PrefillStats stats = GroupStats();
  ScoringOptions mean = Scoring(1, Pooling::kMax);
  mean.group_reduce = GroupReduce::kMean;
  EXPECT_EQ(PlanOrDie(SnapKvPolicy(2, mean), config, stats, 8, 3).kept[0],
            (std::vector<std::vector<int32_t>>{{5, 6, 7}, {0, 6, 7}}));
  ScoringOptions max = mean;
  max.group_reduce = GroupReduce::kMax;
  EXPECT_EQ(PlanOrDie(SnapKvPolicy(2, max), config, stats, 8, 3).kept[0],
            (std::vector<std::vector<int32_t>>{{1, 6, 7}, {0, 6, 7}}));
  ScoringOptions layer = mean;
  layer.granularity = Granularity::kLayer;
  layer.group_reduce = GroupReduce::kSum;
  EXPECT_EQ(PlanOrDie(SnapKvPolicy(2, layer), config, stats, 8, 3).kept[0],
            (std::vector<std::vector<int32_t>>{{5, 6, 7}, {5, 6, 7}}));
}

TEST(H2oTest, KeepsHeavyHittersPlusRecent) {
  // Column sums of 10 positions; recent = 2 (8, 9). B = 5 -> 3 heavy hitters
  // among 0..7: 9 (0), 7 (5), 6 (3). The large sums of 8, 9 do not count twice.
  const ModelConfig config = MethodConfig(2, 2, 1);
  PrefillStats stats;
  // Layer 0, KV head 0 = heads 0 + 1 (sum): head 1 adds 5 at position 1 -> 1 + 5 = 6
  // ties with 3; the lower position (1) wins.
  stats.column_sums.push_back(FloatTensor(
      {2, 10}, {9, 1, 1, 6, 0, 7, 2, 1, 50, 60, /*head 1*/ 0, 5, 0, 0, 0, 0, 0, 0, 0, 0}));
  stats.column_sums.push_back(FloatTensor(
      {2, 10}, {9, 1, 1, 6, 0, 7, 2, 1, 50, 60, /*head 1*/ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  ScoringOptions sum;
  sum.group_reduce = GroupReduce::kSum;
  const H2oPolicy policy(2, sum);
  EXPECT_TRUE(policy.stats_needed().column_sums);
  EXPECT_EQ(policy.stats_needed().window, 0);
  const KeepPlan plan = PlanOrDie(policy, config, stats, 10, 5);
  EXPECT_EQ(plan.kept[0][0], (std::vector<int32_t>{0, 1, 5, 8, 9}));
  EXPECT_EQ(plan.kept[1][0], (std::vector<int32_t>{0, 3, 5, 8, 9}));
  // recent = 0: top 5 of all 10 positions.
  EXPECT_EQ(PlanOrDie(H2oPolicy(0, sum), config, stats, 10, 5).kept[1][0],
            (std::vector<int32_t>{0, 3, 5, 8, 9}));
  EXPECT_EQ(PlanOrDie(H2oPolicy(0, sum), config, stats, 10, 2).kept[1][0],
            (std::vector<int32_t>{8, 9}));
  EXPECT_EQ(PlanOrDie(H2oPolicy(3, sum), config, stats, 10, 4).kept[1][0],
            (std::vector<int32_t>{0, 7, 8, 9}));
}

TEST(PyramidKvTest, LayerBudgetsByHand) {
  using P = PyramidKvPolicy;
  // C = 30 - 8 = 22; min = floor(22/20) = 1; max = 44 - 1 = 43 < 92; step = floor(42/3) = 14.
  EXPECT_EQ(P::LayerPrefixBudgets(100, 30, 8, 4, 20, false), (std::vector<int32_t>{43, 29, 15, 1}));
  // Five layers: step = floor(42/4) = 10.
  EXPECT_EQ(P::LayerPrefixBudgets(100, 30, 8, 5, 20, false),
            (std::vector<int32_t>{43, 33, 23, 13, 3}));
  // beta = 4: min = 5, max = 39, step = floor(34/3) = 11.
  EXPECT_EQ(P::LayerPrefixBudgets(100, 30, 8, 4, 4, false), (std::vector<int32_t>{39, 28, 17, 6}));
  // Clamped: L - w = 32 <= 43 -> max = 32, min = 44 - 32 = 12, step = floor(20/3) = 6.
  EXPECT_EQ(P::LayerPrefixBudgets(40, 30, 8, 4, 20, false), (std::vector<int32_t>{32, 26, 20, 14}));
  // Legacy quirk: L = 40 < 2C = 44 -> uniform C; L = 100 >= 44 -> the pyramid.
  EXPECT_EQ(P::LayerPrefixBudgets(40, 30, 8, 4, 20, true), (std::vector<int32_t>{22, 22, 22, 22}));
  EXPECT_EQ(P::LayerPrefixBudgets(100, 30, 8, 4, 20, true), (std::vector<int32_t>{43, 29, 15, 1}));
  // One layer: uniform.
  EXPECT_EQ(P::LayerPrefixBudgets(100, 30, 8, 1, 20, false), (std::vector<int32_t>{22}));
  // Clamped all the way: B = L - 1 -> C = L - w - 1, max = L - w, min = C - 1.
  EXPECT_EQ(P::LayerPrefixBudgets(20, 19, 8, 3, 20, false), (std::vector<int32_t>{12, 11, 10}));
}

TEST(PyramidKvTest, PlanUsesLayerBudgetsAndSnapKvSelection) {
  const ModelConfig config = MethodConfig(4, 4, 2);
  const PrefillStats stats = testing::RandomStats(config, 100, 8, 11);
  ScoringOptions scoring = Scoring(7, Pooling::kMax);
  const PyramidKvPolicy pyramid(8, scoring, 20, false);
  const KeepPlan plan = PlanOrDie(pyramid, config, stats, 100, 30);
  const std::vector<int32_t> c = {43, 29, 15, 1};
  for (int l = 0; l < 4; ++l) {
    Result<std::vector<std::vector<int32_t>>> snap = SnapKvPolicy::SelectLayer(
        testing::MakeInput(config, stats, 100, 30), l, 8, c[static_cast<size_t>(l)], scoring);
    ASSERT_TRUE(snap.ok());
    EXPECT_EQ(plan.kept[static_cast<size_t>(l)], snap.value()) << "layer " << l;
    for (const auto& head : plan.kept[static_cast<size_t>(l)]) {
      EXPECT_EQ(head.size(), static_cast<size_t>(c[static_cast<size_t>(l)] + 8));
    }
  }
  // The legacy quirk at L < 2C equals SnapKV exactly.
  const PrefillStats short_stats = testing::RandomStats(config, 40, 8, 12);
  EXPECT_EQ(PlanOrDie(PyramidKvPolicy(8, scoring, 20, true), config, short_stats, 40, 30).kept,
            PlanOrDie(SnapKvPolicy(8, scoring), config, short_stats, 40, 30).kept);
  EXPECT_NE(PlanOrDie(PyramidKvPolicy(8, scoring, 20, false), config, short_stats, 40, 30).kept,
            PlanOrDie(SnapKvPolicy(8, scoring), config, short_stats, 40, 30).kept);
}

// One head, L = 12, w = 2: prefix 0..9 in chunks of 3: [0,3) [3,6) [6,9) [9].
//   s:            1 1 1 | 0 5 0 | 2 2 2 | 9
//   chunk sums:     3       5       6     9
PrefillStats ChunkStats(const std::vector<float>& s, int heads) {
  std::vector<float> values(static_cast<size_t>(heads) * 2 * 12, 0.f);
  for (int h = 0; h < heads; ++h) {
    for (size_t t = 0; t < s.size(); ++t) values[static_cast<size_t>(h) * 24 + 12 + t] = s[t];
  }
  PrefillStats stats;
  stats.window_attention.push_back(FloatTensor({heads, 2, 12}, values));
  return stats;
}

ChunkKvPolicy::Options ChunkOptions(bool partial, int32_t reuse = 1) {
  ChunkKvPolicy::Options o;
  o.window = 2;
  o.chunk_size = 3;
  o.partial_chunk = partial;
  o.reuse_layers = reuse;
  o.scoring.kernel = 1;
  o.scoring.granularity = Granularity::kLayer;
  o.scoring.group_reduce = GroupReduce::kSum;
  return o;
}

TEST(ChunkKvTest, WholeChunksByScore) {
  const ModelConfig config = MethodConfig(1, 1, 1);
  const PrefillStats stats = ChunkStats({1, 1, 1, 0, 5, 0, 2, 2, 2, 9}, 1);
  // B = 8 -> 6 prefix tokens: [9] (rem 5), [6,9) (rem 2), [3,6) cut to 3, 4.
  EXPECT_EQ(PlanOrDie(ChunkKvPolicy(ChunkOptions(true)), config, stats, 12, 8).kept[0][0],
            (std::vector<int32_t>{3, 4, 6, 7, 8, 9, 10, 11}));
  // Whole chunks only: [9], [6,9); [3,6) does not fit and ends the selection.
  EXPECT_EQ(PlanOrDie(ChunkKvPolicy(ChunkOptions(false)), config, stats, 12, 8).kept[0][0],
            (std::vector<int32_t>{6, 7, 8, 9, 10, 11}));
  // B = 9 -> 7: [9], [6,9), [3,6) whole.
  EXPECT_EQ(PlanOrDie(ChunkKvPolicy(ChunkOptions(true)), config, stats, 12, 9).kept[0][0],
            (std::vector<int32_t>{3, 4, 5, 6, 7, 8, 9, 10, 11}));
  // B = 5 -> 3: [9], then [6,9) cut to 6, 7 (SnapKV would take 9, 4, 6).
  EXPECT_EQ(PlanOrDie(ChunkKvPolicy(ChunkOptions(true)), config, stats, 12, 5).kept[0][0],
            (std::vector<int32_t>{6, 7, 9, 10, 11}));
  ScoringOptions raw = Scoring(1, Pooling::kMax);
  EXPECT_EQ(PlanOrDie(SnapKvPolicy(2, raw), config, stats, 12, 5).kept[0][0],
            (std::vector<int32_t>{4, 6, 9, 10, 11}));
  // Primitive: ties between chunks go to the lower chunk.
  EXPECT_EQ(ChunkKvPolicy::SelectChunks({1, 1, 0, 2, 0, 0}, 2, 2, true),
            (std::vector<int32_t>{0, 1}));
}

TEST(ChunkKvTest, LayerGranularitySharesChunksAcrossHeads) {
  // Two KV heads with opposite preferences: summed, [3,6) wins (5 + 5 = 10 vs 9 + 0).
  const ModelConfig config = MethodConfig(1, 2, 2);
  std::vector<float> values(2 * 2 * 12, 0.f);
  const std::vector<float> h0 = {0, 0, 0, 0, 5, 0, 0, 0, 0, 9};
  const std::vector<float> h1 = {0, 0, 0, 5, 0, 0, 0, 0, 0, 0};
  for (size_t t = 0; t < 10; ++t) {
    values[12 + t] = h0[t];
    values[24 + 12 + t] = h1[t];
  }
  PrefillStats stats;
  stats.window_attention.push_back(FloatTensor({2, 2, 12}, values));
  const KeepPlan shared = PlanOrDie(ChunkKvPolicy(ChunkOptions(true)), config, stats, 12, 5);
  EXPECT_EQ(shared.kept[0][0], (std::vector<int32_t>{3, 4, 5, 10, 11}));
  EXPECT_EQ(shared.kept[0][1], shared.kept[0][0]);
  ChunkKvPolicy::Options per_head = ChunkOptions(true);
  per_head.scoring.granularity = Granularity::kKvHead;
  const KeepPlan heads = PlanOrDie(ChunkKvPolicy(per_head), config, stats, 12, 5);
  EXPECT_EQ(heads.kept[0][0], (std::vector<int32_t>{3, 4, 9, 10, 11}));  // [9], [3,6) cut
  EXPECT_EQ(heads.kept[0][1], (std::vector<int32_t>{3, 4, 5, 10, 11}));
}

TEST(ChunkKvTest, LayerWiseIndexReuse) {
  // Layer l prefers chunk l (positions 3l .. 3l + 2); B = 5 -> one chunk.
  const ModelConfig config = MethodConfig(4, 1, 1);
  PrefillStats stats;
  for (int l = 0; l < 4; ++l) {
    std::vector<float> s(10, 0.f);
    for (int t = 3 * l; t < std::min(3 * l + 3, 10); ++t) s[static_cast<size_t>(t)] = 1;
    stats.window_attention.push_back(ChunkStats(s, 1).window_attention[0]);
  }
  const KeepPlan off = PlanOrDie(ChunkKvPolicy(ChunkOptions(true, 1)), config, stats, 12, 5);
  EXPECT_EQ(off.kept[0][0], (std::vector<int32_t>{0, 1, 2, 10, 11}));
  EXPECT_EQ(off.kept[1][0], (std::vector<int32_t>{3, 4, 5, 10, 11}));
  EXPECT_EQ(off.kept[2][0], (std::vector<int32_t>{6, 7, 8, 10, 11}));
  // Layer 3's only chunk is [9]: 1 token, then [0,3) (first by index among ties) cut to 0, 1.
  EXPECT_EQ(off.kept[3][0], (std::vector<int32_t>{0, 1, 9, 10, 11}));
  const KeepPlan reuse = PlanOrDie(ChunkKvPolicy(ChunkOptions(true, 2)), config, stats, 12, 5);
  EXPECT_EQ(reuse.kept[0], off.kept[0]);
  EXPECT_EQ(reuse.kept[1], off.kept[0]);
  EXPECT_EQ(reuse.kept[2], off.kept[2]);
  EXPECT_EQ(reuse.kept[3], off.kept[2]);
  const KeepPlan all = PlanOrDie(ChunkKvPolicy(ChunkOptions(true, 8)), config, stats, 12, 5);
  for (int l = 0; l < 4; ++l) EXPECT_EQ(all.kept[static_cast<size_t>(l)], off.kept[0]);
}

}  // namespace
}  // namespace kvfunda
