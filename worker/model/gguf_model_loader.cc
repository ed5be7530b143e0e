// LoadGgufModel: GGUF tensors and vocabulary -> LlamaModel.
#include "worker/model/gguf_model_loader.h"

#include <algorithm>
#include <map>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "worker/model/checkpoint_loader.h"
#include "worker/model/dequantize.h"
#include "worker/model/hf_config.h"

namespace kvfunda {
namespace {

// HF suffix after "model.layers.N." -> GGUF suffix after "blk.N.".
constexpr std::pair<const char*, const char*> kLayerNames[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.o_proj.bias", "attn_output.bias"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
};

class GgufTensors final : public CheckpointTensors {
 public:
  GgufTensors(const GgufFile& gguf, int num_threads) : gguf_(gguf), num_threads_(num_threads) {}

  std::string FileName(const std::string& hf_name) const override {
    return GgufTensorName(hf_name);
  }
  bool Has(const std::string& hf_name) const override {
    return gguf_.FindTensor(GgufTensorName(hf_name)) != nullptr;
  }
  Result<at::Tensor> Read(const std::string& hf_name, const std::vector<int64_t>& shape) override {
    const std::string name = GgufTensorName(hf_name);
    const GgufTensorInfo* info = gguf_.FindTensor(name);
    if (info == nullptr) return Status::ModelLoad(gguf_.path() + ": tensor " + name + " is missing");
    const std::vector<int64_t> torch_shape(info->dims.rbegin(), info->dims.rend());
    if (torch_shape != shape) {
      return Status::ModelLoad(gguf_.path() + ": tensor " + name + " has shape " +
                               ShapeString(torch_shape) + " (ggml dims " +
                               ShapeString(info->dims) + "), expected " + ShapeString(shape));
    }
    at::Tensor t = at::empty(shape, at::kFloat);
    const Status s = DequantizeToF32(
        info->type, gguf_.TensorData(*info),
        std::span<float>(t.data_ptr<float>(), static_cast<size_t>(t.numel())), num_threads_);
    if (!s.ok()) return Status::ModelLoad(gguf_.path() + ": tensor " + name + ": " + s.message());
    return t;
  }

 private:
  const GgufFile& gguf_;
  const int num_threads_;
};

// The ggml type holding the most elements, by name ("Q4_1").
std::string DominantType(const GgufFile& gguf) {
  std::map<uint32_t, int64_t> elements;
  for (const GgufTensorInfo& t : gguf.tensors()) elements[t.type] += t.n_elements;
  const auto it = std::max_element(elements.begin(), elements.end(),
                                   [](const auto& a, const auto& b) { return a.second < b.second; });
  return it == elements.end() ? "" : GgmlTypeName(it->first);
}

}  // namespace

std::string GgufTensorName(const std::string& hf) {
  if (hf == "model.embed_tokens.weight") return "token_embd.weight";
  if (hf == "model.norm.weight") return "output_norm.weight";
  if (hf == "lm_head.weight") return "output.weight";
  const std::string prefix = "model.layers.";
  if (hf.rfind(prefix, 0) != 0) return hf;
  const size_t dot = hf.find('.', prefix.size());
  if (dot == std::string::npos) return hf;
  const std::string layer = hf.substr(prefix.size(), dot - prefix.size());
  const std::string rest = hf.substr(dot + 1);
  for (const auto& [from, to] : kLayerNames) {
    if (rest == from) return "blk." + layer + "." + to;
  }
  return hf;
}

Result<GgufVocab> ReadGgufVocab(const GgufFile& g) {
  GgufVocab v;
  v.source = g.path();
  if (!g.Has("tokenizer.ggml.model")) {
    return Status::ModelLoad(g.path() + ": no tokenizer.ggml.model: the file embeds no vocabulary");
  }
  KVF_ASSIGN_OR_RETURN(v.model, g.GetString("tokenizer.ggml.model"));
  if (!g.Has("tokenizer.ggml.tokens")) {
    return Status::ModelLoad(g.path() + ": tokenizer.ggml.tokens is missing");
  }
  KVF_ASSIGN_OR_RETURN(v.tokens, g.GetStringArray("tokenizer.ggml.tokens"));
  if (g.Has("tokenizer.ggml.pre")) {
    KVF_ASSIGN_OR_RETURN(v.pre, g.GetString("tokenizer.ggml.pre"));
  }
  if (g.Has("tokenizer.ggml.scores")) {
    KVF_ASSIGN_OR_RETURN(v.scores, g.GetFloatArray("tokenizer.ggml.scores"));
  }
  if (g.Has("tokenizer.ggml.token_type")) {
    KVF_ASSIGN_OR_RETURN(std::vector<int64_t> types, g.GetIntArray("tokenizer.ggml.token_type"));
    v.token_types.assign(types.begin(), types.end());
  }
  if (g.Has("tokenizer.ggml.merges")) {
    KVF_ASSIGN_OR_RETURN(v.merges, g.GetStringArray("tokenizer.ggml.merges"));
  }
  const auto id = [&g](const char* key, int32_t* out) -> Status {
    if (!g.Has(key)) return Status::Ok();
    KVF_ASSIGN_OR_RETURN(int64_t value, g.GetInt(key));
    if (value < -1 || value > INT32_MAX) {
      return Status::ModelLoad(g.path() + ": " + key + " = " + std::to_string(value) +
                               " is out of range");
    }
    *out = static_cast<int32_t>(value);
    return Status::Ok();
  };
  KVF_RETURN_IF_ERROR(id("tokenizer.ggml.bos_token_id", &v.bos_id));
  KVF_RETURN_IF_ERROR(id("tokenizer.ggml.eos_token_id", &v.eos_id));
  KVF_RETURN_IF_ERROR(id("tokenizer.ggml.unknown_token_id", &v.unk_id));
  if (g.Has("tokenizer.ggml.add_bos_token")) {
    KVF_ASSIGN_OR_RETURN(v.add_bos, g.GetBool("tokenizer.ggml.add_bos_token"));
  }
  if (g.Has("tokenizer.ggml.add_space_prefix")) {
    KVF_ASSIGN_OR_RETURN(v.add_space_prefix, g.GetBool("tokenizer.ggml.add_space_prefix"));
  }
  return v;
}

Result<std::unique_ptr<Model>> LoadGgufModel(const std::string& path,
                                             const ModelLoadOptions& options) {
  KVF_ASSIGN_OR_RETURN(GgufFile gguf, GgufFile::Open(path));
  KVF_ASSIGN_OR_RETURN(CheckpointConfig ckpt, ConfigFromGguf(gguf));
  KVF_ASSIGN_OR_RETURN(GgufVocab vocab, ReadGgufVocab(gguf));
  KVF_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, MakeGgufTokenizer(vocab));

  ModelConfig config = ModelConfigFromCheckpoint(ckpt);
  config.weight_dtype = DominantType(gguf);
  config.bos_id = !ckpt.bos_token_ids.empty() ? static_cast<int32_t>(ckpt.bos_token_ids[0])
                                              : tokenizer->bos_id();
  for (int64_t e : ckpt.eos_token_ids) config.eos_ids.push_back(static_cast<int32_t>(e));
  if (tokenizer->eos_id() >= 0 &&
      std::find(config.eos_ids.begin(), config.eos_ids.end(), tokenizer->eos_id()) ==
          config.eos_ids.end()) {
    config.eos_ids.push_back(tokenizer->eos_id());
  }
  if (gguf.Has("tokenizer.chat_template")) {
    KVF_ASSIGN_OR_RETURN(config.chat_template, gguf.GetString("tokenizer.chat_template"));
  }
  // llama_model_rope_type(): LLM_ARCH_LLAMA -> NORM (pairs), LLM_ARCH_QWEN2 -> NEOX.
  const RopeStyle style =
      ckpt.family == ModelFamily::kQwen2 ? RopeStyle::kRotateHalf : RopeStyle::kInterleavedPairs;
  const unsigned cores = std::thread::hardware_concurrency();
  const int threads =
      options.num_threads > 0 ? options.num_threads : static_cast<int>(cores > 0 ? cores : 1);
  GgufTensors tensors(gguf, threads);
  KVF_ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> model,
                       BuildLlamaModel(ckpt, std::move(config), style, tensors,
                                       std::move(tokenizer), path));
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace kvfunda
