// Rows of kvfunda's store (schemas/*.sql), as plain structs, and the shard and
// sweep state enums shared by the store and the coordinator's managers.
//
// Times are milliseconds since the Unix epoch (Clock::NowMs()).
// Threading: values; thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "proto/kvfunda.pb.h"

namespace kvfunda {

// Shard states (the transitions are documented in coordinator/core/lease_table.h).
enum class ShardState { kPending, kLeased, kDone, kFailed, kCancelled };
std::string_view ShardStateName(ShardState s);
// nullopt for an unknown name.
std::optional<ShardState> ParseShardState(std::string_view name);

enum class SweepState { kQueued, kRunning, kDone, kFailed, kCancelled };
std::string_view SweepStateName(SweepState s);
std::optional<SweepState> ParseSweepState(std::string_view name);
// The API's name for a stored sweep state.
v1::SweepState SweepStateToProto(SweepState s);
inline bool SweepEnded(SweepState s) {
  return s == SweepState::kDone || s == SweepState::kFailed || s == SweepState::kCancelled;
}

struct SweepRow {
  int64_t id = 0;
  std::string name;
  std::string spec_json;
  std::string spec_hash;
  SweepState state = SweepState::kQueued;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  int max_attempts = 3;
  int shard_size = 16;
  uint64_t seed = 0;
  std::string decoding_json;  // {"max_new_tokens": n, "temperature": t, "top_p": p}
  std::string data_dir;
};

struct CellRow {
  std::string cell_id;
  std::string model_id;
  std::string model_checksum;
  std::string method;
  std::string params_json;
  double ratio = 1.0;
  std::string task;
  int shots = 0;
  std::string identity_json;
};

// A (model, task, shots) group of a sweep.
struct GroupRow {
  int64_t sweep_id = 0;
  int group_idx = 0;
  std::string model_id;
  std::string model_path;
  std::string model_type;
  std::string model_checksum;
  std::string task;
  int shots = 0;
  std::string task_params_json;
  int64_t samples = 0;
};

// A cell of a sweep, in its group's order (sweep_cells joined with cells).
struct SweepCellRow {
  int64_t sweep_id = 0;
  int group_idx = 0;
  int cell_idx = 0;
  CellRow cell;
};

struct ShardRow {
  int64_t id = 0;
  int64_t sweep_id = 0;
  int group_idx = 0;
  std::string model_id;
  std::string task;
  int shots = 0;
  int64_t sample_begin = 0;
  int64_t sample_end = 0;
  ShardState state = ShardState::kPending;
  int attempts = 0;
  std::string lease_id;
  std::string lease_owner;
  int64_t lease_deadline_ms = 0;
  int64_t not_before_ms = 0;
  std::string last_error_kind;
  std::string last_error;
  int64_t samples_done = 0;
  int64_t updated_ms = 0;
};

struct ResultRow {
  std::string cell_id;
  int64_t sample_idx = 0;
  double score = 0;
  std::string metrics_json = "{}";
  std::string prediction;
  std::string reference;
  int64_t prompt_tokens = 0;
  int64_t output_tokens = 0;
  int64_t kv_bytes_peak = 0;
  int64_t kv_bytes_final = 0;
  double prefill_ms = 0;
  double decode_ms = 0;
  std::string detail_json;
  std::string worker_id;
  int64_t reported_ms = 0;
};

struct WorkerRow {
  std::string id;
  std::string name;
  std::string host;
  std::string device;
  int64_t memory_bytes = 0;
  std::string models_json = "[]";
  int64_t pid = 0;
  int64_t registered_ms = 0;
  int64_t last_heartbeat_ms = 0;
};

struct EventRow {
  int64_t id = 0;  // assigned by the store
  int64_t ts_ms = 0;
  std::optional<int64_t> sweep_id;
  std::string kind;
  std::string message;
};

// Aggregate of one cell's stored results within a sweep (for `kvfunda results`
// and the dashboard).
struct CellSummaryRow {
  CellRow cell;
  std::string model_id;  // the sweep's name for the model
  int64_t samples_expected = 0;
  int64_t samples_stored = 0;
  double score_mean = 0;
  double kv_bytes_final_mean = 0;
  double kv_bytes_peak_mean = 0;
  std::map<std::string, double> metric_means;  // each metric's mean over the stored samples
  double prefill_ms_mean = 0;
  double decode_ms_mean = 0;
};

}  // namespace kvfunda
