// LeaseTable: the worker-facing transitions (see lease_table.h).
#include "coordinator/core/lease_table.h"

#include <algorithm>
#include <cstdio>

#include "coordinator/base/log.h"

namespace kvfunda {
namespace {

std::string KindName(v1::ErrorKind k) {
  switch (k) {
    case v1::MODEL_LOAD: return "model-load";
    case v1::BAD_INPUT: return "bad-input";
    case v1::OUT_OF_MEMORY: return "out-of-memory";
    default: return "transient";
  }
}

// Lease ids are "L<shard id>-<attempt>-<random hex>"; returns the shard id or -1.
int64_t LeaseShardId(const std::string& lease_id) {
  if (lease_id.size() < 2 || lease_id[0] != 'L') return -1;
  int64_t id = 0;
  size_t i = 1;
  for (; i < lease_id.size() && lease_id[i] >= '0' && lease_id[i] <= '9'; ++i) {
    if (id > (INT64_MAX - 9) / 10) return -1;
    id = id * 10 + (lease_id[i] - '0');
  }
  return (i > 1 && i < lease_id.size() && lease_id[i] == '-') ? id : -1;
}

ResultRow ToRow(const v1::SampleResult& r, const std::string& worker_id, int64_t now_ms) {
  ResultRow row;
  row.cell_id = r.cell_id();
  row.sample_idx = r.sample_idx();
  row.score = r.score();
  nlohmann::json metrics = nlohmann::json::object();
  for (const auto& [k, v] : r.metrics()) metrics[k] = v;
  row.metrics_json = metrics.dump();
  row.prediction = r.prediction();
  row.reference = r.reference();
  row.prompt_tokens = r.prompt_tokens();
  row.output_tokens = r.output_tokens();
  row.kv_bytes_peak = r.kv_bytes_peak();
  row.kv_bytes_final = r.kv_bytes_final();
  row.prefill_ms = r.prefill_ms();
  row.decode_ms = r.decode_ms();
  row.detail_json = r.detail_json();
  row.worker_id = worker_id;
  row.reported_ms = now_ms;
  return row;
}

void ClearLease(ShardRow& row) {
  row.lease_id.clear();
  row.lease_owner.clear();
  row.lease_deadline_ms = 0;
}

}  // namespace

LeaseTable::LeaseTable(const CoordinatorConfig& config, Store& store, ResultWriter& writer,
                       EventLog& events, const Clock& clock)
    : config_(config),
      store_(store),
      writer_(writer),
      events_(events),
      clock_(clock),
      rng_(std::random_device{}()) {}

LeaseTable::~LeaseTable() = default;

// ---------------------------------------------------------------- helpers

LeaseTable::Sweep* LeaseTable::FindSweepLocked(int64_t sweep_id) const {
  auto it = sweeps_.find(sweep_id);
  return it == sweeps_.end() || !it->second->active ? nullptr : it->second.get();
}

LeaseTable::Shard* LeaseTable::FindShardLocked(int64_t shard_id) const {
  auto it = shards_.find(shard_id);
  return it == shards_.end() ? nullptr : it->second;
}

LeaseTable::Shard* LeaseTable::ActiveLeaseLocked(const std::string& lease_id) const {
  Shard* s = FindShardLocked(LeaseShardId(lease_id));
  if (!s || s->row.state != ShardState::kLeased || s->row.lease_id != lease_id) return nullptr;
  return s;
}

void LeaseTable::SetStateLocked(Shard& s, ShardState state) {
  const ShardState old = s.row.state;
  if (old == ShardState::kPending) {
    scheduler_.Remove(s.row.sweep_id, s.group->row.model_checksum, s.row.id);
  }
  if (old == ShardState::kLeased) leased_.erase(&s);
  s.sweep->counts[static_cast<int>(old)]--;
  s.sweep->counts[static_cast<int>(state)]++;
  s.row.state = state;
  s.row.updated_ms = clock_.NowMs();
  if (state == ShardState::kPending && s.sweep->active) {
    scheduler_.Add(s.row.sweep_id, s.group->row.model_checksum, s.row.id, s.row.not_before_ms);
  }
  if (state == ShardState::kLeased) leased_.insert(&s);
  if (state == ShardState::kDone || state == ShardState::kLeased) s.sweep->started = true;
}

bool LeaseTable::SetBit(Shard& s, int cell_idx, int64_t sample_idx) {
  const int64_t bit = cell_idx * s.samples() + (sample_idx - s.row.sample_begin);
  uint64_t& word = s.bits[static_cast<size_t>(bit / 64)];
  const uint64_t mask = uint64_t{1} << (bit % 64);
  if (word & mask) return false;
  word |= mask;
  ++s.stored;
  ++s.sweep->results_stored;
  return true;
}

void LeaseTable::MarkStoredLocked(const std::string& cell_id, int64_t sample_idx,
                                  int64_t now_ms) {
  auto it = cells_.find(cell_id);
  if (it == cells_.end()) return;
  for (const auto& [group, cell_idx] : it->second) {
    if (sample_idx < 0 || sample_idx >= group->row.samples) continue;
    auto pos = std::upper_bound(
        group->shards.begin(), group->shards.end(), sample_idx,
        [](int64_t s, const Shard* shard) { return s < shard->row.sample_begin; });
    if (pos == group->shards.begin()) continue;
    Shard& shard = **(pos - 1);
    if (sample_idx >= shard.row.sample_end) continue;
    if (SetBit(shard, cell_idx, sample_idx) && now_ms >= 0) shard.sweep->rate.Add(now_ms, 1);
  }
}

void LeaseTable::PersistLocked(const Shard& s) {
  WriteBatch b;
  b.shards.push_back(s.row);
  writer_.Post(std::move(b));
}

SweepState LeaseTable::ComputeStateLocked(const Sweep& sw) const {
  if (sw.cancelled) return SweepState::kCancelled;
  const int total = static_cast<int>(sw.shards.size());
  auto n = [&](ShardState s) { return sw.counts[static_cast<int>(s)]; };
  if (n(ShardState::kDone) == total) return SweepState::kDone;
  if (n(ShardState::kPending) + n(ShardState::kLeased) == 0 && n(ShardState::kFailed) > 0) {
    return SweepState::kFailed;
  }
  return sw.started ? SweepState::kRunning : SweepState::kQueued;
}

void LeaseTable::UpdateSweepStateLocked(Sweep& sw) {
  const SweepState state = ComputeStateLocked(sw);
  if (state == sw.row.state) return;
  const SweepState old = sw.row.state;
  sw.row.state = state;
  const int64_t now = clock_.NowMs();
  sw.row.updated_ms = now;
  WriteBatch b;
  b.sweep_states.push_back({sw.row.id, state, now});
  writer_.Post(std::move(b));
  if (SweepEnded(state) || old == SweepState::kQueued) {
    events_.Append(sw.row.id, "sweep-" + std::string(SweepStateName(state)),
                   "sweep " + std::to_string(sw.row.id) + " (" + sw.row.name + ") is " +
                       std::string(SweepStateName(state)));
  }
}

bool LeaseTable::EndAttemptLocked(Shard& s, const std::string& kind, const std::string& error,
                                  int64_t not_before_ms) {
  s.row.last_error_kind = kind;
  s.row.last_error = error;
  ClearLease(s.row);
  const bool retry = s.row.attempts < s.sweep->row.max_attempts;
  if (retry) {
    s.row.not_before_ms = not_before_ms;
    SetStateLocked(s, ShardState::kPending);
  } else {
    s.row.last_error = error + " (attempt " + std::to_string(s.row.attempts) + " of " +
                       std::to_string(s.sweep->row.max_attempts) + ")";
    SetStateLocked(s, ShardState::kFailed);
    events_.Append(s.row.sweep_id, "shard-failed",
                   "shard " + std::to_string(s.row.id) + " failed: " + kind + ": " +
                       s.row.last_error);
  }
  PersistLocked(s);
  UpdateSweepStateLocked(*s.sweep);
  return retry;
}

std::string LeaseTable::NewLeaseIdLocked(int64_t shard_id, int attempt) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng_()));
  return "L" + std::to_string(shard_id) + "-" + std::to_string(attempt) + "-" + buf;
}

// ---------------------------------------------------------------- worker calls

std::optional<v1::ShardAssignment> LeaseTable::Lease(const std::string& worker_id,
                                                     const std::string& loaded_model_checksum,
                                                     int64_t* retry_after_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = clock_.NowMs();
  while (auto id = scheduler_.Pick(now, loaded_model_checksum)) {
    Shard& s = *FindShardLocked(*id);
    if (s.complete()) {  // every pair already stored (e.g. by another sweep)
      s.row.samples_done = s.samples();
      SetStateLocked(s, ShardState::kDone);
      PersistLocked(s);
      UpdateSweepStateLocked(*s.sweep);
      continue;
    }
    s.row.attempts++;
    s.row.lease_id = NewLeaseIdLocked(s.row.id, s.row.attempts);
    s.row.lease_owner = worker_id;
    s.row.lease_deadline_ms = now + config_.lease_ms;
    s.row.not_before_ms = 0;
    s.row.samples_done = 0;
    SetStateLocked(s, ShardState::kLeased);
    PersistLocked(s);
    UpdateSweepStateLocked(*s.sweep);

    const Group& g = *s.group;
    v1::ShardAssignment a;
    a.set_shard_id(s.row.id);
    a.set_lease_id(s.row.lease_id);
    a.set_sweep_id(std::to_string(s.row.sweep_id));
    v1::ModelRef* m = a.mutable_model();
    m->set_id(g.row.model_id);
    m->set_path(g.row.model_path);
    m->set_type(g.row.model_type);
    m->set_checksum(g.row.model_checksum);
    a.set_task(g.row.task);
    a.set_shots(g.row.shots);
    a.set_sample_begin(s.row.sample_begin);
    a.set_sample_end(s.row.sample_end);
    for (const v1::Cell& c : g.cells) *a.add_cells() = c;
    if (s.stored > 0) {
      const int64_t n = s.samples();
      for (size_t c = 0; c < g.cells.size(); ++c) {
        for (int64_t i = 0; i < n; ++i) {
          const int64_t bit = static_cast<int64_t>(c) * n + i;
          if (s.bits[static_cast<size_t>(bit / 64)] & (uint64_t{1} << (bit % 64))) {
            v1::ShardAssignment::Done* d = a.add_done();
            d->set_cell_index(static_cast<int32_t>(c));
            d->set_sample_idx(s.row.sample_begin + i);
          }
        }
      }
    }
    v1::Decoding* dec = a.mutable_decoding();
    dec->set_max_new_tokens(s.sweep->decoding.max_new_tokens);
    dec->set_temperature(s.sweep->decoding.temperature);
    dec->set_top_p(s.sweep->decoding.top_p);
    dec->set_seed(s.sweep->row.seed);
    a.set_task_params_json(g.row.task_params_json);
    a.set_lease_deadline_ms(s.row.lease_deadline_ms);
    a.set_attempt(s.row.attempts);
    return a;
  }
  int64_t wait = config_.idle_retry_ms;
  if (auto nb = scheduler_.EarliestNotBefore()) wait = std::clamp<int64_t>(*nb - now, 1, wait);
  if (retry_after_ms) *retry_after_ms = wait;
  return std::nullopt;
}

HeartbeatOutcome LeaseTable::Heartbeat(const std::string& lease_id, int64_t samples_done) {
  std::lock_guard<std::mutex> lock(mu_);
  HeartbeatOutcome out;
  if (Shard* s = ActiveLeaseLocked(lease_id)) {
    s->row.lease_deadline_ms = clock_.NowMs() + config_.lease_ms;
    s->row.samples_done = std::clamp<int64_t>(samples_done, 0, s->samples());
    s->row.updated_ms = clock_.NowMs();
    PersistLocked(*s);
    out.lease_valid = true;
    out.lease_deadline_ms = s->row.lease_deadline_ms;
    return out;
  }
  Shard* s = FindShardLocked(LeaseShardId(lease_id));
  out.cancelled = s && s->row.state == ShardState::kCancelled && s->row.lease_id == lease_id;
  return out;
}

Result<ReportOutcome> LeaseTable::Report(const std::string& worker_id,
                                         const std::string& lease_id,
                                         const SampleResults& rows) {
  const int64_t now = clock_.NowMs();
  ReportOutcome out;
  WriteBatch batch;
  std::vector<std::pair<std::string, int64_t>> accepted;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Rows must fit the shard the lease names, current lease or not (a late report
    // still carries valid results); for an unknown lease, any sweep carrying the cell.
    const Shard* shard = FindShardLocked(LeaseShardId(lease_id));
    for (const v1::SampleResult& r : rows) {
      bool ok = false;
      if (shard) {
        ok = shard->group->cell_index.count(r.cell_id()) > 0 &&
             r.sample_idx() >= shard->row.sample_begin && r.sample_idx() < shard->row.sample_end;
      } else if (auto it = cells_.find(r.cell_id()); it != cells_.end()) {
        for (const auto& [group, idx] : it->second) {
          ok = ok || (r.sample_idx() >= 0 && r.sample_idx() < group->row.samples);
        }
      }
      if (ok) {
        accepted.emplace_back(r.cell_id(), r.sample_idx());
        batch.results.push_back(ToRow(r, worker_id, now));
      } else {
        ++out.rejected;
      }
    }
  }
  if (accepted.empty()) return out;
  WriteOutcome w = writer_.Submit(std::move(batch)).get();
  if (!w.status.ok()) return w.status;
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < accepted.size(); ++i) {
    // Duplicates are marked too: the pair is in the store either way.
    MarkStoredLocked(accepted[i].first, accepted[i].second, w.inserted[i] ? now : -1);
    if (w.inserted[i]) {
      ++out.stored;
    } else {
      ++out.duplicates;
    }
  }
  return out;
}

Result<CompleteOutcome> LeaseTable::Complete(const std::string& lease_id) {
  CompleteOutcome out;
  std::future<WriteOutcome> committed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Shard* s = ActiveLeaseLocked(lease_id);
    if (!s) {
      Shard* any = FindShardLocked(LeaseShardId(lease_id));
      out.message = any ? "stale lease " + lease_id + ": shard " + std::to_string(any->row.id) +
                              " is " + std::string(ShardStateName(any->row.state))
                        : "unknown lease " + lease_id;
      return out;
    }
    if (s->complete()) {
      s->row.samples_done = s->samples();
      s->row.last_error_kind.clear();
      s->row.last_error.clear();
      s->row.lease_deadline_ms = 0;
      SetStateLocked(*s, ShardState::kDone);
      PersistLocked(*s);
      UpdateSweepStateLocked(*s->sweep);
      out.accepted = true;
      out.message = "shard " + std::to_string(s->row.id) + " done";
    } else {
      const std::string error = std::to_string(s->expected - s->stored) + " of " +
                                std::to_string(s->expected) +
                                " results missing at completion";
      out.message = "shard " + std::to_string(s->row.id) + ": " + error;
      const bool retry = EndAttemptLocked(*s, "incomplete", error, clock_.NowMs());
      out.message += retry ? "; re-queued" : "; failed";
      events_.Append(s->row.sweep_id, "shard-incomplete", out.message);
    }
    // Batches commit in order: this one's commit covers the updates above.
    committed = writer_.Submit(WriteBatch{});
  }
  Status st = committed.get().status;
  if (!st.ok()) return st;
  return out;
}

Result<FailOutcome> LeaseTable::Fail(const std::string& lease_id, v1::ErrorKind kind,
                                     const std::string& message) {
  FailOutcome out;
  std::future<WriteOutcome> committed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Shard* s = ActiveLeaseLocked(lease_id);
    if (!s) return out;  // stale: the shard has moved on
    const int64_t now = clock_.NowMs();
    const std::string kind_name = KindName(kind);
    const std::string shard_name = "shard " + std::to_string(s->row.id);
    if (kind == v1::MODEL_LOAD || kind == v1::BAD_INPUT) {
      s->row.last_error_kind = kind_name;
      s->row.last_error = message;
      ClearLease(s->row);
      SetStateLocked(*s, ShardState::kFailed);
      PersistLocked(*s);
      events_.Append(s->row.sweep_id, "shard-failed",
                     shard_name + " failed: " + kind_name + ": " + message);
      UpdateSweepStateLocked(*s->sweep);
    } else {
      const int64_t delay = config_.retry_backoff.DelayMs(s->row.attempts - 1);
      out.will_retry = EndAttemptLocked(*s, kind_name, message, now + delay);
      if (out.will_retry) {
        out.retry_after_ms = delay;
        events_.Append(s->row.sweep_id, "shard-retry",
                       shard_name + " will be retried in " + std::to_string(delay) +
                           " ms after " + kind_name + ": " + message);
      }
    }
    committed = writer_.Submit(WriteBatch{});
  }
  Status st = committed.get().status;
  if (!st.ok()) return st;
  return out;
}

void LeaseTable::Release(const std::string& lease_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Shard* s = ActiveLeaseLocked(lease_id);
  if (!s) return;
  s->row.attempts = std::max(0, s->row.attempts - 1);  // not counted
  ClearLease(s->row);
  s->row.not_before_ms = 0;
  SetStateLocked(*s, ShardState::kPending);
  PersistLocked(*s);
  UpdateSweepStateLocked(*s->sweep);
}

int LeaseTable::ExpireLeases() {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = clock_.NowMs();
  std::vector<Shard*> expired;
  for (Shard* s : leased_) {
    if (s->row.lease_deadline_ms <= now) expired.push_back(s);
  }
  std::sort(expired.begin(), expired.end(),
            [](const Shard* a, const Shard* b) { return a->row.id < b->row.id; });
  for (Shard* s : expired) {
    const std::string owner = s->row.lease_owner;
    const std::string error = "lease expired: worker " + owner + " sent no heartbeat for " +
                              std::to_string(config_.lease_ms) + " ms";
    events_.Append(s->row.sweep_id, "lease-expired",
                   "shard " + std::to_string(s->row.id) + ": " + error);
    EndAttemptLocked(*s, "lease-expired", error, now);
  }
  return static_cast<int>(expired.size());
}

std::optional<ShardRow> LeaseTable::ShardForTest(int64_t shard_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  const Shard* s = FindShardLocked(shard_id);
  if (!s) return std::nullopt;
  return s->row;
}

}  // namespace kvfunda
