// ResultWriter: the coordinator's one writer thread (group commit).
//
// Every write to the store goes through here. Callers enqueue a WriteBatch and
// either wait for its commit (Submit(): ReportResults, CompleteShard, submitting a
// sweep) or not (Post(): lease grants, heartbeats, events). The thread takes
// everything queued, applies each batch inside its own savepoint of ONE
// transaction and commits once, so 8 workers reporting at once cost one commit.
// A batch that fails (e.g. SQLITE_FULL: "database or disk is full") is undone on
// its own and its caller gets an io Status naming the problem; when SQLite had to
// roll back the whole transaction, or the commit fails, every batch of that
// transaction fails. Nothing partial is ever committed.
//
// Ordering: batches are applied in the order they were enqueued (callers that
// need a row-order guarantee enqueue while holding their own lock).
// Ownership: the Coordinator owns it; borrows the Store, which must outlive it.
// Threading: Submit/Post/Flush are thread-safe; the destructor drains the queue.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "coordinator/base/status.h"
#include "coordinator/store/store.h"

namespace kvfunda {

// What one caller wants written atomically. Applied in this order: extra,
// results, shards, sweep_states, workers, heartbeats, events.
struct WriteBatch {
  std::function<Status(WriteTxn&)> extra;  // e.g. inserting a new sweep; may be empty
  std::vector<ResultRow> results;          // inserted unless already stored
  std::vector<ShardRow> shards;            // upserted
  struct SweepStateChange {
    int64_t sweep_id;
    SweepState state;
    int64_t now_ms;
  };
  std::vector<SweepStateChange> sweep_states;
  std::vector<WorkerRow> workers;  // upserted
  struct Heartbeat {
    std::string worker_id;
    int64_t now_ms;
  };
  std::vector<Heartbeat> heartbeats;
  std::vector<EventRow> events;

  bool empty() const {
    return !extra && results.empty() && shards.empty() && sweep_states.empty() &&
           workers.empty() && heartbeats.empty() && events.empty();
  }
};

struct WriteOutcome {
  Status status;               // OK once committed
  std::vector<bool> inserted;  // per WriteBatch::results entry: newly stored (all false on error)
};

class ResultWriter {
 public:
  // Starts the writer thread.
  explicit ResultWriter(Store& store);
  // Commits everything queued, then stops the thread.
  ~ResultWriter();
  ResultWriter(const ResultWriter&) = delete;
  ResultWriter& operator=(const ResultWriter&) = delete;

  // Enqueues `batch`; the future is ready once it is committed (or failed).
  std::future<WriteOutcome> Submit(WriteBatch batch);
  // Enqueues `batch` without waiting; a failure is logged.
  void Post(WriteBatch batch);
  // Waits until everything enqueued before this call is committed. Errors: the
  // status of this flush's own (empty) transaction.
  Status Flush();

  struct Stats {
    int64_t transactions = 0;     // commits attempted
    int64_t batches = 0;          // batches applied
    int64_t failed_batches = 0;
    int64_t results_inserted = 0;  // new result rows committed
  };
  Stats stats() const;

 private:
  struct Item {
    WriteBatch batch;
    std::promise<WriteOutcome> promise;
    bool wait = false;
  };
  void Run();
  // Applies every item in one transaction and fulfils their promises.
  void Commit(std::vector<Item>& items);

  Store& store_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;  // GUARDED_BY(mu_)
  bool stopping_ = false;   // GUARDED_BY(mu_)
  Stats stats_;             // GUARDED_BY(mu_)
  std::thread thread_;      // started last
};

}  // namespace kvfunda
