// Tiny random Llama / Qwen2 checkpoints written by the tests themselves, in both
// real formats: a Hugging Face folder (config.json, model.safetensors F32, a
// minimal byte-level tokenizer.json) and a GGUF file (F32 tensors, a gpt2-type
// embedded vocabulary). The GGUF writer follows llama.cpp's convert_hf_to_gguf.py:
// the tensor renaming and, for "llama", the q/k row permutation
//   w.reshape(heads, 2, head_dim / 2, in).swapaxes(1, 2).reshape(out, in)
// (heads = n_kv_heads for k). The name table here is written independently of
// the loader's.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace kvfunda::testing {

struct TinyDims {
  std::string family = "llama";  // "llama" or "qwen2"
  int64_t layers = 2;
  int64_t hidden = 32;
  int64_t heads = 4;
  int64_t kv_heads = 2;
  int64_t head_dim = 8;
  int64_t ffn = 48;
  int64_t vocab = 64;
  int64_t context = 128;
  double rope_theta = 10000.0;
  double norm_eps = 1e-5;
};

// HF name -> tensor (torch layout, matrices [out, in]), fp32 contiguous.
using TensorMap = std::map<std::string, at::Tensor>;

// Random weights for `dims` (seeded): embeddings, per-layer q/k/v/o, gate/up/down,
// norms, model.norm; lm_head unless `tied`; q/k/v biases when family is qwen2.
TensorMap RandomWeights(const TinyDims& dims, uint32_t seed, bool tied);

// The tokenizer vocabulary (dims.vocab pieces): "a", "b", "ab", "Ġ", then fillers.
std::vector<std::string> TinyVocab(int64_t vocab);

// config.json text; `extra` is spliced in as more top-level members (e.g.
// "\"rope_scaling\": {...}"), may be "".
std::string HfConfigJson(const TinyDims& dims, bool tied, const std::string& extra,
                         const std::string& architecture = "");

// Writes config.json (the given text), model.safetensors and tokenizer.json into
// the folder `dir` (created).
void WriteHfFolder(const std::string& dir, const std::string& config_json,
                   const TensorMap& tensors, int64_t vocab);

struct GgufOptions {
  bool permute_qk = true;                  // as llama.cpp's converter does for "llama"
  std::string architecture;                // "" = dims.family
  std::vector<float> rope_freqs;           // written as rope_freqs.weight when non-empty
  std::string chat_template;               // tokenizer.chat_template when non-empty
};

// Writes a GGUF v3 file with F32 tensors (HF names renamed to GGUF ones).
void WriteGguf(const std::string& path, const TinyDims& dims, const TensorMap& tensors,
               const GgufOptions& options);

}  // namespace kvfunda::testing
