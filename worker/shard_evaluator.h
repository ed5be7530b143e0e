// ShardEvaluator: evaluates every (cell, sample) pair of one leased shard.
//
// For each sample of the shard's range it builds the prompt (Task), runs ONE
// prefill that also returns the statistics every cell's method needs, then
// evaluates the full-cache cell and every compressed cell from that prefill
// (each cell gets its own compact cache; cells decode together in batches), scores
// each output, adds the fidelity metrics (compressed vs full-cache output) and hands
// the rows to the sink. Pairs listed in the shard's `done` set are skipped; a sample
// whose pairs are all done is not prefilled at all.
//
// Threading: thread-compatible; one evaluator per worker thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "coordinator/base/status.h"
#include "proto/kvfunda.pb.h"

namespace kvfunda {

class Model;

// Where results go (the worker's reporter; a vector in tests).
class ResultSink {
 public:
  virtual ~ResultSink() = default;
  // Called after each sample with that sample's rows (one per not-yet-done cell).
  // A non-OK status stops the shard with that status.
  virtual Status Report(std::vector<v1::SampleResult> rows) = 0;
  // Samples finished so far in this shard (for heartbeats).
  virtual void Progress(int64_t samples_done) = 0;
  // Checked between samples: true after SIGTERM or a cancel; Run() then returns
  // kCancelled after reporting what it finished.
  virtual bool ShouldStop() = 0;
};

// Keeps the last model loaded (model affinity: the coordinator prefers to send
// shards of this model).
class ModelCache {
 public:
  // num_threads: intra-op threads for the models it loads (0 = all cores).
  explicit ModelCache(int num_threads = 0);
  ~ModelCache();
  // The model at `path`, loading it (and dropping the previous one) when needed.
  // Errors: model-load.
  Result<Model*> Get(const std::string& path, const std::string& checksum);
  // Checksum of the model in memory ("" when none).
  const std::string& loaded_checksum() const { return checksum_; }

 private:
  const int num_threads_;
  std::unique_ptr<Model> model_;
  std::string path_;
  std::string checksum_;
};

struct EvaluatorOptions {
  int max_batch = 16;  // cells decoded together in one batched step
};

class ShardEvaluator {
 public:
  ShardEvaluator(ModelCache& models, EvaluatorOptions options);

  // Evaluates `shard`. Errors carry the FailShard kind in their code: model-load,
  // bad-input, out-of-memory, transient; kCancelled when the sink asked to stop.
  // shard.task_params_json is the task's canonical params; the reserved keys
  // "seed" (the sweep's seed; default decoding.seed) and "data_dir" are taken out
  // for the TaskContext. Every row carries metrics kl_mean, prefix_agree and
  // exact_match (against the full-cache output; see worker/cell_decoder.h) plus
  // the task's own; `reference` is the task's, or the full-cache text when the
  // task has none.
  Status Run(const v1::ShardAssignment& shard, ResultSink& sink);

 private:
  ModelCache& models_;
  EvaluatorOptions options_;
};

}  // namespace kvfunda
