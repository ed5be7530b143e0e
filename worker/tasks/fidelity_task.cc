#include "worker/tasks/fidelity_task.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "worker/tasks/token_sampler.h"

namespace kvfunda {
namespace {

// Salt of the prompt-writing RNG streams (distinct from the decoding streams).
constexpr uint64_t kPromptSalt = 0xF1DE'0001ull;

// logits [vocab] or [1, vocab], any device and float dtype -> doubles on the CPU.
std::vector<double> ToDoubles(const at::Tensor& logits) {
  at::Tensor cpu = logits.reshape({-1}).to(at::kCPU, at::kDouble).contiguous();
  const double* data = cpu.data_ptr<double>();
  return std::vector<double>(data, data + cpu.numel());
}

Result<int64_t> IntParam(const nlohmann::json& params, const char* key, int64_t min,
                         int64_t max) {
  if (!params.contains(key) || !params[key].is_number_integer()) {
    return Status::BadInput(std::string("fidelity: params.") + key + " must be an integer");
  }
  const int64_t value = params[key].get<int64_t>();
  if (value < min || value > max) {
    return Status::BadInput(std::string("fidelity: params.") + key + " = " +
                            std::to_string(value) + " is outside [" + std::to_string(min) +
                            ", " + std::to_string(max) + "]");
  }
  return value;
}

}  // namespace

int32_t PrefixAgreement(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return static_cast<int32_t>(i);
}

Result<std::unique_ptr<Task>> FidelityTask::Create(const nlohmann::json& params,
                                                   const TaskContext& context) {
  if (!params.is_object()) return Status::BadInput("fidelity: params must be an object");
  FidelityParams p;
  KVF_ASSIGN_OR_RETURN(p.num_samples,
                       IntParam(params, "num_samples", 1, std::numeric_limits<int32_t>::max()));
  KVF_ASSIGN_OR_RETURN(const int64_t prompt_tokens,
                       IntParam(params, "prompt_tokens", 1, std::numeric_limits<int32_t>::max()));
  p.prompt_tokens = static_cast<int32_t>(prompt_tokens);
  if (!params.contains("prompt_temperature") || !params["prompt_temperature"].is_number()) {
    return Status::BadInput("fidelity: params.prompt_temperature must be a number");
  }
  p.prompt_temperature = params["prompt_temperature"].get<double>();
  if (!(p.prompt_temperature >= 0) || !std::isfinite(p.prompt_temperature)) {
    return Status::BadInput("fidelity: params.prompt_temperature must be >= 0");
  }
  return std::unique_ptr<Task>(std::make_unique<FidelityTask>(p, context.seed));
}

Result<TaskSample> FidelityTask::MakeSample(Model& model, int64_t index, int shots) {
  const std::string where = "fidelity sample " + std::to_string(index);
  if (index < 0 || index >= params_.num_samples) {
    return Status::BadInput(where + ": outside [0, " + std::to_string(params_.num_samples) + ")");
  }
  if (shots != 0) return Status::BadInput(where + ": fidelity takes 0 shots, not " +
                                          std::to_string(shots));
  const int64_t prompt_len = 1 + static_cast<int64_t>(params_.prompt_tokens);
  if (prompt_len > model.config().max_context) {
    return Status::BadInput(where + ": a prompt of " + std::to_string(prompt_len) +
                            " tokens exceeds the model's context of " +
                            std::to_string(model.config().max_context));
  }
  const Tokenizer& tokenizer = model.tokenizer();
  const int32_t bos = tokenizer.bos_id();
  const int32_t eos = tokenizer.eos_id();
  std::mt19937_64 rng(DeriveSeed(seed_, static_cast<uint64_t>(index), kPromptSalt));
  const TokenSampler sampler(params_.prompt_temperature, 1.0);

  std::vector<int32_t> tokens = {bos};
  Result<PrefillOutput> prefill = model.Prefill(tokens, PrefillStatsRequest{});
  if (!prefill.ok()) return prefill.status().WithContext(where);
  KvCache cache = std::move(prefill.value().cache);
  std::vector<double> logits = ToDoubles(prefill.value().last_logits);
  while (true) {
    // A story prompt never ends early: BOS and EOS are never drawn.
    for (int32_t banned : {bos, eos}) {
      if (banned >= 0 && static_cast<size_t>(banned) < logits.size()) {
        logits[static_cast<size_t>(banned)] = -std::numeric_limits<double>::infinity();
      }
    }
    const int32_t next = sampler.Choose(logits, rng);
    tokens.push_back(next);
    if (static_cast<int64_t>(tokens.size()) == prompt_len) break;
    KvCache* caches[] = {&cache};
    const int32_t inputs[] = {next};
    Result<at::Tensor> step = model.DecodeStep(caches, inputs);
    if (!step.ok()) return step.status().WithContext(where);
    logits = ToDoubles(step.value());
  }

  TaskSample sample;
  sample.index = index;
  sample.prompt_text = tokenizer.Decode(tokens);
  sample.prompt_tokens = std::move(tokens);
  return sample;
}

SampleScore FidelityTask::Score(const TaskSample& sample, const Generation& output,
                                const Generation& full_cache) const {
  SampleScore score;
  const bool exact = output.tokens == full_cache.tokens;
  const int32_t agree = PrefixAgreement(output.tokens, full_cache.tokens);
  score.score = exact ? 1.0 : 0.0;
  score.metrics["prefix_agree"] = agree;
  score.detail = {{"exact_match", exact},
                  {"prefix_agree", agree},
                  {"output_tokens", output.tokens.size()},
                  {"full_cache_tokens", full_cache.tokens.size()},
                  {"prompt_tokens", sample.prompt_tokens.size()}};
  return score;
}

}  // namespace kvfunda
