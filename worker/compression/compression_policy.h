// CompressionPolicy: one KV-cache compression method (one class per method).
//
// From the statistics of one shared prefill and a budget, a policy chooses which
// prompt positions each layer (and each KV head, for per-head methods) keeps. The
// evaluator then gathers those entries into a compact cache (ApplyKeepPlan), so a
// compressed cache really holds only what was kept. Methods that also evict while
// decoding (StreamingLLM/H2O unified variants, ShotKV's decode phase) override
// OnDecodeStep().
//
// Threading: a policy is immutable after construction except through
// OnDecodeStep(), which is called by the one thread decoding that cache.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "coordinator/base/status.h"
#include "worker/model/model.h"

namespace kvfunda {

// A few-shot exemplar's token span in the prompt, [begin, end).
struct ShotSpan {
  int32_t begin = 0;
  int32_t end = 0;
};

// Prompt KV entries kept per layer (and per KV head): round(ratio * prompt_len),
// at least 1, at most prompt_len.
int32_t BudgetForRatio(double ratio, int32_t prompt_len);

struct CompressionInput {
  const ModelConfig* config = nullptr;
  int32_t prompt_len = 0;
  double ratio = 1.0;
  int32_t budget = 0;                 // kept prompt entries per layer/head (BudgetForRatio)
  const PrefillStats* stats = nullptr;
  std::vector<ShotSpan> shots;        // from the task; empty when the prompt has none
};

// kept[layer][kv_head] = ascending prompt positions kept by that head.
struct KeepPlan {
  std::vector<std::vector<std::vector<int32_t>>> kept;
};

class CompressionPolicy {
 public:
  virtual ~CompressionPolicy() = default;
  virtual const std::string& name() const = 0;
  // What Prefill() must compute for this policy.
  virtual PrefillStatsRequest stats_needed() const = 0;
  // Chooses the kept positions. Errors: bad-input (e.g. window >= budget).
  virtual Result<KeepPlan> Plan(const CompressionInput& input) const = 0;
  // Called after each decoded token was appended to `cache`; may evict entries.
  // The default keeps everything (prefill-only methods).
  virtual Status OnDecodeStep(KvCache& /*cache*/) { return Status::Ok(); }
};

// Creates the policy for a catalog method and its canonical params.
// Errors: bad-input for unknown methods or parameters.
Result<std::unique_ptr<CompressionPolicy>> MakePolicy(const std::string& method,
                                                      const nlohmann::json& params);

// A compact copy of `full` holding only the planned entries, with room for
// `extra_capacity` more tokens per head. REQUIRES: plan shape matches the cache.
Result<KvCache> ApplyKeepPlan(const KvCache& full, const KeepPlan& plan, int32_t extra_capacity);

}  // namespace kvfunda
