// LoadHfModel: config.json + safetensors + tokenizer.json -> LlamaModel.
#include "worker/model/hf_model_loader.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <span>
#include <sstream>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "worker/model/bpe_tokenizer.h"
#include "worker/model/checkpoint_loader.h"
#include "worker/model/hf_config.h"
#include "worker/model/safetensors_file.h"

namespace kvfunda {
namespace {

using json = nlohmann::json;

class SafetensorsTensors final : public CheckpointTensors {
 public:
  explicit SafetensorsTensors(const SafetensorsCheckpoint& ckpt) : ckpt_(ckpt) {}

  std::string FileName(const std::string& hf_name) const override { return hf_name; }
  bool Has(const std::string& hf_name) const override {
    const SafetensorsFile* shard = nullptr;
    return ckpt_.Find(hf_name, &shard) != nullptr;
  }
  Result<at::Tensor> Read(const std::string& name, const std::vector<int64_t>& shape) override {
    const SafetensorsFile* shard = nullptr;
    const SafetensorsTensor* t = ckpt_.Find(name, &shard);
    if (t == nullptr) {
      const std::string where = ckpt_.shards().empty() ? std::string("checkpoint")
                                                       : ckpt_.shards().front().path();
      return Status::ModelLoad(where + ": tensor " + name + " is missing");
    }
    if (t->shape != shape) {
      return Status::ModelLoad(shard->path() + ": tensor " + name + " has shape " +
                               ShapeString(t->shape) + ", expected " + ShapeString(shape));
    }
    at::Tensor out = at::empty(shape, at::kFloat);
    const Status s = SafetensorsToFloat32(
        *t, shard->TensorData(*t),
        std::span<float>(out.data_ptr<float>(), static_cast<size_t>(out.numel())));
    if (!s.ok()) return Status::ModelLoad(shard->path() + ": tensor " + name + ": " + s.message());
    return out;
  }

 private:
  const SafetensorsCheckpoint& ckpt_;
};

// The parsed JSON file at `path`, or null JSON when the file does not exist.
Result<json> ReadOptionalJson(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return json();
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) return Status::ModelLoad(path + ": cannot read");
  json j = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::ModelLoad(path + ": not valid JSON");
  return j;
}

// tokenizer_config.json "chat_template": a string, or a list of {name, template}
// (the one named "default", else the first).
Result<std::string> ChatTemplate(const json& config, const std::string& path) {
  if (!config.is_object() || !config.contains("chat_template")) return std::string();
  const json& t = config["chat_template"];
  if (t.is_null()) return std::string();
  if (t.is_string()) return t.get<std::string>();
  if (t.is_array()) {
    const json* chosen = nullptr;
    for (const json& entry : t) {
      if (!entry.is_object() || !entry.contains("template") || !entry["template"].is_string()) {
        return Status::ModelLoad(path + ": chat_template entries need a string \"template\"");
      }
      if (chosen == nullptr || (entry.contains("name") && entry["name"] == "default")) {
        chosen = &entry;
      }
    }
    if (chosen != nullptr) return (*chosen)["template"].get<std::string>();
    return std::string();
  }
  return Status::ModelLoad(path + ": chat_template must be a string or a list");
}

void AddId(int64_t id, std::vector<int32_t>* ids) {
  if (id < 0 || id > INT32_MAX) return;
  const int32_t v = static_cast<int32_t>(id);
  if (std::find(ids->begin(), ids->end(), v) == ids->end()) ids->push_back(v);
}

// The most common dtype of the checkpoint's tensors ("bfloat16" style names).
std::string DominantDtype(const SafetensorsCheckpoint& ckpt) {
  std::vector<std::pair<std::string, int64_t>> counts;
  for (const SafetensorsFile& shard : ckpt.shards()) {
    for (const SafetensorsTensor& t : shard.tensors()) {
      const std::string name(SafetensorsDtypeName(t.dtype));
      auto it = std::find_if(counts.begin(), counts.end(),
                             [&](const auto& c) { return c.first == name; });
      if (it == counts.end()) {
        counts.emplace_back(name, t.n_elements);
      } else {
        it->second += t.n_elements;
      }
    }
  }
  const auto best = std::max_element(counts.begin(), counts.end(),
                                     [](const auto& a, const auto& b) { return a.second < b.second; });
  if (best == counts.end()) return "";
  if (best->first == "BF16") return "bfloat16";
  if (best->first == "F16") return "float16";
  if (best->first == "F32") return "float32";
  return best->first;
}

}  // namespace

bool IsHfModelFolder(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_directory(path, ec) &&
         std::filesystem::is_regular_file(std::filesystem::path(path) / "config.json", ec);
}

Result<std::unique_ptr<Model>> LoadHfModel(const std::string& folder,
                                           const ModelLoadOptions& options) {
  (void)options;  // conversion of F32/F16/BF16 runs on the calling thread
  const std::filesystem::path dir(folder);
  KVF_ASSIGN_OR_RETURN(CheckpointConfig ckpt, LoadHfConfig((dir / "config.json").string()));
  KVF_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer,
                       LoadHfTokenizer((dir / "tokenizer.json").string()));
  KVF_ASSIGN_OR_RETURN(SafetensorsCheckpoint weights, SafetensorsCheckpoint::Open(folder));

  ModelConfig config = ModelConfigFromCheckpoint(ckpt);
  config.weight_dtype = ckpt.torch_dtype.empty() ? DominantDtype(weights) : ckpt.torch_dtype;
  config.bos_id = !ckpt.bos_token_ids.empty() ? static_cast<int32_t>(ckpt.bos_token_ids[0])
                                              : tokenizer->bos_id();
  for (int64_t e : ckpt.eos_token_ids) AddId(e, &config.eos_ids);
  const std::string gen_path = (dir / "generation_config.json").string();
  KVF_ASSIGN_OR_RETURN(json gen, ReadOptionalJson(gen_path));
  if (gen.is_object() && gen.contains("eos_token_id")) {
    const json& e = gen["eos_token_id"];
    if (e.is_number_integer()) AddId(e.get<int64_t>(), &config.eos_ids);
    if (e.is_array()) {
      for (const json& x : e) {
        if (x.is_number_integer()) AddId(x.get<int64_t>(), &config.eos_ids);
      }
    }
  }
  AddId(tokenizer->eos_id(), &config.eos_ids);
  const std::string tc_path = (dir / "tokenizer_config.json").string();
  KVF_ASSIGN_OR_RETURN(json tc, ReadOptionalJson(tc_path));
  KVF_ASSIGN_OR_RETURN(config.chat_template, ChatTemplate(tc, tc_path));

  SafetensorsTensors tensors(weights);
  KVF_ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> model,
                       BuildLlamaModel(ckpt, std::move(config), RopeStyle::kRotateHalf, tensors,
                                       std::move(tokenizer), folder));
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace kvfunda
