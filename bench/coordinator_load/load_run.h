// LoadRun: one measured configuration of the coordinator load benchmark.
//
// RunLoad() starts a real Coordinator in this process (gRPC on 127.0.0.1:0, HTTP
// off, SQLite in WAL mode in a new file unless told otherwise), submits a
// synthetic `fidelity` sweep through SweepManager::SubmitSpec (one model: a small
// temporary file with random bytes, so every run's cells are new; `full` plus
// `streamingllm` at `ratios` ratios = 1 + ratios cells per shard), registers
// `workers` SimulatedWorkers, releases them together and lets them run for
// `seconds`. Then it flushes the writer and checks that nothing was lost or
// counted twice: the store's new result rows == rows the coordinator answered
// as stored == rows sent, the sweep's in-memory count agrees, and every accepted
// completion is a done shard.
//
// Ownership: values; RunLoad owns the coordinator for the duration of the call.
// Threading: RunLoad blocks its caller and runs one thread per worker.
#pragma once

#include <cstdint>
#include <string>

#include "bench/coordinator_load/latency_recorder.h"
#include "coordinator/base/status.h"
#include "coordinator/core/result_writer.h"

namespace kvfunda::bench {

enum class Transport { kGrpc, kInProcess };

struct LoadConfig {
  std::string label;         // "a", "b", "custom": names the run in tables and files
  int workers = 8;
  double seconds = 5;        // measured window
  int shard_size = 1;        // samples per shard
  int ratios = 0;            // streamingllm ratios; cells per shard = 1 + ratios
  int report_batch = 0;      // rows per ReportResults; 0 = whole shard in one call
  bool heartbeat = true;     // one Heartbeat per cycle
  int prediction_bytes = 32;
  int64_t samples = 0;       // fidelity num_samples; 0 = enough that workers never run out
  // Where the run's fresh database lives: "" = the temp dir, ":memory:", or a
  // directory (e.g. /dev/shm). Each run gets its own new file (an existing file
  // would hold older sweeps, which the scheduler serves first), deleted after it.
  std::string db;
  Transport transport = Transport::kGrpc;
  // Coordinator gRPC sync-server pollers; 0 keeps CoordinatorConfig's defaults.
  int grpc_min_pollers = 0;
  int grpc_max_pollers = 0;
};

struct LoadResult {
  LoadConfig config;
  int cells = 0;
  int64_t shards = 0;       // shards in the sweep
  double submit_s = 0;      // SubmitSpec wall time (plan + store)
  double elapsed_s = 0;     // release of the workers -> last worker stopped
  int64_t cycles = 0;       // accepted completions
  int64_t rows_stored = 0;  // rows the coordinator reported as newly stored
  int64_t rows_sent = 0;
  bool out_of_work = false; // a worker found no shard left (the window ended early)
  LatencyRecorder lease, heartbeat, report, complete, cycle;  // microseconds
  ResultWriter::Stats writer;  // during the window only
  double cpu_user_s = 0, cpu_sys_s = 0;  // this process, during the window
  // CPU time of the simulated workers' own threads (building rows, client-side
  // gRPC work done on the calling thread). The rest of the process CPU is the
  // coordinator plus gRPC's background threads (client and server).
  double worker_threads_cpu_s = 0;
  bool verified = false;
  std::string verify_message;  // what was checked, or what did not add up

  double cycles_per_s() const { return elapsed_s > 0 ? cycles / elapsed_s : 0; }
  double rows_per_s() const { return elapsed_s > 0 ? rows_stored / elapsed_s : 0; }
};

// Runs one configuration; `temp_dir` (existing, writable) receives the model
// file and the default database. Errors: io (store, ports, registering), or the
// sweep was rejected (bad-input, model-load). A failed verification is not an
// error: see LoadResult::verified.
Result<LoadResult> RunLoad(const LoadConfig& config, const std::string& temp_dir);

}  // namespace kvfunda::bench
