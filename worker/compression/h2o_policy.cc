#include "worker/compression/h2o_policy.h"

#include <utility>
#include <vector>

namespace kvfunda {

Result<std::unique_ptr<CompressionPolicy>> H2oPolicy::Create(const nlohmann::json& params) {
  KVF_ASSIGN_OR_RETURN(const int32_t recent, IntParam(params, "recent", "h2o", 0, 1 << 20));
  // H2O has no pooling: fill the pooling keys so ScoringParams reads the rest.
  nlohmann::json scoring = params;
  scoring["kernel"] = 1;
  scoring["pooling"] = "max";
  KVF_ASSIGN_OR_RETURN(const ScoringOptions options, ScoringParams(scoring, "h2o"));
  return std::unique_ptr<CompressionPolicy>(std::make_unique<H2oPolicy>(recent, options));
}

PrefillStatsRequest H2oPolicy::stats_needed() const {
  PrefillStatsRequest request;
  request.column_sums = true;
  return request;
}

Result<KeepPlan> H2oPolicy::Plan(const CompressionInput& input) const {
  KVF_RETURN_IF_ERROR(CheckPlanInput(input, name_));
  const int32_t len = input.prompt_len;
  const int32_t budget = input.budget;
  if (budget >= len) return UniformPlan(*input.config, PositionRange(0, len));
  if (budget <= recent_) return UniformPlan(*input.config, PositionRange(len - budget, budget));
  const int32_t prefix = len - recent_;
  KeepPlan plan;
  plan.kept.reserve(static_cast<size_t>(input.config->n_layers));
  for (int layer = 0; layer < input.config->n_layers; ++layer) {
    KVF_ASSIGN_OR_RETURN(const UnitScores head_scores,
                         ColumnSumPrefixScores(input, layer, prefix));
    const UnitScores units = ToUnitScores(head_scores, input.config->n_kv_heads, options_);
    std::vector<std::vector<int32_t>> kept;
    kept.reserve(units.size());
    for (const std::vector<float>& scores : units) {
      std::vector<int32_t> positions = TopKPositions(scores, budget - recent_);
      for (int32_t p = prefix; p < len; ++p) positions.push_back(p);
      kept.push_back(std::move(positions));
    }
    plan.kept.push_back(UnitsToHeads(std::move(kept), input.config->n_kv_heads));
  }
  return plan;
}

}  // namespace kvfunda
