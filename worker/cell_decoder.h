// CellDecoder: decodes the cells of one sample from its one shared prefill.
//
// First the full-cache reference: the continuation of the full prefill cache,
// with the next-token log-probabilities of every step. Then the compressed cells:
// each cache decodes its own continuation, and the cells advance together in
// batched Model::DecodeStep calls (at most max_batch sequences per call; finished
// sequences drop out). Alongside, the compressed caches are teacher-forced along
// the reference continuation to measure the mean KL(full || compressed) of the
// next-token distributions. A cell's own continuation and its teacher-forced run
// are the same sequence until its first divergence from the reference; only then
// does a copy of its cache split off to follow the reference (so a cell that
// reproduces the reference costs one sequence, not two).
//
// As in KVCache-Factory, compression acts after the prefill forward: every cell's
// first token comes from the full prefill logits; later tokens see only the
// cell's kept entries plus what it decoded.
//
// Decoding: greedy when temperature is 0; otherwise temperature + top-p sampling
// where every cell draws from its own RNG seeded with the same `seed`, so a cell
// whose logits equal the full cache's draws the same tokens. EOS ends a sequence
// and is not part of Generation::tokens.
//
// Threading: thread-compatible; one decoder per worker thread, using its model.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "coordinator/base/status.h"
#include "worker/model/kv_cache.h"
#include "worker/model/model.h"
#include "worker/tasks/task.h"

namespace kvfunda {

struct DecodeSettings {
  int32_t max_new_tokens = 64;  // REQUIRES: >= 1
  double temperature = 0;       // 0 = greedy
  double top_p = 1.0;           // REQUIRES: (0, 1] when sampling
  uint64_t seed = 0;            // this sample's decoding seed (same for every cell)
  int max_batch = 16;           // sequences per DecodeStep call; REQUIRES: >= 1
};

struct CellRun {
  Generation generation;
  // Mean over the reference's predictions of KL(full || this cell), nats; 0 for
  // the reference itself.
  double kl_mean = 0;
  // Reference only: log-probabilities of each prediction along the continuation,
  // [steps][vocab] where steps = tokens + 1 when EOS ended it, else tokens.
  std::vector<std::vector<double>> log_probs;
  int64_t kv_bytes_peak = 0;   // the cell's cache, largest and last BytesAllocated()
  int64_t kv_bytes_final = 0;
  double decode_ms = 0;        // this cell's share of the batched decode steps
};

class CellDecoder {
 public:
  // `model` must outlive the decoder.
  CellDecoder(Model& model, DecodeSettings settings);

  // Decodes the full-cache reference from `cache` (consumed).
  //   prefill_logits: [vocab] float, the logits after the prompt.
  // Errors: the model's (out-of-memory, ...); invalid-argument for bad settings.
  Result<CellRun> DecodeReference(KvCache cache, const at::Tensor& prefill_logits);

  // Decodes each of `caches` (consumed; compact compressed caches of the same
  // prompt) and measures it against `reference` (from DecodeReference with the
  // same prefill). Returns one CellRun per cache, in order.
  // Errors: as DecodeReference; internal when an invariant fails.
  Result<std::vector<CellRun>> DecodeCells(std::vector<KvCache> caches,
                                           const at::Tensor& prefill_logits,
                                           const CellRun& reference);

 private:
  Result<std::vector<CellRun>> Run(std::vector<KvCache> caches, const at::Tensor& prefill_logits,
                                   const CellRun* reference);

  Model& model_;
  const DecodeSettings settings_;
};

}  // namespace kvfunda
