#include "tiny_checkpoint.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "../model_formats/format_test_util.h"

namespace kvfunda::testing {
namespace {

using json = nlohmann::json;

at::Tensor Random(std::mt19937& rng, std::vector<int64_t> shape, float scale, float offset) {
  at::Tensor t = at::empty(shape, at::kFloat);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  float* p = t.data_ptr<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = offset + scale * normal(rng);
  return t;
}

// HF suffix after "model.layers.N." -> GGUF suffix after "blk.N." (llama.cpp's
// tensor_mapping.py).
const std::map<std::string, std::string>& LayerNames() {
  static const auto* names = new std::map<std::string, std::string>{
      {"input_layernorm.weight", "attn_norm.weight"},
      {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},
      {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"},
      {"self_attn.q_proj.bias", "attn_q.bias"},
      {"self_attn.k_proj.bias", "attn_k.bias"},
      {"self_attn.v_proj.bias", "attn_v.bias"},
      {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"},
  };
  return *names;
}

std::string ToGgufName(const std::string& hf) {
  if (hf == "model.embed_tokens.weight") return "token_embd.weight";
  if (hf == "model.norm.weight") return "output_norm.weight";
  if (hf == "lm_head.weight") return "output.weight";
  const std::string prefix = "model.layers.";
  const size_t dot = hf.find('.', prefix.size());
  const std::string layer = hf.substr(prefix.size(), dot - prefix.size());
  return "blk." + layer + "." + LayerNames().at(hf.substr(dot + 1));
}

// llama.cpp convert_hf_to_gguf.py LlamaModel.permute.
at::Tensor PermuteQk(const at::Tensor& w, int64_t heads) {
  const int64_t out = w.size(0);
  std::vector<int64_t> shape = {heads, 2, out / heads / 2};
  for (int64_t d = 1; d < w.dim(); ++d) shape.push_back(w.size(d));
  return w.reshape(shape).transpose(1, 2).reshape(w.sizes()).contiguous();
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

}  // namespace

TensorMap RandomWeights(const TinyDims& d, uint32_t seed, bool tied) {
  std::mt19937 rng(seed);
  TensorMap m;
  const int64_t q = d.heads * d.head_dim, kv = d.kv_heads * d.head_dim;
  m["model.embed_tokens.weight"] = Random(rng, {d.vocab, d.hidden}, 0.5f, 0.0f);
  m["model.norm.weight"] = Random(rng, {d.hidden}, 0.1f, 1.0f);
  if (!tied) m["lm_head.weight"] = Random(rng, {d.vocab, d.hidden}, 0.3f, 0.0f);
  const float s = 0.3f;
  for (int64_t l = 0; l < d.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    m[p + "input_layernorm.weight"] = Random(rng, {d.hidden}, 0.1f, 1.0f);
    m[p + "self_attn.q_proj.weight"] = Random(rng, {q, d.hidden}, s, 0.0f);
    m[p + "self_attn.k_proj.weight"] = Random(rng, {kv, d.hidden}, s, 0.0f);
    m[p + "self_attn.v_proj.weight"] = Random(rng, {kv, d.hidden}, s, 0.0f);
    m[p + "self_attn.o_proj.weight"] = Random(rng, {d.hidden, q}, s, 0.0f);
    if (d.family == "qwen2") {
      m[p + "self_attn.q_proj.bias"] = Random(rng, {q}, 0.5f, 0.0f);
      m[p + "self_attn.k_proj.bias"] = Random(rng, {kv}, 0.5f, 0.0f);
      m[p + "self_attn.v_proj.bias"] = Random(rng, {kv}, 0.5f, 0.0f);
    }
    m[p + "post_attention_layernorm.weight"] = Random(rng, {d.hidden}, 0.1f, 1.0f);
    m[p + "mlp.gate_proj.weight"] = Random(rng, {d.ffn, d.hidden}, s, 0.0f);
    m[p + "mlp.up_proj.weight"] = Random(rng, {d.ffn, d.hidden}, s, 0.0f);
    m[p + "mlp.down_proj.weight"] = Random(rng, {d.hidden, d.ffn}, s, 0.0f);
  }
  return m;
}

std::vector<std::string> TinyVocab(int64_t vocab) {
  std::vector<std::string> v = {"a", "b", "ab", "\xC4\xA0"};  // "Ġ" is the byte-level space
  for (int64_t i = static_cast<int64_t>(v.size()); i < vocab; ++i) v.push_back("x" + std::to_string(i));
  return v;
}

std::string HfConfigJson(const TinyDims& d, bool tied, const std::string& extra,
                         const std::string& architecture) {
  const bool qwen2 = d.family == "qwen2";
  json j = {
      {"architectures", {architecture.empty() ? (qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM")
                                              : architecture}},
      {"model_type", qwen2 ? "qwen2" : "llama"},
      {"hidden_size", d.hidden},
      {"intermediate_size", d.ffn},
      {"num_hidden_layers", d.layers},
      {"num_attention_heads", d.heads},
      {"num_key_value_heads", d.kv_heads},
      {"vocab_size", d.vocab},
      {"max_position_embeddings", d.context},
      {"rms_norm_eps", d.norm_eps},
      {"rope_theta", d.rope_theta},
      {"tie_word_embeddings", tied},
      {"torch_dtype", "float32"},
      {"bos_token_id", 0},
      {"eos_token_id", 1},
  };
  std::string text = j.dump(2);
  if (!extra.empty()) text = text.substr(0, text.rfind('}')) + ", " + extra + "}";
  return text;
}

void WriteHfFolder(const std::string& dir, const std::string& config_json,
                   const TensorMap& tensors, int64_t vocab) {
  std::filesystem::create_directories(dir);
  WriteText(dir + "/config.json", config_json);
  json header = json::object();
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * 4;
    header[name] = {{"dtype", "F32"}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string h = header.dump();
  while (h.size() % 8 != 0) h += ' ';
  std::ofstream out(dir + "/model.safetensors", std::ios::binary | std::ios::trunc);
  const uint64_t n = h.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << h;
  for (const auto& [name, t] : tensors) {
    const at::Tensor c = t.contiguous();
    out.write(reinterpret_cast<const char*>(c.data_ptr<float>()),
              static_cast<std::streamsize>(c.numel() * 4));
  }
  json vocab_json = json::object();
  const std::vector<std::string> pieces = TinyVocab(vocab);
  for (size_t i = 0; i < pieces.size(); ++i) vocab_json[pieces[i]] = i;
  const json tok = {
      {"model", {{"type", "BPE"}, {"vocab", vocab_json}, {"merges", {"a b"}}}},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"decoder", {{"type", "ByteLevel"}}},
  };
  WriteText(dir + "/tokenizer.json", tok.dump());
}

void WriteGguf(const std::string& path, const TinyDims& d, const TensorMap& tensors,
               const GgufOptions& options) {
  const std::string arch = options.architecture.empty() ? d.family : options.architecture;
  // Tensors in GGUF naming and layout.
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& [name, t] : tensors) {
    at::Tensor w = t.contiguous();
    if (options.permute_qk && name.find("q_proj.weight") != std::string::npos) {
      w = PermuteQk(w, d.heads);
    } else if (options.permute_qk && name.find("k_proj.weight") != std::string::npos) {
      w = PermuteQk(w, d.kv_heads);
    }
    out.emplace_back(ToGgufName(name), w);
  }
  if (!options.rope_freqs.empty()) {
    at::Tensor f = at::empty({static_cast<int64_t>(options.rope_freqs.size())}, at::kFloat);
    std::memcpy(f.data_ptr<float>(), options.rope_freqs.data(), options.rope_freqs.size() * 4);
    out.emplace_back("rope_freqs.weight", f);
  }
  const std::vector<std::string> vocab = TinyVocab(d.vocab);
  GgufBytes b;
  const uint64_t n_kv = 15 + (options.chat_template.empty() ? 0 : 1);
  b.Header(3, out.size(), n_kv);
  b.KvStr("general.architecture", arch);
  b.KvU32(arch + ".block_count", static_cast<uint32_t>(d.layers));
  b.KvU32(arch + ".embedding_length", static_cast<uint32_t>(d.hidden));
  b.KvU32(arch + ".feed_forward_length", static_cast<uint32_t>(d.ffn));
  b.KvU32(arch + ".attention.head_count", static_cast<uint32_t>(d.heads));
  b.KvU32(arch + ".attention.head_count_kv", static_cast<uint32_t>(d.kv_heads));
  b.KvU32(arch + ".context_length", static_cast<uint32_t>(d.context));
  b.Str(arch + ".rope.freq_base").U32(6).Pod(static_cast<float>(d.rope_theta));
  b.Str(arch + ".attention.layer_norm_rms_epsilon").U32(6).Pod(static_cast<float>(d.norm_eps));
  b.KvStr("tokenizer.ggml.model", "gpt2");
  b.KvStr("tokenizer.ggml.pre", "default");
  b.Str("tokenizer.ggml.tokens").U32(9).U32(8).U64(vocab.size());
  for (const std::string& piece : vocab) b.Str(piece);
  b.Str("tokenizer.ggml.merges").U32(9).U32(8).U64(1).Str("a b");
  b.KvU32("tokenizer.ggml.bos_token_id", 0);
  b.KvU32("tokenizer.ggml.eos_token_id", 1);
  if (!options.chat_template.empty()) b.KvStr("tokenizer.chat_template", options.chat_template);
  uint64_t offset = 0;
  for (const auto& [name, t] : out) {
    std::vector<uint64_t> dims(t.sizes().rbegin(), t.sizes().rend());  // ggml: row length first
    b.TensorInfo(name, dims, /*F32*/ 0, offset);
    offset += (static_cast<uint64_t>(t.numel()) * 4 + 31) / 32 * 32;
  }
  b.Pad(32);
  for (const auto& [name, t] : out) {
    std::string raw(reinterpret_cast<const char*>(t.data_ptr<float>()),
                    static_cast<size_t>(t.numel()) * 4);
    b.Raw(raw).Pad(32);
  }
  WriteBytes(path, b.bytes());
}

}  // namespace kvfunda::testing
