// WorkerRegistry: the workers the coordinator knows, and their liveness.
//
// Register() gives a worker an id ("w1", "w2", ...; persisted, so ids survive a
// coordinator restart and a worker need not register again). Heartbeats update
// last_heartbeat_ms in memory at once and in the store at most every
// heartbeat_ms (the dashboard shows liveness: alive while the last heartbeat is
// younger than worker_alive_ms).
//
// Ownership: the Coordinator owns it; borrows the Store (loading), the
// ResultWriter and the Clock.
// Threading: thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/base/clock.h"
#include "coordinator/base/status.h"
#include "coordinator/core/coordinator_config.h"
#include "coordinator/core/event_log.h"
#include "coordinator/core/result_writer.h"
#include "coordinator/store/store.h"

namespace kvfunda {

struct WorkerInfo {
  WorkerRow row;
  bool alive = false;
};

class WorkerRegistry {
 public:
  WorkerRegistry(const CoordinatorConfig& config, ResultWriter& writer, EventLog& events,
                 const Clock& clock)
      : config_(config), writer_(writer), events_(events), clock_(clock) {}

  // Loads the known workers. REQUIRES: called once before the others. Errors: io.
  Status Load(Store& store);
  // Registers a worker (`row.id` and times are assigned) and waits until it is
  // stored. Returns the id. Errors: io.
  Result<std::string> Register(WorkerRow row);
  // Records a heartbeat; false when the id is unknown (the worker must register).
  bool Heartbeat(const std::string& worker_id);
  bool Known(const std::string& worker_id) const;
  // Every worker, in registration order, with liveness at now.
  std::vector<WorkerInfo> List() const;

 private:
  struct Entry {
    WorkerRow row;
    int64_t persisted_heartbeat_ms = 0;
  };
  const CoordinatorConfig config_;
  ResultWriter& writer_;
  EventLog& events_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> workers_;  // GUARDED_BY(mu_)
  std::vector<std::string> order_;        // GUARDED_BY(mu_)
  int64_t next_id_ = 1;                   // GUARDED_BY(mu_)
};

}  // namespace kvfunda
