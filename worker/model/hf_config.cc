#include "worker/model/hf_config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <sstream>

#include <nlohmann/json.hpp>

#include "worker/model/gguf_file.h"

namespace kvfunda {
namespace {

using nlohmann::json;

// Sanity bounds: far above any real model, low enough that sizes derived from
// them cannot overflow or allocate absurdly.
constexpr int64_t kMaxWidth = int64_t{1} << 20;
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxVocab = int64_t{1} << 24;
constexpr int64_t kMaxContext = int64_t{1} << 26;

struct FamilyInfo {
  const char* architecture;
  const char* model_type;
  ModelFamily family;
};
constexpr FamilyInfo kFamilies[] = {
    {"LlamaForCausalLM", "llama", ModelFamily::kLlama},
    {"MistralForCausalLM", "mistral", ModelFamily::kMistral},
    {"Qwen2ForCausalLM", "qwen2", ModelFamily::kQwen2},
};

std::string SupportedArchitectures() {
  std::string out;
  for (const auto& f : kFamilies) out += std::string(out.empty() ? "" : ", ") + f.architecture;
  return out;
}

// Reads config.json fields with type checks; errors name the source and key.
class JsonFields {
 public:
  JsonFields(const json& j, const std::string& source) : j_(j), source_(source) {}

  Status Fail(const std::string& what) const { return Status::ModelLoad(source_ + ": " + what); }

  const json* Get(const char* key) const {
    auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }

  Status Int(const char* key, int64_t* out, std::optional<int64_t> def) const {
    const json* v = Get(key);
    if (v == nullptr) {
      if (!def) return Fail("missing required key \"" + std::string(key) + "\"");
      *out = *def;
      return Status::Ok();
    }
    if (!v->is_number_integer()) return Fail("\"" + std::string(key) + "\" must be an integer");
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      return Fail("\"" + std::string(key) + "\" is out of range");
    }
    *out = v->get<int64_t>();
    return Status::Ok();
  }

  Status Double(const char* key, double* out, double def) const {
    const json* v = Get(key);
    if (v == nullptr) {
      *out = def;
      return Status::Ok();
    }
    if (!v->is_number()) return Fail("\"" + std::string(key) + "\" must be a number");
    *out = v->get<double>();
    return Status::Ok();
  }

  Status Bool(const char* key, bool* out, bool def) const {
    const json* v = Get(key);
    if (v == nullptr) {
      *out = def;
      return Status::Ok();
    }
    if (!v->is_boolean()) return Fail("\"" + std::string(key) + "\" must be true or false");
    *out = v->get<bool>();
    return Status::Ok();
  }

  // An int, a list of ints, or null/absent (empty).
  Status IntList(const char* key, std::vector<int64_t>* out) const {
    const json* v = Get(key);
    out->clear();
    if (v == nullptr) return Status::Ok();
    auto one = [&](const json& x) -> Status {
      if (!x.is_number_integer()) return Fail("\"" + std::string(key) + "\" must be an integer or a list of integers");
      out->push_back(x.get<int64_t>());
      return Status::Ok();
    };
    if (v->is_array()) {
      for (const auto& x : *v) KVF_RETURN_IF_ERROR(one(x));
      return Status::Ok();
    }
    return one(*v);
  }

 private:
  const json& j_;
  const std::string& source_;
};

Status ParseRopeScaling(const JsonFields& f, RopeScaling* out) {
  const json* rs = f.Get("rope_scaling");
  *out = RopeScaling{};
  if (rs == nullptr) return Status::Ok();
  if (!rs->is_object()) return f.Fail("\"rope_scaling\" must be an object or null");
  std::string type;
  for (const char* key : {"rope_type", "type"}) {
    auto it = rs->find(key);
    if (it != rs->end() && it->is_string()) {
      type = it->get<std::string>();
      break;
    }
  }
  auto number = [&](const char* key, double* v, double def) -> Status {
    auto it = rs->find(key);
    if (it == rs->end() || it->is_null()) {
      *v = def;
      return Status::Ok();
    }
    if (!it->is_number()) return f.Fail("rope_scaling." + std::string(key) + " must be a number");
    *v = it->get<double>();
    return Status::Ok();
  };
  if (type.empty() || type == "default") return Status::Ok();
  if (type == "linear") {
    out->type = type;
    return number("factor", &out->factor, 1.0);
  }
  if (type == "llama3") {
    out->type = type;
    KVF_RETURN_IF_ERROR(number("factor", &out->factor, 8.0));
    KVF_RETURN_IF_ERROR(number("low_freq_factor", &out->low_freq_factor, 1.0));
    KVF_RETURN_IF_ERROR(number("high_freq_factor", &out->high_freq_factor, 4.0));
    double original = 0;
    KVF_RETURN_IF_ERROR(number("original_max_position_embeddings", &original, 8192));
    out->original_max_position_embeddings = static_cast<int64_t>(original);
    return Status::Ok();
  }
  return f.Fail("unsupported rope_scaling type \"" + type + "\" (supported: llama3, linear)");
}

}  // namespace

std::string_view ModelFamilyName(ModelFamily family) {
  switch (family) {
    case ModelFamily::kLlama: return "llama";
    case ModelFamily::kMistral: return "mistral";
    case ModelFamily::kQwen2: return "qwen2";
  }
  return "?";
}

Result<CheckpointConfig> ParseHfConfig(std::string_view json_text, const std::string& source) {
  json j = json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::ModelLoad(source + ": not a valid JSON object");
  }
  JsonFields f(j, source);
  CheckpointConfig c;

  // Architecture: architectures[0] when present, else model_type.
  std::string arch, model_type;
  if (const json* a = f.Get("architectures")) {
    if (!a->is_array() || a->empty() || !(*a)[0].is_string()) {
      return f.Fail("\"architectures\" must be a non-empty list of strings");
    }
    arch = (*a)[0].get<std::string>();
  }
  if (const json* m = f.Get("model_type"); m != nullptr && m->is_string()) {
    model_type = m->get<std::string>();
  }
  const FamilyInfo* fam = nullptr;
  for (const auto& info : kFamilies) {
    if (arch.empty() ? model_type == info.model_type : arch == info.architecture) fam = &info;
  }
  if (fam == nullptr) {
    return f.Fail("unsupported architecture " + (arch.empty() ? std::string("(none)") : arch) +
                  " (model_type " + (model_type.empty() ? std::string("(none)") : model_type) +
                  "); supported: " + SupportedArchitectures());
  }
  c.family = fam->family;
  c.architecture = fam->architecture;
  c.model_type = fam->model_type;
  if (const json* d = f.Get("torch_dtype"); d != nullptr && d->is_string()) {
    c.torch_dtype = d->get<std::string>();
  }

  // transformers' per-family defaults.
  const bool mistral = c.family == ModelFamily::kMistral;
  const bool qwen2 = c.family == ModelFamily::kQwen2;
  const int64_t default_context = mistral ? 4096 * 32 : qwen2 ? 32768 : 2048;

  KVF_RETURN_IF_ERROR(f.Int("hidden_size", &c.hidden_size, std::nullopt));
  KVF_RETURN_IF_ERROR(f.Int("intermediate_size", &c.intermediate_size, std::nullopt));
  KVF_RETURN_IF_ERROR(f.Int("num_hidden_layers", &c.num_hidden_layers, std::nullopt));
  KVF_RETURN_IF_ERROR(f.Int("num_attention_heads", &c.num_attention_heads, std::nullopt));
  KVF_RETURN_IF_ERROR(f.Int("num_key_value_heads", &c.num_key_value_heads,
                            mistral ? 8 : c.num_attention_heads));
  KVF_RETURN_IF_ERROR(f.Int("vocab_size", &c.vocab_size, std::nullopt));
  KVF_RETURN_IF_ERROR(f.Int("max_position_embeddings", &c.max_position_embeddings, default_context));
  if (c.num_attention_heads > 0 && c.hidden_size % c.num_attention_heads != 0 && !f.Get("head_dim")) {
    return f.Fail("hidden_size " + std::to_string(c.hidden_size) + " is not a multiple of num_attention_heads " +
                  std::to_string(c.num_attention_heads) + " and no head_dim is given");
  }
  KVF_RETURN_IF_ERROR(f.Int("head_dim", &c.head_dim,
                            c.num_attention_heads > 0 ? c.hidden_size / c.num_attention_heads : 0));
  KVF_RETURN_IF_ERROR(f.Double("rms_norm_eps", &c.rms_norm_eps, 1e-6));
  KVF_RETURN_IF_ERROR(f.Double("rope_theta", &c.rope_theta, 10000.0));
  KVF_RETURN_IF_ERROR(ParseRopeScaling(f, &c.rope_scaling));
  KVF_RETURN_IF_ERROR(f.Bool("tie_word_embeddings", &c.tie_word_embeddings, false));
  // Qwen2's attention always has q/k/v biases; Llama and Mistral only when asked.
  KVF_RETURN_IF_ERROR(f.Bool("attention_bias", &c.attention_bias, false));
  if (qwen2) c.attention_bias = true;

  if (mistral) {
    // MistralConfig: sliding_window defaults to 4096; null turns it off.
    if (j.contains("sliding_window")) {
      if (const json* w = f.Get("sliding_window")) {
        if (!w->is_number_integer()) return f.Fail("\"sliding_window\" must be an integer or null");
        c.sliding_window = w->get<int64_t>();
      }
    } else {
      c.sliding_window = 4096;
    }
    c.use_sliding_window = c.sliding_window.has_value();
  } else if (const json* w = f.Get("sliding_window")) {
    if (!w->is_number_integer()) return f.Fail("\"sliding_window\" must be an integer or null");
    c.sliding_window = w->get<int64_t>();
    KVF_RETURN_IF_ERROR(f.Bool("use_sliding_window", &c.use_sliding_window, false));
  }
  KVF_RETURN_IF_ERROR(f.IntList("bos_token_id", &c.bos_token_ids));
  KVF_RETURN_IF_ERROR(f.IntList("eos_token_id", &c.eos_token_ids));
  KVF_RETURN_IF_ERROR(ValidateCheckpointConfig(c, source));
  return c;
}

Result<CheckpointConfig> LoadHfConfig(const std::string& path) {
  std::filesystem::path p(path);
  std::error_code ec;
  if (std::filesystem::is_directory(p, ec)) p /= "config.json";
  std::ifstream in(p, std::ios::binary);
  if (!in) return Status::ModelLoad(p.string() + ": cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  return ParseHfConfig(text.str(), p.string());
}

Result<CheckpointConfig> ConfigFromGguf(const GgufFile& g) {
  const std::string& source = g.path();
  auto fail = [&](const std::string& what) { return Status::ModelLoad(source + ": " + what); };
  Result<std::string> arch_r = g.GetString("general.architecture");
  if (!arch_r.ok()) return fail("missing string general.architecture");
  const std::string arch = arch_r.value();
  CheckpointConfig c;
  if (arch == "llama") {
    c.family = ModelFamily::kLlama;
  } else if (arch == "qwen2") {
    c.family = ModelFamily::kQwen2;
  } else {
    return fail("unsupported GGUF architecture \"" + arch + "\" (supported: llama, qwen2)");
  }
  c.architecture = arch;
  c.model_type = arch;

  // Required integer / optional keys under "<arch>.".
  auto required = [&](const std::string& key, int64_t* out) -> Status {
    Result<int64_t> v = g.GetInt(arch + "." + key);
    if (!v.ok()) {
      return v.status().code() == Status::Code::kNotFound ? fail("missing key " + arch + "." + key) : v.status();
    }
    *out = v.value();
    return Status::Ok();
  };
  auto optional_int = [&](const std::string& key, int64_t* out, int64_t def) -> Status {
    if (!g.Has(arch + "." + key)) {
      *out = def;
      return Status::Ok();
    }
    return required(key, out);
  };
  auto optional_f64 = [&](const std::string& key, double* out, double def) -> Status {
    if (!g.Has(arch + "." + key)) {
      *out = def;
      return Status::Ok();
    }
    KVF_ASSIGN_OR_RETURN(*out, g.GetF64(arch + "." + key));
    return Status::Ok();
  };

  KVF_RETURN_IF_ERROR(required("block_count", &c.num_hidden_layers));
  KVF_RETURN_IF_ERROR(required("embedding_length", &c.hidden_size));
  KVF_RETURN_IF_ERROR(required("feed_forward_length", &c.intermediate_size));
  KVF_RETURN_IF_ERROR(required("attention.head_count", &c.num_attention_heads));
  KVF_RETURN_IF_ERROR(optional_int("attention.head_count_kv", &c.num_key_value_heads, c.num_attention_heads));
  KVF_RETURN_IF_ERROR(required("context_length", &c.max_position_embeddings));
  if (c.num_attention_heads <= 0) return fail(arch + ".attention.head_count must be positive");
  KVF_RETURN_IF_ERROR(optional_int("attention.key_length", &c.head_dim, c.hidden_size / c.num_attention_heads));
  if (!g.Has(arch + ".attention.layer_norm_rms_epsilon")) {
    return fail("missing key " + arch + ".attention.layer_norm_rms_epsilon");
  }
  KVF_RETURN_IF_ERROR(optional_f64("attention.layer_norm_rms_epsilon", &c.rms_norm_eps, 0));
  KVF_RETURN_IF_ERROR(optional_f64("rope.freq_base", &c.rope_theta, 10000.0));
  if (g.Has(arch + ".attention.sliding_window")) {
    int64_t w = 0;
    KVF_RETURN_IF_ERROR(required("attention.sliding_window", &w));
    c.sliding_window = w;
    c.use_sliding_window = true;
  }

  // Vocabulary size: explicit key, else the token list, else the embedding rows.
  if (g.Has(arch + ".vocab_size")) {
    KVF_RETURN_IF_ERROR(required("vocab_size", &c.vocab_size));
  } else if (const GgufValue* tokens = g.Find("tokenizer.ggml.tokens")) {
    c.vocab_size = static_cast<int64_t>(tokens->ArraySize());
  } else if (const GgufTensorInfo* emb = g.FindTensor("token_embd.weight"); emb && emb->dims.size() == 2) {
    c.vocab_size = emb->dims[1];
  }

  // Rope scaling keys (llama.cpp's converter writes linear scaling as keys and
  // llama3 scaling as the rope_freqs.weight tensor).
  if (g.Has(arch + ".rope.scaling.type")) {
    KVF_ASSIGN_OR_RETURN(std::string type, g.GetString(arch + ".rope.scaling.type"));
    if (type == "linear") {
      c.rope_scaling.type = "linear";
      KVF_RETURN_IF_ERROR(optional_f64("rope.scaling.factor", &c.rope_scaling.factor, 1.0));
    } else if (type != "none") {
      return fail("unsupported rope scaling type \"" + type + "\" (supported: none, linear)");
    }
  } else if (g.Has(arch + ".rope.scale_linear")) {
    c.rope_scaling.type = "linear";
    KVF_RETURN_IF_ERROR(optional_f64("rope.scale_linear", &c.rope_scaling.factor, 1.0));
  }
  if (g.FindTensor("rope_freqs.weight") != nullptr) {
    KVF_ASSIGN_OR_RETURN(c.rope_freq_factors, g.DequantizeTensor("rope_freqs.weight", 1));
  }

  c.tie_word_embeddings = g.FindTensor("output.weight") == nullptr;
  c.attention_bias = g.FindTensor("blk.0.attn_q.bias") != nullptr;
  for (const char* key : {"tokenizer.ggml.bos_token_id"}) {
    if (g.Has(key)) {
      KVF_ASSIGN_OR_RETURN(int64_t id, g.GetInt(key));
      c.bos_token_ids.push_back(id);
    }
  }
  // End of generation: EOS plus the end-of-turn / end-of-message tokens, as llama.cpp.
  for (const char* key : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id",
                          "tokenizer.ggml.eom_token_id"}) {
    if (g.Has(key)) {
      KVF_ASSIGN_OR_RETURN(int64_t id, g.GetInt(key));
      if (std::find(c.eos_token_ids.begin(), c.eos_token_ids.end(), id) == c.eos_token_ids.end()) {
        c.eos_token_ids.push_back(id);
      }
    }
  }
  KVF_RETURN_IF_ERROR(ValidateCheckpointConfig(c, source));
  return c;
}

Status ValidateCheckpointConfig(const CheckpointConfig& c, const std::string& source) {
  auto fail = [&](const std::string& what) { return Status::ModelLoad(source + ": " + what); };
  auto in_range = [&](const char* name, int64_t v, int64_t max) -> Status {
    if (v <= 0 || v > max) {
      return fail(std::string(name) + " " + std::to_string(v) + " is outside [1, " + std::to_string(max) + "]");
    }
    return Status::Ok();
  };
  KVF_RETURN_IF_ERROR(in_range("hidden_size", c.hidden_size, kMaxWidth));
  KVF_RETURN_IF_ERROR(in_range("intermediate_size", c.intermediate_size, kMaxWidth));
  KVF_RETURN_IF_ERROR(in_range("num_hidden_layers", c.num_hidden_layers, kMaxLayers));
  KVF_RETURN_IF_ERROR(in_range("num_attention_heads", c.num_attention_heads, kMaxWidth));
  KVF_RETURN_IF_ERROR(in_range("num_key_value_heads", c.num_key_value_heads, kMaxWidth));
  KVF_RETURN_IF_ERROR(in_range("head_dim", c.head_dim, kMaxWidth));
  KVF_RETURN_IF_ERROR(in_range("vocab_size", c.vocab_size, kMaxVocab));
  KVF_RETURN_IF_ERROR(in_range("max_position_embeddings", c.max_position_embeddings, kMaxContext));
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    return fail("num_attention_heads " + std::to_string(c.num_attention_heads) +
                " is not a multiple of num_key_value_heads " + std::to_string(c.num_key_value_heads));
  }
  if (c.head_dim % 2 != 0) return fail("head_dim " + std::to_string(c.head_dim) + " must be even for RoPE");
  if (!(c.rms_norm_eps > 0) || !std::isfinite(c.rms_norm_eps)) return fail("rms_norm_eps must be positive");
  if (!(c.rope_theta > 0) || !std::isfinite(c.rope_theta)) return fail("rope_theta must be positive");
  const RopeScaling& r = c.rope_scaling;
  if (!r.type.empty() && (!(r.factor > 0) || !std::isfinite(r.factor))) {
    return fail("rope_scaling.factor must be positive");
  }
  if (r.type == "llama3") {
    if (!(r.high_freq_factor > r.low_freq_factor) || !(r.low_freq_factor > 0)) {
      return fail("rope_scaling needs 0 < low_freq_factor < high_freq_factor");
    }
    if (r.original_max_position_embeddings <= 0) {
      return fail("rope_scaling.original_max_position_embeddings must be positive");
    }
  }
  if (!c.rope_freq_factors.empty() &&
      c.rope_freq_factors.size() != static_cast<size_t>(c.head_dim / 2)) {
    return fail("rope_freqs has " + std::to_string(c.rope_freq_factors.size()) + " values, expected head_dim / 2 = " +
                std::to_string(c.head_dim / 2));
  }
  return Status::Ok();
}

std::vector<double> RopeInverseFrequencies(const CheckpointConfig& c) {
  const int64_t half = c.head_dim / 2;
  std::vector<double> inv(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    inv[i] = 1.0 / std::pow(c.rope_theta, static_cast<double>(2 * i) / static_cast<double>(c.head_dim));
  }
  const RopeScaling& r = c.rope_scaling;
  if (r.type == "linear") {
    for (double& f : inv) f /= r.factor;
  } else if (r.type == "llama3") {
    // transformers' _compute_llama3_parameters.
    const double old_len = static_cast<double>(r.original_max_position_embeddings);
    const double low_freq_wavelen = old_len / r.low_freq_factor;
    const double high_freq_wavelen = old_len / r.high_freq_factor;
    for (double& f : inv) {
      const double wavelen = 2.0 * std::numbers::pi / f;
      if (wavelen > low_freq_wavelen) {
        f = f / r.factor;  // low frequencies: fully interpolated
      } else if (!(wavelen < high_freq_wavelen)) {
        // Medium frequencies: blend between interpolated and original.
        const double smooth = (old_len / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
        f = (1.0 - smooth) * f / r.factor + smooth * f;
      }
    }
  }
  if (!c.rope_freq_factors.empty()) {
    for (int64_t i = 0; i < half; ++i) inv[i] /= static_cast<double>(c.rope_freq_factors[i]);
  }
  return inv;
}

}  // namespace kvfunda
