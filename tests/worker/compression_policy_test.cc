// BudgetForRatio, FullPolicy, StreamingLlmPolicy, MakePolicy and ApplyKeepPlan.
#include <cstdint>
#include <memory>
#include <numeric>
#include <vector>

#include <ATen/core/Tensor.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/randn.h>
#include <gtest/gtest.h>

#include "test_support.h"
#include "worker/compression/compression_policy.h"
#include "worker/compression/full_policy.h"
#include "worker/compression/streamingllm_policy.h"
#include "worker/model/model.h"

namespace kvfunda {
namespace {

std::vector<int32_t> Range(int32_t begin, int32_t end) {
  std::vector<int32_t> v(static_cast<size_t>(end - begin));
  std::iota(v.begin(), v.end(), begin);
  return v;
}

ModelConfig SmallConfig() {
  ModelConfig c;
  c.n_layers = 3;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 8;
  return c;
}

TEST(BudgetForRatioTest, Table) {
  struct Case {
    double ratio;
    int32_t len;
    int32_t budget;
  };
  const Case cases[] = {
      {1.0, 10, 10},  {0.5, 10, 5},   {0.25, 10, 2},  // 2.5 rounds half to even
      {0.35, 10, 4},  {0.3, 10, 3},   {0.1, 97, 10},  {0.9, 97, 87},
      {0.5, 7, 4},    {0.5, 5, 2},    {0.01, 10, 1},  {1e-9, 500, 1},
      {0.999, 3, 3},  {1.0, 1, 1},    {0.1, 1, 1},    {0.2, 512, 102},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(BudgetForRatio(c.ratio, c.len), c.budget) << "ratio " << c.ratio << " len " << c.len;
  }
}

KeepPlan PlanOrDie(const CompressionPolicy& policy, int32_t len, int32_t budget) {
  const ModelConfig config = SmallConfig();
  CompressionInput input;
  input.config = &config;
  input.prompt_len = len;
  input.budget = budget;
  input.ratio = static_cast<double>(budget) / len;
  Result<KeepPlan> plan = policy.Plan(input);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  return plan.ok() ? plan.value() : KeepPlan{};
}

void ExpectEveryHead(const KeepPlan& plan, const std::vector<int32_t>& expected) {
  const ModelConfig config = SmallConfig();
  ASSERT_EQ(plan.kept.size(), static_cast<size_t>(config.n_layers));
  for (const auto& layer : plan.kept) {
    ASSERT_EQ(layer.size(), static_cast<size_t>(config.n_kv_heads));
    for (const auto& head : layer) EXPECT_EQ(head, expected);
  }
}

TEST(StreamingLlmPolicyTest, SinksPlusRecentWindow) {
  const StreamingLlmPolicy policy(4);
  ExpectEveryHead(PlanOrDie(policy, 10, 6), {0, 1, 2, 3, 8, 9});
  ExpectEveryHead(PlanOrDie(policy, 10, 5), {0, 1, 2, 3, 9});
  ExpectEveryHead(PlanOrDie(policy, 97, 10), {0, 1, 2, 3, 91, 92, 93, 94, 95, 96});
}

TEST(StreamingLlmPolicyTest, BudgetAtMostSinksKeepsTheFirstTokens) {
  const StreamingLlmPolicy policy(4);
  ExpectEveryHead(PlanOrDie(policy, 10, 4), {0, 1, 2, 3});
  ExpectEveryHead(PlanOrDie(policy, 10, 2), {0, 1});
  ExpectEveryHead(PlanOrDie(policy, 10, 1), {0});
}

TEST(StreamingLlmPolicyTest, FullBudgetKeepsEverything) {
  const StreamingLlmPolicy policy(4);
  ExpectEveryHead(PlanOrDie(policy, 10, 10), Range(0, 10));
  ExpectEveryHead(PlanOrDie(policy, 3, 3), Range(0, 3));
}

TEST(StreamingLlmPolicyTest, ZeroSinksIsARecentWindow) {
  const StreamingLlmPolicy policy(0);
  ExpectEveryHead(PlanOrDie(policy, 10, 3), {7, 8, 9});
}

TEST(StreamingLlmPolicyTest, RatioOneEqualsFullPlan) {
  for (int32_t len : {1, 5, 97}) {
    const KeepPlan streaming = PlanOrDie(StreamingLlmPolicy(4), len, BudgetForRatio(1.0, len));
    const KeepPlan full = PlanOrDie(FullPolicy(), len, len);
    EXPECT_EQ(streaming.kept, full.kept) << "len " << len;
    ExpectEveryHead(full, Range(0, len));
  }
}

TEST(StreamingLlmPolicyTest, RejectsBudgetOutsideThePrompt) {
  const ModelConfig config = SmallConfig();
  CompressionInput input;
  input.config = &config;
  input.prompt_len = 10;
  for (int32_t budget : {0, -1, 11}) {
    input.budget = budget;
    Result<KeepPlan> plan = StreamingLlmPolicy(4).Plan(input);
    ASSERT_FALSE(plan.ok()) << budget;
    EXPECT_EQ(plan.status().code(), Status::Code::kBadInput);
  }
}

TEST(MakePolicyTest, CreatesCatalogMethodsAndRejectsOthers) {
  Result<std::unique_ptr<CompressionPolicy>> full = MakePolicy("full", nlohmann::json::object());
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  EXPECT_EQ(full.value()->name(), "full");

  Result<std::unique_ptr<CompressionPolicy>> streaming =
      MakePolicy("streamingllm", {{"sinks", 2}});
  ASSERT_TRUE(streaming.ok()) << streaming.status().ToString();
  EXPECT_EQ(streaming.value()->name(), "streamingllm");
  ExpectEveryHead(PlanOrDie(*streaming.value(), 10, 5), {0, 1, 7, 8, 9});

  // Defaults are filled in: 4 sinks.
  Result<std::unique_ptr<CompressionPolicy>> defaulted = MakePolicy("streamingllm", nullptr);
  ASSERT_TRUE(defaulted.ok()) << defaulted.status().ToString();
  ExpectEveryHead(PlanOrDie(*defaulted.value(), 10, 6), {0, 1, 2, 3, 8, 9});

  for (const auto& [method, params] :
       std::vector<std::pair<std::string, nlohmann::json>>{
           {"nosuch", nlohmann::json::object()},
           {"streamingllm", {{"sinks", -1}}},
           {"streamingllm", {{"sinks", "four"}}},
           {"streamingllm", {{"window", 3}}}}) {
    Result<std::unique_ptr<CompressionPolicy>> bad = MakePolicy(method, params);
    ASSERT_FALSE(bad.ok()) << method << " " << params.dump();
    EXPECT_EQ(bad.status().code(), Status::Code::kBadInput) << bad.status().ToString();
  }
}

// A cache of `layers` layers, [n_kv_heads, len, dim] random k and v.
KvCache RandomCache(int layers, int64_t kv_heads, int64_t len, int64_t dim) {
  KvCache cache;
  for (int l = 0; l < layers; ++l) {
    LayerKv layer;
    layer.k = at::randn({kv_heads, len, dim});
    layer.v = at::randn({kv_heads, len, dim});
    layer.length.assign(static_cast<size_t>(kv_heads), static_cast<int32_t>(len));
    cache.layers.push_back(std::move(layer));
  }
  cache.next_position = len;
  return cache;
}

TEST(ApplyKeepPlanTest, StreamingPlanGathersTheKeptRows) {
  const KvCache full = RandomCache(3, 2, 10, 8);
  const KeepPlan plan = PlanOrDie(StreamingLlmPolicy(4), 10, 6);
  Result<KvCache> compact = ApplyKeepPlan(full, plan, /*extra_capacity=*/5);
  ASSERT_TRUE(compact.ok()) << compact.status().ToString();
  EXPECT_EQ(compact->next_position, 10);
  const std::vector<int64_t> kept = {0, 1, 2, 3, 8, 9};
  for (size_t l = 0; l < full.layers.size(); ++l) {
    const LayerKv& src = full.layers[l];
    const LayerKv& dst = compact->layers[l];
    EXPECT_EQ(dst.k.size(1), 6 + 5);  // kept + extra: the dropped rows are really gone
    EXPECT_EQ(dst.length, (std::vector<int32_t>{6, 6}));
    for (int64_t h = 0; h < 2; ++h) {
      for (size_t i = 0; i < kept.size(); ++i) {
        EXPECT_TRUE(at::equal(dst.k[h][static_cast<int64_t>(i)], src.k[h][kept[i]]))
            << "layer " << l << " head " << h << " row " << i;
        EXPECT_TRUE(at::equal(dst.v[h][static_cast<int64_t>(i)], src.v[h][kept[i]]));
      }
    }
  }
  EXPECT_EQ(compact->BytesAllocated(), 3 * 2 * (2 * 11 * 8 * 4));
  EXPECT_EQ(compact->peak_bytes(), compact->BytesAllocated());
}

TEST(ApplyKeepPlanTest, PerHeadPlansAreRagged) {
  const KvCache full = RandomCache(1, 2, 6, 4);
  KeepPlan plan;
  plan.kept = {{{1, 4}, {0, 2, 5}}};
  Result<KvCache> compact = ApplyKeepPlan(full, plan, 2);
  ASSERT_TRUE(compact.ok()) << compact.status().ToString();
  const LayerKv& dst = compact->layers[0];
  EXPECT_EQ(dst.length, (std::vector<int32_t>{2, 3}));
  EXPECT_EQ(dst.k.size(1), 3 + 2);
  EXPECT_TRUE(at::equal(dst.k[0][1], full.layers[0].k[0][4]));
  EXPECT_TRUE(at::equal(dst.v[1][2], full.layers[0].v[1][5]));
}

TEST(ApplyKeepPlanTest, RejectsPlansThatDoNotMatchTheCache) {
  const KvCache full = RandomCache(2, 2, 6, 4);
  KeepPlan wrong_layers;
  wrong_layers.kept = {{{0}, {0}}};
  EXPECT_FALSE(ApplyKeepPlan(full, wrong_layers, 0).ok());
  KeepPlan out_of_range;
  out_of_range.kept = {{{0}, {6}}, {{0}, {1}}};
  EXPECT_FALSE(ApplyKeepPlan(full, out_of_range, 0).ok());
  KeepPlan descending;
  descending.kept = {{{2, 1}, {0}}, {{0}, {1}}};
  EXPECT_FALSE(ApplyKeepPlan(full, descending, 0).ok());
}

// On the real model: the ratio-1.0 cache of a prefill is the prefill cache, bit for bit.
TEST(ApplyKeepPlanTest, RatioOneReproducesTheRealPrefillCache) {
  Result<std::unique_ptr<Model>> model = LoadModel(testing::Stories260KPath(), {.num_threads = 1});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const std::vector<int32_t> prompt =
      model.value()->tokenizer().Encode("Once upon a time, there was a little dog", true);
  Result<PrefillOutput> prefill = model.value()->Prefill(prompt, {});
  ASSERT_TRUE(prefill.ok()) << prefill.status().ToString();
  const KvCache& full = prefill->cache;
  const int32_t len = static_cast<int32_t>(prompt.size());

  CompressionInput input;
  input.config = &model.value()->config();
  input.prompt_len = len;
  input.ratio = 1.0;
  input.budget = BudgetForRatio(1.0, len);
  std::vector<std::unique_ptr<CompressionPolicy>> policies;
  policies.push_back(std::make_unique<FullPolicy>());
  policies.push_back(std::make_unique<StreamingLlmPolicy>(4));
  for (const auto& policy : policies) {
    Result<KeepPlan> plan = policy->Plan(input);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    Result<KvCache> compact = ApplyKeepPlan(full, plan.value(), 7);
    ASSERT_TRUE(compact.ok()) << compact.status().ToString();
    ASSERT_EQ(compact->layers.size(), full.layers.size());
    EXPECT_EQ(compact->next_position, full.next_position);
    for (size_t l = 0; l < full.layers.size(); ++l) {
      const LayerKv& a = full.layers[l];
      const LayerKv& b = compact->layers[l];
      EXPECT_EQ(b.length, a.length);
      EXPECT_EQ(b.k.size(1), len + 7);
      EXPECT_TRUE(at::equal(b.k.narrow(1, 0, len), a.k.narrow(1, 0, len))) << policy->name() << l;
      EXPECT_TRUE(at::equal(b.v.narrow(1, 0, len), a.v.narrow(1, 0, len))) << policy->name() << l;
    }
  }
}

}  // namespace
}  // namespace kvfunda
