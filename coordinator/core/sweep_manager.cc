#include "coordinator/core/sweep_manager.h"

#include <charconv>
#include <map>

#include "coordinator/base/sha256.h"
#include "coordinator/core/sweep_planner.h"

namespace kvfunda {

SweepManager::SweepManager(const CoordinatorConfig& config, Store& store, ResultWriter& writer,
                           LeaseTable& table, const Clock& clock)
    : config_(config), store_(store), table_(table), checksums_(store, writer, clock) {}

Result<int64_t> SweepManager::ParseSweepId(const std::string& sweep_id) {
  int64_t id = 0;
  auto [p, ec] = std::from_chars(sweep_id.data(), sweep_id.data() + sweep_id.size(), id);
  if (sweep_id.empty() || ec != std::errc() || p != sweep_id.data() + sweep_id.size() || id <= 0) {
    return Status::NotFound("no sweep '" + sweep_id + "' (sweep ids are numbers)");
  }
  return id;
}

Result<v1::SubmitSweepReply> SweepManager::Submit(std::string_view spec_text,
                                                  std::string_view spec_name, bool dry_run) {
  KVF_ASSIGN_OR_RETURN(SweepSpec spec,
                       ParseSweepSpec(spec_text, spec_name.empty() ? "spec" : spec_name));
  return SubmitSpec(spec, dry_run);
}

Result<v1::SubmitSweepReply> SweepManager::SubmitSpec(const SweepSpec& spec, bool dry_run) {
  std::map<std::string, std::string> sums;
  for (size_t i = 0; i < spec.models.size(); ++i) {
    Result<std::string> sum = checksums_.Get(spec.models[i].path);
    if (!sum.ok()) {
      return sum.status().WithContext("models[" + std::to_string(i) + "] (" +
                                      spec.models[i].id + ")");
    }
    sums[spec.models[i].id] = *sum;
  }
  KVF_ASSIGN_OR_RETURN(SweepPlan plan, PlanSweep(spec, sums, config_.default_data_dir));

  StoredSamples stored(plan.groups.size());
  int64_t reused = 0;
  for (size_t g = 0; g < plan.groups.size(); ++g) {
    const PlannedGroup& pg = plan.groups[g];
    stored[g].resize(pg.cells.size());
    for (size_t c = 0; c < pg.cells.size(); ++c) {
      KVF_ASSIGN_OR_RETURN(stored[g][c],
                           store_.StoredSamples(pg.cells[c].cell_id, 0, pg.group.samples));
      reused += static_cast<int64_t>(stored[g][c].size());
    }
  }

  v1::SubmitSweepReply reply;
  if (dry_run) {
    reply.set_cells(static_cast<int32_t>(plan.cell_count()));
    reply.set_shards(static_cast<int32_t>(plan.shard_count()));
    reply.set_results_expected(plan.results_expected());
    reply.set_results_reused(reused);
    return reply;
  }
  SweepRow row;
  row.name = spec.name;
  row.spec_json = SweepSpecToJson(spec).dump();
  row.spec_hash = Sha256Hex(row.spec_json);
  row.max_attempts = spec.max_attempts;
  row.shard_size = spec.shard_size;
  row.seed = spec.seed;
  row.decoding_json = DecodingJson(spec.decoding);
  row.data_dir = spec.data_dir.empty() ? config_.default_data_dir : spec.data_dir;
  KVF_ASSIGN_OR_RETURN(AddSweepOutcome added, table_.AddSweep(std::move(row), plan, stored));
  reply.set_sweep_id(std::to_string(added.sweep_id));
  reply.set_cells(added.cells);
  reply.set_shards(added.shards);
  reply.set_results_expected(added.results_expected);
  reply.set_results_reused(added.results_reused);
  return reply;
}

Result<v1::SweepStatus> SweepManager::Get(const std::string& sweep_id) const {
  KVF_ASSIGN_OR_RETURN(int64_t id, ParseSweepId(sweep_id));
  return table_.GetStatus(id);
}

std::vector<v1::SweepStatus> SweepManager::List() const { return table_.GetStatusAll(); }

Result<int> SweepManager::Cancel(const std::string& sweep_id) {
  KVF_ASSIGN_OR_RETURN(int64_t id, ParseSweepId(sweep_id));
  return table_.Cancel(id);
}

Result<int> SweepManager::Resume(const std::string& sweep_id) {
  KVF_ASSIGN_OR_RETURN(int64_t id, ParseSweepId(sweep_id));
  return table_.Resume(id);
}

Result<v1::SweepResults> SweepManager::Results(const std::string& sweep_id) {
  KVF_ASSIGN_OR_RETURN(int64_t id, ParseSweepId(sweep_id));
  KVF_ASSIGN_OR_RETURN(v1::SweepStatus status, table_.GetStatus(id));
  KVF_ASSIGN_OR_RETURN(std::vector<CellSummaryRow> rows, store_.SummarizeSweep(id));
  v1::SweepResults out;
  *out.mutable_status() = std::move(status);
  for (const CellSummaryRow& r : rows) {
    v1::CellResults* c = out.add_cells();
    v1::Cell* cell = c->mutable_cell();
    cell->set_cell_id(r.cell.cell_id);
    cell->set_model_id(r.model_id);
    cell->set_method(r.cell.method);
    cell->set_params_json(r.cell.params_json);
    cell->set_ratio(r.cell.ratio);
    cell->set_task(r.cell.task);
    cell->set_shots(r.cell.shots);
    c->set_samples_expected(r.samples_expected);
    c->set_samples_stored(r.samples_stored);
    c->set_score_mean(r.score_mean);
    for (const auto& [k, v] : r.metric_means) (*c->mutable_metric_means())[k] = v;
    c->set_kv_bytes_final_mean(r.kv_bytes_final_mean);
    c->set_kv_bytes_peak_mean(r.kv_bytes_peak_mean);
    c->set_prefill_ms_mean(r.prefill_ms_mean);
    c->set_decode_ms_mean(r.decode_ms_mean);
  }
  return out;
}

}  // namespace kvfunda
