#include "worker/compression/pyramidkv_policy.h"

#include <cmath>
#include <utility>

#include "worker/compression/snapkv_policy.h"

namespace kvfunda {

Result<std::unique_ptr<CompressionPolicy>> PyramidKvPolicy::Create(const nlohmann::json& params) {
  KVF_ASSIGN_OR_RETURN(const int32_t window, IntParam(params, "window", "pyramidkv", 1, 1 << 20));
  KVF_ASSIGN_OR_RETURN(const ScoringOptions options, ScoringParams(params, "pyramidkv"));
  KVF_ASSIGN_OR_RETURN(const double beta, DoubleParam(params, "beta", "pyramidkv", 1.0, 1e6));
  KVF_ASSIGN_OR_RETURN(const bool legacy, BoolParam(params, "legacy_uniform", "pyramidkv"));
  return std::unique_ptr<CompressionPolicy>(
      std::make_unique<PyramidKvPolicy>(window, options, beta, legacy));
}

std::vector<int32_t> PyramidKvPolicy::LayerPrefixBudgets(int32_t prompt_len, int32_t budget,
                                                         int32_t window, int n_layers, double beta,
                                                         bool legacy_uniform) {
  const int64_t c = budget - window;  // average prefix budget
  std::vector<int32_t> out(static_cast<size_t>(n_layers), static_cast<int32_t>(c));
  if (n_layers <= 1 || (legacy_uniform && prompt_len < 2 * c)) return out;
  int64_t min_num = static_cast<int64_t>(std::floor(static_cast<double>(c) / beta));
  int64_t max_num = 2 * c - min_num;
  const int64_t prefix = prompt_len - window;
  if (max_num >= prefix) {
    max_num = prefix;
    min_num = 2 * c - max_num;
  }
  const int64_t step = (max_num - min_num) / (n_layers - 1);  // both >= 0: floor
  for (int l = 0; l < n_layers; ++l) {
    out[static_cast<size_t>(l)] = static_cast<int32_t>(max_num - l * step);
  }
  return out;
}

PrefillStatsRequest PyramidKvPolicy::stats_needed() const {
  PrefillStatsRequest request;
  request.window = window_;
  return request;
}

Result<KeepPlan> PyramidKvPolicy::Plan(const CompressionInput& input) const {
  KVF_RETURN_IF_ERROR(CheckPlanInput(input, name_));
  const int32_t len = input.prompt_len;
  const int32_t budget = input.budget;
  if (budget >= len) return UniformPlan(*input.config, PositionRange(0, len));
  if (budget <= window_) return UniformPlan(*input.config, PositionRange(len - budget, budget));
  const std::vector<int32_t> prefix_budgets = LayerPrefixBudgets(
      len, budget, window_, input.config->n_layers, beta_, legacy_uniform_);
  KeepPlan plan;
  plan.kept.reserve(prefix_budgets.size());
  for (int layer = 0; layer < input.config->n_layers; ++layer) {
    KVF_ASSIGN_OR_RETURN(auto kept,
                         SnapKvPolicy::SelectLayer(input, layer, window_,
                                                   prefix_budgets[static_cast<size_t>(layer)],
                                                   options_));
    plan.kept.push_back(std::move(kept));
  }
  return plan;
}

}  // namespace kvfunda
