#include "worker/model/dequantize.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <thread>
#include <vector>

namespace kvfunda {
namespace {

constexpr int64_t kQK = 32;    // values per block of the legacy quants
constexpr int64_t kQKK = 256;  // values per super-block of the k-quants

// Every type ggml defines (ggml.h enum ggml_type), with its block geometry.
constexpr GgmlTypeTraits kTypes[] = {
    {0, "F32", 1, 4, true},
    {1, "F16", 1, 2, true},
    {2, "Q4_0", kQK, 2 + 16, true},
    {3, "Q4_1", kQK, 2 + 2 + 16, true},
    {6, "Q5_0", kQK, 2 + 4 + 16, true},
    {7, "Q5_1", kQK, 2 + 2 + 4 + 16, true},
    {8, "Q8_0", kQK, 2 + 32, true},
    {9, "Q8_1", kQK, 4 + 4 + 32, false},
    {10, "Q2_K", kQKK, 2 + 2 + kQKK / 16 + kQKK / 4, false},
    {11, "Q3_K", kQKK, 2 + kQKK / 4 + kQKK / 8 + 12, false},
    {12, "Q4_K", kQKK, 2 + 2 + kQKK / 2 + 12, true},
    {13, "Q5_K", kQKK, 2 + 2 + kQKK / 2 + kQKK / 8 + 12, true},
    {14, "Q6_K", kQKK, 2 + kQKK / 2 + kQKK / 4 + kQKK / 16, true},
    {15, "Q8_K", kQKK, 4 + kQKK + kQKK / 8, false},
    {16, "IQ2_XXS", kQKK, 2 + kQKK / 4, false},
    {17, "IQ2_XS", kQKK, 2 + kQKK / 4 + kQKK / 32, false},
    {18, "IQ3_XXS", kQKK, 2 + kQKK / 4 + kQKK / 8, false},
    {19, "IQ1_S", kQKK, 2 + kQKK / 8 + kQKK / 16, false},
    {20, "IQ4_NL", kQK, 2 + 16, false},
    {21, "IQ3_S", kQKK, 2 + kQKK / 4 + kQKK / 8 + kQKK / 32 + 4, false},
    {22, "IQ2_S", kQKK, 2 + kQKK / 4 + kQKK / 16, false},
    {23, "IQ4_XS", kQKK, 2 + 2 + kQKK / 2 + kQKK / 64, false},
    {24, "I8", 1, 1, false},
    {25, "I16", 1, 2, false},
    {26, "I32", 1, 4, false},
    {27, "I64", 1, 8, false},
    {28, "F64", 1, 8, false},
    {29, "IQ1_M", kQKK, kQKK / 8 + kQKK / 16 + kQKK / 32, false},
    {30, "BF16", 1, 2, true},
    {34, "TQ1_0", kQKK, 2 + 4 * 13, false},
    {35, "TQ2_0", kQKK, 2 + 64, false},
    {39, "MXFP4", kQK, 1 + 16, false},
};

inline uint16_t LoadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline uint32_t LoadU32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline float LoadHalf(const uint8_t* p) { return HalfToFloat(LoadU16(p)); }

// ---- one block each: `b` points at the block, `y` at its block_size outputs.

void BlockF32(const uint8_t* b, float* y) { std::memcpy(y, b, sizeof(float)); }
void BlockF16(const uint8_t* b, float* y) { *y = LoadHalf(b); }
void BlockBf16(const uint8_t* b, float* y) { *y = Bf16ToFloat(LoadU16(b)); }

// block_q8_0: f16 d; int8 qs[32].
void BlockQ8_0(const uint8_t* b, float* y) {
  const float d = LoadHalf(b);
  const int8_t* qs = reinterpret_cast<const int8_t*>(b + 2);
  for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(qs[j]) * d;
}

// block_q4_0: f16 d; uint8 qs[16] (low nibbles: values 0..15, high: 16..31).
void BlockQ4_0(const uint8_t* b, float* y) {
  const float d = LoadHalf(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < kQK / 2; ++j) {
    y[j] = static_cast<float>((qs[j] & 0x0F) - 8) * d;
    y[j + kQK / 2] = static_cast<float>((qs[j] >> 4) - 8) * d;
  }
}

// block_q4_1: f16 d, f16 m; uint8 qs[16]; value = q * d + m.
void BlockQ4_1(const uint8_t* b, float* y) {
  const float d = LoadHalf(b);
  const float m = LoadHalf(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < kQK / 2; ++j) {
    y[j] = static_cast<float>(qs[j] & 0x0F) * d + m;
    y[j + kQK / 2] = static_cast<float>(qs[j] >> 4) * d + m;
  }
}

// block_q5_0: f16 d; uint32 qh (5th bit of value j in bit j); uint8 qs[16].
void BlockQ5_0(const uint8_t* b, float* y) {
  const float d = LoadHalf(b);
  const uint32_t qh = LoadU32(b + 2);
  const uint8_t* qs = b + 6;
  for (int j = 0; j < kQK / 2; ++j) {
    const int lo = static_cast<int>((qs[j] & 0x0F) | (((qh >> j) & 1u) << 4)) - 16;
    const int hi = static_cast<int>((qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4)) - 16;
    y[j] = static_cast<float>(lo) * d;
    y[j + kQK / 2] = static_cast<float>(hi) * d;
  }
}

// block_q5_1: f16 d, f16 m; uint32 qh; uint8 qs[16]; value = q * d + m.
void BlockQ5_1(const uint8_t* b, float* y) {
  const float d = LoadHalf(b);
  const float m = LoadHalf(b + 2);
  const uint32_t qh = LoadU32(b + 4);
  const uint8_t* qs = b + 8;
  for (int j = 0; j < kQK / 2; ++j) {
    const uint32_t lo = (qs[j] & 0x0F) | (((qh >> j) & 1u) << 4);
    const uint32_t hi = (qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4);
    y[j] = static_cast<float>(lo) * d + m;
    y[j + kQK / 2] = static_cast<float>(hi) * d + m;
  }
}

// The 6-bit scale and min of sub-block j (0..7) packed in the 12 `scales` bytes
// of block_q4_K / block_q5_K (ggml's get_scale_min_k4).
inline void ScaleMinK4(int j, const uint8_t* q, uint8_t* sc, uint8_t* mn) {
  if (j < 4) {
    *sc = q[j] & 63;
    *mn = q[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4));
    *mn = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// block_q4_K: f16 d, f16 dmin; uint8 scales[12]; uint8 qs[128]. Eight sub-blocks
// of 32; value = (d * sc) * q - (dmin * m).
void BlockQ4_K(const uint8_t* b, float* y) {
  const float d = LoadHalf(b);
  const float dmin = LoadHalf(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* q = b + 16;
  for (int j = 0, is = 0; j < kQKK; j += 64, is += 2, q += 32) {
    uint8_t sc, mn;
    ScaleMinK4(is, scales, &sc, &mn);
    const float d1 = d * sc, m1 = dmin * mn;
    ScaleMinK4(is + 1, scales, &sc, &mn);
    const float d2 = d * sc, m2 = dmin * mn;
    for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0x0F) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
  }
}

// block_q5_K: f16 d, f16 dmin; uint8 scales[12]; uint8 qh[32]; uint8 qs[128].
void BlockQ5_K(const uint8_t* b, float* y) {
  const float d = LoadHalf(b);
  const float dmin = LoadHalf(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* ql = b + 48;
  uint8_t u1 = 1, u2 = 2;
  for (int j = 0, is = 0; j < kQKK; j += 64, is += 2, ql += 32) {
    uint8_t sc, mn;
    ScaleMinK4(is, scales, &sc, &mn);
    const float d1 = d * sc, m1 = dmin * mn;
    ScaleMinK4(is + 1, scales, &sc, &mn);
    const float d2 = d * sc, m2 = dmin * mn;
    for (int l = 0; l < 32; ++l) {
      *y++ = d1 * static_cast<float>((ql[l] & 0x0F) + ((qh[l] & u1) ? 16 : 0)) - m1;
    }
    for (int l = 0; l < 32; ++l) {
      *y++ = d2 * static_cast<float>((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
    }
    u1 = static_cast<uint8_t>(u1 << 2);
    u2 = static_cast<uint8_t>(u2 << 2);
  }
}

// block_q6_K: uint8 ql[128] (low 4 bits), uint8 qh[64] (high 2 bits), int8
// scales[16], f16 d. Sixteen sub-blocks of 16; value = (d * scale) * (q - 32).
void BlockQ6_K(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = LoadHalf(b + 208);
  for (int n = 0; n < kQKK; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = static_cast<int>((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = static_cast<int>((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = static_cast<int>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = static_cast<int>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * static_cast<float>(sc[is + 0]) * static_cast<float>(q1);
      y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
      y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
      y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
    }
  }
}

using BlockFn = void (*)(const uint8_t*, float*);

BlockFn BlockFunction(uint32_t id) {
  switch (static_cast<GgmlType>(id)) {
    case GgmlType::kF32: return BlockF32;
    case GgmlType::kF16: return BlockF16;
    case GgmlType::kBF16: return BlockBf16;
    case GgmlType::kQ8_0: return BlockQ8_0;
    case GgmlType::kQ4_0: return BlockQ4_0;
    case GgmlType::kQ4_1: return BlockQ4_1;
    case GgmlType::kQ5_0: return BlockQ5_0;
    case GgmlType::kQ5_1: return BlockQ5_1;
    case GgmlType::kQ4_K: return BlockQ4_K;
    case GgmlType::kQ5_K: return BlockQ5_K;
    case GgmlType::kQ6_K: return BlockQ6_K;
    default: return nullptr;
  }
}

// Converts blocks [begin, end).
void RunBlocks(const GgmlTypeTraits& t, std::span<const uint8_t> src, std::span<float> dst,
               int64_t begin, int64_t end) {
  const uint8_t* s = src.data() + begin * t.type_size;
  float* y = dst.data() + begin * t.block_size;
  switch (static_cast<GgmlType>(t.id)) {
    case GgmlType::kF32:  // plain copy
      std::memcpy(y, s, static_cast<size_t>(end - begin) * sizeof(float));
      return;
    case GgmlType::kF16:
      for (int64_t i = begin; i < end; ++i, s += 2) *y++ = HalfToFloat(LoadU16(s));
      return;
    case GgmlType::kBF16:
      for (int64_t i = begin; i < end; ++i, s += 2) *y++ = Bf16ToFloat(LoadU16(s));
      return;
    default: {
      BlockFn fn = BlockFunction(t.id);
      for (int64_t i = begin; i < end; ++i, s += t.type_size, y += t.block_size) fn(s, y);
    }
  }
}

std::string SupportedList() {
  std::string out;
  for (const auto& t : kTypes) {
    if (!t.dequantizable) continue;
    if (!out.empty()) out += ", ";
    out += t.name;
  }
  return out;
}

}  // namespace

const GgmlTypeTraits* FindGgmlType(uint32_t id) {
  for (const auto& t : kTypes) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

std::string GgmlTypeName(uint32_t id) {
  const GgmlTypeTraits* t = FindGgmlType(id);
  return t ? std::string(t->name) : "type " + std::to_string(id);
}

int64_t GgmlTensorBytes(const GgmlTypeTraits& traits, int64_t n_elements) {
  if (n_elements < 0 || n_elements % traits.block_size != 0) return -1;
  const int64_t blocks = n_elements / traits.block_size;
  if (blocks > std::numeric_limits<int64_t>::max() / traits.type_size) return -1;
  return blocks * traits.type_size;
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  const uint32_t man = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (man << 13);  // inf / NaN (payload kept)
  } else if (exp != 0) {
    bits = sign | ((exp + (127 - 15)) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;  // +-0
  } else {
    // Subnormal: man * 2^-24, exact in fp32.
    bits = sign | std::bit_cast<uint32_t>(static_cast<float>(man) * 0x1p-24f);
  }
  return std::bit_cast<float>(bits);
}

float Bf16ToFloat(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

Status DequantizeToF32(uint32_t type_id, std::span<const uint8_t> src, std::span<float> dst,
                       int num_threads) {
  const GgmlTypeTraits* t = FindGgmlType(type_id);
  if (t == nullptr) return Status::ModelLoad("unknown ggml type id " + std::to_string(type_id));
  if (!t->dequantizable) {
    return Status::ModelLoad("ggml type " + std::string(t->name) +
                             " is not supported; supported: " + SupportedList());
  }
  const int64_t n = static_cast<int64_t>(dst.size());
  const int64_t bytes = GgmlTensorBytes(*t, n);
  if (bytes < 0 || static_cast<uint64_t>(bytes) != src.size()) {
    return Status::InvalidArgument(std::to_string(n) + " values of " + t->name + " need " +
                                   (bytes < 0 ? std::string("whole blocks of ") +
                                                    std::to_string(t->block_size)
                                              : std::to_string(bytes) + " bytes") +
                                   ", got " + std::to_string(src.size()) + " bytes");
  }
  const int64_t blocks = n / t->block_size;
  // Threads pay off only for large tensors (~1 ms of work per thread at least).
  constexpr int64_t kMinValuesPerThread = int64_t{1} << 18;
  int64_t threads = std::clamp<int64_t>(num_threads, 1, std::max<int64_t>(1, n / kMinValuesPerThread));
  threads = std::min(threads, blocks);
  if (threads <= 1) {
    RunBlocks(*t, src, dst, 0, blocks);
    return Status::Ok();
  }
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(threads - 1));
  const int64_t per = (blocks + threads - 1) / threads;
  for (int64_t k = 1; k < threads; ++k) {
    const int64_t begin = std::min(blocks, k * per);
    const int64_t end = std::min(blocks, begin + per);
    pool.emplace_back([=, &src, &dst] { RunBlocks(*t, src, dst, begin, end); });
  }
  RunBlocks(*t, src, dst, 0, std::min(blocks, per));
  for (auto& th : pool) th.join();
  return Status::Ok();
}

}  // namespace kvfunda
