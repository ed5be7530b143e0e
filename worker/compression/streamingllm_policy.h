// StreamingLlmPolicy: the `streamingllm` method (attention sinks + recent window),
// prefill-only, as in KVCache-Factory (docs: kvfundabench-spec.md §3.1).
//
// With budget B and prompt length L it keeps prompt positions 0 .. sinks-1 and
// the last B - sinks positions, identically for every layer and KV head; keys keep
// their original RoPE positions (no re-rotation). If B <= sinks it keeps the first
// B positions; if B >= L it keeps everything. Decoded tokens are appended without
// further eviction. Owned by the evaluator, one instance per cell.
// Threading: immutable; thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "worker/compression/compression_policy.h"

namespace kvfunda {

class StreamingLlmPolicy final : public CompressionPolicy {
 public:
  // REQUIRES: sinks >= 0.
  explicit StreamingLlmPolicy(int32_t sinks) : sinks_(sinks) {}
  // From canonical params {"sinks": int}. Errors: bad-input for a missing,
  // non-integer or negative `sinks`.
  static Result<std::unique_ptr<CompressionPolicy>> Create(const nlohmann::json& params);

  // The kept positions for (prompt_len, budget), ascending.
  // REQUIRES: 1 <= budget, 1 <= prompt_len.
  static std::vector<int32_t> KeptPositions(int32_t prompt_len, int32_t budget, int32_t sinks);

  const std::string& name() const override { return name_; }
  // Needs no statistics.
  PrefillStatsRequest stats_needed() const override { return {}; }
  // Errors: bad-input when input.config is null, prompt_len < 1 or budget is
  // outside [1, prompt_len].
  Result<KeepPlan> Plan(const CompressionInput& input) const override;

  int32_t sinks() const { return sinks_; }

 private:
  const std::string name_ = "streamingllm";
  const int32_t sinks_;
};

}  // namespace kvfunda
