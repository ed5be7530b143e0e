// Task catalog: descriptors of the tasks a sweep may name. Adding a task is one
// entry in AllTasks() (plus its Task class, created by MakeTask()).
#include "worker/tasks/task_catalog.h"

#include <string>
#include <utility>

namespace kvfunda {
namespace {

ParamSpec IntParam(std::string name, int64_t default_value, double min, double max,
                   std::string doc) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = ParamSpec::Type::kInt;
  p.default_value = default_value;
  p.min = min;
  p.max = max;
  p.doc = std::move(doc);
  return p;
}

ParamSpec DoubleParam(std::string name, double default_value, double min, double max,
                      std::string doc) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = ParamSpec::Type::kDouble;
  p.default_value = default_value;
  p.min = min;
  p.max = max;
  p.doc = std::move(doc);
  return p;
}

// fidelity: its prompts are generated, so the count is a parameter.
Result<int64_t> CountFidelitySamples(const nlohmann::json& params,
                                     const std::string& /*data_dir*/) {
  if (!params.is_object() || !params.contains("num_samples") ||
      !params["num_samples"].is_number_integer()) {
    return Status::InvalidArgument(
        "fidelity: parameters are not canonical (num_samples missing): " + params.dump());
  }
  const int64_t n = params["num_samples"].get<int64_t>();
  if (n < 1)
    return Status::BadInput("fidelity: num_samples must be positive, got " + std::to_string(n));
  return n;
}

std::vector<TaskDescriptor> BuildTasks() {
  std::vector<TaskDescriptor> tasks;
  {
    TaskDescriptor fidelity;
    fidelity.name = "fidelity";
    fidelity.summary =
        "Story prompts written by the model itself from the sweep's seed; the compressed-cache "
        "greedy continuation is compared with the full-cache one (exact match, tokens agreeing "
        "before the first divergence, mean next-token KL divergence).";
    fidelity.allowed_shots = {0};
    fidelity.params = {
        IntParam("num_samples", 64, 1, 1000000, "how many prompts exist"),
        IntParam("prompt_tokens", 96, 8, 4096, "story prompt length in tokens"),
        DoubleParam("prompt_temperature", 1.0, 0.0, 2.0,
                    "the temperature used to write the prompt"),
    };
    fidelity.template_version = "fidelity-v1";
    fidelity.count_samples = &CountFidelitySamples;
    tasks.push_back(std::move(fidelity));
  }
  return tasks;
}

}  // namespace

const std::vector<TaskDescriptor>& AllTasks() {
  static const std::vector<TaskDescriptor> tasks = BuildTasks();
  return tasks;
}

const TaskDescriptor* FindTask(std::string_view name) {
  for (const TaskDescriptor& t : AllTasks()) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

}  // namespace kvfunda
