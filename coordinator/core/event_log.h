// EventLog: the coordinator's append-only log of things a user wants to see
// ("sweep 3 submitted", "shard 7 failed (model-load): ...", "lease of shard 2
// expired (worker w1 lost)"). Events go to the store's events table (the
// dashboard reads them) through the ResultWriter, and the last `capacity` stay in
// memory for WatchSweep and the dashboard's live view. Routine lease grants and
// completions are not events (they would flood the table).
//
// Ownership: the Coordinator owns it; borrows the ResultWriter.
// Threading: thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/base/clock.h"
#include "coordinator/core/result_writer.h"

namespace kvfunda {

struct LoggedEvent {
  uint64_t seq = 0;  // increasing within this process
  int64_t ts_ms = 0;
  std::optional<int64_t> sweep_id;
  std::string kind;
  std::string message;
};

class EventLog {
 public:
  EventLog(ResultWriter& writer, const Clock& clock, size_t capacity = 2000)
      : writer_(writer), clock_(clock), capacity_(capacity) {}

  // Appends (stored asynchronously; also logged at info level).
  void Append(std::optional<int64_t> sweep_id, std::string kind, std::string message);

  // In-memory events with seq > after_seq, of `sweep_id` (or all when unset), oldest first.
  std::vector<LoggedEvent> Since(uint64_t after_seq, std::optional<int64_t> sweep_id) const;
  // The newest seq so far (0 when none).
  uint64_t last_seq() const;

 private:
  ResultWriter& writer_;
  const Clock& clock_;
  const size_t capacity_;
  mutable std::mutex mu_;
  std::deque<LoggedEvent> recent_;  // GUARDED_BY(mu_)
  uint64_t next_seq_ = 1;           // GUARDED_BY(mu_)
};

}  // namespace kvfunda
