// Kernel adapter: the one place where libtorch tensors meet kernels/ (raw-pointer
// kernels with a CPU reference and a CUDA implementation). It validates shape,
// device and dtype, then dispatches to the CPU or CUDA kernel by tensor device.
// Threading: free functions; thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "coordinator/base/status.h"

namespace kvfunda {

// Gathers the rows kept[h] of each head of `src` into a new compact tensor.
//   src:  [n_heads, T, D], float32 (CPU or CUDA), contiguous
//   kept: n_heads lists of row indices into [0, T) (any order, may differ in length)
// Returns dst [n_heads, capacity, D] on src's device where dst[h, i] = src[h, kept[h][i]]
// for i < kept[h].size() and zeros elsewhere.
// REQUIRES: capacity >= max_h kept[h].size(). Errors: invalid-argument.
Result<at::Tensor> GatherKeptRows(const at::Tensor& src,
                                  const std::vector<std::vector<int32_t>>& kept,
                                  int32_t capacity);

}  // namespace kvfunda
