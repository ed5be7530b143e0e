// FidelityTask: the `fidelity` task — how closely a compressed cache reproduces
// the full cache's own continuation.
//
// Sample i's prompt is a story the model writes itself: from BOS it samples
// `prompt_tokens` tokens at `prompt_temperature` (BOS and EOS excluded, so every
// prompt has exactly 1 + prompt_tokens tokens), with an RNG seeded from (the
// sweep's seed, i) only, so a prompt depends on nothing but (model, seed, i,
// params). The score is exact match of the output tokens with the full-cache
// output; `prefix_agree` counts the tokens agreeing before the first divergence.
// The shard evaluator adds KL divergence for every task, this one included. The
// task has no reference of its own: the full-cache text is the reference.
// Threading: immutable after construction; MakeSample uses the caller's model.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "worker/tasks/task.h"

namespace kvfunda {

struct FidelityParams {
  int64_t num_samples = 64;
  int32_t prompt_tokens = 96;       // sampled tokens after BOS
  double prompt_temperature = 1.0;  // 0 = greedy (every prompt alike)
};

class FidelityTask final : public Task {
 public:
  FidelityTask(FidelityParams params, uint64_t seed) : params_(params), seed_(seed) {}
  // From canonical params (num_samples, prompt_tokens, prompt_temperature).
  // Errors: bad-input for a missing, mistyped or out-of-range parameter.
  static Result<std::unique_ptr<Task>> Create(const nlohmann::json& params,
                                              const TaskContext& context);

  const std::string& name() const override { return name_; }
  // Errors: bad-input when index is outside [0, num_samples), shots != 0, or the
  // prompt does not fit the model's context; the model's errors otherwise.
  Result<TaskSample> MakeSample(Model& model, int64_t index, int shots) override;
  SampleScore Score(const TaskSample& sample, const Generation& output,
                    const Generation& full_cache) const override;

 private:
  const std::string name_ = "fidelity";
  const FidelityParams params_;
  const uint64_t seed_;
};

// Tokens equal in `a` and `b` before their first difference.
int32_t PrefixAgreement(const std::vector<int32_t>& a, const std::vector<int32_t>& b);

}  // namespace kvfunda
