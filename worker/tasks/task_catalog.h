// Task catalog: the tasks a sweep may name, their shot counts and parameters.
//
// Torch-free, used by the coordinator to validate specs, to count samples when it
// expands a sweep into shards, and to build cell identities (template_version).
// The implementations live in worker/tasks/ and are created by MakeTask().
// Threading: immutable after static initialisation; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "coordinator/base/status.h"
#include "worker/compression/method_catalog.h"

namespace kvfunda {

struct TaskDescriptor {
  std::string name;
  std::string summary;
  std::vector<int> allowed_shots;  // empty = any non-negative count
  std::vector<ParamSpec> params;
  // Changes whenever prompt construction or scoring changes; part of cell identity.
  std::string template_version;
  // Samples available for canonical `params` (and the datasets folder).
  Result<int64_t> (*count_samples)(const nlohmann::json& params, const std::string& data_dir);
};

const std::vector<TaskDescriptor>& AllTasks();
const TaskDescriptor* FindTask(std::string_view name);

}  // namespace kvfunda
