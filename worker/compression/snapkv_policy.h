// SnapKvPolicy: the `snapkv` method, prefill-only, as in KVCache-Factory / kvpress
// (docs/methods.md, kvfundabench-spec.md §3.3).
//
// Score of prefix position t (0 <= t < L - w) for query head h: the attention the
// last w prompt queries give t, summed over those queries; pooled along positions
// (kernel k, stride 1, padding k/2; max or avg); aggregated over the query heads
// of each KV head (or of the whole layer). Each unit keeps its top (B - w) prefix
// positions (ties: lower position) plus the last w positions. B >= L keeps
// everything; B <= w keeps the last B positions. Owned by the evaluator, one
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

class SnapKvPolicy final : public CompressionPolicy {
 public:
  // REQUIRES: window >= 1; options.kernel odd.
  SnapKvPolicy(int32_t window, const ScoringOptions& options)
      : window_(window), options_(options) {}
  // From canonical params {window, kernel, pooling, granularity, group_reduce}.
  // Errors: bad-input for a missing or out-of-range key, an even kernel or an
  // unknown choice.
  static Result<std::unique_ptr<CompressionPolicy>> Create(const nlohmann::json& params);

  // The kept positions of one layer, one list per KV head, ascending: the top
  // `prefix_budget` prefix positions of each unit plus the last `window`.
  // REQUIRES: input checked by CheckPlanInput; 1 <= window < prompt_len;
  // 0 <= prefix_budget <= prompt_len - window. Errors: bad-input for missing or
  // misshapen window statistics.
  static Result<std::vector<std::vector<int32_t>>> SelectLayer(const CompressionInput& input,
                                                               int layer, int32_t window,
                                                               int32_t prefix_budget,
                                                               const ScoringOptions& options);

  const std::string& name() const override { return name_; }
  // The attention of the last `window` prompt queries.
  PrefillStatsRequest stats_needed() const override;
  // Errors: bad-input for a bad input (CheckPlanInput) or missing statistics.
  Result<KeepPlan> Plan(const CompressionInput& input) const override;

  int32_t window() const { return window_; }
  const ScoringOptions& options() const { return options_; }

 private:
  const std::string name_ = "snapkv";
  const int32_t window_;
  const ScoringOptions options_;
};

}  // namespace kvfunda
