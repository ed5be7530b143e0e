// LeaseTable: the coordinator's in-memory table of sweeps, shards and leases,
// and the one state machine that moves shards between states.
//
// The table is loaded from the store at start (Load) and is authoritative while
// the coordinator runs; every transition is written through the ResultWriter
// (enqueued under the table's lock, so the store sees transitions in order).
// For each shard it keeps a bitset of the (cell, sample) pairs already stored,
// so leases (the `done` list), completion checks and progress never query the
// results table. Results are keyed by cell, and cells are shared between sweeps:
// a stored pair marks every shard, of any sweep, that carries it.
//
// Shard states and transitions (attempts = number of leases granted):
//   1. pending  -> leased     Lease(): attempts+1, new lease id, deadline = now + lease_ms.
//                             A pending shard whose pairs are all stored -> done instead.
//   2. leased   -> leased     Heartbeat(): deadline = now + lease_ms, samples_done recorded.
//   3. leased   -> done       Complete() when every (cell, sample) pair is stored.
//   4. leased   -> pending    Complete() with pairs missing, ExpireLeases() after the
//                             deadline, or Fail(TRANSIENT | OUT_OF_MEMORY) with
//                             not_before = now + backoff(attempts-1); each of these
//                             ends an attempt: at max_attempts the shard -> failed.
//   5. leased   -> failed     Fail(MODEL_LOAD | BAD_INPUT), with the worker's message.
//   6. leased   -> pending    Release() (worker shutting down): the attempt is not counted.
//   7. pending | leased -> cancelled   Cancel(); a leased shard keeps its lease id so
//                             the worker's next heartbeat says cancelled.
//   8. failed | cancelled -> pending   Resume(): attempts reset, errors cleared.
// Calls naming a lease that is not the shard's current one (stale or unknown) change
// nothing; results they carry are still stored when they fit the shard.
// On Load, leased shards keep their lease with deadline = now + lease_ms: a live
// worker's heartbeat keeps it, a dead worker's lease expires.
//
// Sweep state: cancelled after Cancel() (until Resume); done when every shard is
// done; failed when every shard ended and at least one failed; running once a
// shard was leased; queued before.
//
// Ownership: the Coordinator owns it; borrows Store, ResultWriter, EventLog, Clock.
// Threading: thread-safe; one mutex guards all state. No store I/O or waiting
// happens under it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "coordinator/base/clock.h"
#include "coordinator/base/status.h"
#include "coordinator/core/coordinator_config.h"
#include "coordinator/core/event_log.h"
#include "coordinator/core/rate_meter.h"
#include "coordinator/core/result_writer.h"
#include "coordinator/core/shard_scheduler.h"
#include "coordinator/core/sweep_planner.h"
#include "coordinator/spec/sweep_spec.h"
#include "coordinator/store/store.h"
#include "proto/kvfunda.pb.h"

namespace kvfunda {

// stored[g][c]: sample indexes already stored for cell c of plan group g.
using StoredSamples = std::vector<std::vector<std::vector<int64_t>>>;

struct ReportOutcome {
  int stored = 0;      // newly stored rows
  int duplicates = 0;  // rows already present
  int rejected = 0;    // rows naming a cell or sample the shard does not carry
};

struct CompleteOutcome {
  bool accepted = false;
  std::string message;
};

struct FailOutcome {
  bool will_retry = false;
  int64_t retry_after_ms = 0;
};

struct HeartbeatOutcome {
  bool lease_valid = false;
  bool cancelled = false;
  int64_t lease_deadline_ms = 0;
};

struct AddSweepOutcome {
  int64_t sweep_id = 0;
  int cells = 0;
  int shards = 0;
  int64_t results_expected = 0;
  int64_t results_reused = 0;
};

class LeaseTable {
 public:
  LeaseTable(const CoordinatorConfig& config, Store& store, ResultWriter& writer,
             EventLog& events, const Clock& clock);
  ~LeaseTable();
  LeaseTable(const LeaseTable&) = delete;
  LeaseTable& operator=(const LeaseTable&) = delete;

  // ---- start-up
  // Loads every sweep, shard and stored pair from the store. Leased shards keep
  // their lease with deadline = now + lease_ms. REQUIRES: called once, before
  // any other method. Errors: io, corruption.
  Status Load();

  // ---- sweeps (SweepManager)
  // Stores a new sweep (sweep row, cells, groups, shards) in one transaction and
  // starts scheduling it. `sweep.id` is assigned here. Shards whose pairs are all
  // in `stored` are created done. Errors: io (nothing is registered then).
  Result<AddSweepOutcome> AddSweep(SweepRow sweep, const SweepPlan& plan,
                                   const StoredSamples& stored);
  // Returns the number of shards cancelled. Errors: not-found.
  Result<int> Cancel(int64_t sweep_id);
  // Returns the number of shards re-queued. Errors: not-found.
  Result<int> Resume(int64_t sweep_id);
  // Errors: not-found.
  Result<v1::SweepStatus> GetStatus(int64_t sweep_id) const;
  // Every sweep, oldest first.
  std::vector<v1::SweepStatus> GetStatusAll() const;

  // ---- workers (WorkerService). `worker_id` is recorded as the lease owner.
  // A shard for the worker, or nullopt with *retry_after_ms set.
  std::optional<v1::ShardAssignment> Lease(const std::string& worker_id,
                                           const std::string& loaded_model_checksum,
                                           int64_t* retry_after_ms);
  HeartbeatOutcome Heartbeat(const std::string& lease_id, int64_t samples_done);
  // Validates each row against the lease's shard (or, for an unknown lease, any
  // registered sweep carrying the cell), stores the valid ones and waits for the
  // commit. Errors: io (nothing of this batch stored).
  using SampleResults = google::protobuf::RepeatedPtrField<v1::SampleResult>;
  Result<ReportOutcome> Report(const std::string& worker_id, const std::string& lease_id,
                               const SampleResults& rows);
  // Waits for the commit of the new state. Errors: io.
  Result<CompleteOutcome> Complete(const std::string& lease_id);
  // Errors: io.
  Result<FailOutcome> Fail(const std::string& lease_id, v1::ErrorKind kind,
                           const std::string& message);
  // Returns the shard to pending without counting the attempt (stale: no-op).
  void Release(const std::string& lease_id);
  // Returns expired leases to pending (or failed at max_attempts); the number expired.
  int ExpireLeases();

  // For tests and the dashboard: the shard's row as the table holds it.
  std::optional<ShardRow> ShardForTest(int64_t shard_id) const;

 private:
  struct Sweep;
  struct Group;
  struct Shard {
    ShardRow row;
    Group* group = nullptr;
    Sweep* sweep = nullptr;
    std::vector<uint64_t> bits;  // [cells x samples]: bit c * samples + (s - begin)
    int64_t stored = 0;
    int64_t expected = 0;  // cells x samples
    int64_t samples() const { return row.sample_end - row.sample_begin; }
    bool complete() const { return stored == expected; }
  };
  struct Group {
    GroupRow row;
    Sweep* sweep = nullptr;
    std::vector<v1::Cell> cells;
    std::unordered_map<std::string, int> cell_index;
    std::vector<Shard*> shards;  // ordered by sample_begin; each shard_size long but the last
  };
  struct Sweep {
    SweepRow row;
    DecodingSpec decoding;
    std::vector<std::unique_ptr<Group>> groups;
    std::vector<std::unique_ptr<Shard>> shards;  // by id
    int counts[5] = {0, 0, 0, 0, 0};  // shards per ShardState
    bool started = false;             // a shard was leased or finished
    bool cancelled = false;           // Cancel() until Resume()
    bool active = false;              // indexed and schedulable
    int64_t cells = 0;
    int64_t results_expected = 0;
    int64_t results_stored = 0;
    RateMeter rate;
  };

  // All *Locked methods REQUIRE mu_ held.
  Sweep* FindSweepLocked(int64_t sweep_id) const;
  Shard* FindShardLocked(int64_t shard_id) const;
  // The shard whose CURRENT lease is `lease_id` and is leased, else nullptr.
  Shard* ActiveLeaseLocked(const std::string& lease_id) const;
  // Moves the shard to `state`, keeping counts, the scheduler and the leased set in step.
  void SetStateLocked(Shard& s, ShardState state);
  // Marks (cell, sample) stored in every shard carrying it (idempotent); newly
  // set pairs count at `now_ms` in their sweeps' rate meters (not when now_ms < 0).
  void MarkStoredLocked(const std::string& cell_id, int64_t sample_idx, int64_t now_ms);
  // Persists the shard's row (asynchronously, in order).
  void PersistLocked(const Shard& s);
  // Recomputes the sweep's state and persists/logs a change.
  void UpdateSweepStateLocked(Sweep& sw);
  SweepState ComputeStateLocked(const Sweep& sw) const;
  // Ends the current attempt unsuccessfully: pending (not before not_before_ms) or,
  // at max_attempts, failed. Returns true when it will be retried.
  bool EndAttemptLocked(Shard& s, const std::string& kind, const std::string& error,
                        int64_t not_before_ms);
  // Builds the sweep runtime from rows (Load and AddSweep).
  static Result<std::unique_ptr<Sweep>> BuildSweep(const SweepRow& row,
                                                   const std::vector<GroupRow>& groups,
                                                   const std::vector<SweepCellRow>& cells,
                                                   const std::vector<ShardRow>& shards);
  // Sets one bit of a shard; returns true when it was new (no cross-sweep marking).
  static bool SetBit(Shard& s, int cell_idx, int64_t sample_idx);
  // Adds the sweep's cells and shards to the indexes (reports start marking it).
  void IndexSweepLocked(Sweep& sw);
  // Reads the stored samples of every cell of `sweeps` and marks them.
  // REQUIRES: mu_ NOT held. Errors: io.
  Status CatchUpStored(const std::vector<int64_t>& sweep_ids);
  void ActivateLocked(Sweep& sw);
  std::string NewLeaseIdLocked(int64_t shard_id, int attempt);
  v1::SweepStatus StatusLocked(const Sweep& sw) const;

  // ---- constant after construction
  const CoordinatorConfig config_;
  Store& store_;
  ResultWriter& writer_;
  EventLog& events_;
  const Clock& clock_;

  // ---- guarded by mu_
  mutable std::mutex mu_;
  std::map<int64_t, std::unique_ptr<Sweep>> sweeps_;
  std::unordered_map<int64_t, Shard*> shards_;  // owned by their Sweep
  // cell id -> (group, cell index) of every group carrying it
  std::unordered_map<std::string, std::vector<std::pair<Group*, int>>> cells_;
  std::unordered_set<Shard*> leased_;
  ShardScheduler scheduler_;
  int64_t next_sweep_id_ = 1;
  int64_t next_shard_id_ = 1;
  std::mt19937_64 rng_;
};

}  // namespace kvfunda
