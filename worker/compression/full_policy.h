// FullPolicy: the `full` method, the uncompressed baseline of every group.
//
// Keeps every prompt position of every layer and KV head, whatever the ratio, so
// its compact cache equals the prefill cache (plus room for decoding). Owned by
// the evaluator, one instance per cell.
// Threading: immutable; thread-safe.
#pragma once

#include <string>

#include "worker/compression/compression_policy.h"

namespace kvfunda {

class FullPolicy final : public CompressionPolicy {
 public:
  FullPolicy() = default;

  const std::string& name() const override { return name_; }
  // Needs no statistics.
  PrefillStatsRequest stats_needed() const override { return {}; }
  // kept[layer][h] = 0 .. prompt_len - 1 for every layer and KV head.
  // Errors: bad-input when input.config is null or prompt_len < 1.
  Result<KeepPlan> Plan(const CompressionInput& input) const override;

 private:
  const std::string name_ = "full";
};

}  // namespace kvfunda
