// CoordinatorConfig: every tunable of the coordinator in one place.
//
// Filled from flags in main (coordinator/cli/) and passed by value to the
// Coordinator, which hands the relevant fields to each manager. Times are ms.
// Threading: a value; immutable once the coordinator starts.
#pragma once

#include <cstdint>
#include <string>

#include "coordinator/base/backoff.h"
#include "coordinator/store/store.h"

namespace kvfunda {

struct CoordinatorConfig {
  // ---- store
  std::string db_path = "kvfunda.db";  // ":memory:" for tests
  StoreOptions store;

  // ---- leases and retries
  int64_t lease_ms = 30'000;         // a lease lasts this long without a heartbeat
  int64_t heartbeat_ms = 5'000;      // heartbeat period suggested to workers
  int64_t expiry_period_ms = 1'000;  // how often expired leases are collected
  int64_t idle_retry_ms = 1'000;     // "no work now, retry after" sent to idle workers
  // Delay before a transiently failed shard may be leased again: initial * mult^(attempt-1).
  BackoffPolicy retry_backoff{2'000, 2.0, 60'000};
  // A worker is shown as alive while its last heartbeat is younger than this.
  int64_t worker_alive_ms = 30'000;

  // ---- sweeps
  // The datasets folder used when a spec names none (sent to workers in the
  // assignment's task_params_json as "data_dir").
  std::string default_data_dir;

  // ---- servers
  std::string grpc_address = "0.0.0.0:50051";  // host:port; port 0 picks a free one
  std::string http_host = "127.0.0.1";
  int http_port = 8080;                         // 0 picks a free one; -1 disables HTTP
  // When non-empty, every gRPC call must carry "authorization: Bearer <auth_token>".
  std::string auth_token;
  int max_message_bytes = 64 << 20;  // largest gRPC message accepted (result batches)
  // gRPC sync-server polling threads (ServerBuilder::SetSyncServerOption). A
  // handler that waits for a commit holds its thread; with gRPC's defaults (1 to 2
  // pollers) a thread that finishes a call while 2 others poll exits, so a busy
  // server created and ended about one thread per call. Idle pollers above
  // max exit. bench/coordinator_load measured +12-21% lease cycles/s with these.
  int grpc_min_pollers = 2;
  int grpc_max_pollers = 64;
  int64_t watch_poll_ms = 200;       // WatchSweep checks for changes this often
};

}  // namespace kvfunda
