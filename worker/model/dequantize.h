// GGML tensor types and their dequantisation to fp32.
//
// A GGML tensor is a sequence of blocks; each block stores `block_size` values in
// `type_size` bytes (F32: 1 value in 4 bytes; Q4_1: 32 values in 20 bytes; Q6_K:
// 256 values in 210 bytes). The layouts follow ggml's ggml-common.h (block_q4_0 …
// block_q6_K); rows always hold whole blocks. FindGgmlType() knows every type id
// ggml defines so a GGUF file can be parsed whatever its types; DequantizeToF32()
// converts the types kvfunda supports: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0,
// Q5_1, Q4_K, Q5_K, Q6_K. The results are bit-identical to ggml's
// dequantize_row_* (and gguf-py's quants.dequantize) when fp contraction is off.
//
// Torch-free. Threading: free functions over caller buffers; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "coordinator/base/status.h"

namespace kvfunda {

// ggml's type ids (enum ggml_type), as stored in GGUF tensor infos.
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kBF16 = 30,
};

struct GgmlTypeTraits {
  uint32_t id = 0;
  const char* name = "";     // "Q4_K"
  int64_t block_size = 1;    // values per block
  int64_t type_size = 0;     // bytes per block
  bool dequantizable = false;  // DequantizeToF32 supports it
};

// The traits of ggml type `id`, or nullptr when ggml defines no such type (ids
// removed from ggml, such as 4 and 5 — the old Q4_2/Q4_3 — are unknown too).
const GgmlTypeTraits* FindGgmlType(uint32_t id);

// "Q4_K" for a known id, else "type 999".
std::string GgmlTypeName(uint32_t id);

// Bytes taken by `n_elements` values of `traits`' type, or -1 when n_elements is
// negative or not a whole number of blocks, or the byte count overflows int64.
int64_t GgmlTensorBytes(const GgmlTypeTraits& traits, int64_t n_elements);

// Converts `dst.size()` values stored as `type_id` in `src` to fp32, splitting the
// blocks over up to `num_threads` threads (<= 1: the calling thread only; small
// inputs always run inline).
// REQUIRES: src.size() == GgmlTensorBytes(type, dst.size()).
// Errors: model-load when the type is unknown or not supported ("ggml type Q3_K
// is not supported; supported: ..."); invalid-argument when the sizes disagree.
Status DequantizeToF32(uint32_t type_id, std::span<const uint8_t> src, std::span<float> dst,
                       int num_threads);

// Exact IEEE binary16 / bfloat16 bit patterns to fp32 (NaN payloads, infinities
// and subnormals preserved).
float HalfToFloat(uint16_t h);
float Bf16ToFloat(uint16_t b);

}  // namespace kvfunda
