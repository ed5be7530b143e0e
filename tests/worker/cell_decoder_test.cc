// CellDecoder: the reference run and the KL of compressed cells, checked against
// a naive teacher-forced computation on the real stories260K model.
#include <cmath>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>
#include <gtest/gtest.h>

#include "test_support.h"
#include "worker/cell_decoder.h"
#include "worker/compression/compression_policy.h"
#include "worker/compression/full_policy.h"
#include "worker/compression/streamingllm_policy.h"
#include "worker/model/model.h"

namespace kvfunda {
namespace {

std::vector<double> LogProbs(const at::Tensor& logits) {
  at::Tensor row = logits.reshape({-1}).to(at::kCPU, at::kDouble).contiguous();
  const double* x = row.data_ptr<double>();
  const int64_t n = row.numel();
  double m = -INFINITY;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, x[i]);
  double z = 0;
  for (int64_t i = 0; i < n; ++i) z += std::exp(x[i] - m);
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = x[i] - m - std::log(z);
  return out;
}

double Kl(const std::vector<double>& p, const std::vector<double>& q) {
  double kl = 0;
  for (size_t i = 0; i < p.size(); ++i) kl += std::exp(p[i]) * (p[i] - q[i]);
  return kl;
}

class CellDecoderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<Model>> model =
        LoadModel(testing::Stories260KPath(), {.num_threads = 1});
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    model_ = std::move(model).value();
    prompt_ = model_->tokenizer().Encode(
        "Once upon a time, there was a big dog named Max. Max liked to run in the park with his "
        "friend Tom. One day, Tom found a red ball under a tree.",
        true);
    Result<PrefillOutput> prefill = model_->Prefill(prompt_, {});
    ASSERT_TRUE(prefill.ok()) << prefill.status().ToString();
    prefill_ = std::make_unique<PrefillOutput>(std::move(prefill).value());
  }

  KvCache Compact(const CompressionPolicy& policy, double ratio, int extra) {
    CompressionInput input;
    input.config = &model_->config();
    input.prompt_len = static_cast<int32_t>(prompt_.size());
    input.ratio = ratio;
    input.budget = BudgetForRatio(ratio, input.prompt_len);
    Result<KeepPlan> plan = policy.Plan(input);
    EXPECT_TRUE(plan.ok());
    Result<KvCache> cache = ApplyKeepPlan(prefill_->cache, plan.value(), extra);
    EXPECT_TRUE(cache.ok());
    return std::move(cache).value();
  }

  std::unique_ptr<Model> model_;
  std::vector<int32_t> prompt_;
  std::unique_ptr<PrefillOutput> prefill_;
};

TEST_F(CellDecoderTest, KlMatchesNaiveTeacherForcing) {
  const int max_new = 30;
  CellDecoder decoder(*model_, DecodeSettings{.max_new_tokens = max_new, .max_batch = 4});
  Result<CellRun> reference =
      decoder.DecodeReference(Compact(FullPolicy(), 1.0, max_new), prefill_->last_logits);
  ASSERT_TRUE(reference.ok()) << reference.status().ToString();
  const std::vector<int32_t>& y = reference->generation.tokens;
  ASSERT_FALSE(y.empty());
  const size_t steps = reference->log_probs.size();
  ASSERT_EQ(steps, y.size() + (reference->generation.hit_max_new_tokens ? 0 : 1));
  EXPECT_EQ(reference->generation.text, model_->tokenizer().Decode(y));
  EXPECT_EQ(reference->kl_mean, 0.0);

  const std::vector<double> ratios = {1.0, 0.6, 0.3, 0.1};
  std::vector<KvCache> caches;
  for (double r : ratios) caches.push_back(Compact(StreamingLlmPolicy(4), r, max_new));
  Result<std::vector<CellRun>> runs =
      decoder.DecodeCells(std::move(caches), prefill_->last_logits, reference.value());
  ASSERT_TRUE(runs.ok()) << runs.status().ToString();
  ASSERT_EQ(runs->size(), ratios.size());

  int diverged = 0;
  for (size_t c = 0; c < ratios.size(); ++c) {
    SCOPED_TRACE(ratios[c]);
    // Naive: feed the reference tokens one by one into a fresh compressed cache.
    KvCache cache = Compact(StreamingLlmPolicy(4), ratios[c], max_new);
    double kl_sum = Kl(reference->log_probs[0], LogProbs(prefill_->last_logits));
    for (size_t k = 1; k < steps; ++k) {
      KvCache* ptrs[] = {&cache};
      const int32_t token[] = {y[k - 1]};
      Result<at::Tensor> logits = model_->DecodeStep(ptrs, token);
      ASSERT_TRUE(logits.ok());
      kl_sum += Kl(reference->log_probs[k], LogProbs(logits.value()));
    }
    const double naive = kl_sum / static_cast<double>(steps);
    const CellRun& run = runs.value()[c];
    EXPECT_NEAR(run.kl_mean, naive, 1e-6 + 1e-4 * naive);
    if (ratios[c] == 1.0) {
      EXPECT_EQ(run.generation.tokens, y);
      EXPECT_LT(run.kl_mean, 1e-9);
    }
    if (run.generation.tokens != y) ++diverged;
    EXPECT_GT(run.kv_bytes_peak, 0);
    EXPECT_GE(run.kv_bytes_peak, run.kv_bytes_final);
  }
  EXPECT_GT(diverged, 0);  // the forked teacher-forced path was exercised
}

TEST_F(CellDecoderTest, StopsAtMaxNewTokens) {
  CellDecoder decoder(*model_, DecodeSettings{.max_new_tokens = 3});
  Result<CellRun> reference =
      decoder.DecodeReference(Compact(FullPolicy(), 1.0, 3), prefill_->last_logits);
  ASSERT_TRUE(reference.ok());
  EXPECT_EQ(reference->generation.tokens.size(), 3u);
  EXPECT_TRUE(reference->generation.hit_max_new_tokens);
  EXPECT_EQ(reference->log_probs.size(), 3u);
}

}  // namespace
}  // namespace kvfunda
