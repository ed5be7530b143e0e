// llama2c loader: reads and validates a llama2.c checkpoint (karpathy's "legacy"
// export, version 0) into one fp32 buffer plus the location of each weight.
//
// File layout: 7 little-endian int32 (dim, hidden_dim, n_layers, n_heads,
// n_kv_heads, vocab_size, seq_len; a negative vocab_size means the classifier is
// stored separately, a positive one that it is tied to the token embedding), then
// fp32 weights in this order: token_embedding [vocab, dim], rms_att [layers, dim],
// wq [layers, dim, dim], wk [layers, kv_dim, dim], wv [layers, kv_dim, dim],
// wo [layers, dim, dim], rms_ffn [layers, dim], w1 [layers, hidden, dim],
// w2 [layers, dim, hidden], w3 [layers, hidden, dim], rms_final [dim],
// freq_cis_real and freq_cis_imag [seq_len, head_dim / 2] each (unused: RoPE is
// recomputed), then wcls [vocab, dim] only when unshared. Matrices are [out, in],
// row-major (y = W x). kv_dim = n_kv_heads * head_dim, head_dim = dim / n_heads.
//
// This file is torch-free; LlamaModel turns the buffer into tensors.
// Threading: free functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "coordinator/base/status.h"

namespace kvfunda {

// The 7-int32 header as stored (vocab_size may be negative).
struct Llama2cHeader {
  int32_t dim = 0;
  int32_t hidden_dim = 0;
  int32_t n_layers = 0;
  int32_t n_heads = 0;
  int32_t n_kv_heads = 0;
  int32_t vocab_size = 0;  // < 0: unshared classifier (wcls stored at the end)
  int32_t seq_len = 0;
};

// A float range [offset, offset + count) of Llama2cCheckpoint::data.
struct WeightRange {
  size_t offset = 0;
  size_t count = 0;
};

struct Llama2cCheckpoint {
  Llama2cHeader header;     // as stored
  int32_t vocab_size = 0;   // |header.vocab_size|
  int32_t head_dim = 0;     // dim / n_heads
  bool shared_classifier = true;
  std::vector<float> data;  // every float after the header, in file order
  WeightRange token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, wcls;
};

// Checks the header for sane, consistent dimensions. `path` only names the file in
// the message. Errors: model-load ("<path>: n_heads 8 is not a multiple of n_kv_heads 3").
Status ValidateLlama2cHeader(const Llama2cHeader& header, const std::string& path);

// Exact file size in bytes implied by a valid header (header + all weights).
// REQUIRES: ValidateLlama2cHeader(header) is OK.
int64_t Llama2cFileBytes(const Llama2cHeader& header);

// Reads and validates the checkpoint at `path`. Reads at most the file's size; never
// allocates more than the header implies after the size check.
// Errors: model-load naming the file: missing/unreadable, shorter than the header,
// invalid header, size not equal to what the header implies, read failure.
Result<Llama2cCheckpoint> LoadLlama2cCheckpoint(const std::string& path);

}  // namespace kvfunda
