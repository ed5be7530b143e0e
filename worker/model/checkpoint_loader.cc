// BuildLlamaModel: reads, checks and fuses the tensors of a real checkpoint.
#include "worker/model/checkpoint_loader.h"

#include <new>
#include <utility>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace kvfunda {

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

ModelConfig ModelConfigFromCheckpoint(const CheckpointConfig& ckpt) {
  ModelConfig c;
  c.architecture = std::string(ModelFamilyName(ckpt.family));
  c.n_layers = static_cast<int>(ckpt.num_hidden_layers);
  c.n_heads = static_cast<int>(ckpt.num_attention_heads);
  c.n_kv_heads = static_cast<int>(ckpt.num_key_value_heads);
  c.head_dim = static_cast<int>(ckpt.head_dim);
  c.hidden = static_cast<int>(ckpt.hidden_size);
  c.ffn_hidden = static_cast<int>(ckpt.intermediate_size);
  c.vocab_size = static_cast<int>(ckpt.vocab_size);
  c.max_context = static_cast<int>(ckpt.max_position_embeddings);
  c.rope_theta = ckpt.rope_theta;
  c.norm_eps = ckpt.rms_norm_eps;
  c.tied_embeddings = ckpt.tie_word_embeddings;
  return c;
}

namespace {

Result<std::unique_ptr<LlamaModel>> BuildImpl(const CheckpointConfig& ckpt, ModelConfig config,
                                              RopeStyle rope_style, CheckpointTensors& tensors,
                                              std::unique_ptr<Tokenizer> tokenizer) {
  const int64_t hidden = ckpt.hidden_size, ffn = ckpt.intermediate_size;
  const int64_t hd = ckpt.head_dim, vocab = ckpt.vocab_size;
  const int64_t q_dim = ckpt.num_attention_heads * hd, kv_dim = ckpt.num_key_value_heads * hd;
  LlamaWeights w;
  KVF_ASSIGN_OR_RETURN(w.token_embedding, tensors.Read("model.embed_tokens.weight", {vocab, hidden}));
  KVF_ASSIGN_OR_RETURN(w.rms_final, tensors.Read("model.norm.weight", {hidden}));
  config.tied_embeddings = ckpt.tie_word_embeddings || !tensors.Has("lm_head.weight");
  if (config.tied_embeddings) {
    w.classifier = w.token_embedding;
  } else {
    KVF_ASSIGN_OR_RETURN(w.classifier, tensors.Read("lm_head.weight", {vocab, hidden}));
  }
  for (int64_t l = 0; l < ckpt.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const std::string attn = p + "self_attn.", mlp = p + "mlp.";
    LlamaLayerWeights lw;
    KVF_ASSIGN_OR_RETURN(lw.rms_att, tensors.Read(p + "input_layernorm.weight", {hidden}));
    KVF_ASSIGN_OR_RETURN(at::Tensor wq, tensors.Read(attn + "q_proj.weight", {q_dim, hidden}));
    KVF_ASSIGN_OR_RETURN(at::Tensor wk, tensors.Read(attn + "k_proj.weight", {kv_dim, hidden}));
    KVF_ASSIGN_OR_RETURN(at::Tensor wv, tensors.Read(attn + "v_proj.weight", {kv_dim, hidden}));
    lw.wqkv = at::cat({wq, wk, wv}, 0);
    if (ckpt.attention_bias) {
      KVF_ASSIGN_OR_RETURN(at::Tensor bq, tensors.Read(attn + "q_proj.bias", {q_dim}));
      KVF_ASSIGN_OR_RETURN(at::Tensor bk, tensors.Read(attn + "k_proj.bias", {kv_dim}));
      KVF_ASSIGN_OR_RETURN(at::Tensor bv, tensors.Read(attn + "v_proj.bias", {kv_dim}));
      lw.bqkv = at::cat({bq, bk, bv}, 0);
    }
    KVF_ASSIGN_OR_RETURN(lw.wo, tensors.Read(attn + "o_proj.weight", {hidden, q_dim}));
    if (tensors.Has(attn + "o_proj.bias")) {
      KVF_ASSIGN_OR_RETURN(lw.bo, tensors.Read(attn + "o_proj.bias", {hidden}));
    }
    KVF_ASSIGN_OR_RETURN(lw.rms_ffn, tensors.Read(p + "post_attention_layernorm.weight", {hidden}));
    KVF_ASSIGN_OR_RETURN(at::Tensor w1, tensors.Read(mlp + "gate_proj.weight", {ffn, hidden}));
    KVF_ASSIGN_OR_RETURN(at::Tensor w3, tensors.Read(mlp + "up_proj.weight", {ffn, hidden}));
    lw.w13 = at::cat({w1, w3}, 0);
    KVF_ASSIGN_OR_RETURN(lw.w2, tensors.Read(mlp + "down_proj.weight", {hidden, ffn}));
    w.layers.push_back(std::move(lw));
  }
  LlamaRope rope;
  rope.style = rope_style;
  for (double f : RopeInverseFrequencies(ckpt)) rope.inv_freq.push_back(static_cast<float>(f));
  return std::make_unique<LlamaModel>(std::move(config), std::move(rope), std::move(w),
                                      std::move(tokenizer));
}

}  // namespace

Result<std::unique_ptr<LlamaModel>> BuildLlamaModel(const CheckpointConfig& ckpt,
                                                    ModelConfig config, RopeStyle rope_style,
                                                    CheckpointTensors& tensors,
                                                    std::unique_ptr<Tokenizer> tokenizer,
                                                    const std::string& path) {
  if (tokenizer == nullptr) return Status::ModelLoad(path + ": no tokenizer");
  if (tokenizer->vocab_size() > ckpt.vocab_size) {
    return Status::ModelLoad(path + ": the tokenizer has " +
                             std::to_string(tokenizer->vocab_size()) +
                             " tokens but the model's vocabulary is " +
                             std::to_string(ckpt.vocab_size));
  }
  try {
    return BuildImpl(ckpt, std::move(config), rope_style, tensors, std::move(tokenizer));
  } catch (const c10::Error& e) {
    return Status::ModelLoad(path + ": " + e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory(path + ": allocation failed while loading the weights");
  }
}

}  // namespace kvfunda
