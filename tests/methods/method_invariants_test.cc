// Invariants of every score-based method on random attention (budget respected,
// window kept, sorted unique positions, contiguous chunks, ratio 1.0 = full),
// MakePolicy's parameter handling, and Plan's errors.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "method_test_util.h"
#include "worker/compression/compression_policy.h"
#include "worker/compression/full_policy.h"
#include "worker/compression/method_catalog.h"
#include "worker/compression/pyramidkv_policy.h"

namespace kvfunda {
namespace {

using testing::MethodConfig;
using testing::PlanOrDie;

std::unique_ptr<CompressionPolicy> Make(const std::string& method, const nlohmann::json& params) {
  Result<std::unique_ptr<CompressionPolicy>> policy = MakePolicy(method, params);
  EXPECT_TRUE(policy.ok()) << method << " " << params.dump() << ": "
                           << policy.status().ToString();
  return policy.ok() ? std::move(policy).value() : nullptr;
}

struct MethodCase {
  std::string method;
  nlohmann::json params;
  int32_t window;  // positions always kept at the end
};

std::vector<MethodCase> Cases() {
  return {
      {"h2o", nlohmann::json::object(), 8},
      {"h2o", {{"recent", 0}, {"granularity", "layer"}}, 0},
      {"h2o", {{"recent", 3}, {"group_reduce", "max"}}, 3},
      {"snapkv", nlohmann::json::object(), 8},
      {"snapkv", {{"window", 3}, {"kernel", 5}, {"pooling", "avg"}}, 3},
      {"snapkv", {{"window", 1}, {"kernel", 1}, {"granularity", "layer"}}, 1},
      {"pyramidkv", nlohmann::json::object(), 8},
      {"pyramidkv", {{"window", 4}, {"beta", 2.0}, {"legacy_uniform", true}}, 4},
      {"chunkkv", nlohmann::json::object(), 8},
      {"chunkkv", {{"chunk_size", 3}, {"window", 2}, {"reuse_layers", 2}}, 2},
      {"chunkkv", {{"chunk_size", 4}, {"granularity", "kv_head"}, {"kernel", 3}}, 8},
  };
}

// Kept prefix positions form whole chunks plus at most one leading part of a chunk.
void ExpectContiguousChunks(const std::vector<int32_t>& prefix_kept, int32_t chunk_size,
                            int32_t prefix_len) {
  std::set<int32_t> kept(prefix_kept.begin(), prefix_kept.end());
  int partial = 0;
  for (int32_t begin = 0; begin < prefix_len; begin += chunk_size) {
    const int32_t end = std::min(begin + chunk_size, prefix_len);
    int32_t count = 0;
    int32_t run = 0;  // leading run of kept positions
    for (int32_t p = begin; p < end; ++p) {
      if (kept.contains(p)) {
        ++count;
        if (run == p - begin) ++run;
      }
    }
    if (count == 0 || count == end - begin) continue;
    EXPECT_EQ(run, count) << "chunk at " << begin << " is not a leading run";
    ++partial;
  }
  EXPECT_LE(partial, 1);
}

TEST(MethodInvariantsTest, RandomAttention) {
  const ModelConfig config = MethodConfig(4, 4, 2);
  uint32_t seed = 1;
  for (int32_t len : {1, 2, 5, 9, 12, 33, 100}) {
    const PrefillStats stats = testing::RandomStats(config, len, 8, seed++);
    for (double ratio : {0.01, 0.1, 0.3, 0.5, 0.77, 0.9, 1.0}) {
      const int32_t budget = BudgetForRatio(ratio, len);
      for (const MethodCase& c : Cases()) {
        SCOPED_TRACE(c.method + " " + c.params.dump() + " L=" + std::to_string(len) +
                     " B=" + std::to_string(budget));
        std::unique_ptr<CompressionPolicy> policy = Make(c.method, c.params);
        ASSERT_NE(policy, nullptr);
        const KeepPlan plan = PlanOrDie(*policy, config, stats, len, budget);
        ASSERT_EQ(plan.kept.size(), 4u);
        const int32_t window = std::min(c.window, len);
        const bool compressed = budget < len && budget > window;
        std::vector<int32_t> prefix_budgets(4, budget - window);
        if (c.method == "pyramidkv" && compressed) {
          prefix_budgets = PyramidKvPolicy::LayerPrefixBudgets(
              len, budget, window, 4, c.params.value("beta", 20.0),
              c.params.value("legacy_uniform", false));
          int64_t total = 0;
          for (int32_t b : prefix_budgets) total += b;
          // An arithmetic sequence averaging C, up to the floor of the step.
          EXPECT_GE(total, 4 * (budget - window));
          EXPECT_LE(total, 4 * (budget - window) + 6);
        }
        for (size_t l = 0; l < 4; ++l) {
          ASSERT_EQ(plan.kept[l].size(), 2u);
          const size_t expected =
              compressed ? static_cast<size_t>(prefix_budgets[l] + window)
                         : static_cast<size_t>(std::min(budget, len));
          for (const std::vector<int32_t>& head : plan.kept[l]) {
            EXPECT_EQ(head.size(), expected) << "layer " << l;
            EXPECT_TRUE(std::is_sorted(head.begin(), head.end()));
            EXPECT_EQ(std::adjacent_find(head.begin(), head.end()), head.end());
            ASSERT_FALSE(head.empty());
            EXPECT_GE(head.front(), 0);
            EXPECT_LT(head.back(), len);
            // The last min(window, B) positions are always kept.
            const int32_t tail = std::min(window, budget);
            for (int32_t p = len - tail; p < len; ++p) {
              EXPECT_TRUE(std::binary_search(head.begin(), head.end(), p)) << p;
            }
            if (c.method == "chunkkv" && compressed) {
              std::vector<int32_t> prefix(head.begin(), head.end() - window);
              ExpectContiguousChunks(prefix, c.params.value("chunk_size", 10), len - window);
            }
          }
        }
        if (c.method == "chunkkv" && c.params.value("reuse_layers", 1) == 2) {
          EXPECT_EQ(plan.kept[1], plan.kept[0]);
          EXPECT_EQ(plan.kept[3], plan.kept[2]);
        }
        if (ratio == 1.0) {
          EXPECT_EQ(plan.kept, PlanOrDie(FullPolicy(), config, stats, len, len).kept);
        }
      }
    }
  }
}

TEST(MethodInvariantsTest, StatsNeeded) {
  EXPECT_TRUE(Make("h2o", nullptr)->stats_needed().column_sums);
  EXPECT_EQ(Make("h2o", nullptr)->stats_needed().window, 0);
  for (const std::string m : {"snapkv", "pyramidkv", "chunkkv"}) {
    EXPECT_FALSE(Make(m, nullptr)->stats_needed().column_sums) << m;
    EXPECT_EQ(Make(m, nullptr)->stats_needed().window, 8) << m;
    EXPECT_EQ(Make(m, {{"window", 16}})->stats_needed().window, 16) << m;
  }
}

TEST(MethodInvariantsTest, MakePolicyRejectsBadParams) {
  const std::vector<std::pair<std::string, nlohmann::json>> bad = {
      {"snapkv", {{"kernel", 4}}},
      {"snapkv", {{"kernel", 0}}},
      {"snapkv", {{"pooling", "min"}}},
      {"snapkv", {{"window", 0}}},
      {"snapkv", {{"granularity", "query_head"}}},
      {"snapkv", {{"group_reduce", "median"}}},
      {"snapkv", {{"beta", 20}}},
      {"pyramidkv", {{"beta", 0.5}}},
      {"pyramidkv", {{"legacy_uniform", 1}}},
      {"h2o", {{"recent", -1}}},
      {"h2o", {{"kernel", 7}}},
      {"chunkkv", {{"chunk_size", 0}}},
      {"chunkkv", {{"reuse_layers", 0}}},
      {"chunkkv", {{"partial_chunk", "yes"}}},
      {"chunkkv", {{"window", 2.5}}},
  };
  for (const auto& [method, params] : bad) {
    Result<std::unique_ptr<CompressionPolicy>> policy = MakePolicy(method, params);
    ASSERT_FALSE(policy.ok()) << method << " " << params.dump();
    EXPECT_EQ(policy.status().code(), Status::Code::kBadInput) << policy.status().ToString();
  }
  // Every new method is in the catalog with canonical defaults MakePolicy accepts.
  for (const std::string m : {"h2o", "snapkv", "pyramidkv", "chunkkv"}) {
    const MethodDescriptor* d = FindMethod(m);
    ASSERT_NE(d, nullptr) << m;
    EXPECT_TRUE(d->uses_ratio);
    std::unique_ptr<CompressionPolicy> policy = Make(m, nlohmann::json::object());
    ASSERT_NE(policy, nullptr);
    EXPECT_EQ(policy->name(), m);
  }
}

TEST(MethodInvariantsTest, PlanErrors) {
  const ModelConfig config = MethodConfig(2, 4, 2);
  const PrefillStats stats = testing::RandomStats(config, 20, 8, 5);
  const PrefillStats empty;
  const PrefillStats short_window = testing::RandomStats(config, 20, 4, 6);  // 4 rows < 8
  PrefillStats one_layer_stats = stats;
  one_layer_stats.window_attention.pop_back();
  one_layer_stats.column_sums.pop_back();
  const PrefillStats& one_layer = one_layer_stats;
  for (const std::string m : {"h2o", "snapkv", "pyramidkv", "chunkkv"}) {
    SCOPED_TRACE(m);
    std::unique_ptr<CompressionPolicy> policy = Make(m, nullptr);
    ASSERT_NE(policy, nullptr);
    for (const PrefillStats* s : {&empty, &one_layer}) {
      Result<KeepPlan> plan = policy->Plan(testing::MakeInput(config, *s, 20, 10));
      ASSERT_FALSE(plan.ok());
      EXPECT_EQ(plan.status().code(), Status::Code::kBadInput);
    }
    CompressionInput no_stats = testing::MakeInput(config, stats, 20, 10);
    no_stats.stats = nullptr;
    EXPECT_FALSE(policy->Plan(no_stats).ok());
    for (int32_t budget : {0, 21}) {
      Result<KeepPlan> plan = policy->Plan(testing::MakeInput(config, stats, 20, budget));
      ASSERT_FALSE(plan.ok()) << budget;
      EXPECT_EQ(plan.status().code(), Status::Code::kBadInput);
    }
    // No statistics are needed when nothing is compressed.
    EXPECT_TRUE(policy->Plan(testing::MakeInput(config, empty, 20, 20)).ok());
    if (m != "h2o") {
      EXPECT_FALSE(policy->Plan(testing::MakeInput(config, short_window, 20, 10)).ok());
    }
  }
}

}  // namespace
}  // namespace kvfunda
