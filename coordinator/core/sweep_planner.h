// SweepPlanner: expands a validated SweepSpec into cells and shards.
//
// A group is one (model, task, shots); its cells are the baseline `full`
// (ratio 1.0, params {}) followed by every spec method x ratio (a method that
// does not use a ratio gets one cell at 1.0). Its samples are min(limit,
// task's available samples) and its shards cut [0, samples) into shard_size
// ranges; each shard carries every cell of its group.
//
// Cell identity: cell_id = sha256 of a canonical JSON (keys sorted, no spaces)
// holding everything that can change a result:
//   model checksum, method, canonical method params, ratio ("%.6f"), task, shots,
//   the task's template_version, canonical task params (without "data_dir"),
//   the sweep seed and the decoding settings (max_new_tokens, temperature and
//   top_p as "%.6f").
// The datasets folder is not part of it: a dataset's identity is covered by the
// task's template_version (which changes whenever prompts or data change), so a
// moved data folder still reuses stored results. The model id (a sweep-local
// name) and the shard size are not part of it either.
//
// Threading: free functions; thread-safe (the catalogs are immutable).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "coordinator/base/status.h"
#include "coordinator/spec/sweep_spec.h"
#include "coordinator/store/rows.h"

namespace kvfunda {

struct PlannedGroup {
  GroupRow group;                                  // sweep_id left 0
  std::vector<CellRow> cells;                      // cells[0] is the `full` baseline
  std::vector<std::pair<int64_t, int64_t>> shards;  // [begin, end) sample ranges
};

struct SweepPlan {
  std::vector<PlannedGroup> groups;
  int64_t cell_count() const;
  int64_t shard_count() const;
  int64_t results_expected() const;  // sum over groups of cells x samples
};

// Everything that goes into a cell's identity.
struct CellIdentity {
  std::string model_checksum;
  std::string method;
  nlohmann::json params;  // canonical method params ({} for full)
  double ratio = 1.0;
  std::string task;
  int shots = 0;
  std::string template_version;
  nlohmann::json task_params;  // canonical; "data_dir" is removed before hashing
  uint64_t seed = 0;
  DecodingSpec decoding;
};

// The canonical JSON text hashed into the cell id.
std::string CellIdentityJson(const CellIdentity& id);
// Hex sha256 of CellIdentityJson(id).
std::string CellIdFor(const CellIdentity& id);

// The decoding settings as stored with the sweep ({"max_new_tokens", "temperature", "top_p"}).
std::string DecodingJson(const DecodingSpec& d);
// Errors: corruption when the text is not such an object.
Result<DecodingSpec> ParseDecodingJson(const std::string& text);

// Expands `spec`. `model_checksums` maps each spec model id to its file checksum;
// `default_data_dir` is used when the spec names no data_dir.
// Errors: bad-input (unknown method/task, a task without samples, two models with
// the same checksum giving the same cells), or the task's count_samples error.
Result<SweepPlan> PlanSweep(const SweepSpec& spec,
                            const std::map<std::string, std::string>& model_checksums,
                            const std::string& default_data_dir);

}  // namespace kvfunda
