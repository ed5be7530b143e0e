#include "coordinator/store/store.h"

#include <algorithm>
#include <cctype>

namespace kvfunda {
namespace {

bool IsMemoryPath(const std::string& path) {
  return path == ":memory:" || path.empty();
}

Status Configure(sqlite::SqliteDb& db, const StoreOptions& o, bool memory, bool read_only) {
  std::string sync = o.synchronous;
  std::transform(sync.begin(), sync.end(), sync.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (sync != "OFF" && sync != "NORMAL" && sync != "FULL" && sync != "EXTRA") {
    return Status::InvalidArgument("store synchronous mode '" + o.synchronous +
                                   "' is not OFF, NORMAL, FULL or EXTRA");
  }
  KVF_RETURN_IF_ERROR(
      db.Exec("PRAGMA busy_timeout = " + std::to_string(o.busy_timeout_ms), "busy_timeout"));
  KVF_RETURN_IF_ERROR(db.Exec("PRAGMA foreign_keys = ON", "foreign_keys"));
  if (!memory && !read_only) {
    KVF_RETURN_IF_ERROR(db.Exec("PRAGMA journal_mode = WAL", "journal_mode=WAL"));
  }
  KVF_RETURN_IF_ERROR(db.Exec("PRAGMA synchronous = " + sync, "synchronous"));
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const std::string& path, const StoreOptions& options,
                                           int64_t now_ms) {
  std::unique_ptr<Store> store(new Store());
  store->path_ = IsMemoryPath(path) ? ":memory:" : path;
  store->read_only_ = options.read_only;
  const bool memory = store->path_ == ":memory:";
  std::vector<Migration> migrations;
  if (options.migrations) {
    migrations = *options.migrations;
  } else {
    KVF_ASSIGN_OR_RETURN(migrations, EmbeddedMigrations());
  }
  const int newest = migrations.empty() ? 0 : migrations.back().version;
  const int base_flags = SQLITE_OPEN_NOMUTEX;

  if (options.read_only) {
    if (memory) return Status::InvalidArgument("a read-only store needs a database file");
    KVF_ASSIGN_OR_RETURN(store->reader_,
                         sqlite::SqliteDb::Open(store->path_, base_flags | SQLITE_OPEN_READONLY));
    KVF_RETURN_IF_ERROR(Configure(*store->reader_, options, false, true));
    KVF_ASSIGN_OR_RETURN(int version, SchemaVersion(*store->reader_));
    if (version != newest) {
      return Status::InvalidArgument(
          "database " + path + " has schema version " + std::to_string(version) +
          " but this kvfunda reads version " + std::to_string(newest) +
          (version < newest ? "; open it once with the coordinator to migrate it"
                            : "; use a newer kvfunda binary"));
    }
    store->schema_version_ = version;
    return store;
  }

  const int rw = base_flags | SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  KVF_ASSIGN_OR_RETURN(store->writer_, sqlite::SqliteDb::Open(store->path_, rw));
  KVF_RETURN_IF_ERROR(Configure(*store->writer_, options, memory, false));
  KVF_ASSIGN_OR_RETURN(store->schema_version_,
                       ApplyMigrations(*store->writer_, migrations, now_ms));
  if (!memory) {
    KVF_ASSIGN_OR_RETURN(store->reader_, sqlite::SqliteDb::Open(store->path_, rw));
    KVF_RETURN_IF_ERROR(Configure(*store->reader_, options, memory, false));
  }
  return store;
}

Store::~Store() = default;

Store::Reader Store::LockReader() {
  if (reader_) return {std::unique_lock<std::mutex>(read_mu_), reader_.get()};
  return {std::unique_lock<std::mutex>(write_mu_), writer_.get()};
}

Status Store::Write(const std::function<Status(WriteTxn&)>& fn) {
  if (read_only_) return Status::InvalidArgument("the store was opened read-only");
  std::lock_guard<std::mutex> lock(write_mu_);
  KVF_RETURN_IF_ERROR(writer_->Exec("BEGIN IMMEDIATE", "starting a write transaction"));
  WriteTxn txn(*writer_);
  Status s = fn(txn);
  if (s.ok()) s = writer_->Exec("COMMIT", "committing");
  if (!s.ok()) {
    // After some errors (SQLITE_FULL) SQLite has already rolled back; ignore that.
    if (!sqlite3_get_autocommit(writer_->raw())) (void)writer_->Exec("ROLLBACK", "rollback");
  }
  return s;
}

Status Store::TEST_Exec(const std::string& sql) {
  if (read_only_) return Status::InvalidArgument("the store was opened read-only");
  std::lock_guard<std::mutex> lock(write_mu_);
  return writer_->Exec(sql, "TEST_Exec");
}

// ---------------------------------------------------------------- WriteTxn

Result<bool> WriteTxn::InsertResult(const ResultRow& r) {
  KVF_ASSIGN_OR_RETURN(
      auto st,
      db_.Prepare("INSERT INTO results (cell_id, sample_idx, score, metrics_json, prediction, "
                  "reference, prompt_tokens, output_tokens, kv_bytes_peak, kv_bytes_final, "
                  "prefill_ms, decode_ms, detail_json, worker_id, reported_ms) VALUES "
                  "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (cell_id, sample_idx) DO NOTHING"));
  st->BindAll(r.cell_id, r.sample_idx, r.score, r.metrics_json, r.prediction, r.reference,
              r.prompt_tokens, r.output_tokens, r.kv_bytes_peak, r.kv_bytes_final, r.prefill_ms,
              r.decode_ms, r.detail_json, r.worker_id, r.reported_ms);
  Status s = st->Run();
  if (!s.ok()) return s.WithContext("storing result (" + r.cell_id.substr(0, 12) + ", " +
                                    std::to_string(r.sample_idx) + ")");
  return db_.Changes() > 0;
}

Status WriteTxn::InsertSweep(const SweepRow& r) {
  KVF_ASSIGN_OR_RETURN(
      auto st, db_.Prepare("INSERT INTO sweeps (id, name, spec_json, spec_hash, state, "
                           "created_ms, updated_ms, max_attempts, shard_size, seed, "
                           "decoding_json, data_dir) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"));
  st->BindAll(r.id, r.name, r.spec_json, r.spec_hash, SweepStateName(r.state), r.created_ms,
              r.updated_ms, r.max_attempts, r.shard_size, static_cast<int64_t>(r.seed),
              r.decoding_json, r.data_dir);
  return st->Run();
}

Status WriteTxn::UpdateSweepState(int64_t sweep_id, SweepState state, int64_t now_ms) {
  KVF_ASSIGN_OR_RETURN(auto st,
                       db_.Prepare("UPDATE sweeps SET state = ?, updated_ms = ? WHERE id = ?"));
  st->BindAll(SweepStateName(state), now_ms, sweep_id);
  return st->Run();
}

Status WriteTxn::InsertCell(const CellRow& r, int64_t now_ms) {
  KVF_ASSIGN_OR_RETURN(
      auto st, db_.Prepare("INSERT INTO cells (cell_id, model_id, model_checksum, method, "
                           "params_json, ratio, task, shots, identity_json, created_ms) VALUES "
                           "(?,?,?,?,?,?,?,?,?,?) ON CONFLICT (cell_id) DO NOTHING"));
  st->BindAll(r.cell_id, r.model_id, r.model_checksum, r.method, r.params_json, r.ratio, r.task,
              r.shots, r.identity_json, now_ms);
  return st->Run();
}

Status WriteTxn::InsertGroup(const GroupRow& r) {
  KVF_ASSIGN_OR_RETURN(
      auto st, db_.Prepare("INSERT INTO sweep_groups (sweep_id, group_idx, model_id, model_path, "
                           "model_type, model_checksum, task, shots, task_params_json, samples) "
                           "VALUES (?,?,?,?,?,?,?,?,?,?)"));
  st->BindAll(r.sweep_id, r.group_idx, r.model_id, r.model_path, r.model_type, r.model_checksum,
              r.task, r.shots, r.task_params_json, r.samples);
  return st->Run();
}

Status WriteTxn::InsertSweepCell(int64_t sweep_id, const std::string& cell_id, int group_idx,
                                 int cell_idx) {
  KVF_ASSIGN_OR_RETURN(auto st, db_.Prepare("INSERT INTO sweep_cells (sweep_id, cell_id, "
                                            "group_idx, cell_idx) VALUES (?,?,?,?)"));
  st->BindAll(sweep_id, cell_id, group_idx, cell_idx);
  return st->Run();
}

Status WriteTxn::UpsertShard(const ShardRow& r) {
  KVF_ASSIGN_OR_RETURN(
      auto st,
      db_.Prepare("INSERT INTO shards (id, sweep_id, group_idx, model_id, task, shots, "
                  "sample_begin, sample_end, state, attempts, lease_id, lease_owner, "
                  "lease_deadline_ms, not_before_ms, last_error_kind, last_error, samples_done, "
                  "updated_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
                  "ON CONFLICT (id) DO UPDATE SET state = excluded.state, "
                  "attempts = excluded.attempts, lease_id = excluded.lease_id, "
                  "lease_owner = excluded.lease_owner, "
                  "lease_deadline_ms = excluded.lease_deadline_ms, "
                  "not_before_ms = excluded.not_before_ms, "
                  "last_error_kind = excluded.last_error_kind, last_error = excluded.last_error, "
                  "samples_done = excluded.samples_done, updated_ms = excluded.updated_ms"));
  st->BindAll(r.id, r.sweep_id, r.group_idx, r.model_id, r.task, r.shots, r.sample_begin,
              r.sample_end, ShardStateName(r.state), r.attempts, r.lease_id, r.lease_owner,
              r.lease_deadline_ms, r.not_before_ms, r.last_error_kind, r.last_error,
              r.samples_done, r.updated_ms);
  return st->Run();
}

Status WriteTxn::UpsertWorker(const WorkerRow& r) {
  KVF_ASSIGN_OR_RETURN(
      auto st, db_.Prepare("INSERT OR REPLACE INTO workers (id, name, host, device, "
                           "memory_bytes, models_json, pid, registered_ms, last_heartbeat_ms) "
                           "VALUES (?,?,?,?,?,?,?,?,?)"));
  st->BindAll(r.id, r.name, r.host, r.device, r.memory_bytes, r.models_json, r.pid,
              r.registered_ms, r.last_heartbeat_ms);
  return st->Run();
}

Status WriteTxn::UpdateWorkerHeartbeat(const std::string& worker_id, int64_t now_ms) {
  KVF_ASSIGN_OR_RETURN(
      auto st, db_.Prepare("UPDATE workers SET last_heartbeat_ms = ? WHERE id = ?"));
  st->BindAll(now_ms, worker_id);
  return st->Run();
}

Status WriteTxn::InsertEvent(const EventRow& r) {
  KVF_ASSIGN_OR_RETURN(
      auto st,
      db_.Prepare("INSERT INTO events (ts_ms, sweep_id, kind, message) VALUES (?,?,?,?)"));
  st->BindAll(r.ts_ms, int64_t{0}, r.kind, r.message);
  if (r.sweep_id) {
    st->Bind(2, *r.sweep_id);
  } else {
    st->BindNull(2);
  }
  return st->Run();
}

Status WriteTxn::PutModelChecksum(const std::string& path, int64_t size, int64_t mtime_ns,
                                  const std::string& sha256, int64_t now_ms) {
  KVF_ASSIGN_OR_RETURN(
      auto st, db_.Prepare("INSERT OR REPLACE INTO model_checksums (path, size, mtime_ns, "
                           "sha256, computed_ms) VALUES (?,?,?,?,?)"));
  st->BindAll(path, size, mtime_ns, sha256, now_ms);
  return st->Run();
}

Status WriteTxn::Savepoint(const std::function<Status()>& fn) {
  KVF_RETURN_IF_ERROR(db_.Exec("SAVEPOINT batch", "savepoint"));
  Status s = fn();
  if (s.ok()) return db_.Exec("RELEASE batch", "release savepoint");
  if (!sqlite3_get_autocommit(db_.raw())) {
    (void)db_.Exec("ROLLBACK TO batch", "rollback to savepoint");
    (void)db_.Exec("RELEASE batch", "release savepoint");
  }
  return s;
}

}  // namespace kvfunda
