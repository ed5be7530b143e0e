#include "worker/compression/snapkv_policy.h"

#include <utility>

namespace kvfunda {

Result<std::unique_ptr<CompressionPolicy>> SnapKvPolicy::Create(const nlohmann::json& params) {
  KVF_ASSIGN_OR_RETURN(const int32_t window, IntParam(params, "window", "snapkv", 1, 1 << 20));
  KVF_ASSIGN_OR_RETURN(const ScoringOptions options, ScoringParams(params, "snapkv"));
  return std::unique_ptr<CompressionPolicy>(std::make_unique<SnapKvPolicy>(window, options));
}

Result<std::vector<std::vector<int32_t>>> SnapKvPolicy::SelectLayer(
    const CompressionInput& input, int layer, int32_t window, int32_t prefix_budget,
    const ScoringOptions& options) {
  KVF_ASSIGN_OR_RETURN(const UnitScores head_scores, WindowPrefixScores(input, layer, window));
  const UnitScores units = ToUnitScores(head_scores, input.config->n_kv_heads, options);
  std::vector<std::vector<int32_t>> kept;
  kept.reserve(units.size());
  const int32_t prefix = input.prompt_len - window;
  for (const std::vector<float>& scores : units) {
    std::vector<int32_t> positions = TopKPositions(scores, prefix_budget);
    for (int32_t p = prefix; p < input.prompt_len; ++p) positions.push_back(p);
    kept.push_back(std::move(positions));
  }
  return UnitsToHeads(std::move(kept), input.config->n_kv_heads);
}

PrefillStatsRequest SnapKvPolicy::stats_needed() const {
  PrefillStatsRequest request;
  request.window = window_;
  return request;
}

Result<KeepPlan> SnapKvPolicy::Plan(const CompressionInput& input) const {
  KVF_RETURN_IF_ERROR(CheckPlanInput(input, name_));
  const int32_t len = input.prompt_len;
  const int32_t budget = input.budget;
  if (budget >= len) return UniformPlan(*input.config, PositionRange(0, len));
  if (budget <= window_) return UniformPlan(*input.config, PositionRange(len - budget, budget));
  KeepPlan plan;
  plan.kept.reserve(static_cast<size_t>(input.config->n_layers));
  for (int layer = 0; layer < input.config->n_layers; ++layer) {
    KVF_ASSIGN_OR_RETURN(auto kept, SelectLayer(input, layer, window_, budget - window_, options_));
    plan.kept.push_back(std::move(kept));
  }
  return plan;
}

}  // namespace kvfunda
