#include "worker/compression/chunkkv_policy.h"

#include <algorithm>
#include <numeric>
#include <utility>

namespace kvfunda {

Result<std::unique_ptr<CompressionPolicy>> ChunkKvPolicy::Create(const nlohmann::json& params) {
  Options o;
  KVF_ASSIGN_OR_RETURN(o.window, IntParam(params, "window", "chunkkv", 1, 1 << 20));
  KVF_ASSIGN_OR_RETURN(o.chunk_size, IntParam(params, "chunk_size", "chunkkv", 1, 1 << 20));
  KVF_ASSIGN_OR_RETURN(o.reuse_layers, IntParam(params, "reuse_layers", "chunkkv", 1, 1024));
  KVF_ASSIGN_OR_RETURN(o.partial_chunk, BoolParam(params, "partial_chunk", "chunkkv"));
  KVF_ASSIGN_OR_RETURN(o.scoring, ScoringParams(params, "chunkkv"));
  return std::unique_ptr<CompressionPolicy>(std::make_unique<ChunkKvPolicy>(o));
}

std::vector<int32_t> ChunkKvPolicy::SelectChunks(const std::vector<float>& scores,
                                                 int32_t chunk_size, int32_t keep,
                                                 bool partial_chunk) {
  const int32_t n = static_cast<int32_t>(scores.size());
  const int32_t n_chunks = (n + chunk_size - 1) / chunk_size;
  std::vector<float> chunk_scores(static_cast<size_t>(n_chunks), 0.f);
  for (int32_t t = 0; t < n; ++t) {
    chunk_scores[static_cast<size_t>(t / chunk_size)] += scores[static_cast<size_t>(t)];
  }
  std::vector<int32_t> order(static_cast<size_t>(n_chunks));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return chunk_scores[static_cast<size_t>(a)] > chunk_scores[static_cast<size_t>(b)];
  });
  std::vector<int32_t> kept;
  kept.reserve(static_cast<size_t>(keep));
  int32_t remaining = keep;
  for (int32_t chunk : order) {
    if (remaining == 0) break;
    const int32_t begin = chunk * chunk_size;
    const int32_t size = std::min(chunk_size, n - begin);
    const int32_t take = size <= remaining ? size : (partial_chunk ? remaining : 0);
    for (int32_t p = begin; p < begin + take; ++p) kept.push_back(p);
    remaining -= take;
    if (take < size) break;  // the first chunk that did not fit ends the selection
  }
  std::sort(kept.begin(), kept.end());
  return kept;
}

PrefillStatsRequest ChunkKvPolicy::stats_needed() const {
  PrefillStatsRequest request;
  request.window = options_.window;
  return request;
}

Result<KeepPlan> ChunkKvPolicy::Plan(const CompressionInput& input) const {
  KVF_RETURN_IF_ERROR(CheckPlanInput(input, name_));
  const int32_t len = input.prompt_len;
  const int32_t budget = input.budget;
  const int32_t window = options_.window;
  if (budget >= len) return UniformPlan(*input.config, PositionRange(0, len));
  if (budget <= window) return UniformPlan(*input.config, PositionRange(len - budget, budget));
  const int32_t prefix = len - window;
  const int n_kv = input.config->n_kv_heads;
  KeepPlan plan;
  plan.kept.reserve(static_cast<size_t>(input.config->n_layers));
  for (int layer = 0; layer < input.config->n_layers; ++layer) {
    if (layer % options_.reuse_layers != 0) {
      // Layer-wise index reuse: the first layer of the block chose for it.
      plan.kept.push_back(plan.kept[static_cast<size_t>(layer - layer % options_.reuse_layers)]);
      continue;
    }
    KVF_ASSIGN_OR_RETURN(const UnitScores head_scores, WindowPrefixScores(input, layer, window));
    const UnitScores units = ToUnitScores(head_scores, n_kv, options_.scoring);
    std::vector<std::vector<int32_t>> kept;
    kept.reserve(units.size());
    for (const std::vector<float>& scores : units) {
      std::vector<int32_t> positions =
          SelectChunks(scores, options_.chunk_size, budget - window, options_.partial_chunk);
      for (int32_t p = prefix; p < len; ++p) positions.push_back(p);
      kept.push_back(std::move(positions));
    }
    plan.kept.push_back(UnitsToHeads(std::move(kept), n_kv));
  }
  return plan;
}

}  // namespace kvfunda
