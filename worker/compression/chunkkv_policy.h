// ChunkKvPolicy: the `chunkkv` method, prefill-only, after the ChunkKV paper
// (arXiv 2502.00299) and kvpress's ChunkKVPress (docs/methods.md,
// kvfundabench-spec.md §3.6).
//
// Token scores as SnapKV's (window attention summed over the last w queries,
// optional pooling), aggregated over all query heads of the layer (default: one
// chunk set shared by every KV head) or per KV head. The prefix [0, L - w) is cut
// into chunks of `chunk_size` (the last may be shorter); chunk score = sum of its
// token scores. Chunks are taken whole in score order (ties: lower chunk) while
// they fit in B - w; the first one that does not fit is cut to its first
// remaining positions when partial_chunk is set (so exactly B - w are kept), and
// selection stops. The last w positions are always kept. With reuse_layers = R,
// layer l reuses the kept positions of layer l - (l mod R). B >= L keeps
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

class ChunkKvPolicy final : public CompressionPolicy {
 public:
  struct Options {
    int32_t window = 8;
    int32_t chunk_size = 10;
    int32_t reuse_layers = 1;  // 1 = every layer selects
    bool partial_chunk = true;
    ScoringOptions scoring;
  };
  // REQUIRES: window >= 1, chunk_size >= 1, reuse_layers >= 1, scoring.kernel odd.
  explicit ChunkKvPolicy(const Options& options) : options_(options) {}
  // From canonical params {window, chunk_size, kernel, pooling, granularity,
  // group_reduce, reuse_layers, partial_chunk}. Errors: bad-input for a missing
  // or bad key.
  static Result<std::unique_ptr<CompressionPolicy>> Create(const nlohmann::json& params);

  // The kept prefix positions (ascending) for token scores [n] over the prefix:
  // chunks in score order, as described above, `keep` positions at most.
  // REQUIRES: chunk_size >= 1; 0 <= keep <= scores.size().
  static std::vector<int32_t> SelectChunks(const std::vector<float>& scores, int32_t chunk_size,
                                           int32_t keep, bool partial_chunk);

  const std::string& name() const override { return name_; }
  // The attention of the last `window` prompt queries.
  PrefillStatsRequest stats_needed() const override;
  // Errors: bad-input for a bad input (CheckPlanInput) or missing statistics.
  Result<KeepPlan> Plan(const CompressionInput& input) const override;

 private:
  const std::string name_ = "chunkkv";
  const Options options_;
};

}  // namespace kvfunda
