#include "coordinator/core/worker_registry.h"

#include <algorithm>

namespace kvfunda {

Status WorkerRegistry::Load(Store& store) {
  KVF_ASSIGN_OR_RETURN(std::vector<WorkerRow> rows, store.LoadWorkers());
  std::lock_guard<std::mutex> lock(mu_);
  for (WorkerRow& r : rows) {
    if (r.id.size() > 1 && r.id[0] == 'w') {
      int64_t n = std::strtoll(r.id.c_str() + 1, nullptr, 10);
      next_id_ = std::max(next_id_, n + 1);
    }
    order_.push_back(r.id);
    const std::string id = r.id;
    const int64_t hb = r.last_heartbeat_ms;
    workers_[id] = Entry{std::move(r), hb};
  }
  return Status::Ok();
}

Result<std::string> WorkerRegistry::Register(WorkerRow row) {
  const int64_t now = clock_.NowMs();
  std::future<WriteOutcome> committed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    row.id = "w" + std::to_string(next_id_++);
    row.registered_ms = row.last_heartbeat_ms = now;
    WriteBatch b;
    b.workers.push_back(row);
    committed = writer_.Submit(std::move(b));
    order_.push_back(row.id);
    workers_[row.id] = Entry{row, now};
  }
  KVF_RETURN_IF_ERROR(committed.get().status);
  events_.Append(std::nullopt, "worker-registered",
                 "worker " + row.id + " registered: " + row.name + " (" + row.device + " on " +
                     row.host + ")");
  return row.id;
}

bool WorkerRegistry::Heartbeat(const std::string& worker_id) {
  const int64_t now = clock_.NowMs();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = workers_.find(worker_id);
  if (it == workers_.end()) return false;
  it->second.row.last_heartbeat_ms = now;
  if (now - it->second.persisted_heartbeat_ms >= config_.heartbeat_ms) {
    it->second.persisted_heartbeat_ms = now;
    WriteBatch b;
    b.heartbeats.push_back({worker_id, now});
    writer_.Post(std::move(b));
  }
  return true;
}

bool WorkerRegistry::Known(const std::string& worker_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return workers_.count(worker_id) > 0;
}

std::vector<WorkerInfo> WorkerRegistry::List() const {
  const int64_t now = clock_.NowMs();
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<WorkerInfo> out;
  for (const std::string& id : order_) {
    const Entry& e = workers_.at(id);
    out.push_back(WorkerInfo{e.row, now - e.row.last_heartbeat_ms < config_.worker_alive_ms});
  }
  return out;
}

}  // namespace kvfunda
