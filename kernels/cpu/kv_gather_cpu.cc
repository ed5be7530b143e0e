// The naive reference for kernels/kv_gather.h: validate everything, then three
// plain loops. Deliberately simple; the CUDA version is checked against it.
#include "kernels/cpu/kv_gather_checks.h"
#include "kernels/kv_gather.h"

namespace kvf_kernels {

const char* KernelCodeName(KernelCode code) {
  switch (code) {
    case KernelCode::kOk: return "ok";
    case KernelCode::kInvalidArgument: return "invalid-argument";
    case KernelCode::kCudaError: return "cuda-error";
    case KernelCode::kNoDevice: return "no-device";
  }
  return "unknown";
}

KernelStatus CpuGather(const GatherRowsParams& p) {
  KernelStatus s = internal::CheckGatherShape(p);
  if (!s.ok()) return s;
  s = internal::CheckGatherIndptr(p.indptr, p.n_heads, p.nnz, p.dst_capacity);
  if (!s.ok()) return s;
  for (int32_t k = 0; k < p.nnz; ++k) {
    if (p.indices[k] < 0 || p.indices[k] >= p.src_len) {
      return {KernelCode::kInvalidArgument, "an index is outside [0, src_len)"};
    }
  }

  for (int32_t h = 0; h < p.n_heads; ++h) {
    const int32_t count = p.indptr[h + 1] - p.indptr[h];
    for (int32_t i = 0; i < p.dst_capacity; ++i) {
      float* out = p.dst + (static_cast<int64_t>(h) * p.dst_capacity + i) * p.dim;
      if (i < count) {
        const int32_t row = p.indices[p.indptr[h] + i];
        const float* in = p.src + h * p.src_head_stride + row * p.src_row_stride;
        for (int32_t d = 0; d < p.dim; ++d) out[d] = in[d];
      } else {
        for (int32_t d = 0; d < p.dim; ++d) out[d] = 0.0f;
      }
    }
  }
  return {};
}

}  // namespace kvf_kernels
