#include "coordinator/core/event_log.h"

#include "coordinator/base/log.h"

namespace kvfunda {

void EventLog::Append(std::optional<int64_t> sweep_id, std::string kind, std::string message) {
  const int64_t now = clock_.NowMs();
  KVF_LOG(kInfo) << (sweep_id ? "sweep " + std::to_string(*sweep_id) + ": " : std::string())
                 << message;
  WriteBatch batch;
  batch.events.push_back(EventRow{0, now, sweep_id, kind, message});
  {
    std::lock_guard<std::mutex> lock(mu_);
    recent_.push_back(LoggedEvent{next_seq_++, now, sweep_id, std::move(kind), std::move(message)});
    while (recent_.size() > capacity_) recent_.pop_front();
  }
  writer_.Post(std::move(batch));
}

std::vector<LoggedEvent> EventLog::Since(uint64_t after_seq,
                                         std::optional<int64_t> sweep_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<LoggedEvent> out;
  for (const LoggedEvent& e : recent_) {
    if (e.seq <= after_seq) continue;
    if (sweep_id && e.sweep_id != sweep_id) continue;
    out.push_back(e);
  }
  return out;
}

uint64_t EventLog::last_seq() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_seq_ - 1;
}

}  // namespace kvfunda
