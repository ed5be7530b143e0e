// Coordinator: wires the store, the managers and the servers into one process.
//
// Start(): open the store (migrations) -> start the ResultWriter -> load the
// LeaseTable and WorkerRegistry (leased shards get a fresh deadline) -> serve
// gRPC (SweepService + WorkerService) on config.grpc_address and HTTP on
// config.http_host:http_port -> run the expiry thread (every expiry_period_ms).
// Shutdown() stops them in reverse order after flushing every queued write.
//
// Ownership: owns everything it creates; borrows the Clock (must outlive it).
// Threading: Start/Shutdown/Wait from the owning thread (Shutdown may also come
// from a signal-watching thread); the managers are thread-safe.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "coordinator/base/clock.h"
#include "coordinator/base/status.h"
#include "coordinator/core/coordinator_config.h"
#include "coordinator/core/event_log.h"
#include "coordinator/core/lease_table.h"
#include "coordinator/core/result_writer.h"
#include "coordinator/core/sweep_manager.h"
#include "coordinator/core/worker_registry.h"
#include "coordinator/store/store.h"

namespace grpc {
class Server;
}

namespace kvfunda {

class HttpServer;
namespace rpc {
class SweepServiceImpl;
class WorkerServiceImpl;
}  // namespace rpc

class Coordinator {
 public:
  Coordinator(CoordinatorConfig config, const Clock& clock);
  ~Coordinator();  // Shutdown()
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // Errors: io (store, ports in use), invalid-argument (database too new).
  // REQUIRES: called once.
  Status Start();
  // Idempotent; a second caller waits until the first has finished.
  void Shutdown();
  // Blocks until Shutdown() (called by another thread) has finished.
  void Wait();

  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_port_; }  // -1 when HTTP is disabled

  // The managers (valid after Start(); for tests and `kvfunda run`).
  Store& store() { return *store_; }
  ResultWriter& writer() { return *writer_; }
  EventLog& events() { return *events_; }
  LeaseTable& leases() { return *table_; }
  WorkerRegistry& workers() { return *workers_; }
  SweepManager& sweeps() { return *sweeps_; }

 private:
  void ExpiryLoop();

  const CoordinatorConfig config_;
  const Clock& clock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ResultWriter> writer_;
  std::unique_ptr<EventLog> events_;
  std::unique_ptr<LeaseTable> table_;
  std::unique_ptr<WorkerRegistry> workers_;
  std::unique_ptr<SweepManager> sweeps_;
  std::unique_ptr<rpc::SweepServiceImpl> sweep_service_;
  std::unique_ptr<rpc::WorkerServiceImpl> worker_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HttpServer> http_;
  int grpc_port_ = 0;
  int http_port_ = -1;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
  bool stopped_ = false;   // GUARDED_BY(mu_)
  bool started_ = false;   // GUARDED_BY(mu_)
  std::thread expiry_;
};

}  // namespace kvfunda
