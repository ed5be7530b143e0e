// CheckpointConfig: the architecture hyperparameters of a real checkpoint, read
// from a Hugging Face config.json (ParseHfConfig / LoadHfConfig) or from GGUF
// metadata (ConfigFromGguf), into one struct the model builder uses.
//
// Supported families: Llama 2/3/3.1/3.2 (LlamaForCausalLM, model_type "llama",
// with rope_scaling "llama3" or "linear"), Mistral (MistralForCausalLM; the
// sliding window is recorded), Qwen2/2.5 (Qwen2ForCausalLM; q/k/v projections
// carry a bias), SmolLM/SmolLM2 (llama with tied embeddings). Anything else is
// refused by name. Defaults for absent keys follow transformers' config classes.
//
// RopeInverseFrequencies() gives the per-pair RoPE frequencies including the
// scaling, matching transformers' _compute_default_rope_parameters /
// _compute_llama3_parameters / linear scaling, or llama.cpp's rope_freqs factors.
//
// Torch-free. Threading: plain values and free functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coordinator/base/status.h"

namespace kvfunda {

class GgufFile;

enum class ModelFamily { kLlama, kMistral, kQwen2 };

// "llama", "mistral", "qwen2".
std::string_view ModelFamilyName(ModelFamily family);

struct RopeScaling {
  std::string type;  // "" (none), "llama3" or "linear"
  double factor = 1.0;
  double low_freq_factor = 1.0;   // llama3
  double high_freq_factor = 4.0;  // llama3
  int64_t original_max_position_embeddings = 0;  // llama3 (0: unset)
};

struct CheckpointConfig {
  ModelFamily family = ModelFamily::kLlama;
  std::string architecture;  // "LlamaForCausalLM", or the GGUF general.architecture
  std::string model_type;    // "llama", "mistral", "qwen2"
  std::string torch_dtype;   // config.json "torch_dtype" ("bfloat16"); "" for GGUF
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;  // hidden_size / num_attention_heads unless given
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  // Per-pair divisors of the inverse frequencies stored in a GGUF file
  // (tensor rope_freqs.weight, [head_dim / 2]); empty when absent.
  std::vector<float> rope_freq_factors;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v (and for Llama, o) projections have a bias
  std::optional<int64_t> sliding_window;  // Mistral / Qwen2; recorded, not enforced
  bool use_sliding_window = false;        // Qwen2's switch; true for Mistral with a window
  std::vector<int64_t> bos_token_ids;     // may be empty
  std::vector<int64_t> eos_token_ids;     // may be empty (config.json: int or list)
};

// Parses config.json text. `source` names the file in errors.
// Errors: model-load "<source>: ..." for bad JSON, an unsupported architecture
// ("unsupported architecture GPTNeoXForCausalLM (model_type gpt_neox); supported:
// ..."), a missing or mistyped required key, inconsistent sizes (heads not
// dividing, odd head_dim), an unknown rope_scaling type.
Result<CheckpointConfig> ParseHfConfig(std::string_view json_text, const std::string& source);

// Reads and parses the config.json at `path` (or `path`/config.json for a folder).
Result<CheckpointConfig> LoadHfConfig(const std::string& path);

// The same config from a GGUF file's metadata (general.architecture "llama" or
// "qwen2"; <arch>.block_count, .embedding_length, .feed_forward_length,
// .attention.head_count(_kv), .attention.key_length, .rope.freq_base,
// .attention.layer_norm_rms_epsilon, .context_length, .vocab_size (else the
// tokenizer.ggml.tokens count), .rope.scaling.*; tied embeddings when there is no
// output.weight tensor; bias when blk.0.attn_q.bias exists; rope_freqs.weight).
// Errors: model-load naming the file.
Result<CheckpointConfig> ConfigFromGguf(const GgufFile& gguf);

// Checks sizes for consistency. Errors: model-load "<source>: ...".
Status ValidateCheckpointConfig(const CheckpointConfig& config, const std::string& source);

// The RoPE inverse frequency of each dimension pair, [head_dim / 2]:
// 1 / rope_theta^(2i / head_dim), then the scaling (llama3: HF's
// _compute_llama3_parameters; linear: / factor; GGUF: / rope_freq_factors[i]).
// Computed in double. REQUIRES: ValidateCheckpointConfig(config) is OK.
std::vector<double> RopeInverseFrequencies(const CheckpointConfig& config);

}  // namespace kvfunda
