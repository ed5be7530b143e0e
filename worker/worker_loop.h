// WorkerLoop: the worker process's main loop.
//
// Lifecycle, as numbered steps:
//   1. Register with the coordinator (device, memory, models on disk); on
//      "coordinator away" retry with exponential backoff, forever until stopped.
//   2. Lease a shard, telling the coordinator which model is in memory (affinity).
//      "No work" → wait retry_after_ms (interruptibly) and lease again.
//   3. While the shard runs, a heartbeat thread extends the lease every
//      heartbeat_ms and carries samples done; it learns of cancellation and lost
//      leases from the replies.
//   4. The runner evaluates the shard; rows are reported in batches of at least
//      report_batch rows (and at the end), retried while the coordinator is away.
//   5. Then CompleteShard on success; FailShard(kind, message) on error; on stop
//      (SIGTERM) the current sample is finished, reported, and the lease released;
//      on cancel or a lost lease the shard is dropped (stored rows stay).
//   6. Back to 2 until stop is requested (or, with exit_when_idle, until no work).
//
// Threading: Run() blocks the calling thread and owns one heartbeat thread per
// shard. RequestStop() may be called from any thread (or a signal handler via
// the atomic flag passed in the config).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "coordinator/base/backoff.h"
#include "coordinator/base/status.h"
#include "proto/kvfunda.pb.h"
#include "worker/coordinator_client.h"
#include "worker/shard_evaluator.h"

namespace kvfunda {

struct WorkerConfig {
  std::string name;       // shown in the dashboard
  std::string host;
  std::string device = "cpu";
  int64_t memory_bytes = 0;
  std::vector<std::string> model_paths;  // models this worker can read (advertised)
  int report_batch = 64;                 // rows per ReportResults call (at least)
  BackoffPolicy reconnect{200, 2.0, 5'000};
  // Set (e.g. by a SIGTERM handler) to stop after the current sample.
  std::atomic<bool>* stop = nullptr;
};

// Evaluates one shard into a sink (ShardEvaluator::Run in production).
using ShardRunner = std::function<Status(const v1::ShardAssignment&, ResultSink&)>;
// Checksum of the model in memory ("" when none), for affinity.
using LoadedModelFn = std::function<std::string()>;

class WorkerLoop {
 public:
  WorkerLoop(WorkerConfig config, CoordinatorClient& client, ShardRunner runner,
             LoadedModelFn loaded_model);

  // Runs steps 1–6 until *config.stop is set. Returns OK on a clean stop.
  Status Run();

  int64_t shards_completed() const { return shards_completed_; }

 private:
  Status EnsureRegistered();
  // Runs one leased shard end to end (steps 3–5).
  void RunShard(const v1::ShardAssignment& shard);
  // Sleeps up to ms, waking early on stop. Returns false when stopped.
  bool SleepInterruptibly(int64_t ms);
  bool Stopping() const { return config_.stop != nullptr && config_.stop->load(); }

  // Constant after construction.
  const WorkerConfig config_;
  CoordinatorClient& client_;
  const ShardRunner runner_;
  const LoadedModelFn loaded_model_;

  // Owned by the Run() thread.
  std::string worker_id_;
  int64_t heartbeat_ms_ = 1000;
  int64_t shards_completed_ = 0;
};

}  // namespace kvfunda
