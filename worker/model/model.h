// Model: a decoder-only LLM that the worker evaluates, behind one interface.
//
// Implementations: LlamaModel (worker/model/llama_model.h), a libtorch Llama
// decoder (RMSNorm, RoPE, grouped-query attention, SwiGLU) loaded from a llama2.c
// checkpoint now, and from GGUF / HF safetensors in the model-runtime issue.
//
// The central contract for KV compression: Prefill() runs the prompt once and
// returns the full KV cache together with the statistics every compression method
// needs, computed blockwise (never an L x L matrix). Each (method, ratio) cell then
// builds its own compact cache from that one prefill and decodes with DecodeStep(),
// which advances many independent caches in one batched step.
//
// Threading: thread-compatible; a Model is used by one worker thread.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "coordinator/base/status.h"
#include "worker/model/kv_cache.h"
#include "worker/model/tokenizer.h"

namespace kvfunda {

struct ModelConfig {
  std::string architecture;  // "llama", "mistral", "qwen2" (SmolLM2 is "llama")
  int n_layers = 0;
  int n_heads = 0;     // query heads
  int n_kv_heads = 0;  // key/value heads (grouped-query attention when < n_heads)
  int head_dim = 0;
  int hidden = 0;      // model width
  int ffn_hidden = 0;
  int vocab_size = 0;
  int max_context = 0;
  double rope_theta = 10000.0;
  double norm_eps = 1e-5;
  bool tied_embeddings = false;  // the classifier is the token embedding
  std::string weight_dtype;      // as stored: "float32", "bfloat16", GGUF "Q4_1" (most common)
  int32_t bos_id = -1;           // -1 when the model has none
  std::vector<int32_t> eos_ids;  // every id that ends a generation (may be empty)
  // The raw Jinja chat template (GGUF tokenizer.chat_template or
  // tokenizer_config.json chat_template); "" for base models and llama2.c.
  std::string chat_template;
};

// What the compression methods need from the prefill.
struct PrefillStatsRequest {
  bool column_sums = false;  // H2O, ShotKV: attention mass each key gets from all prompt queries
  int window = 0;            // SnapKV family: attention of the last `window` prompt queries (0 = none)
  int block = 256;           // query block size for the blockwise computation
};

struct PrefillStats {
  // Per layer, [n_heads, L] fp32: sum over all prompt queries q >= t of softmax
  // attention of q to key t. Empty unless requested.
  std::vector<at::Tensor> column_sums;
  // Per layer, [n_heads, w, L] fp32 with w = min(window, L): softmax attention of
  // the last w prompt queries over all L keys (causal: row i is query L - w + i and
  // its entries for later keys are 0). Empty unless requested.
  std::vector<at::Tensor> window_attention;
};

struct PrefillOutput {
  KvCache cache;           // full cache of the prompt, capacity = L
  at::Tensor last_logits;  // [vocab] fp32, next-token logits after the prompt
  PrefillStats stats;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelConfig& config() const = 0;
  virtual const Tokenizer& tokenizer() const = 0;

  // Runs `tokens` (REQUIRES: 1 <= size <= max_context) from an empty cache.
  virtual Result<PrefillOutput> Prefill(const std::vector<int32_t>& tokens,
                                        const PrefillStatsRequest& stats) = 0;

  // One decode step for B independent sequences: appends tokens[b] to *caches[b]
  // (growing its capacity when full) and returns next-token logits [B, vocab] fp32.
  // Results equal B separate calls with B = 1 (within float tolerance).
  virtual Result<at::Tensor> DecodeStep(std::span<KvCache* const> caches,
                                        std::span<const int32_t> tokens) = 0;
};

struct ModelLoadOptions {
  int num_threads = 0;  // intra-op threads; 0 = all cores
};

// Loads the model at `path`: a .gguf file (gguf_model_loader.h), a Hugging Face
// folder holding config.json (hf_model_loader.h), else a llama2.c checkpoint whose
// tokenizer is the tok*.bin file beside it. Errors: model-load, naming the file
// and the problem (unsupported architectures by name).
Result<std::unique_ptr<Model>> LoadModel(const std::string& path, const ModelLoadOptions& options);

}  // namespace kvfunda
