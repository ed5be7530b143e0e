// H2oPolicy: the `h2o` method, prefill-only, as in KVCache-Factory's H2O cluster
// (docs/methods.md, kvfundabench-spec.md §3.2).
//
// Score of prefix position t (0 <= t < L - recent) for query head h: its column
// sum, the attention it receives from every prompt query (causal; no pooling);
// aggregated over the query heads of each KV head (or of the whole layer). Each
// unit keeps its top (B - recent) prefix positions (ties: lower position) plus
// the last `recent` positions. B >= L keeps everything; B <= recent keeps the
// last B positions. No eviction while decoding (the unified SCOPE variant is a
// separate method). Owned by the evaluator, one instance per cell.
// Threading: immutable; thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "worker/compression/attention_scores.h"
#include "worker/compression/compression_policy.h"

namespace kvfunda {

class H2oPolicy final : public CompressionPolicy {
 public:
  // REQUIRES: recent >= 0; options.kernel == 1 (H2O does not pool).
  H2oPolicy(int32_t recent, const ScoringOptions& options) : recent_(recent), options_(options) {}
  // From canonical params {recent, granularity, group_reduce}. Errors: bad-input
  // for a missing or bad key.
  static Result<std::unique_ptr<CompressionPolicy>> Create(const nlohmann::json& params);

  const std::string& name() const override { return name_; }
  // Column sums over all prompt queries.
  PrefillStatsRequest stats_needed() const override;
  // Errors: bad-input for a bad input (CheckPlanInput) or missing statistics.
  Result<KeepPlan> Plan(const CompressionInput& input) const override;

 private:
  const std::string name_ = "h2o";
  const int32_t recent_;
  const ScoringOptions options_;
};

}  // namespace kvfunda
