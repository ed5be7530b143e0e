#include "worker/compression/compression_policy.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "worker/compression/chunkkv_policy.h"
#include "worker/compression/full_policy.h"
#include "worker/compression/h2o_policy.h"
#include "worker/compression/method_catalog.h"
#include "worker/compression/pyramidkv_policy.h"
#include "worker/compression/snapkv_policy.h"
#include "worker/compression/streamingllm_policy.h"
#include "worker/model/kernel_adapter.h"

namespace kvfunda {

int32_t BudgetForRatio(double ratio, int32_t prompt_len) {
  if (prompt_len < 1) return 0;
  if (!(ratio > 0)) return 1;  // also NaN
  // Round half to even, as Python's round() in KVCache-Factory (B = round(r * L)).
  const double rounded = std::nearbyint(ratio * static_cast<double>(prompt_len));
  if (rounded >= static_cast<double>(prompt_len)) return prompt_len;
  return std::max<int32_t>(1, static_cast<int32_t>(rounded));
}

Result<std::unique_ptr<CompressionPolicy>> MakePolicy(const std::string& method,
                                                      const nlohmann::json& params) {
  const MethodDescriptor* descriptor = FindMethod(method);
  if (descriptor == nullptr) return Status::BadInput("unknown compression method '" + method + "'");
  Result<nlohmann::json> canonical = CanonicalParams(descriptor->params, params);
  if (!canonical.ok()) {
    return Status::BadInput(canonical.status().message()).WithContext("method " + method);
  }
  if (method == "full") return std::unique_ptr<CompressionPolicy>(std::make_unique<FullPolicy>());
  if (method == "streamingllm") return StreamingLlmPolicy::Create(canonical.value());
  if (method == "h2o") return H2oPolicy::Create(canonical.value());
  if (method == "snapkv") return SnapKvPolicy::Create(canonical.value());
  if (method == "pyramidkv") return PyramidKvPolicy::Create(canonical.value());
  if (method == "chunkkv") return ChunkKvPolicy::Create(canonical.value());
  return Status::BadInput("compression method '" + method +
                          "' is in the catalog but not implemented by this worker");
}

Result<KvCache> ApplyKeepPlan(const KvCache& full, const KeepPlan& plan, int32_t extra_capacity) {
  if (extra_capacity < 0) return Status::InvalidArgument("ApplyKeepPlan: negative extra capacity");
  if (plan.kept.size() != full.layers.size()) {
    return Status::InvalidArgument("ApplyKeepPlan: plan has " + std::to_string(plan.kept.size()) +
                                   " layers, the cache " + std::to_string(full.layers.size()));
  }
  KvCache out;
  out.layers.reserve(full.layers.size());
  for (size_t layer = 0; layer < full.layers.size(); ++layer) {
    const LayerKv& src = full.layers[layer];
    const std::vector<std::vector<int32_t>>& kept = plan.kept[layer];
    const std::string where = "ApplyKeepPlan: layer " + std::to_string(layer);
    if (kept.size() != src.length.size()) {
      return Status::InvalidArgument(where + ": plan has " + std::to_string(kept.size()) +
                                     " heads, the cache " + std::to_string(src.length.size()));
    }
    size_t max_kept = 0;
    LayerKv dst;
    dst.length.reserve(kept.size());
    for (size_t h = 0; h < kept.size(); ++h) {
      int32_t previous = -1;
      for (int32_t pos : kept[h]) {
        if (pos <= previous || pos >= src.length[h]) {
          return Status::InvalidArgument(where + " head " + std::to_string(h) + ": position " +
                                         std::to_string(pos) +
                                         " is not ascending or not in [0, " +
                                         std::to_string(src.length[h]) + ")");
        }
        previous = pos;
      }
      max_kept = std::max(max_kept, kept[h].size());
      dst.length.push_back(static_cast<int32_t>(kept[h].size()));
    }
    const int32_t capacity = static_cast<int32_t>(max_kept) + extra_capacity;
    KVF_ASSIGN_OR_RETURN(dst.k, GatherKeptRows(src.k.contiguous(), kept, capacity));
    KVF_ASSIGN_OR_RETURN(dst.v, GatherKeptRows(src.v.contiguous(), kept, capacity));
    out.layers.push_back(std::move(dst));
  }
  out.next_position = full.next_position;
  out.NotePeak();
  return out;
}

}  // namespace kvfunda
