// CUDA implementation of kernels/kv_gather.h (C++17, no libtorch).
//
// One thread block copies one dst row at a time, walking the n_heads *
// dst_capacity rows with a grid-stride loop; the block's threads stride over the
// row's floats, 16 bytes at a time (float4) when alignment allows. Rows past a
// head's count are zero-filled; a row whose index or indptr entry is out of range
// is NaN-filled instead of read (the contract says indices are in range; this
// keeps a broken caller from faulting and makes the bug visible in the output).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cpu/kv_gather_checks.h"
#include "kernels/kv_gather.h"

namespace kvf_kernels {
namespace {

constexpr int kMaxThreads = 128;
constexpr int64_t kMaxBlocks = 65535;

// The fields the device needs, passed by value as the kernel argument.
struct DeviceGatherArgs {
  const float* src;         // [n_heads, src_len, dim], strided
  int64_t src_head_stride;  // elements
  int64_t src_row_stride;   // elements
  const int32_t* indptr;    // [n_heads + 1]
  const int32_t* indices;   // [nnz]
  float* dst;               // [n_heads, dst_capacity, dim], contiguous
  int32_t n_heads;
  int32_t src_len;
  int32_t dim;
  int32_t nnz;
  int32_t dst_capacity;
};

// kVec: copy float4s (REQUIRES dim % 4 == 0, strides % 4 == 0, 16-byte aligned
// src and dst); otherwise one float per thread step.
template <bool kVec>
__global__ void GatherRowsKernel(DeviceGatherArgs a) {
  const int64_t total_rows = static_cast<int64_t>(a.n_heads) * a.dst_capacity;
  const float nan = __int_as_float(0x7fc00000);
  for (int64_t r = blockIdx.x; r < total_rows; r += gridDim.x) {
    const int32_t h = static_cast<int32_t>(r / a.dst_capacity);
    const int32_t i = static_cast<int32_t>(r - static_cast<int64_t>(h) * a.dst_capacity);
    const int32_t begin = a.indptr[h];
    const int64_t count = static_cast<int64_t>(a.indptr[h + 1]) - begin;

    const float* in = nullptr;  // null: fill the row with `fill`
    float fill = 0.0f;
    if (i < count) {
      const int64_t k = static_cast<int64_t>(begin) + i;
      const int32_t row = (begin >= 0 && k < a.nnz && count <= a.dst_capacity) ? a.indices[k] : -1;
      if (row >= 0 && row < a.src_len) {
        in = a.src + h * a.src_head_stride + row * a.src_row_stride;
      } else {
        fill = nan;
      }
    }

    float* out = a.dst + r * a.dim;
    if constexpr (kVec) {
      const int32_t n4 = a.dim / 4;
      float4* out4 = reinterpret_cast<float4*>(out);
      if (in != nullptr) {
        const float4* in4 = reinterpret_cast<const float4*>(in);
        for (int32_t j = threadIdx.x; j < n4; j += blockDim.x) out4[j] = in4[j];
      } else {
        const float4 f4 = make_float4(fill, fill, fill, fill);
        for (int32_t j = threadIdx.x; j < n4; j += blockDim.x) out4[j] = f4;
      }
    } else {
      if (in != nullptr) {
        for (int32_t j = threadIdx.x; j < a.dim; j += blockDim.x) out[j] = in[j];
      } else {
        for (int32_t j = threadIdx.x; j < a.dim; j += blockDim.x) out[j] = fill;
      }
    }
  }
}

bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

KernelStatus FromCudaError(cudaError_t e) {
  if (e == cudaSuccess) return {};
  const KernelCode code =
      (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver) ? KernelCode::kNoDevice
                                                                   : KernelCode::kCudaError;
  return {code, cudaGetErrorString(e)};
}

}  // namespace

bool CudaAvailable() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();  // clear it so it does not surface in a later call
    return false;
  }
  return count > 0;
}

KernelStatus CudaGather(const GatherRowsParams& p, void* stream) {
  KernelStatus s = internal::CheckGatherShape(p);
  if (!s.ok()) return s;
  if (p.host_indptr != nullptr) {
    s = internal::CheckGatherIndptr(p.host_indptr, p.n_heads, p.nnz, p.dst_capacity);
    if (!s.ok()) return s;
  }
  const int64_t total_rows = static_cast<int64_t>(p.n_heads) * p.dst_capacity;
  if (total_rows == 0 || p.dim == 0) return {};  // nothing to write

  const DeviceGatherArgs args{p.src,     p.src_head_stride, p.src_row_stride, p.indptr,
                              p.indices, p.dst,             p.n_heads,        p.src_len,
                              p.dim,     p.nnz,             p.dst_capacity};
  const bool vec = p.dim % 4 == 0 && p.src_head_stride % 4 == 0 && p.src_row_stride % 4 == 0 &&
                   Aligned16(p.src) && Aligned16(p.dst);
  const int64_t per_row = vec ? p.dim / 4 : p.dim;  // thread steps per row
  // Whole warps, at most kMaxThreads: a 3-float row gets 32 threads, not 128.
  const int threads = static_cast<int>(std::min<int64_t>(kMaxThreads, (per_row + 31) / 32 * 32));
  const unsigned blocks = static_cast<unsigned>(std::min(total_rows, kMaxBlocks));
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  if (vec) {
    GatherRowsKernel<true><<<blocks, threads, 0, st>>>(args);
  } else {
    GatherRowsKernel<false><<<blocks, threads, 0, st>>>(args);
  }
  return FromCudaError(cudaGetLastError());
}

}  // namespace kvf_kernels
