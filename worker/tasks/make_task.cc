// MakeTask(): the factory from a catalog task name to its implementation.
#include <string>

#include "worker/tasks/fidelity_task.h"
#include "worker/tasks/task.h"
#include "worker/tasks/task_catalog.h"

namespace kvfunda {

Result<std::unique_ptr<Task>> MakeTask(const std::string& name, const nlohmann::json& params,
                                       const TaskContext& context) {
  const TaskDescriptor* descriptor = FindTask(name);
  if (descriptor == nullptr) return Status::BadInput("unknown task '" + name + "'");
  Result<nlohmann::json> canonical = CanonicalParams(descriptor->params, params);
  if (!canonical.ok()) {
    return Status::BadInput(canonical.status().message()).WithContext("task " + name);
  }
  if (name == "fidelity") return FidelityTask::Create(canonical.value(), context);
  return Status::BadInput("task '" + name + "' is in the catalog but not implemented by this worker");
}

}  // namespace kvfunda
