// HttpServer: the dashboard and its JSON API (cpp-httplib), served by the coordinator.
//
// Routes (all GET):
//   /                      dashboard/index.html (embedded at build time)
//   /<file>                another embedded dashboard asset (.html, .js, .css)
//   /healthz               "ok"
//   /api/sweeps            {"sweeps": [SweepStatus...]}  (proto JSON, snake_case names)
//   /api/sweeps/{id}       SweepStatus, 404 when unknown
//   /api/sweeps/{id}/cells per-cell summary of stored results
//   /api/workers           registered workers with liveness
//   /api/events?sweep=&after=&limit=   the event log, oldest first
// Errors are {"error": message} with a 4xx/5xx code.
//
// Ownership: the Coordinator owns it; borrows the managers and the store.
// Threading: Start/Stop from one thread; requests are served by httplib's pool.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "coordinator/base/status.h"
#include "coordinator/core/event_log.h"
#include "coordinator/core/sweep_manager.h"
#include "coordinator/core/worker_registry.h"
#include "coordinator/store/store.h"

namespace httplib {
class Server;
}

namespace kvfunda {

class HttpServer {
 public:
  HttpServer(SweepManager& sweeps, WorkerRegistry& workers, Store& store);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port (port 0 picks a free one) and serves from a thread. Returns
  // once the server accepts connections, with the bound port. Errors: io.
  Result<int> Start(const std::string& host, int port);
  // Stops serving and joins the thread. Idempotent.
  void Stop();

 private:
  void Routes();
  SweepManager& sweeps_;
  WorkerRegistry& workers_;
  Store& store_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace kvfunda
