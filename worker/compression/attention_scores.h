// Attention-score helpers shared by the score-based prefill methods (H2O, SnapKV,
// PyramidKV, ChunkKV): reading the prefill statistics, 1-D pooling, aggregating
// query-head scores to the selection unit (KV head or layer), deterministic
// top-k, and reading the methods' canonical parameters. docs/methods.md gives the
// formulas. These are plain CPU functions over fp32 vectors (the statistics are
// copied to the CPU once per layer); they hold no state.
// Threading: stateless; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "coordinator/base/status.h"
#include "worker/compression/compression_policy.h"

namespace kvfunda {

enum class Pooling { kMax, kAvg };
// How the query heads' scores become one score per selection unit.
enum class GroupReduce { kSum, kMean, kMax };
// The selection unit: one kept set per KV head (query heads of a GQA group
// aggregated), or one kept set per layer shared by all its KV heads.
enum class Granularity { kKvHead, kLayer };

// Scores [unit][position], fp32. unit = KV head or the single layer unit.
using UnitScores = std::vector<std::vector<float>>;

// How window/column scores become unit scores (see docs/methods.md).
struct ScoringOptions {
  int32_t kernel = 1;  // 1-D pooling kernel (odd); 1 = no pooling
  Pooling pooling = Pooling::kMax;
  Granularity granularity = Granularity::kKvHead;
  GroupReduce group_reduce = GroupReduce::kMean;
};

// Checks what every Plan() needs: a config with layers and heads (n_heads a
// multiple of n_kv_heads), prompt_len >= 1 and budget in [1, prompt_len].
// Errors: bad-input prefixed with `method`.
Status CheckPlanInput(const CompressionInput& input, const std::string& method);

// Sum over the last `window` prompt queries of their attention to the prefix
// positions 0 .. prompt_len - window - 1, per query head: [n_heads][prompt_len - window].
// Uses the last `window` rows of stats.window_attention[layer] (the evaluator may
// have computed more rows for another policy).
// REQUIRES: 1 <= window < prompt_len. Errors: bad-input when the statistics are
// missing or have the wrong shape.
Result<UnitScores> WindowPrefixScores(const CompressionInput& input, int layer, int32_t window);

// Column sums (attention received from all prompt queries) of the prefix
// positions 0 .. prefix_len - 1, per query head: [n_heads][prefix_len].
// REQUIRES: 1 <= prefix_len <= prompt_len. Errors: bad-input when the statistics
// are missing or have the wrong shape.
Result<UnitScores> ColumnSumPrefixScores(const CompressionInput& input, int layer,
                                         int32_t prefix_len);

// 1-D pooling along positions, stride 1, padding kernel/2, same length (as
// F.max_pool1d / F.avg_pool1d in the reference code): max ignores the padding;
// avg divides by `kernel` with the padding counted as zeros (count_include_pad).
// REQUIRES: kernel odd and >= 1 (kernel 1 returns the input).
std::vector<float> Pool1d(const std::vector<float>& scores, int32_t kernel, Pooling pooling);

// Pools each query head's scores, then aggregates them to units: per KV head
// (the n_heads / n_kv_heads consecutive query heads of its group) or one unit
// per layer (all query heads). REQUIRES: head_scores.size() == n_heads, a
// multiple of n_kv_heads; all rows the same length.
UnitScores ToUnitScores(const UnitScores& head_scores, int n_kv_heads,
                        const ScoringOptions& options);

// The k highest-scoring positions of scores[0 .. n), ascending; ties go to the
// lower position. REQUIRES: 0 <= k <= scores.size().
std::vector<int32_t> TopKPositions(const std::vector<float>& scores, int32_t k);

// first, first + 1, ..., first + count - 1.
std::vector<int32_t> PositionRange(int32_t first, int32_t count);

// Expands per-unit kept lists of one layer to its n_kv_heads KV heads (a layer
// unit is copied to every head). REQUIRES: units.size() is 1 or n_kv_heads.
std::vector<std::vector<int32_t>> UnitsToHeads(std::vector<std::vector<int32_t>> units,
                                               int n_kv_heads);

// A plan keeping `kept` (ascending) in every layer and KV head.
KeepPlan UniformPlan(const ModelConfig& config, const std::vector<int32_t>& kept);

// ---- canonical-parameter readers (MakePolicy has already checked types and
// ranges against the catalog; these re-check so a direct Create() is safe).
// Errors: bad-input naming `method` and the key.
Result<int32_t> IntParam(const nlohmann::json& params, const std::string& key,
                         const std::string& method, int64_t min, int64_t max);
Result<double> DoubleParam(const nlohmann::json& params, const std::string& key,
                           const std::string& method, double min, double max);
Result<bool> BoolParam(const nlohmann::json& params, const std::string& key,
                       const std::string& method);
// The kernel, pooling, granularity and group_reduce keys (all present in
// `params`). Errors: bad-input for an even kernel or an unknown choice.
Result<ScoringOptions> ScoringParams(const nlohmann::json& params, const std::string& method);

std::string PoolingName(Pooling pooling);
std::string GroupReduceName(GroupReduce reduce);
std::string GranularityName(Granularity granularity);

}  // namespace kvfunda
