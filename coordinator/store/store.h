// Store: kvfunda's durable state in one SQLite file (schemas/*.sql).
//
// Open() applies the embedded numbered migrations and sets the connection up:
// WAL journal (a file database), synchronous=NORMAL by default, a busy timeout and
// foreign keys. Writes go through Write(), one IMMEDIATE transaction per call; in
// the coordinator the only caller is the ResultWriter thread, which groups many
// requests into one call. Reads use a second connection (a file database in WAL
// mode lets them run beside a write transaction); an in-memory database has one
// connection, so its reads wait for a running write.
//
// Ownership: the coordinator owns one Store; the managers borrow it.
// Threading: thread-safe. Write() calls are serialised; reads are serialised
// among themselves (one read connection).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/base/status.h"
#include "coordinator/store/migrations.h"
#include "coordinator/store/rows.h"
#include "coordinator/store/sqlite_db.h"

namespace kvfunda {

struct StoreOptions {
  std::string synchronous = "NORMAL";  // OFF | NORMAL | FULL | EXTRA (PRAGMA synchronous)
  int busy_timeout_ms = 10'000;        // wait this long for another process's lock
  // Open without writing (no migrations; the schema must be the binary's newest).
  bool read_only = false;
  // The migrations to apply; the embedded schemas/*.sql when unset (tests pass a subset).
  std::optional<std::vector<Migration>> migrations;
};

// The write operations, valid inside Store::Write() only (writer thread).
class WriteTxn {
 public:
  explicit WriteTxn(sqlite::SqliteDb& db) : db_(db) {}

  // Inserts unless (cell_id, sample_idx) is already stored. Returns true when
  // the row was new. Errors: io (disk full, unknown cell_id: foreign key).
  Result<bool> InsertResult(const ResultRow& row);
  // REQUIRES: row.id is unused.
  Status InsertSweep(const SweepRow& row);
  Status UpdateSweepState(int64_t sweep_id, SweepState state, int64_t now_ms);
  // No-op when the cell exists (cells are shared between sweeps).
  Status InsertCell(const CellRow& row, int64_t now_ms);
  Status InsertGroup(const GroupRow& row);
  Status InsertSweepCell(int64_t sweep_id, const std::string& cell_id, int group_idx,
                         int cell_idx);
  // Inserts or replaces the shard's row.
  Status UpsertShard(const ShardRow& row);
  Status UpsertWorker(const WorkerRow& row);
  Status UpdateWorkerHeartbeat(const std::string& worker_id, int64_t now_ms);
  Status InsertEvent(const EventRow& row);
  Status PutModelChecksum(const std::string& path, int64_t size, int64_t mtime_ns,
                          const std::string& sha256, int64_t now_ms);

  // Runs `fn` inside a savepoint: when it fails its writes are undone and the
  // enclosing transaction goes on. Returns fn's status.
  Status Savepoint(const std::function<Status()>& fn);
  // False once SQLite has rolled the whole transaction back by itself (after
  // some errors, e.g. SQLITE_FULL); no further write may then be attempted.
  bool active() const { return !sqlite3_get_autocommit(db_.raw()); }

 private:
  sqlite::SqliteDb& db_;
};

class Store {
 public:
  // Opens (creating when missing) `path`, or ":memory:". `now_ms` stamps applied
  // migrations. Errors: io (cannot open, a migration failed), invalid-argument (the
  // database is newer than this binary, or read_only on an older one).
  static Result<std::unique_ptr<Store>> Open(const std::string& path,
                                             const StoreOptions& options, int64_t now_ms);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const std::string& path() const { return path_; }
  int schema_version() const { return schema_version_; }

  // Runs `fn` in one IMMEDIATE transaction; commits when it returns OK, rolls
  // back otherwise (nothing partial is committed). Errors: fn's status, or io
  // from BEGIN/COMMIT (e.g. "database or disk is full").
  // REQUIRES: not read_only.
  Status Write(const std::function<Status(WriteTxn&)>& fn);

  // ---- reads (every call sees the last committed state)
  Result<std::vector<SweepRow>> LoadSweeps();
  Result<std::optional<SweepRow>> LoadSweep(int64_t sweep_id);
  Result<std::vector<GroupRow>> LoadGroups();
  // Ordered by (sweep_id, group_idx, cell_idx).
  Result<std::vector<SweepCellRow>> LoadSweepCells();
  Result<std::vector<ShardRow>> LoadShards();
  Result<std::vector<WorkerRow>> LoadWorkers();
  // Sample indexes stored for `cell_id` in [begin, end), ascending.
  Result<std::vector<int64_t>> StoredSamples(const std::string& cell_id, int64_t begin,
                                             int64_t end);
  // Every stored result row, for tests and exports.
  Result<int64_t> CountResults();
  // Events after `after_id` (oldest first), of one sweep or of all when unset.
  Result<std::vector<EventRow>> Events(std::optional<int64_t> sweep_id, int64_t after_id,
                                       int limit);
  // One row per cell of the sweep, with its stored results aggregated (only
  // samples within the sweep's range count). Ordered as the sweep's cells.
  Result<std::vector<CellSummaryRow>> SummarizeSweep(int64_t sweep_id);
  // Calls `fn` for each stored result of the sweep (cells in order, samples
  // ascending). Stops at and returns fn's first error.
  Status ForEachResult(int64_t sweep_id,
                       const std::function<Status(const SweepCellRow&, const ResultRow&)>& fn);
  // The cached checksum of `path` when its size and mtime match.
  Result<std::optional<std::string>> CachedChecksum(const std::string& path, int64_t size,
                                                    int64_t mtime_ns);

  // Runs raw SQL on the write connection (fault injection in tests).
  Status TEST_Exec(const std::string& sql);

 private:
  Store() = default;
  // The read connection and its lock (the write connection for ":memory:").
  struct Reader {
    std::unique_lock<std::mutex> lock;
    sqlite::SqliteDb* db;
  };
  Reader LockReader();

  std::string path_;
  int schema_version_ = 0;
  bool read_only_ = false;
  std::mutex write_mu_;
  std::unique_ptr<sqlite::SqliteDb> writer_;  // GUARDED_BY(write_mu_)
  std::mutex read_mu_;
  std::unique_ptr<sqlite::SqliteDb> reader_;  // GUARDED_BY(read_mu_); null for ":memory:"
};

}  // namespace kvfunda
