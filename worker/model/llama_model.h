// LlamaModel: the libtorch Llama decoder (RMSNorm, RoPE, grouped-query attention,
// SwiGLU), fp32, for the Llama family (Llama 2/3, Mistral, SmolLM2) and Qwen2 (q/k/v
// biases). Query head h reads KV head h / (n_heads / n_kv_heads); the classifier is
// the token embedding itself when the checkpoint ties them.
//
// RoPE (LlamaRope) comes in two layouts of the same rotation: kInterleavedPairs
// rotates the pairs (2i, 2i+1) of each head (llama2.c, GGUF "llama" files, whose
// q/k rows llama.cpp's converter permuted into this order), kRotateHalf rotates the
// pairs (i, i + head_dim/2) (HF transformers, GGUF qwen2 = ggml's NEOX mode). Pair
// i turns at position p by the angle p * inv_freq[i], computed in float; the
// loaders take inv_freq from RopeInverseFrequencies (rope_theta, llama3 / linear
// scaling, rope_freqs factors), llama2.c from theta^(-2i/head_dim) in float.
//
// Prefill() runs the prompt in query blocks of PrefillStatsRequest::block rows per
// layer (attention memory O(block x L), never L x L) and fills the KV cache and the
// requested statistics block by block. DecodeStep() advances B caches at once: the
// projections and the FFN are batched over B (weights read once per step), the
// attention runs per sequence over its own ragged cache.
//
// Works on whatever device the weights live on (CPU today); every tensor it makes
// follows the weights' device.
// Threading: thread-compatible; one worker thread uses a model at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "coordinator/base/status.h"
#include "worker/model/llama2c_loader.h"
#include "worker/model/model.h"

namespace kvfunda {

enum class RopeStyle { kInterleavedPairs, kRotateHalf };

struct LlamaRope {
  RopeStyle style = RopeStyle::kInterleavedPairs;
  std::vector<float> inv_freq;  // [head_dim / 2] radians per position of pair i
};

// llama2.c's RoPE: interleaved pairs, inv_freq[i] = 1 / theta^(2i / head_dim) in
// float as run.c computes it.
LlamaRope Llama2cRope(const ModelConfig& config);

// Weights of one decoder layer. Matrices are [out, in] (y = x W^T + b).
struct LlamaLayerWeights {
  at::Tensor rms_att;  // [hidden]
  at::Tensor wqkv;     // [(n_heads + 2 n_kv_heads) head_dim, hidden]: wq, wk, wv stacked
  at::Tensor bqkv;     // [(n_heads + 2 n_kv_heads) head_dim] q/k/v biases, or undefined
  at::Tensor wo;       // [hidden, n_heads head_dim]
  at::Tensor bo;       // [hidden] output-projection bias, or undefined
  at::Tensor rms_ffn;  // [hidden]
  at::Tensor w13;      // [2 ffn_hidden, hidden]: w1 (gate), w3 (up) stacked
  at::Tensor w2;       // [hidden, ffn_hidden]
};

struct LlamaWeights {
  at::Tensor token_embedding;  // [vocab, hidden]
  std::vector<LlamaLayerWeights> layers;
  at::Tensor rms_final;        // [hidden]
  at::Tensor classifier;       // [vocab, hidden] (the embedding itself when tied)
};

class LlamaModel final : public Model {
 public:
  // REQUIRES: weights match config (shapes as documented above), fp32, one device;
  // rope.inv_freq has head_dim / 2 entries.
  LlamaModel(ModelConfig config, LlamaRope rope, LlamaWeights weights,
             std::unique_ptr<Tokenizer> tokenizer);
  // With llama2.c's RoPE (Llama2cRope(config)).
  LlamaModel(ModelConfig config, LlamaWeights weights, std::unique_ptr<Tokenizer> tokenizer);

  // Builds the model from a validated llama2.c checkpoint (CPU, fp32).
  // Errors: model-load when the tokenizer's vocabulary size differs from the model's.
  static Result<std::unique_ptr<LlamaModel>> FromLlama2c(Llama2cCheckpoint checkpoint,
                                                         std::unique_ptr<Tokenizer> tokenizer,
                                                         const std::string& path);

  const ModelConfig& config() const override { return config_; }
  const Tokenizer& tokenizer() const override { return *tokenizer_; }

  // Errors: bad-input when tokens is empty or longer than max_context;
  // invalid-argument for an id outside [0, vocab) or block < 1 or window < 0;
  // out-of-memory; internal for other libtorch failures. A window larger than the
  // prompt is clamped to the prompt length (stats hold [n_heads, min(w, L), L]).
  Result<PrefillOutput> Prefill(const std::vector<int32_t>& tokens,
                                const PrefillStatsRequest& stats) override;

  // Errors: invalid-argument when the spans differ in size or are empty, a cache is
  // null, listed twice or does not match this model (layers, heads, head_dim,
  // dtype, device, lengths within capacity), or a token is out of range (no cache
  // is modified then); out-of-memory; internal.
  Result<at::Tensor> DecodeStep(std::span<KvCache* const> caches,
                                std::span<const int32_t> tokens) override;

 private:
  Result<PrefillOutput> PrefillImpl(const std::vector<int32_t>& tokens,
                                    const PrefillStatsRequest& stats);
  Result<at::Tensor> DecodeStepImpl(std::span<KvCache* const> caches,
                                    std::span<const int32_t> tokens);
  Status CheckCache(const KvCache& cache, size_t index) const;

  // RMSNorm of each row of x [N, hidden] with weight [hidden].
  at::Tensor RmsNorm(const at::Tensor& x, const at::Tensor& weight) const;
  // cos and sin tables [N, head_dim / 2] for the given RoPE positions.
  std::pair<at::Tensor, at::Tensor> RopeTables(const std::vector<int64_t>& positions) const;
  // x [N, heads, head_dim] rotated in rope_.style's pairs; cos, sin [N, head_dim / 2].
  at::Tensor ApplyRope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) const;
  // Projects x [N, hidden] to q [N, n_heads, head_dim] (RoPE applied, pre-scaled by
  // 1/sqrt(head_dim)), k [N, n_kv_heads, head_dim] (RoPE applied) and v.
  // cos, sin [N, head_dim / 2] from RopeTables() for the rows' positions.
  void Qkv(const LlamaLayerWeights& w, const at::Tensor& x, const at::Tensor& cos,
           const at::Tensor& sin, at::Tensor* q, at::Tensor* k, at::Tensor* v) const;
  // x [N, hidden] += wo(attn) + FFN; attn [N, n_heads head_dim].
  void FinishLayer(const LlamaLayerWeights& w, const at::Tensor& attn, at::Tensor& x) const;
  // Makes room for one more entry per head (geometric growth, zero-filled).
  void EnsureRoom(LayerKv& layer) const;

  // Constant after construction.
  const ModelConfig config_;
  const LlamaWeights weights_;
  const std::unique_ptr<Tokenizer> tokenizer_;
  const LlamaRope rope_;
};

}  // namespace kvfunda
