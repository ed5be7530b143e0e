// SweepSpec: a validated sweep as submitted by a user (YAML or JSON).
//
// ParseSweepSpec() turns text into a SweepSpec or a bad-input Status whose message
// names the source, the line (YAML) and the field: "sweep.yaml:7: ratios[2]: 1.5 is
// outside (0, 1]". Nothing is queued for an invalid spec. docs/sweep-spec.md and
// schemas/sweep.schema.json describe every key.
//
// Threading: free functions and values; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "coordinator/base/status.h"

namespace kvfunda {

struct ModelEntry {
  std::string id;    // unique within the sweep
  std::string path;  // file or folder; must be readable at submit
  std::string type = "instruct";  // instruct | base | reasoning
};

struct MethodEntry {
  std::string name;       // a name from the method catalog (worker/compression/method_catalog.h)
  nlohmann::json params;  // canonical: every parameter with defaults filled in, keys sorted
};

struct TaskEntry {
  std::string name;        // a name from the task catalog (worker/tasks/task_catalog.h)
  std::vector<int> shots;  // distinct, each allowed by the task; never empty
  std::optional<int64_t> limit;  // overrides the sweep's limit for this task
  nlohmann::json params;   // canonical task parameters, defaults filled in
};

struct DecodingSpec {
  int max_new_tokens = 64;
  double temperature = 0.0;  // 0 = greedy
  double top_p = 1.0;
};

struct SweepSpec {
  std::string name;
  std::vector<ModelEntry> models;
  // Compression methods. `full` (ratio 1.0) is always evaluated as the baseline of
  // every (model, task, shots) group whether or not it is listed, and is NEVER in
  // this list (listing it in a spec is allowed and is a no-op). So the grid of one
  // (model, task, shots) group is: full + methods x ratios. Every entry here has
  // uses_ratio == true in the method catalog.
  std::vector<MethodEntry> methods;
  std::vector<double> ratios;  // distinct, each in (0, 1]
  std::vector<TaskEntry> tasks;
  std::optional<int64_t> limit;  // samples per task; all available when absent
  int shard_size = 16;           // samples per shard
  uint64_t seed = 1234;
  int max_attempts = 3;          // leases per shard before it fails (transient errors)
  DecodingSpec decoding;
  std::string data_dir;          // datasets folder; empty = the coordinator's default
};

struct SpecOptions {
  // When true, model paths must exist and be readable (the coordinator's check at
  // submit). Tests of pure parsing may turn it off.
  bool check_model_paths = true;
};

// Parses and validates. `source_name` is used in messages ("sweep.yaml").
// The format is detected: text whose first non-blank character is '{' is JSON,
// anything else YAML (a superset of JSON). Errors: bad-input, naming the field.
Result<SweepSpec> ParseSweepSpec(std::string_view text, std::string_view source_name,
                                 const SpecOptions& options = {});

// The spec back as canonical JSON (every default filled in); stored with the sweep.
// Keys are sorted; `limit` (top level and per task) is absent when unset; `methods`
// never contains `full`. ParseSweepSpec(SweepSpecToJson(s).dump()) gives back s.
nlohmann::json SweepSpecToJson(const SweepSpec& spec);

// The keys ParseSweepSpec accepts in each map of a spec: "" (top level),
// "models[]", "methods[]", "tasks[]", "decoding". Used by tests to keep
// schemas/sweep.schema.json in step with the parser.
const std::map<std::string, std::vector<std::string>>& SweepSpecAllowedKeys();

}  // namespace kvfunda
