// The one heavy libtorch translation unit of the model runtime.
#include "worker/model/llama_model.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <new>
#include <unordered_set>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace kvfunda {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Runs `body`, turning libtorch exceptions into Status values.
template <typename T, typename F>
Result<T> CatchTorch(const std::string& what, F&& body) {
  try {
    return body();
  } catch (const c10::OutOfMemoryError& e) {
    return Status::OutOfMemory(what + ": " + e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory(what + ": allocation failed");
  } catch (const c10::Error& e) {
    return Status::Internal(what + ": " + e.what_without_backtrace());
  }
}

// An int64 tensor [n] on `device` holding `values`.
at::Tensor IndexTensor(const std::vector<int64_t>& values, const at::Device& device) {
  at::Tensor t = at::empty({static_cast<int64_t>(values.size())}, at::kLong);
  std::copy(values.begin(), values.end(), t.data_ptr<int64_t>());
  return t.to(device);
}

}  // namespace

LlamaRope Llama2cRope(const ModelConfig& config) {
  LlamaRope rope;
  rope.style = RopeStyle::kInterleavedPairs;
  const int half = config.head_dim / 2;
  rope.inv_freq.resize(static_cast<size_t>(half));
  const float theta = static_cast<float>(config.rope_theta);
  for (int i = 0; i < half; ++i) {
    // run.c: freq = 1.0f / powf(10000.0f, head_dim_index / (float)head_size).
    rope.inv_freq[i] = 1.0f / std::pow(theta, static_cast<float>(2 * i) /
                                                  static_cast<float>(config.head_dim));
  }
  return rope;
}

LlamaModel::LlamaModel(ModelConfig config, LlamaRope rope, LlamaWeights weights,
                       std::unique_ptr<Tokenizer> tokenizer)
    : config_(std::move(config)),
      weights_(std::move(weights)),
      tokenizer_(std::move(tokenizer)),
      rope_(std::move(rope)) {}

LlamaModel::LlamaModel(ModelConfig config, LlamaWeights weights,
                       std::unique_ptr<Tokenizer> tokenizer)
    : LlamaModel(config, Llama2cRope(config), std::move(weights), std::move(tokenizer)) {}

Result<std::unique_ptr<LlamaModel>> LlamaModel::FromLlama2c(Llama2cCheckpoint ckpt,
                                                            std::unique_ptr<Tokenizer> tokenizer,
                                                            const std::string& path) {
  if (tokenizer->vocab_size() != ckpt.vocab_size) {
    return Status::ModelLoad(path + ": the tokenizer has " +
                             std::to_string(tokenizer->vocab_size()) +
                             " tokens but the checkpoint's vocabulary is " +
                             std::to_string(ckpt.vocab_size));
  }
  const Llama2cHeader& h = ckpt.header;
  ModelConfig config;
  config.architecture = "llama";
  config.n_layers = h.n_layers;
  config.n_heads = h.n_heads;
  config.n_kv_heads = h.n_kv_heads;
  config.head_dim = ckpt.head_dim;
  config.hidden = h.dim;
  config.ffn_hidden = h.hidden_dim;
  config.vocab_size = ckpt.vocab_size;
  config.max_context = h.seq_len;
  config.rope_theta = 10000.0;
  config.norm_eps = 1e-5;
  config.tied_embeddings = ckpt.shared_classifier;
  config.weight_dtype = "float32";
  config.bos_id = tokenizer->bos_id();
  if (tokenizer->eos_id() >= 0) config.eos_ids = {tokenizer->eos_id()};

  return CatchTorch<std::unique_ptr<LlamaModel>>(path, [&]() -> Result<std::unique_ptr<LlamaModel>> {
    // The weights stay in the checkpoint's buffer; tensors are views that keep it alive.
    auto buffer = std::make_shared<std::vector<float>>(std::move(ckpt.data));
    auto view = [&buffer](const WeightRange& r, int64_t offset, at::IntArrayRef sizes) {
      return at::from_blob(buffer->data() + r.offset + offset, sizes, [buffer](void*) {},
                           at::TensorOptions().dtype(at::kFloat));
    };
    const int64_t dim = h.dim, hidden = h.hidden_dim;
    const int64_t q_dim = dim, kv_dim = int64_t{h.n_kv_heads} * ckpt.head_dim;
    LlamaWeights w;
    w.token_embedding = view(ckpt.token_embedding, 0, {ckpt.vocab_size, dim});
    w.rms_final = view(ckpt.rms_final, 0, {dim});
    w.classifier = view(ckpt.wcls, 0, {ckpt.vocab_size, dim});
    for (int64_t l = 0; l < h.n_layers; ++l) {
      LlamaLayerWeights lw;
      lw.rms_att = view(ckpt.rms_att, l * dim, {dim});
      lw.wqkv = at::cat({view(ckpt.wq, l * q_dim * dim, {q_dim, dim}),
                         view(ckpt.wk, l * kv_dim * dim, {kv_dim, dim}),
                         view(ckpt.wv, l * kv_dim * dim, {kv_dim, dim})},
                        0);
      lw.wo = view(ckpt.wo, l * dim * q_dim, {dim, q_dim});
      lw.rms_ffn = view(ckpt.rms_ffn, l * dim, {dim});
      lw.w13 = at::cat({view(ckpt.w1, l * hidden * dim, {hidden, dim}),
                        view(ckpt.w3, l * hidden * dim, {hidden, dim})},
                       0);
      lw.w2 = view(ckpt.w2, l * dim * hidden, {dim, hidden});
      w.layers.push_back(std::move(lw));
    }
    return std::make_unique<LlamaModel>(std::move(config), std::move(w), std::move(tokenizer));
  });
}

at::Tensor LlamaModel::RmsNorm(const at::Tensor& x, const at::Tensor& weight) const {
  return x * at::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + config_.norm_eps) * weight;
}

std::pair<at::Tensor, at::Tensor> LlamaModel::RopeTables(
    const std::vector<int64_t>& positions) const {
  const int64_t n = static_cast<int64_t>(positions.size());
  const int64_t half = config_.head_dim / 2;
  at::Tensor cos = at::empty({n, half}, at::kFloat);
  at::Tensor sin = at::empty({n, half}, at::kFloat);
  float* c = cos.data_ptr<float>();
  float* s = sin.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < half; ++j) {
      const float angle = static_cast<float>(positions[i]) * rope_.inv_freq[j];  // as run.c, in float
      c[i * half + j] = std::cos(angle);
      s[i * half + j] = std::sin(angle);
    }
  }
  const at::Device device = weights_.token_embedding.device();
  return {cos.to(device), sin.to(device)};
}

at::Tensor LlamaModel::ApplyRope(const at::Tensor& x, const at::Tensor& cos,
                                 const at::Tensor& sin) const {
  const int64_t n = x.size(0), heads = x.size(1), hd = x.size(2);
  const at::Tensor c = cos.unsqueeze(1), s = sin.unsqueeze(1);  // [n, 1, hd/2]
  if (rope_.style == RopeStyle::kRotateHalf) {
    const at::Tensor x0 = x.narrow(2, 0, hd / 2), x1 = x.narrow(2, hd / 2, hd / 2);
    return at::cat({x0 * c - x1 * s, x1 * c + x0 * s}, 2);
  }
  const at::Tensor pairs = x.reshape({n, heads, hd / 2, 2});
  const at::Tensor x0 = pairs.select(3, 0), x1 = pairs.select(3, 1);
  return at::stack({x0 * c - x1 * s, x0 * s + x1 * c}, 3).reshape({n, heads, hd});
}

void LlamaModel::Qkv(const LlamaLayerWeights& w, const at::Tensor& x, const at::Tensor& cos,
                     const at::Tensor& sin, at::Tensor* q, at::Tensor* k, at::Tensor* v) const {
  const int64_t n = x.size(0), hd = config_.head_dim;
  const int64_t heads = config_.n_heads, kv_heads = config_.n_kv_heads;
  const at::Tensor xn = RmsNorm(x, w.rms_att);
  const at::Tensor qkv = w.bqkv.defined() ? at::linear(xn, w.wqkv, w.bqkv)
                                          : at::linear(xn, w.wqkv);  // [n, (H + 2 Hkv) hd]
  const at::Tensor qk =
      ApplyRope(qkv.narrow(1, 0, (heads + kv_heads) * hd).reshape({n, heads + kv_heads, hd}), cos,
                sin);
  *q = qk.narrow(1, 0, heads) * (1.0 / std::sqrt(static_cast<double>(hd)));
  *k = qk.narrow(1, heads, kv_heads);
  *v = qkv.narrow(1, (heads + kv_heads) * hd, kv_heads * hd).reshape({n, kv_heads, hd});
}

void LlamaModel::FinishLayer(const LlamaLayerWeights& w, const at::Tensor& attn,
                             at::Tensor& x) const {
  x.add_(w.bo.defined() ? at::linear(attn, w.wo, w.bo) : at::linear(attn, w.wo));
  const int64_t f = config_.ffn_hidden;
  const at::Tensor gate_up = at::linear(RmsNorm(x, w.rms_ffn), w.w13);  // [n, 2 f]
  x.add_(at::linear(at::silu(gate_up.narrow(1, 0, f)) * gate_up.narrow(1, f, f), w.w2));
}

Result<PrefillOutput> LlamaModel::Prefill(const std::vector<int32_t>& tokens,
                                          const PrefillStatsRequest& stats) {
  if (tokens.empty() || tokens.size() > static_cast<size_t>(config_.max_context)) {
    return Status::BadInput("prefill of " + std::to_string(tokens.size()) +
                            " tokens; the model takes 1 to " +
                            std::to_string(config_.max_context));
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= config_.vocab_size) {
      return Status::InvalidArgument("prefill token " + std::to_string(i) + " is id " +
                                     std::to_string(tokens[i]) + ", outside [0, " +
                                     std::to_string(config_.vocab_size) + ")");
    }
  }
  if (stats.block < 1 || stats.window < 0) {
    return Status::InvalidArgument("prefill stats: block " + std::to_string(stats.block) +
                                   " must be >= 1 and window " + std::to_string(stats.window) +
                                   " >= 0");
  }
  return CatchTorch<PrefillOutput>("prefill", [&] { return PrefillImpl(tokens, stats); });
}

Result<PrefillOutput> LlamaModel::PrefillImpl(const std::vector<int32_t>& tokens,
                                              const PrefillStatsRequest& stats) {
  const int64_t len = static_cast<int64_t>(tokens.size());
  const int64_t heads = config_.n_heads, kv_heads = config_.n_kv_heads, hd = config_.head_dim;
  const int64_t group = heads / kv_heads;
  const int64_t window = std::min<int64_t>(stats.window, len);
  const at::TensorOptions opts = weights_.token_embedding.options();
  const at::Device device = weights_.token_embedding.device();

  std::vector<int64_t> positions(tokens.begin(), tokens.end());
  at::Tensor x = weights_.token_embedding.index_select(0, IndexTensor(positions, device));
  for (int64_t i = 0; i < len; ++i) positions[i] = i;
  const auto [cos, sin] = RopeTables(positions);  // [L, head_dim / 2]

  PrefillOutput out;
  out.cache.next_position = len;
  out.cache.layers.resize(config_.n_layers);
  for (int l = 0; l < config_.n_layers; ++l) {
    const LlamaLayerWeights& w = weights_.layers[l];
    LayerKv& kv = out.cache.layers[l];
    kv.k = at::empty({kv_heads, len, hd}, opts);
    kv.v = at::empty({kv_heads, len, hd}, opts);
    kv.length.assign(kv_heads, static_cast<int32_t>(len));
    at::Tensor col_sums, win;
    if (stats.column_sums) col_sums = at::zeros({heads, len}, opts);
    if (window > 0) win = at::zeros({heads, window, len}, opts);

    for (int64_t s = 0; s < len; s += stats.block) {
      const int64_t e = std::min<int64_t>(len, s + stats.block), nb = e - s;
      at::Tensor xb = x.narrow(0, s, nb);  // a view: FinishLayer updates x in place
      at::Tensor q, k, v;
      Qkv(w, xb, cos.narrow(0, s, nb), sin.narrow(0, s, nb), &q, &k, &v);
      kv.k.narrow(1, s, nb).copy_(k.transpose(0, 1));
      kv.v.narrow(1, s, nb).copy_(v.transpose(0, 1));
      // Query head h = kv_head * group + j reads KV head kv_head.
      const at::Tensor qg = q.view({nb, kv_heads, group, hd}).permute({1, 2, 0, 3}).reshape(
          {kv_heads, group * nb, hd});
      at::Tensor scores = at::bmm(qg, kv.k.narrow(1, 0, e).transpose(1, 2));  // [Hkv, g nb, e]
      if (nb > 1) {
        // Causal: query s + i sees keys t <= s + i.
        const at::Tensor key_pos = at::arange(e, opts.dtype(at::kLong)).unsqueeze(0);
        const at::Tensor query_pos = at::arange(s, e, opts.dtype(at::kLong)).unsqueeze(1);
        scores.view({kv_heads, group, nb, e}).masked_fill_(key_pos > query_pos, kNegInf);
      }
      const at::Tensor probs = at::softmax(scores, -1);  // [Hkv, g nb, e] = [H, nb, e]
      const at::Tensor per_head = probs.view({heads, nb, e});
      if (stats.column_sums) col_sums.narrow(1, 0, e).add_(per_head.sum(1));
      const int64_t first_win = len - window;  // first query position in the window
      if (window > 0 && e > first_win) {
        const int64_t i0 = std::max<int64_t>(0, first_win - s);
        win.narrow(1, s + i0 - first_win, nb - i0)
            .narrow(2, 0, e)
            .copy_(per_head.narrow(1, i0, nb - i0));
      }
      const at::Tensor attn = at::bmm(probs, kv.v.narrow(1, 0, e))  // [Hkv, g nb, hd]
                                  .view({kv_heads, group, nb, hd})
                                  .permute({2, 0, 1, 3})
                                  .reshape({nb, heads * hd});
      FinishLayer(w, attn, xb);
    }
    if (stats.column_sums) out.stats.column_sums.push_back(col_sums);
    if (window > 0) out.stats.window_attention.push_back(win);
  }
  out.last_logits =
      at::linear(RmsNorm(x.narrow(0, len - 1, 1), weights_.rms_final), weights_.classifier)
          .reshape({config_.vocab_size});
  out.cache.NotePeak();
  return out;
}

Status LlamaModel::CheckCache(const KvCache& cache, size_t index) const {
  const std::string where = "decode: cache " + std::to_string(index);
  if (cache.layers.size() != static_cast<size_t>(config_.n_layers)) {
    return Status::InvalidArgument(where + " has " + std::to_string(cache.layers.size()) +
                                   " layers; the model has " + std::to_string(config_.n_layers));
  }
  const at::Device device = weights_.token_embedding.device();
  for (size_t l = 0; l < cache.layers.size(); ++l) {
    const LayerKv& kv = cache.layers[l];
    const std::string at_layer = where + " layer " + std::to_string(l);
    if (!kv.k.defined() || !kv.v.defined() || kv.k.dim() != 3 || kv.k.sizes() != kv.v.sizes() ||
        kv.k.size(0) != config_.n_kv_heads || kv.k.size(2) != config_.head_dim) {
      return Status::InvalidArgument(at_layer + ": k/v must both be [" +
                                     std::to_string(config_.n_kv_heads) + ", capacity, " +
                                     std::to_string(config_.head_dim) + "]");
    }
    if (kv.k.scalar_type() != at::kFloat || kv.v.scalar_type() != at::kFloat ||
        kv.k.device() != device || kv.v.device() != device) {
      return Status::InvalidArgument(at_layer + ": k/v must be float32 on " + device.str());
    }
    if (kv.length.size() != static_cast<size_t>(config_.n_kv_heads)) {
      return Status::InvalidArgument(at_layer + ": length has " +
                                     std::to_string(kv.length.size()) + " heads");
    }
    for (int32_t n : kv.length) {
      if (n < 0 || n > kv.k.size(1)) {
        return Status::InvalidArgument(at_layer + ": head length " + std::to_string(n) +
                                       " is outside [0, capacity " +
                                       std::to_string(kv.k.size(1)) + "]");
      }
    }
  }
  return Status::Ok();
}

void LlamaModel::EnsureRoom(LayerKv& kv) const {
  const int64_t capacity = kv.k.size(1);
  const int32_t longest = *std::max_element(kv.length.begin(), kv.length.end());
  if (longest < capacity) return;
  const int64_t grown = std::max<int64_t>(2 * capacity, capacity + 16);
  for (at::Tensor* t : {&kv.k, &kv.v}) {
    at::Tensor bigger = at::zeros({t->size(0), grown, t->size(2)}, t->options());
    bigger.narrow(1, 0, capacity).copy_(*t);
    *t = std::move(bigger);
  }
}

Result<at::Tensor> LlamaModel::DecodeStep(std::span<KvCache* const> caches,
                                          std::span<const int32_t> tokens) {
  if (caches.empty() || caches.size() != tokens.size()) {
    return Status::InvalidArgument("decode: " + std::to_string(caches.size()) + " caches and " +
                                   std::to_string(tokens.size()) +
                                   " tokens; need the same number, at least 1");
  }
  std::unordered_set<const KvCache*> seen;
  for (size_t b = 0; b < caches.size(); ++b) {
    if (caches[b] == nullptr) {
      return Status::InvalidArgument("decode: cache " + std::to_string(b) + " is null");
    }
    if (!seen.insert(caches[b]).second) {
      return Status::InvalidArgument("decode: cache " + std::to_string(b) + " is listed twice");
    }
    if (tokens[b] < 0 || tokens[b] >= config_.vocab_size) {
      return Status::InvalidArgument("decode: token " + std::to_string(b) + " is id " +
                                     std::to_string(tokens[b]) + ", outside [0, " +
                                     std::to_string(config_.vocab_size) + ")");
    }
    KVF_RETURN_IF_ERROR(CheckCache(*caches[b], b));
  }
  return CatchTorch<at::Tensor>("decode", [&] { return DecodeStepImpl(caches, tokens); });
}

Result<at::Tensor> LlamaModel::DecodeStepImpl(std::span<KvCache* const> caches,
                                              std::span<const int32_t> tokens) {
  const int64_t batch = static_cast<int64_t>(caches.size());
  const int64_t heads = config_.n_heads, kv_heads = config_.n_kv_heads, hd = config_.head_dim;
  const int64_t group = heads / kv_heads;
  const at::TensorOptions opts = weights_.token_embedding.options();
  const at::Device device = weights_.token_embedding.device();

  std::vector<int64_t> ids(tokens.begin(), tokens.end());
  at::Tensor x = weights_.token_embedding.index_select(0, IndexTensor(ids, device));  // [B, hidden]
  std::vector<int64_t> positions(batch);
  for (int64_t b = 0; b < batch; ++b) positions[b] = caches[b]->next_position;
  const auto [cos, sin] = RopeTables(positions);  // [B, head_dim / 2]
  std::vector<int64_t> head_ids(kv_heads);
  for (int64_t h = 0; h < kv_heads; ++h) head_ids[h] = h;
  const at::Tensor head_index = IndexTensor(head_ids, device);

  for (int l = 0; l < config_.n_layers; ++l) {
    const LlamaLayerWeights& w = weights_.layers[l];
    at::Tensor q, k, v;
    Qkv(w, x, cos, sin, &q, &k, &v);  // q [B, H, hd]; k, v [B, Hkv, hd]
    at::Tensor attn = at::empty({batch, heads * hd}, opts);
    for (int64_t b = 0; b < batch; ++b) {
      LayerKv& kv = caches[b]->layers[l];
      EnsureRoom(kv);
      const auto [shortest_it, longest_it] =
          std::minmax_element(kv.length.begin(), kv.length.end());
      const int64_t shortest = *shortest_it, longest = *longest_it;
      const bool ragged = shortest != longest;
      if (!ragged) {
        kv.k.select(1, shortest).copy_(k[b]);
        kv.v.select(1, shortest).copy_(v[b]);
      } else {
        const at::Tensor slot = IndexTensor(std::vector<int64_t>(kv.length.begin(), kv.length.end()),
                                            device);
        c10::List<c10::optional<at::Tensor>> index;
        index.push_back(head_index);
        index.push_back(slot);
        kv.k.index_put_(index, k[b]);
        kv.v.index_put_(index, v[b]);
      }
      for (int32_t& n : kv.length) ++n;
      const int64_t span = longest + 1;  // keys to attend over, the new one included
      at::Tensor scores = at::bmm(q[b].view({kv_heads, group, hd}),
                                  kv.k.narrow(1, 0, span).transpose(1, 2));  // [Hkv, g, span]
      if (ragged) {
        const at::Tensor lengths =
            IndexTensor(std::vector<int64_t>(kv.length.begin(), kv.length.end()), device);
        const at::Tensor invalid = at::arange(span, opts.dtype(at::kLong)).view({1, 1, span}) >=
                                   lengths.view({kv_heads, 1, 1});
        scores.masked_fill_(invalid, kNegInf);
      }
      attn[b].copy_(at::bmm(at::softmax(scores, -1), kv.v.narrow(1, 0, span)).view({heads * hd}));
    }
    FinishLayer(w, attn, x);
  }
  for (KvCache* cache : caches) {
    ++cache->next_position;
    cache->NotePeak();
  }
  return at::linear(RmsNorm(x, weights_.rms_final), weights_.classifier);  // [B, vocab]
}

}  // namespace kvfunda
