// Store's read queries (see store.h).
#include "coordinator/store/store.h"

#include <map>

namespace kvfunda {
namespace {

SweepRow ReadSweep(const sqlite::Statement& st) {
  SweepRow r;
  r.id = st.Int(0);
  r.name = st.Text(1);
  r.spec_json = st.Text(2);
  r.spec_hash = st.Text(3);
  r.state = ParseSweepState(st.Text(4)).value_or(SweepState::kQueued);
  r.created_ms = st.Int(5);
  r.updated_ms = st.Int(6);
  r.max_attempts = static_cast<int>(st.Int(7));
  r.shard_size = static_cast<int>(st.Int(8));
  r.seed = static_cast<uint64_t>(st.Int(9));
  r.decoding_json = st.Text(10);
  r.data_dir = st.Text(11);
  return r;
}
constexpr const char* kSweepColumns =
    "id, name, spec_json, spec_hash, state, created_ms, updated_ms, max_attempts, shard_size, "
    "seed, decoding_json, data_dir";

CellRow ReadCell(const sqlite::Statement& st, int c) {
  CellRow r;
  r.cell_id = st.Text(c + 0);
  r.model_id = st.Text(c + 1);
  r.model_checksum = st.Text(c + 2);
  r.method = st.Text(c + 3);
  r.params_json = st.Text(c + 4);
  r.ratio = st.Double(c + 5);
  r.task = st.Text(c + 6);
  r.shots = static_cast<int>(st.Int(c + 7));
  r.identity_json = st.Text(c + 8);
  return r;
}
constexpr const char* kCellColumns =
    "c.cell_id, c.model_id, c.model_checksum, c.method, c.params_json, c.ratio, c.task, "
    "c.shots, c.identity_json";

}  // namespace

Result<std::vector<SweepRow>> Store::LoadSweeps() {
  Reader r = LockReader();
  KVF_ASSIGN_OR_RETURN(auto st, r.db->Prepare(std::string("SELECT ") + kSweepColumns +
                                              " FROM sweeps ORDER BY id"));
  std::vector<SweepRow> out;
  while (true) {
    KVF_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    out.push_back(ReadSweep(*st));
  }
  return out;
}

Result<std::optional<SweepRow>> Store::LoadSweep(int64_t sweep_id) {
  Reader r = LockReader();
  KVF_ASSIGN_OR_RETURN(auto st, r.db->Prepare(std::string("SELECT ") + kSweepColumns +
                                              " FROM sweeps WHERE id = ?"));
  st->Bind(1, sweep_id);
  KVF_ASSIGN_OR_RETURN(bool row, st->Step());
  if (!row) return std::optional<SweepRow>();
  return std::optional<SweepRow>(ReadSweep(*st));
}

Result<std::vector<GroupRow>> Store::LoadGroups() {
  Reader r = LockReader();
  KVF_ASSIGN_OR_RETURN(
      auto st, r.db->Prepare("SELECT sweep_id, group_idx, model_id, model_path, model_type, "
                             "model_checksum, task, shots, task_params_json, samples FROM "
                             "sweep_groups ORDER BY sweep_id, group_idx"));
  std::vector<GroupRow> out;
  while (true) {
    KVF_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    GroupRow g;
    g.sweep_id = st->Int(0);
    g.group_idx = static_cast<int>(st->Int(1));
    g.model_id = st->Text(2);
    g.model_path = st->Text(3);
    g.model_type = st->Text(4);
    g.model_checksum = st->Text(5);
    g.task = st->Text(6);
    g.shots = static_cast<int>(st->Int(7));
    g.task_params_json = st->Text(8);
    g.samples = st->Int(9);
    out.push_back(std::move(g));
  }
  return out;
}

Result<std::vector<SweepCellRow>> Store::LoadSweepCells() {
  Reader r = LockReader();
  KVF_ASSIGN_OR_RETURN(
      auto st, r.db->Prepare(std::string("SELECT sc.sweep_id, sc.group_idx, sc.cell_idx, ") +
                             kCellColumns +
                             " FROM sweep_cells sc JOIN cells c ON c.cell_id = sc.cell_id "
                             "ORDER BY sc.sweep_id, sc.group_idx, sc.cell_idx"));
  std::vector<SweepCellRow> out;
  while (true) {
    KVF_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    SweepCellRow c;
    c.sweep_id = st->Int(0);
    c.group_idx = static_cast<int>(st->Int(1));
    c.cell_idx = static_cast<int>(st->Int(2));
    c.cell = ReadCell(*st, 3);
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::vector<ShardRow>> Store::LoadShards() {
  Reader r = LockReader();
  KVF_ASSIGN_OR_RETURN(
      auto st,
      r.db->Prepare("SELECT id, sweep_id, group_idx, model_id, task, shots, sample_begin, "
                    "sample_end, state, attempts, lease_id, lease_owner, lease_deadline_ms, "
                    "not_before_ms, last_error_kind, last_error, samples_done, updated_ms "
                    "FROM shards ORDER BY id"));
  std::vector<ShardRow> out;
  while (true) {
    KVF_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    ShardRow s;
    s.id = st->Int(0);
    s.sweep_id = st->Int(1);
    s.group_idx = static_cast<int>(st->Int(2));
    s.model_id = st->Text(3);
    s.task = st->Text(4);
    s.shots = static_cast<int>(st->Int(5));
    s.sample_begin = st->Int(6);
    s.sample_end = st->Int(7);
    auto state = ParseShardState(st->Text(8));
    if (!state) return Status::Corruption("shard " + std::to_string(s.id) + " has state '" +
                                          st->Text(8) + "'");
    s.state = *state;
    s.attempts = static_cast<int>(st->Int(9));
    s.lease_id = st->Text(10);
    s.lease_owner = st->Text(11);
    s.lease_deadline_ms = st->Int(12);
    s.not_before_ms = st->Int(13);
    s.last_error_kind = st->Text(14);
    s.last_error = st->Text(15);
    s.samples_done = st->Int(16);
    s.updated_ms = st->Int(17);
    out.push_back(std::move(s));
  }
  return out;
}

Result<std::vector<WorkerRow>> Store::LoadWorkers() {
  Reader r = LockReader();
  KVF_ASSIGN_OR_RETURN(
      auto st, r.db->Prepare("SELECT id, name, host, device, memory_bytes, models_json, pid, "
                             "registered_ms, last_heartbeat_ms FROM workers ORDER BY "
                             "registered_ms, id"));
  std::vector<WorkerRow> out;
  while (true) {
    KVF_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    WorkerRow w;
    w.id = st->Text(0);
    w.name = st->Text(1);
    w.host = st->Text(2);
    w.device = st->Text(3);
    w.memory_bytes = st->Int(4);
    w.models_json = st->Text(5);
    w.pid = st->Int(6);
    w.registered_ms = st->Int(7);
    w.last_heartbeat_ms = st->Int(8);
    out.push_back(std::move(w));
  }
  return out;
}

Result<std::vector<int64_t>> Store::StoredSamples(const std::string& cell_id, int64_t begin,
                                                  int64_t end) {
  Reader r = LockReader();
  KVF_ASSIGN_OR_RETURN(auto st, r.db->Prepare("SELECT sample_idx FROM results WHERE cell_id = ? "
                                              "AND sample_idx >= ? AND sample_idx < ? "
                                              "ORDER BY sample_idx"));
  st->BindAll(cell_id, begin, end);
  std::vector<int64_t> out;
  while (true) {
    KVF_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    out.push_back(st->Int(0));
  }
  return out;
}

Result<int64_t> Store::CountResults() {
  Reader r = LockReader();
  KVF_ASSIGN_OR_RETURN(auto st, r.db->Prepare("SELECT COUNT(*) FROM results"));
  KVF_ASSIGN_OR_RETURN(bool row, st->Step());
  return row ? st->Int(0) : 0;
}

Result<std::vector<EventRow>> Store::Events(std::optional<int64_t> sweep_id, int64_t after_id,
                                            int limit) {
  Reader r = LockReader();
  KVF_ASSIGN_OR_RETURN(
      auto st, r.db->Prepare("SELECT id, ts_ms, sweep_id, kind, message FROM events WHERE id > ? "
                             "AND (? = 0 OR sweep_id = ?) ORDER BY id LIMIT ?"));
  st->BindAll(after_id, sweep_id ? 1 : 0, sweep_id.value_or(0), limit);
  std::vector<EventRow> out;
  while (true) {
    KVF_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    EventRow e;
    e.id = st->Int(0);
    e.ts_ms = st->Int(1);
    if (!st->IsNull(2)) e.sweep_id = st->Int(2);
    e.kind = st->Text(3);
    e.message = st->Text(4);
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::vector<CellSummaryRow>> Store::SummarizeSweep(int64_t sweep_id) {
  Reader r = LockReader();
  // Only samples within the sweep's range count: a cell shared with a larger
  // earlier sweep may hold more.
  constexpr const char* kJoin =
      " FROM sweep_cells sc JOIN cells c ON c.cell_id = sc.cell_id "
      "JOIN sweep_groups g ON g.sweep_id = sc.sweep_id AND g.group_idx = sc.group_idx ";
  KVF_ASSIGN_OR_RETURN(
      auto st,
      r.db->Prepare(std::string("SELECT ") + kCellColumns +
                    ", g.model_id, g.samples, COUNT(res.id), COALESCE(AVG(res.score), 0), "
                    "COALESCE(AVG(res.kv_bytes_final), 0), COALESCE(AVG(res.kv_bytes_peak), 0), "
                    "COALESCE(AVG(res.prefill_ms), 0), COALESCE(AVG(res.decode_ms), 0)" +
                    kJoin +
                    "LEFT JOIN results res ON res.cell_id = sc.cell_id AND "
                    "res.sample_idx < g.samples WHERE sc.sweep_id = ? GROUP BY sc.cell_id "
                    "ORDER BY sc.group_idx, sc.cell_idx"));
  st->Bind(1, sweep_id);
  std::vector<CellSummaryRow> out;
  std::map<std::string, size_t> index;
  while (true) {
    KVF_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    CellSummaryRow s;
    s.cell = ReadCell(*st, 0);
    s.model_id = st->Text(9);
    s.samples_expected = st->Int(10);
    s.samples_stored = st->Int(11);
    s.score_mean = st->Double(12);
    s.kv_bytes_final_mean = st->Double(13);
    s.kv_bytes_peak_mean = st->Double(14);
    s.prefill_ms_mean = st->Double(15);
    s.decode_ms_mean = st->Double(16);
    index[s.cell.cell_id] = out.size();
    out.push_back(std::move(s));
  }
  KVF_ASSIGN_OR_RETURN(
      auto mt, r.db->Prepare(std::string("SELECT sc.cell_id, m.key, AVG(m.value)") + kJoin +
                             "JOIN results res ON res.cell_id = sc.cell_id AND "
                             "res.sample_idx < g.samples, json_each(res.metrics_json) m "
                             "WHERE sc.sweep_id = ? AND m.type IN ('integer', 'real') "
                             "GROUP BY sc.cell_id, m.key"));
  mt->Bind(1, sweep_id);
  while (true) {
    KVF_ASSIGN_OR_RETURN(bool row, mt->Step());
    if (!row) break;
    auto it = index.find(mt->Text(0));
    if (it != index.end()) out[it->second].metric_means[mt->Text(1)] = mt->Double(2);
  }
  return out;
}

Status Store::ForEachResult(
    int64_t sweep_id, const std::function<Status(const SweepCellRow&, const ResultRow&)>& fn) {
  Reader r = LockReader();
  KVF_ASSIGN_OR_RETURN(
      auto st,
      r.db->Prepare(std::string("SELECT sc.group_idx, sc.cell_idx, ") + kCellColumns +
                    ", res.sample_idx, res.score, res.metrics_json, res.prediction, "
                    "res.reference, res.prompt_tokens, res.output_tokens, res.kv_bytes_peak, "
                    "res.kv_bytes_final, res.prefill_ms, res.decode_ms, res.detail_json, "
                    "res.worker_id, res.reported_ms FROM sweep_cells sc "
                    "JOIN cells c ON c.cell_id = sc.cell_id "
                    "JOIN sweep_groups g ON g.sweep_id = sc.sweep_id AND g.group_idx = "
                    "sc.group_idx JOIN results res ON res.cell_id = sc.cell_id AND "
                    "res.sample_idx < g.samples WHERE sc.sweep_id = ? "
                    "ORDER BY sc.group_idx, sc.cell_idx, res.sample_idx"));
  st->Bind(1, sweep_id);
  while (true) {
    KVF_ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    SweepCellRow c;
    c.sweep_id = sweep_id;
    c.group_idx = static_cast<int>(st->Int(0));
    c.cell_idx = static_cast<int>(st->Int(1));
    c.cell = ReadCell(*st, 2);
    ResultRow res;
    res.cell_id = c.cell.cell_id;
    res.sample_idx = st->Int(11);
    res.score = st->Double(12);
    res.metrics_json = st->Text(13);
    res.prediction = st->Text(14);
    res.reference = st->Text(15);
    res.prompt_tokens = st->Int(16);
    res.output_tokens = st->Int(17);
    res.kv_bytes_peak = st->Int(18);
    res.kv_bytes_final = st->Int(19);
    res.prefill_ms = st->Double(20);
    res.decode_ms = st->Double(21);
    res.detail_json = st->Text(22);
    res.worker_id = st->Text(23);
    res.reported_ms = st->Int(24);
    KVF_RETURN_IF_ERROR(fn(c, res));
  }
  return Status::Ok();
}

Result<std::optional<std::string>> Store::CachedChecksum(const std::string& path, int64_t size,
                                                         int64_t mtime_ns) {
  Reader r = LockReader();
  KVF_ASSIGN_OR_RETURN(auto st, r.db->Prepare("SELECT sha256 FROM model_checksums WHERE path = ? "
                                              "AND size = ? AND mtime_ns = ?"));
  st->BindAll(path, size, mtime_ns);
  KVF_ASSIGN_OR_RETURN(bool row, st->Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(st->Text(0));
}

}  // namespace kvfunda
