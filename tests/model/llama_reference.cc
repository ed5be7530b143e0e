#include "llama_reference.h"

#include <cmath>

namespace kvfunda::testing {
namespace {

void RmsNorm(float* o, const float* x, const float* w, int size) {
  float ss = 0.0f;
  for (int j = 0; j < size; j++) ss += x[j] * x[j];
  ss /= size;
  ss += 1e-5f;
  ss = 1.0f / std::sqrt(ss);
  for (int j = 0; j < size; j++) o[j] = w[j] * (ss * x[j]);
}

// xout[d] = W[d, n] x[n]
void MatMul(float* xout, const float* x, const float* w, int n, int d) {
  for (int i = 0; i < d; i++) {
    float val = 0.0f;
    for (int j = 0; j < n; j++) val += w[i * n + j] * x[j];
    xout[i] = val;
  }
}

void Softmax(float* x, int size) {
  float max_val = x[0];
  for (int i = 1; i < size; i++) max_val = std::max(max_val, x[i]);
  float sum = 0.0f;
  for (int i = 0; i < size; i++) {
    x[i] = std::exp(x[i] - max_val);
    sum += x[i];
  }
  for (int i = 0; i < size; i++) x[i] /= sum;
}

}  // namespace

ReferenceRun ReferenceForward(const Llama2cCheckpoint& c, const std::vector<int32_t>& tokens,
                              const KeyFilter& visible) {
  const Llama2cHeader& p = c.header;
  const int dim = p.dim, hidden_dim = p.hidden_dim, head_size = c.head_dim;
  const int kv_dim = p.n_kv_heads * head_size, kv_mul = p.n_heads / p.n_kv_heads;
  const int64_t len = static_cast<int64_t>(tokens.size());
  const float* w = c.data.data();
  auto at = [&](const WeightRange& r) { return w + r.offset; };

  ReferenceRun run;
  run.len = len;
  run.attention.assign(p.n_layers, std::vector<float>(p.n_heads * len * len, 0.0f));
  run.k.assign(p.n_layers, std::vector<float>(kv_dim * len));
  run.v.assign(p.n_layers, std::vector<float>(kv_dim * len));
  // key_cache[l][pos][kv_dim] as in run.c.
  std::vector<float> key_cache(p.n_layers * len * kv_dim), value_cache(p.n_layers * len * kv_dim);
  std::vector<float> x(dim), xb(dim), xb2(dim), hb(hidden_dim), hb2(hidden_dim), q(dim),
      att(len), logits(c.vocab_size);

  for (int64_t pos = 0; pos < len; pos++) {
    const float* row = at(c.token_embedding) + tokens[pos] * dim;
    std::copy(row, row + dim, x.begin());
    for (int l = 0; l < p.n_layers; l++) {
      RmsNorm(xb.data(), x.data(), at(c.rms_att) + l * dim, dim);
      float* k = key_cache.data() + (l * len + pos) * kv_dim;
      float* v = value_cache.data() + (l * len + pos) * kv_dim;
      MatMul(q.data(), xb.data(), at(c.wq) + l * dim * dim, dim, dim);
      MatMul(k, xb.data(), at(c.wk) + l * dim * kv_dim, dim, kv_dim);
      MatMul(v, xb.data(), at(c.wv) + l * dim * kv_dim, dim, kv_dim);
      // RoPE, run.c: rotate pairs (i, i+1) by pos * 10000^(-(i % head_size) / head_size).
      for (int i = 0; i < dim; i += 2) {
        const int head_dim = i % head_size;
        const float freq = 1.0f / std::pow(10000.0f, head_dim / static_cast<float>(head_size));
        const float val = static_cast<float>(pos) * freq;
        const float fcr = std::cos(val), fci = std::sin(val);
        const int rotn = i < kv_dim ? 2 : 1;
        for (int vi = 0; vi < rotn; vi++) {
          float* vec = vi == 0 ? q.data() : k;
          const float v0 = vec[i], v1 = vec[i + 1];
          vec[i] = v0 * fcr - v1 * fci;
          vec[i + 1] = v0 * fci + v1 * fcr;
        }
      }
      for (int h = 0; h < p.n_heads; h++) {
        const float* qh = q.data() + h * head_size;
        const int kvh = h / kv_mul;
        std::vector<int64_t> shown;
        for (int64_t t = 0; t <= pos; t++) {
          if (!visible || visible(l, kvh, pos, t)) shown.push_back(t);
        }
        for (size_t i = 0; i < shown.size(); i++) {
          const float* kt = key_cache.data() + (l * len + shown[i]) * kv_dim + kvh * head_size;
          float score = 0.0f;
          for (int j = 0; j < head_size; j++) score += qh[j] * kt[j];
          att[i] = score / std::sqrt(static_cast<float>(head_size));
        }
        Softmax(att.data(), static_cast<int>(shown.size()));
        float* out = xb.data() + h * head_size;
        std::fill(out, out + head_size, 0.0f);
        for (size_t i = 0; i < shown.size(); i++) {
          const float* vt = value_cache.data() + (l * len + shown[i]) * kv_dim + kvh * head_size;
          for (int j = 0; j < head_size; j++) out[j] += att[i] * vt[j];
          run.attention[l][(h * len + pos) * len + shown[i]] = att[i];
        }
      }
      MatMul(xb2.data(), xb.data(), at(c.wo) + l * dim * dim, dim, dim);
      for (int i = 0; i < dim; i++) x[i] += xb2[i];
      RmsNorm(xb.data(), x.data(), at(c.rms_ffn) + l * dim, dim);
      MatMul(hb.data(), xb.data(), at(c.w1) + l * dim * hidden_dim, dim, hidden_dim);
      MatMul(hb2.data(), xb.data(), at(c.w3) + l * dim * hidden_dim, dim, hidden_dim);
      for (int i = 0; i < hidden_dim; i++) {
        float val = hb[i];
        val *= (1.0f / (1.0f + std::exp(-val)));
        hb[i] = val * hb2[i];
      }
      MatMul(xb.data(), hb.data(), at(c.w2) + l * dim * hidden_dim, hidden_dim, dim);
      for (int i = 0; i < dim; i++) x[i] += xb[i];
    }
    RmsNorm(x.data(), x.data(), at(c.rms_final), dim);
    MatMul(logits.data(), x.data(), at(c.wcls), dim, c.vocab_size);
    run.logits.push_back(logits);
  }
  for (int l = 0; l < p.n_layers; l++) {
    for (int64_t t = 0; t < len; t++) {
      for (int h = 0; h < p.n_kv_heads; h++) {
        for (int j = 0; j < head_size; j++) {
          const int64_t src = (l * len + t) * kv_dim + h * head_size + j;
          run.k[l][(h * len + t) * head_size + j] = key_cache[src];
          run.v[l][(h * len + t) * head_size + j] = value_cache[src];
        }
      }
    }
  }
  return run;
}

}  // namespace kvfunda::testing
