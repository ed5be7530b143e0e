// SimulatedWorker: one fake kvfunda worker that drives the WorkerService as fast
// as it can, without evaluating anything.
//
// Register() once, then Run() loops until `stop_at`:
//   Lease -> (one Heartbeat) -> ReportResults with every (cell, sample) row of the
//   shard not listed in `done`, in batches of `report_batch` rows -> CompleteShard.
// Rows are synthetic but well formed (the assignment's cell ids, sample indexes in
// the shard's range, a few metrics, a short prediction). Each RPC's latency and
// each whole cycle's latency (Lease sent -> CompleteShard answered) are recorded.
// A lease answered with "retry after" means the sweep has no pending shard left:
// the worker stops and sets `out_of_work`.
//
// Ownership: owns its LoadClient and its stats.
// Threading: thread-compatible; Run() on one thread, stats() read after it returns.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "bench/coordinator_load/latency_recorder.h"
#include "bench/coordinator_load/load_client.h"
#include "coordinator/base/status.h"

namespace kvfunda::bench {

struct WorkerOptions {
  std::string name;          // sent in Register
  int report_batch = 0;      // rows per ReportResults call; 0 = the whole shard in one call
  bool heartbeat = true;     // one Heartbeat per cycle, between Lease and the first report
  int prediction_bytes = 32; // length of each row's synthetic prediction text
};

struct WorkerStats {
  int64_t cycles = 0;            // shards completed and accepted
  int64_t rows_sent = 0;         // rows in ReportResults requests
  int64_t rows_stored = 0;       // sum of ReportResultsReply.stored
  int64_t duplicates = 0;        // sum of ReportResultsReply.duplicates
  int64_t rejected = 0;          // sum of ReportResultsReply.rejected
  int64_t complete_refused = 0;  // CompleteShard answered accepted = false
  int64_t heartbeats_invalid = 0;
  int64_t rpc_errors = 0;        // calls that did not return OK
  std::string first_error;       // the first failure, for the report
  bool out_of_work = false;
  std::chrono::steady_clock::time_point finished;  // when Run() returned
  double thread_cpu_s = 0;       // CPU time of the thread that ran Run()
  LatencyRecorder lease, heartbeat, report, complete, cycle;  // microseconds
};

class SimulatedWorker {
 public:
  SimulatedWorker(std::unique_ptr<LoadClient> client, WorkerOptions options);

  // Registers with the coordinator. Errors: io naming the gRPC failure.
  Status Register();
  // REQUIRES: Register() succeeded. Runs cycles until `stop_at` (a cycle in
  // progress is finished), the sweep runs out of shards, or an RPC fails.
  void Run(std::chrono::steady_clock::time_point stop_at);

  const WorkerStats& stats() const { return stats_; }

 private:
  // One lease-report-complete cycle. Returns false when the loop must stop.
  bool Cycle();
  void Failed(const char* rpc, const grpc::Status& status);

  std::unique_ptr<LoadClient> client_;
  const WorkerOptions options_;
  std::string worker_id_;
  std::string prediction_;
  WorkerStats stats_;
};

}  // namespace kvfunda::bench
