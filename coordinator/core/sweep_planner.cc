#include "coordinator/core/sweep_planner.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "coordinator/base/sha256.h"
#include "worker/compression/method_catalog.h"
#include "worker/tasks/task_catalog.h"

namespace kvfunda {
namespace {

std::string Fixed6(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", v);
  return buf;
}

nlohmann::json ObjectOrEmpty(const nlohmann::json& j) {
  return j.is_object() ? j : nlohmann::json::object();
}

}  // namespace

int64_t SweepPlan::cell_count() const {
  int64_t n = 0;
  for (const auto& g : groups) n += static_cast<int64_t>(g.cells.size());
  return n;
}

int64_t SweepPlan::shard_count() const {
  int64_t n = 0;
  for (const auto& g : groups) n += static_cast<int64_t>(g.shards.size());
  return n;
}

int64_t SweepPlan::results_expected() const {
  int64_t n = 0;
  for (const auto& g : groups) n += static_cast<int64_t>(g.cells.size()) * g.group.samples;
  return n;
}

std::string CellIdentityJson(const CellIdentity& id) {
  nlohmann::json task_params = ObjectOrEmpty(id.task_params);
  task_params.erase("data_dir");
  nlohmann::json j = {
      {"identity_version", 1},
      {"model_checksum", id.model_checksum},
      {"method", id.method},
      {"params", ObjectOrEmpty(id.params)},
      {"ratio", Fixed6(id.ratio)},
      {"task", id.task},
      {"shots", id.shots},
      {"template_version", id.template_version},
      {"task_params", task_params},
      {"seed", std::to_string(id.seed)},
      {"decoding",
       {{"max_new_tokens", id.decoding.max_new_tokens},
        {"temperature", Fixed6(id.decoding.temperature)},
        {"top_p", Fixed6(id.decoding.top_p)}}},
  };
  return j.dump();  // nlohmann objects are std::map: keys come out sorted
}

std::string CellIdFor(const CellIdentity& id) { return Sha256Hex(CellIdentityJson(id)); }

std::string DecodingJson(const DecodingSpec& d) {
  return nlohmann::json{{"max_new_tokens", d.max_new_tokens},
                        {"temperature", d.temperature},
                        {"top_p", d.top_p}}
      .dump();
}

Result<DecodingSpec> ParseDecodingJson(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("max_new_tokens") || !j["max_new_tokens"].is_number() ||
      !j.value("temperature", nlohmann::json()).is_number() ||
      !j.value("top_p", nlohmann::json()).is_number()) {
    return Status::Corruption("stored decoding settings are not valid: " + text);
  }
  DecodingSpec d;
  d.max_new_tokens = j["max_new_tokens"].get<int>();
  d.temperature = j["temperature"].get<double>();
  d.top_p = j["top_p"].get<double>();
  return d;
}

Result<SweepPlan> PlanSweep(const SweepSpec& spec,
                            const std::map<std::string, std::string>& model_checksums,
                            const std::string& default_data_dir) {
  if (spec.shard_size <= 0) return Status::BadInput("shard_size must be positive");
  const std::string data_dir = spec.data_dir.empty() ? default_data_dir : spec.data_dir;
  SweepPlan plan;
  std::map<std::string, std::string> cell_owner;  // cell_id -> model id (duplicate check)
  for (const ModelEntry& model : spec.models) {
    auto sum = model_checksums.find(model.id);
    if (sum == model_checksums.end()) {
      return Status::InvalidArgument("no checksum for model " + model.id);
    }
    for (size_t t = 0; t < spec.tasks.size(); ++t) {
      const TaskEntry& task = spec.tasks[t];
      const TaskDescriptor* desc = FindTask(task.name);
      if (!desc) return Status::BadInput("tasks[" + std::to_string(t) + "]: unknown task '" +
                                         task.name + "'");
      if (!desc->count_samples) {
        return Status::Internal("task " + task.name + " cannot count its samples");
      }
      nlohmann::json task_params = ObjectOrEmpty(task.params);
      Result<int64_t> available = desc->count_samples(task_params, data_dir);
      if (!available.ok()) {
        return available.status().WithContext("tasks[" + std::to_string(t) + "] (" +
                                              task.name + ")");
      }
      std::optional<int64_t> limit = task.limit ? task.limit : spec.limit;
      int64_t samples = limit ? std::min(*limit, *available) : *available;
      if (samples <= 0) {
        return Status::BadInput("tasks[" + std::to_string(t) + "] (" + task.name +
                                "): no samples available" +
                                (data_dir.empty() ? "" : " in " + data_dir));
      }
      nlohmann::json sent_params = task_params;
      if (!data_dir.empty() && !sent_params.contains("data_dir")) sent_params["data_dir"] = data_dir;

      for (int shots : task.shots) {
        PlannedGroup g;
        g.group.group_idx = static_cast<int>(plan.groups.size());
        g.group.model_id = model.id;
        g.group.model_path = model.path;
        g.group.model_type = model.type;
        g.group.model_checksum = sum->second;
        g.group.task = task.name;
        g.group.shots = shots;
        g.group.task_params_json = sent_params.dump();
        g.group.samples = samples;

        auto add_cell = [&](const std::string& method, const nlohmann::json& params,
                            double ratio) -> Status {
          CellIdentity id{sum->second, method,   params,        ratio, task.name, shots,
                          desc->template_version, task_params, spec.seed,   spec.decoding};
          CellRow c;
          c.identity_json = CellIdentityJson(id);
          c.cell_id = Sha256Hex(c.identity_json);
          c.model_id = model.id;
          c.model_checksum = sum->second;
          c.method = method;
          c.params_json = ObjectOrEmpty(params).dump();
          c.ratio = ratio;
          c.task = task.name;
          c.shots = shots;
          auto [it, fresh] = cell_owner.emplace(c.cell_id, model.id);
          if (!fresh) {
            return Status::BadInput(
                "models '" + it->second + "' and '" + model.id +
                "' give identical cells (same file checksum " + sum->second.substr(0, 12) +
                "...); list each model once");
          }
          g.cells.push_back(std::move(c));
          return Status::Ok();
        };
        KVF_RETURN_IF_ERROR(add_cell("full", nlohmann::json::object(), 1.0));
        for (size_t m = 0; m < spec.methods.size(); ++m) {
          const MethodEntry& method = spec.methods[m];
          if (method.name == "full") continue;  // always present as the baseline
          const MethodDescriptor* md = FindMethod(method.name);
          if (!md) return Status::BadInput("methods[" + std::to_string(m) + "]: unknown method '" +
                                           method.name + "'");
          if (!md->uses_ratio) {
            KVF_RETURN_IF_ERROR(add_cell(method.name, method.params, 1.0));
            continue;
          }
          for (double ratio : spec.ratios) {
            KVF_RETURN_IF_ERROR(add_cell(method.name, method.params, ratio));
          }
        }
        for (int64_t b = 0; b < samples; b += spec.shard_size) {
          g.shards.emplace_back(b, std::min<int64_t>(b + spec.shard_size, samples));
        }
        plan.groups.push_back(std::move(g));
      }
    }
  }
  return plan;
}

}  // namespace kvfunda
