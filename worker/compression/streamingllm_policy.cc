#include "worker/compression/streamingllm_policy.h"

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <string>

namespace kvfunda {

Result<std::unique_ptr<CompressionPolicy>> StreamingLlmPolicy::Create(
    const nlohmann::json& params) {
  if (!params.is_object() || !params.contains("sinks") ||
      !params["sinks"].is_number_integer()) {
    return Status::BadInput("streamingllm: params.sinks must be an integer");
  }
  const int64_t sinks = params["sinks"].get<int64_t>();
  if (sinks < 0 || sinks > INT32_MAX) {
    return Status::BadInput("streamingllm: params.sinks must be >= 0, got " +
                            std::to_string(sinks));
  }
  return std::unique_ptr<CompressionPolicy>(
      std::make_unique<StreamingLlmPolicy>(static_cast<int32_t>(sinks)));
}

std::vector<int32_t> StreamingLlmPolicy::KeptPositions(int32_t prompt_len, int32_t budget,
                                                       int32_t sinks) {
  std::vector<int32_t> kept;
  if (budget >= prompt_len) {
    kept.resize(static_cast<size_t>(prompt_len));
    std::iota(kept.begin(), kept.end(), 0);
    return kept;
  }
  if (budget <= sinks) {
    kept.resize(static_cast<size_t>(budget));
    std::iota(kept.begin(), kept.end(), 0);
    return kept;
  }
  // sinks < budget < prompt_len: the sinks, then the last (budget - sinks) positions,
  // which all lie after the sinks.
  kept.reserve(static_cast<size_t>(budget));
  for (int32_t p = 0; p < sinks; ++p) kept.push_back(p);
  for (int32_t p = prompt_len - (budget - sinks); p < prompt_len; ++p) kept.push_back(p);
  return kept;
}

Result<KeepPlan> StreamingLlmPolicy::Plan(const CompressionInput& input) const {
  if (input.config == nullptr) return Status::BadInput("streamingllm: no model config");
  if (input.prompt_len < 1) return Status::BadInput("streamingllm: empty prompt");
  if (input.budget < 1 || input.budget > input.prompt_len) {
    return Status::BadInput("streamingllm: budget " + std::to_string(input.budget) +
                            " is outside [1, " + std::to_string(input.prompt_len) + "]");
  }
  const std::vector<int32_t> kept = KeptPositions(input.prompt_len, input.budget, sinks_);
  KeepPlan plan;
  plan.kept.assign(static_cast<size_t>(input.config->n_layers),
                   std::vector<std::vector<int32_t>>(
                       static_cast<size_t>(input.config->n_kv_heads), kept));
  return plan;
}

}  // namespace kvfunda
