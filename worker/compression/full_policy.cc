#include "worker/compression/full_policy.h"

#include <cstdint>
#include <numeric>
#include <string>

namespace kvfunda {

Result<KeepPlan> FullPolicy::Plan(const CompressionInput& input) const {
  if (input.config == nullptr) return Status::BadInput("full: no model config");
  if (input.prompt_len < 1) return Status::BadInput("full: empty prompt");
  std::vector<int32_t> all(static_cast<size_t>(input.prompt_len));
  std::iota(all.begin(), all.end(), 0);
  KeepPlan plan;
  plan.kept.assign(static_cast<size_t>(input.config->n_layers),
                   std::vector<std::vector<int32_t>>(
                       static_cast<size_t>(input.config->n_kv_heads), all));
  return plan;
}

}  // namespace kvfunda
