// LeaseTable: loading, adding, cancelling and resuming sweeps, and their status
// (see lease_table.h).
#include "coordinator/core/lease_table.h"

#include <algorithm>
#include <map>

#include "coordinator/base/log.h"

namespace kvfunda {
namespace {

constexpr int kMaxErrorsShown = 50;

}  // namespace

Result<std::unique_ptr<LeaseTable::Sweep>> LeaseTable::BuildSweep(
    const SweepRow& row, const std::vector<GroupRow>& groups,
    const std::vector<SweepCellRow>& cells, const std::vector<ShardRow>& shards) {
  auto sw = std::make_unique<Sweep>();
  sw->row = row;
  KVF_ASSIGN_OR_RETURN(sw->decoding, ParseDecodingJson(row.decoding_json));
  sw->cancelled = row.state == SweepState::kCancelled;
  sw->started = row.state != SweepState::kQueued;
  std::map<int, Group*> by_idx;
  for (const GroupRow& gr : groups) {
    auto g = std::make_unique<Group>();
    g->row = gr;
    g->sweep = sw.get();
    by_idx[gr.group_idx] = g.get();
    sw->groups.push_back(std::move(g));
  }
  const std::string where = "sweep " + std::to_string(row.id);
  for (const SweepCellRow& c : cells) {
    auto it = by_idx.find(c.group_idx);
    if (it == by_idx.end()) return Status::Corruption(where + ": cell of unknown group");
    Group& g = *it->second;
    if (c.cell_idx != static_cast<int>(g.cells.size())) {
      return Status::Corruption(where + ": cells of group " + std::to_string(c.group_idx) +
                                " are not numbered 0..n-1");
    }
    v1::Cell pc;
    pc.set_cell_id(c.cell.cell_id);
    pc.set_model_id(g.row.model_id);  // this sweep's name for the model
    pc.set_method(c.cell.method);
    pc.set_params_json(c.cell.params_json);
    pc.set_ratio(c.cell.ratio);
    pc.set_task(c.cell.task);
    pc.set_shots(c.cell.shots);
    g.cell_index[c.cell.cell_id] = c.cell_idx;
    g.cells.push_back(std::move(pc));
  }
  for (const auto& g : sw->groups) {
    sw->cells += static_cast<int64_t>(g->cells.size());
    sw->results_expected += static_cast<int64_t>(g->cells.size()) * g->row.samples;
  }
  for (const ShardRow& r : shards) {
    auto it = by_idx.find(r.group_idx);
    if (it == by_idx.end()) return Status::Corruption(where + ": shard of unknown group");
    auto s = std::make_unique<Shard>();
    s->row = r;
    s->group = it->second;
    s->sweep = sw.get();
    s->expected = static_cast<int64_t>(s->group->cells.size()) * s->samples();
    s->bits.assign(static_cast<size_t>((s->expected + 63) / 64), 0);
    sw->counts[static_cast<int>(r.state)]++;
    if (r.attempts > 0 || r.state == ShardState::kDone) sw->started = true;
    s->group->shards.push_back(s.get());
    sw->shards.push_back(std::move(s));
  }
  for (const auto& g : sw->groups) {
    std::sort(g->shards.begin(), g->shards.end(), [](const Shard* a, const Shard* b) {
      return a->row.sample_begin < b->row.sample_begin;
    });
  }
  return sw;
}

void LeaseTable::IndexSweepLocked(Sweep& sw) {
  for (const auto& g : sw.groups) {
    for (size_t c = 0; c < g->cells.size(); ++c) {
      cells_[g->cells[c].cell_id()].emplace_back(g.get(), static_cast<int>(c));
    }
  }
  for (const auto& s : sw.shards) {
    shards_[s->row.id] = s.get();
    next_shard_id_ = std::max(next_shard_id_, s->row.id + 1);
  }
  next_sweep_id_ = std::max(next_sweep_id_, sw.row.id + 1);
}

void LeaseTable::ActivateLocked(Sweep& sw) {
  sw.active = true;
  for (const auto& s : sw.shards) {
    if (s->row.state == ShardState::kPending) {
      if (s->complete()) {
        s->row.samples_done = s->samples();
        SetStateLocked(*s, ShardState::kDone);  // from pending: leaves the scheduler
        PersistLocked(*s);
      } else {
        scheduler_.Add(sw.row.id, s->group->row.model_checksum, s->row.id,
                       s->row.not_before_ms);
      }
    } else if (s->row.state == ShardState::kLeased) {
      leased_.insert(s.get());
    }
  }
  UpdateSweepStateLocked(sw);
}

Status LeaseTable::CatchUpStored(const std::vector<int64_t>& sweep_ids) {
  // The largest sample range of each distinct cell (read once, marked everywhere).
  std::map<std::string, int64_t> wanted;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int64_t id : sweep_ids) {
      auto it = sweeps_.find(id);
      if (it == sweeps_.end()) continue;
      for (const auto& g : it->second->groups) {
        for (const v1::Cell& c : g->cells) {
          int64_t& end = wanted[c.cell_id()];
          end = std::max(end, g->row.samples);
        }
      }
    }
  }
  for (const auto& [cell_id, end] : wanted) {
    KVF_ASSIGN_OR_RETURN(std::vector<int64_t> samples, store_.StoredSamples(cell_id, 0, end));
    if (samples.empty()) continue;
    std::lock_guard<std::mutex> lock(mu_);
    for (int64_t s : samples) MarkStoredLocked(cell_id, s, -1);
  }
  return Status::Ok();
}

Status LeaseTable::Load() {
  KVF_ASSIGN_OR_RETURN(std::vector<SweepRow> sweeps, store_.LoadSweeps());
  KVF_ASSIGN_OR_RETURN(std::vector<GroupRow> groups, store_.LoadGroups());
  KVF_ASSIGN_OR_RETURN(std::vector<SweepCellRow> cells, store_.LoadSweepCells());
  KVF_ASSIGN_OR_RETURN(std::vector<ShardRow> shards, store_.LoadShards());
  std::map<int64_t, std::vector<GroupRow>> groups_of;
  std::map<int64_t, std::vector<SweepCellRow>> cells_of;
  std::map<int64_t, std::vector<ShardRow>> shards_of;
  for (auto& g : groups) groups_of[g.sweep_id].push_back(std::move(g));
  for (auto& c : cells) cells_of[c.sweep_id].push_back(std::move(c));
  for (auto& s : shards) shards_of[s.sweep_id].push_back(std::move(s));
  const int64_t now = clock_.NowMs();
  std::vector<int64_t> ids;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const SweepRow& row : sweeps) {
      KVF_ASSIGN_OR_RETURN(auto sw, BuildSweep(row, groups_of[row.id], cells_of[row.id],
                                               shards_of[row.id]));
      for (const auto& s : sw->shards) {
        if (s->row.state == ShardState::kLeased) {
          // The worker may still be alive: give it a full lease to heartbeat.
          s->row.lease_deadline_ms = now + config_.lease_ms;
        }
      }
      IndexSweepLocked(*sw);
      ids.push_back(row.id);
      sweeps_[row.id] = std::move(sw);
    }
  }
  KVF_RETURN_IF_ERROR(CatchUpStored(ids));
  std::lock_guard<std::mutex> lock(mu_);
  for (int64_t id : ids) ActivateLocked(*sweeps_[id]);
  return Status::Ok();
}

Result<AddSweepOutcome> LeaseTable::AddSweep(SweepRow sweep, const SweepPlan& plan,
                                             const StoredSamples& stored) {
  const int64_t now = clock_.NowMs();
  std::unique_ptr<Sweep> sw;
  std::vector<GroupRow> groups;
  std::vector<SweepCellRow> cells;
  std::vector<CellRow> cell_rows;
  AddSweepOutcome out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    sweep.id = next_sweep_id_++;
    sweep.state = SweepState::kQueued;
    sweep.created_ms = sweep.updated_ms = now;
    int64_t shard_id = next_shard_id_;
    next_shard_id_ += plan.shard_count();
    std::vector<ShardRow> shards;
    for (const PlannedGroup& pg : plan.groups) {
      GroupRow g = pg.group;
      g.sweep_id = sweep.id;
      groups.push_back(g);
      for (size_t c = 0; c < pg.cells.size(); ++c) {
        cells.push_back(SweepCellRow{sweep.id, g.group_idx, static_cast<int>(c), pg.cells[c]});
        cell_rows.push_back(pg.cells[c]);
      }
      for (const auto& [begin, end] : pg.shards) {
        ShardRow s;
        s.id = shard_id++;
        s.sweep_id = sweep.id;
        s.group_idx = g.group_idx;
        s.model_id = g.model_id;
        s.task = g.task;
        s.shots = g.shots;
        s.sample_begin = begin;
        s.sample_end = end;
        s.updated_ms = now;
        shards.push_back(std::move(s));
      }
    }
    KVF_ASSIGN_OR_RETURN(sw, BuildSweep(sweep, groups, cells, shards));
  }
  // Pairs stored by earlier sweeps with identical cells; full shards start done.
  for (size_t g = 0; g < sw->groups.size() && g < stored.size(); ++g) {
    Group& group = *sw->groups[g];
    for (size_t c = 0; c < stored[g].size() && c < group.cells.size(); ++c) {
      for (int64_t sample : stored[g][c]) {
        for (Shard* s : group.shards) {
          if (sample >= s->row.sample_begin && sample < s->row.sample_end) {
            if (SetBit(*s, static_cast<int>(c), sample)) ++out.results_reused;
            break;
          }
        }
      }
    }
  }
  std::vector<ShardRow> shard_rows;
  for (const auto& s : sw->shards) {
    if (s->complete()) {
      sw->counts[static_cast<int>(ShardState::kPending)]--;
      sw->counts[static_cast<int>(ShardState::kDone)]++;
      s->row.state = ShardState::kDone;
      s->row.samples_done = s->samples();
    }
    shard_rows.push_back(s->row);
  }
  out.sweep_id = sweep.id;
  out.cells = static_cast<int>(sw->cells);
  out.shards = static_cast<int>(sw->shards.size());
  out.results_expected = sw->results_expected;

  WriteBatch batch;
  batch.extra = [sweep, groups = std::move(groups), cell_rows = std::move(cell_rows),
                 cells = std::move(cells), shard_rows = std::move(shard_rows),
                 now](WriteTxn& txn) -> Status {
    KVF_RETURN_IF_ERROR(txn.InsertSweep(sweep));
    for (const CellRow& c : cell_rows) KVF_RETURN_IF_ERROR(txn.InsertCell(c, now));
    for (const GroupRow& g : groups) KVF_RETURN_IF_ERROR(txn.InsertGroup(g));
    for (const SweepCellRow& c : cells) {
      KVF_RETURN_IF_ERROR(txn.InsertSweepCell(c.sweep_id, c.cell.cell_id, c.group_idx,
                                              c.cell_idx));
    }
    for (const ShardRow& s : shard_rows) KVF_RETURN_IF_ERROR(txn.UpsertShard(s));
    return Status::Ok();
  };
  Status st = writer_.Submit(std::move(batch)).get().status;
  if (!st.ok()) return st.WithContext("storing the sweep");

  {
    std::lock_guard<std::mutex> lock(mu_);
    IndexSweepLocked(*sw);
    sweeps_[sweep.id] = std::move(sw);
  }
  // Results committed between our first read and the indexing above.
  KVF_RETURN_IF_ERROR(CatchUpStored({sweep.id}));
  {
    std::lock_guard<std::mutex> lock(mu_);
    Sweep& added = *sweeps_[sweep.id];
    ActivateLocked(added);
    events_.Append(sweep.id, "submitted",
                   "sweep " + std::to_string(sweep.id) + " (" + sweep.name + ") submitted: " +
                       std::to_string(out.cells) + " cells, " + std::to_string(out.shards) +
                       " shards, " + std::to_string(out.results_expected) + " results (" +
                       std::to_string(out.results_reused) + " reused)");
  }
  return out;
}

Result<int> LeaseTable::Cancel(int64_t sweep_id) {
  std::future<WriteOutcome> committed;
  int n = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Sweep* sw = FindSweepLocked(sweep_id);
    if (!sw) return Status::NotFound("no sweep " + std::to_string(sweep_id));
    if (sw->row.state == SweepState::kDone) return 0;
    for (const auto& s : sw->shards) {
      if (s->row.state != ShardState::kPending && s->row.state != ShardState::kLeased) continue;
      SetStateLocked(*s, ShardState::kCancelled);  // a leased shard keeps its lease id
      PersistLocked(*s);
      ++n;
    }
    sw->cancelled = true;
    UpdateSweepStateLocked(*sw);
    events_.Append(sweep_id, "cancelled",
                   "sweep " + std::to_string(sweep_id) + " cancelled: " + std::to_string(n) +
                       " shards stopped");
    committed = writer_.Submit(WriteBatch{});
  }
  KVF_RETURN_IF_ERROR(committed.get().status);
  return n;
}

Result<int> LeaseTable::Resume(int64_t sweep_id) {
  std::future<WriteOutcome> committed;
  int n = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Sweep* sw = FindSweepLocked(sweep_id);
    if (!sw) return Status::NotFound("no sweep " + std::to_string(sweep_id));
    sw->cancelled = false;
    for (const auto& s : sw->shards) {
      if (s->row.state != ShardState::kFailed && s->row.state != ShardState::kCancelled) continue;
      s->row.attempts = 0;
      s->row.not_before_ms = 0;
      s->row.last_error_kind.clear();
      s->row.last_error.clear();
      s->row.lease_id.clear();
      s->row.lease_owner.clear();
      s->row.lease_deadline_ms = 0;
      SetStateLocked(*s, ShardState::kPending);
      PersistLocked(*s);
      ++n;
    }
    UpdateSweepStateLocked(*sw);
    events_.Append(sweep_id, "resumed",
                   "sweep " + std::to_string(sweep_id) + " resumed: " + std::to_string(n) +
                       " shards re-queued");
    committed = writer_.Submit(WriteBatch{});
  }
  KVF_RETURN_IF_ERROR(committed.get().status);
  return n;
}

v1::SweepStatus LeaseTable::StatusLocked(const Sweep& sw) const {
  const int64_t now = clock_.NowMs();
  v1::SweepStatus st;
  st.set_sweep_id(std::to_string(sw.row.id));
  st.set_name(sw.row.name);
  st.set_state(SweepStateToProto(sw.row.state));
  st.set_created_ms(sw.row.created_ms);
  st.set_cells(static_cast<int32_t>(sw.cells));
  st.set_shards_total(static_cast<int32_t>(sw.shards.size()));
  auto n = [&](ShardState s) { return sw.counts[static_cast<int>(s)]; };
  st.set_shards_pending(n(ShardState::kPending));
  st.set_shards_leased(n(ShardState::kLeased));
  st.set_shards_done(n(ShardState::kDone));
  st.set_shards_failed(n(ShardState::kFailed));
  st.set_shards_cancelled(n(ShardState::kCancelled));
  st.set_results_expected(sw.results_expected);
  st.set_results_stored(sw.results_stored);
  const double rate = sw.rate.PerSecond(now);
  st.set_samples_per_s(rate);
  const int64_t remaining = sw.results_expected - sw.results_stored;
  if (sw.row.state == SweepState::kDone || remaining <= 0) {
    st.set_eta_s(0);
  } else if (SweepEnded(sw.row.state) || rate <= 0) {
    st.set_eta_s(-1);
  } else {
    st.set_eta_s(static_cast<double>(remaining) / rate);
  }
  int shown = 0;
  for (const auto& s : sw.shards) {
    if (s->row.state != ShardState::kFailed) continue;
    if (++shown > kMaxErrorsShown) break;
    st.add_errors("shard " + std::to_string(s->row.id) + ": " + s->row.last_error_kind + ": " +
                  s->row.last_error);
  }
  return st;
}

Result<v1::SweepStatus> LeaseTable::GetStatus(int64_t sweep_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  const Sweep* sw = FindSweepLocked(sweep_id);
  if (!sw) return Status::NotFound("no sweep " + std::to_string(sweep_id));
  return StatusLocked(*sw);
}

std::vector<v1::SweepStatus> LeaseTable::GetStatusAll() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<v1::SweepStatus> out;
  for (const auto& [id, sw] : sweeps_) {
    if (sw->active) out.push_back(StatusLocked(*sw));
  }
  return out;
}

}  // namespace kvfunda
