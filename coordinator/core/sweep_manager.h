// SweepManager: the user-facing sweep operations (SweepService).
//
// Submit: parse and validate the spec (ParseSweepSpec) -> checksum every model
// (cached) -> expand into cells and shards (PlanSweep) -> look up which (cell,
// sample) pairs earlier sweeps already stored -> store the sweep in one
// transaction and start scheduling it (LeaseTable::AddSweep). Shards whose pairs
// are all stored are created done; `results_reused` counts those pairs. An
// invalid spec queues nothing.
// Cancel, Resume and the status calls delegate to the LeaseTable.
//
// Ownership: the Coordinator owns it; borrows Store, ResultWriter, LeaseTable, Clock.
// Threading: thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "coordinator/base/clock.h"
#include "coordinator/base/status.h"
#include "coordinator/core/coordinator_config.h"
#include "coordinator/core/lease_table.h"
#include "coordinator/core/model_checksums.h"
#include "coordinator/core/result_writer.h"
#include "coordinator/spec/sweep_spec.h"
#include "coordinator/store/store.h"
#include "proto/kvfunda.pb.h"

namespace kvfunda {

class SweepManager {
 public:
  SweepManager(const CoordinatorConfig& config, Store& store, ResultWriter& writer,
               LeaseTable& table, const Clock& clock);

  // Parses `spec_text` (YAML or JSON; `spec_name` names it in messages) and
  // submits it. With `dry_run` nothing is stored and sweep_id is empty.
  // Errors: bad-input (the spec, naming the field), model-load (a model path
  // cannot be read), io.
  Result<v1::SubmitSweepReply> Submit(std::string_view spec_text, std::string_view spec_name,
                                      bool dry_run);
  // Submits an already validated spec (tests; `kvfunda run`).
  Result<v1::SubmitSweepReply> SubmitSpec(const SweepSpec& spec, bool dry_run);

  // Errors: not-found (also for ids that are not numbers).
  Result<v1::SweepStatus> Get(const std::string& sweep_id) const;
  std::vector<v1::SweepStatus> List() const;
  Result<int> Cancel(const std::string& sweep_id);
  Result<int> Resume(const std::string& sweep_id);
  // The sweep's status and per-cell aggregates of its stored results.
  // Errors: not-found, io.
  Result<v1::SweepResults> Results(const std::string& sweep_id);

  // "12" -> 12. Errors: not-found naming the id.
  static Result<int64_t> ParseSweepId(const std::string& sweep_id);

 private:
  const CoordinatorConfig config_;
  Store& store_;
  LeaseTable& table_;
  ModelChecksums checksums_;
};

}  // namespace kvfunda
