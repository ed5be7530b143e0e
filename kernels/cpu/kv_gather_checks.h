// Host-side argument checks for the KV gather (kernels/kv_gather.h), shared by the
// CPU reference and the CUDA launcher so both reject the same inputs the same way.
// Internal to kernels/. Threading: pure functions; thread-safe.
#pragma once

#include <cstdint>

#include "kernels/kv_gather.h"

namespace kvf_kernels::internal {

// Sizes and strides non-negative; indptr non-null (it always has n_heads + 1
// entries); src, indices and dst non-null wherever the gather will dereference
// them. Reads no pointed-to data.
KernelStatus CheckGatherShape(const GatherRowsParams& p);

// `indptr` [n_heads + 1] is a host array: indptr[0] == 0, non-decreasing,
// indptr[n_heads] == nnz, and no head keeps more than dst_capacity rows.
// REQUIRES: CheckGatherShape(...) passed and indptr is readable on the host.
KernelStatus CheckGatherIndptr(const int32_t* indptr, int32_t n_heads, int32_t nnz,
                               int32_t dst_capacity);

}  // namespace kvf_kernels::internal
