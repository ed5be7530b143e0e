// Task: one benchmark task: builds a sample's prompt and scores an output.
//
// Implementations live in worker/tasks/ (fidelity now; MMLU, GSM8K, ... with the
// tasks issue). Every task also gets the fidelity metrics (compressed vs
// full-cache output), computed by the shard evaluator, not by the task.
// Threading: immutable after construction; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "coordinator/base/status.h"
#include "worker/compression/compression_policy.h"
#include "worker/model/model.h"

namespace kvfunda {

struct TaskSample {
  int64_t index = 0;                 // stable sample id within the task
  std::string prompt_text;
  std::vector<int32_t> prompt_tokens;
  std::vector<ShotSpan> shots;       // token spans of the few-shot exemplars
  std::string reference;             // expected answer ("" when none)
};

struct Generation {
  std::vector<int32_t> tokens;
  std::string text;
  bool hit_max_new_tokens = false;
};

struct SampleScore {
  double score = 0;                        // primary metric
  std::map<std::string, double> metrics;   // secondary metrics
  nlohmann::json detail;                   // for the drill-down view
};

class Task {
 public:
  virtual ~Task() = default;
  virtual const std::string& name() const = 0;
  // Builds sample `index` with `shots` exemplars. May run the model (the fidelity
  // task writes its prompts with it). Errors: bad-input naming the sample.
  virtual Result<TaskSample> MakeSample(Model& model, int64_t index, int shots) = 0;
  // Scores `output` for `sample`; `full_cache` is the same sample's full-cache
  // output (equal to `output` for the full cell).
  virtual SampleScore Score(const TaskSample& sample, const Generation& output,
                            const Generation& full_cache) const = 0;
};

struct TaskContext {
  std::string data_dir;
  uint64_t seed = 0;  // the sweep's seed
};

// Creates the task for a catalog name and its canonical params.
Result<std::unique_ptr<Task>> MakeTask(const std::string& name, const nlohmann::json& params,
                                       const TaskContext& context);

}  // namespace kvfunda
