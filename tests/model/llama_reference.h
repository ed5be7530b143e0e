// A deliberately naive Llama forward for tests: a line-by-line transcription of
// llama2.c run.c's forward() in plain C++ loops over a llama2.c checkpoint, one
// token at a time with a full (L x L) attention. It shares no code with
// LlamaModel, so LlamaModel's blockwise prefill, batched decode and statistics can
// be checked against it.
// Threading: free functions; thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "worker/model/llama2c_loader.h"

namespace kvfunda::testing {

struct ReferenceRun {
  int64_t len = 0;
  std::vector<std::vector<float>> logits;  // [L][vocab]: next-token logits after each position
  // attention[layer] = [n_heads, L, L] row-major: softmax weight of query q on key t
  // (0 for keys the query does not see).
  std::vector<std::vector<float>> attention;
  // k[layer], v[layer] = [n_kv_heads, L, head_dim] row-major, k with RoPE applied.
  std::vector<std::vector<float>> k, v;
};

// visible(layer, kv_head, query_pos, key_pos) may hide keys (t <= q) from a query;
// the default shows every causal key.
using KeyFilter = std::function<bool(int layer, int kv_head, int64_t query, int64_t key)>;

ReferenceRun ReferenceForward(const Llama2cCheckpoint& ckpt, const std::vector<int32_t>& tokens,
                              const KeyFilter& visible = nullptr);

}  // namespace kvfunda::testing
