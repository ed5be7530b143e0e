#include "worker/model/llama2c_loader.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string_view>
#include <system_error>
#include <utility>

namespace kvfunda {
namespace {

constexpr int64_t kHeaderBytes = 7 * sizeof(int32_t);

// Upper bounds far above any real llama2.c export; they keep size arithmetic in
// int64 and reject garbage headers before any allocation.
constexpr int32_t kMaxDim = 1 << 16;
constexpr int32_t kMaxHidden = 1 << 18;
constexpr int32_t kMaxLayers = 1024;
constexpr int32_t kMaxHeads = 1024;
constexpr int32_t kMaxVocab = 1 << 21;
constexpr int32_t kMaxSeqLen = 1 << 21;
constexpr int64_t kMaxFileBytes = int64_t{1} << 40;

Status CheckRange(std::string_view name, int64_t value, int64_t max, const std::string& path) {
  if (value <= 0 || value > max) {
    return Status::ModelLoad(path + ": header field " + std::string(name) + " = " +
                             std::to_string(value) + " is outside [1, " + std::to_string(max) +
                             "]; not a llama2.c checkpoint or corrupt");
  }
  return Status::Ok();
}

// Float counts of each weight, in file order (the RoPE tables included).
struct Layout {
  int64_t embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, freq, wcls;
  int64_t Total() const {
    return embedding + rms_att + wq + wk + wv + wo + rms_ffn + w1 + w2 + w3 + rms_final + 2 * freq +
           wcls;
  }
};

Layout LayoutOf(const Llama2cHeader& h) {
  const int64_t dim = h.dim, hidden = h.hidden_dim, layers = h.n_layers;
  const int64_t vocab = h.vocab_size < 0 ? -int64_t{h.vocab_size} : h.vocab_size;
  const int64_t head_dim = dim / h.n_heads;
  const int64_t kv_dim = head_dim * h.n_kv_heads;
  Layout l{};
  l.embedding = vocab * dim;
  l.rms_att = layers * dim;
  l.wq = layers * dim * dim;
  l.wk = layers * kv_dim * dim;
  l.wv = layers * kv_dim * dim;
  l.wo = layers * dim * dim;
  l.rms_ffn = layers * dim;
  l.w1 = layers * hidden * dim;
  l.w2 = layers * dim * hidden;
  l.w3 = layers * hidden * dim;
  l.rms_final = dim;
  l.freq = int64_t{h.seq_len} * head_dim / 2;
  l.wcls = h.vocab_size < 0 ? vocab * dim : 0;
  return l;
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

Status ValidateLlama2cHeader(const Llama2cHeader& h, const std::string& path) {
  KVF_RETURN_IF_ERROR(CheckRange("dim", h.dim, kMaxDim, path));
  KVF_RETURN_IF_ERROR(CheckRange("hidden_dim", h.hidden_dim, kMaxHidden, path));
  KVF_RETURN_IF_ERROR(CheckRange("n_layers", h.n_layers, kMaxLayers, path));
  KVF_RETURN_IF_ERROR(CheckRange("n_heads", h.n_heads, kMaxHeads, path));
  KVF_RETURN_IF_ERROR(CheckRange("n_kv_heads", h.n_kv_heads, kMaxHeads, path));
  const int64_t vocab = h.vocab_size < 0 ? -int64_t{h.vocab_size} : h.vocab_size;
  KVF_RETURN_IF_ERROR(CheckRange("|vocab_size|", vocab, kMaxVocab, path));
  KVF_RETURN_IF_ERROR(CheckRange("seq_len", h.seq_len, kMaxSeqLen, path));
  if (h.dim % h.n_heads != 0) {
    return Status::ModelLoad(path + ": dim " + std::to_string(h.dim) +
                             " is not a multiple of n_heads " + std::to_string(h.n_heads));
  }
  if ((h.dim / h.n_heads) % 2 != 0) {
    return Status::ModelLoad(path + ": head_dim " + std::to_string(h.dim / h.n_heads) +
                             " is odd; RoPE needs an even head_dim");
  }
  if (h.n_kv_heads > h.n_heads || h.n_heads % h.n_kv_heads != 0) {
    return Status::ModelLoad(path + ": n_heads " + std::to_string(h.n_heads) +
                             " is not a multiple of n_kv_heads " + std::to_string(h.n_kv_heads));
  }
  if (Llama2cFileBytes(h) > kMaxFileBytes) {
    return Status::ModelLoad(path + ": header implies an implausible size of " +
                             std::to_string(Llama2cFileBytes(h)) + " bytes");
  }
  return Status::Ok();
}

int64_t Llama2cFileBytes(const Llama2cHeader& header) {
  return kHeaderBytes + LayoutOf(header).Total() * static_cast<int64_t>(sizeof(float));
}

Result<Llama2cCheckpoint> LoadLlama2cCheckpoint(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return Status::ModelLoad(path + ": not a readable file");
  }
  const auto file_size = std::filesystem::file_size(path, ec);
  if (ec) return Status::ModelLoad(path + ": cannot stat: " + ec.message());
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (!f) return Status::ModelLoad(path + ": cannot open: " + std::strerror(errno));
  if (static_cast<int64_t>(file_size) < kHeaderBytes) {
    return Status::ModelLoad(path + ": file is " + std::to_string(file_size) +
                             " bytes, shorter than the 28-byte llama2.c header");
  }
  int32_t raw[7];
  if (std::fread(raw, sizeof(int32_t), 7, f.get()) != 7) {
    return Status::ModelLoad(path + ": cannot read the header");
  }
  Llama2cCheckpoint ckpt;
  Llama2cHeader& h = ckpt.header;
  h = Llama2cHeader{raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6]};
  KVF_RETURN_IF_ERROR(ValidateLlama2cHeader(h, path));
  const int64_t expected = Llama2cFileBytes(h);
  if (static_cast<int64_t>(file_size) != expected) {
    return Status::ModelLoad(path + ": file is " + std::to_string(file_size) +
                             " bytes but its header (dim " + std::to_string(h.dim) + ", layers " +
                             std::to_string(h.n_layers) + ", vocab " +
                             std::to_string(h.vocab_size) + ") implies " +
                             std::to_string(expected) + (static_cast<int64_t>(file_size) < expected
                                                             ? "; truncated"
                                                             : "; trailing bytes"));
  }
  ckpt.vocab_size = h.vocab_size < 0 ? -h.vocab_size : h.vocab_size;
  ckpt.head_dim = h.dim / h.n_heads;
  ckpt.shared_classifier = h.vocab_size > 0;

  const Layout l = LayoutOf(h);
  const size_t total = static_cast<size_t>(l.Total());
  try {
    ckpt.data.resize(total);
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory(path + ": cannot allocate " + std::to_string(total * 4) +
                               " bytes for the weights");
  }
  if (std::fread(ckpt.data.data(), sizeof(float), total, f.get()) != total) {
    return Status::ModelLoad(path + ": read failed after the header");
  }

  size_t at = 0;
  auto take = [&at](int64_t count) {
    WeightRange r{at, static_cast<size_t>(count)};
    at += static_cast<size_t>(count);
    return r;
  };
  ckpt.token_embedding = take(l.embedding);
  ckpt.rms_att = take(l.rms_att);
  ckpt.wq = take(l.wq);
  ckpt.wk = take(l.wk);
  ckpt.wv = take(l.wv);
  ckpt.wo = take(l.wo);
  ckpt.rms_ffn = take(l.rms_ffn);
  ckpt.w1 = take(l.w1);
  ckpt.w2 = take(l.w2);
  ckpt.w3 = take(l.w3);
  ckpt.rms_final = take(l.rms_final);
  take(2 * l.freq);  // freq_cis_real, freq_cis_imag: unused
  ckpt.wcls = ckpt.shared_classifier ? ckpt.token_embedding : take(l.wcls);

  // A corrupt payload usually shows up as NaN/Inf; name the first weight hit.
  const std::pair<const char*, WeightRange> named[] = {
      {"token_embedding", ckpt.token_embedding}, {"rms_att", ckpt.rms_att}, {"wq", ckpt.wq},
      {"wk", ckpt.wk}, {"wv", ckpt.wv}, {"wo", ckpt.wo}, {"rms_ffn", ckpt.rms_ffn},
      {"w1", ckpt.w1}, {"w2", ckpt.w2}, {"w3", ckpt.w3}, {"rms_final", ckpt.rms_final},
      {"wcls", ckpt.wcls}};
  for (const auto& [name, range] : named) {
    for (size_t i = range.offset; i < range.offset + range.count; ++i) {
      if (!std::isfinite(ckpt.data[i])) {
        return Status::ModelLoad(path + ": weight " + name + " holds a non-finite value at index " +
                                 std::to_string(i - range.offset));
      }
    }
  }
  return ckpt;
}

}  // namespace kvfunda
