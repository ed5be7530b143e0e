// PyramidKvPolicy: the `pyramidkv` method, prefill-only, as in KVCache-Factory's
// PyramidKVCluster (docs/methods.md, kvfundabench-spec.md §3.4).
//
// Scoring and per-unit selection are SnapKV's (SnapKvPolicy::SelectLayer); only
// the per-layer prefix budget changes: with C = B - w and N layers, layer l keeps
// c_l = max_num - l * step prefix positions plus the last w, where
// min_num = floor(C / beta), max_num = 2C - min_num, clamped to L - w (then
// min_num = 2C - max_num), step = floor((max_num - min_num) / (N - 1)).
// B >= L keeps everything, B <= w keeps the last B positions (as SnapKV); N = 1,
// or legacy_uniform with L < 2C, gives every layer C. Owned by the evaluator, one
// instance per cell. Threading: immutable; thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "worker/compression/attention_scores.h"
#include "worker/compression/compression_policy.h"

namespace kvfunda {

class PyramidKvPolicy final : public CompressionPolicy {
 public:
  // REQUIRES: window >= 1; options.kernel odd; beta > 0.
  PyramidKvPolicy(int32_t window, const ScoringOptions& options, double beta, bool legacy_uniform)
      : window_(window), options_(options), beta_(beta), legacy_uniform_(legacy_uniform) {}
  // From canonical params {window, kernel, pooling, granularity, group_reduce,
  // beta, legacy_uniform}. Errors: bad-input for a missing or bad key.
  static Result<std::unique_ptr<CompressionPolicy>> Create(const nlohmann::json& params);

  // Prefix (non-window) budget c_l of each layer, l = 0 (bottom) .. n_layers - 1.
  // REQUIRES: 1 <= window < budget < prompt_len; n_layers >= 1; beta > 0.
  static std::vector<int32_t> LayerPrefixBudgets(int32_t prompt_len, int32_t budget,
                                                 int32_t window, int n_layers, double beta,
                                                 bool legacy_uniform);

  const std::string& name() const override { return name_; }
  // The attention of the last `window` prompt queries.
  PrefillStatsRequest stats_needed() const override;
  // Errors: bad-input for a bad input (CheckPlanInput) or missing statistics.
  Result<KeepPlan> Plan(const CompressionInput& input) const override;

 private:
  const std::string name_ = "pyramidkv";
  const int32_t window_;
  const ScoringOptions options_;
  const double beta_;
  const bool legacy_uniform_;
};

}  // namespace kvfunda
