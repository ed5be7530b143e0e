// Helpers for the compression-method tests: small model configs, hand-built and
// random prefill statistics, and planning with them (no model needed).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <ATen/ops/zeros.h>
#include <gtest/gtest.h>

#include "worker/compression/compression_policy.h"
#include "worker/model/model.h"

namespace kvfunda::testing {

inline ModelConfig MethodConfig(int layers, int heads, int kv_heads) {
  ModelConfig c;
  c.architecture = "llama";
  c.n_layers = layers;
  c.n_heads = heads;
  c.n_kv_heads = kv_heads;
  c.head_dim = 4;
  return c;
}

// A [sizes...] fp32 tensor holding `values` (row-major; missing values are 0).
inline at::Tensor FloatTensor(std::vector<int64_t> sizes, const std::vector<float>& values) {
  at::Tensor t = at::zeros(sizes, at::kFloat);
  float* data = t.data_ptr<float>();
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n && static_cast<size_t>(i) < values.size(); ++i) {
    data[i] = values[static_cast<size_t>(i)];
  }
  return t;
}

// Random statistics for `config` and a prompt of `len` tokens: window attention of
// the last min(window, len) queries (causal softmax rows) and column sums that
// are consistent with random causal attention of every query.
inline PrefillStats RandomStats(const ModelConfig& config, int32_t len, int32_t window,
                                uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> logit(-4.f, 4.f);
  PrefillStats stats;
  const int64_t heads = config.n_heads;
  const int64_t rows = std::min(window, len);
  for (int layer = 0; layer < config.n_layers; ++layer) {
    at::Tensor cols = at::zeros({heads, len}, at::kFloat);
    at::Tensor win = at::zeros({heads, rows, len}, at::kFloat);
    float* c = cols.data_ptr<float>();
    float* w = win.data_ptr<float>();
    for (int64_t h = 0; h < heads; ++h) {
      for (int32_t q = 0; q < len; ++q) {
        std::vector<float> p(static_cast<size_t>(q + 1));
        float sum = 0;
        for (float& v : p) {
          v = std::exp(logit(rng));
          sum += v;
        }
        for (int32_t t = 0; t <= q; ++t) {
          const float a = p[static_cast<size_t>(t)] / sum;
          c[h * len + t] += a;
          const int64_t r = q - (len - rows);
          if (r >= 0) w[(h * rows + r) * len + t] = a;
        }
      }
    }
    stats.column_sums.push_back(cols);
    stats.window_attention.push_back(win);
  }
  return stats;
}

inline CompressionInput MakeInput(const ModelConfig& config, const PrefillStats& stats,
                                  int32_t len, int32_t budget) {
  CompressionInput input;
  input.config = &config;
  input.stats = &stats;
  input.prompt_len = len;
  input.budget = budget;
  input.ratio = static_cast<double>(budget) / len;
  return input;
}

inline KeepPlan PlanOrDie(const CompressionPolicy& policy, const ModelConfig& config,
                          const PrefillStats& stats, int32_t len, int32_t budget) {
  Result<KeepPlan> plan = policy.Plan(MakeInput(config, stats, len, budget));
  EXPECT_TRUE(plan.ok()) << policy.name() << ": " << plan.status().ToString();
  return plan.ok() ? plan.value() : KeepPlan{};
}

inline std::vector<int32_t> Positions(int32_t begin, int32_t end) {
  std::vector<int32_t> v;
  for (int32_t p = begin; p < end; ++p) v.push_back(p);
  return v;
}

}  // namespace kvfunda::testing
