// KV gather: copies the kept rows of a per-head KV tensor into a compact,
// ragged-capable buffer. This is the core of KV-cache compaction: a compression
// policy picks, per head, which token rows survive; the gather packs them.
//
//   src     [n_heads, src_len, dim]       fp32, any non-negative head/row strides,
//                                         elements of a row contiguous
//   indptr  [n_heads + 1]                 CSR offsets into `indices`
//   indices [nnz]                         row numbers into [0, src_len), any order,
//                                         repeats allowed
//   dst     [n_heads, dst_capacity, dim]  fp32, contiguous
//
//   dst[h, i, :] = src[h, indices[indptr[h] + i], :]  for i < indptr[h+1] - indptr[h]
//   dst[h, i, :] = 0                                  for the rest of the head's rows
//
// Two implementations with the same parameters: CpuGather (the naive reference,
// host pointers) and CudaGather (device pointers, asynchronous on a stream). Both
// return a KernelStatus and never throw. No libtorch here: the worker reaches these
// through worker/model/kernel_adapter.h.
//
// Threading: free functions without shared state; concurrent calls are safe as
// long as their dst buffers do not overlap.
#pragma once

#include <cstdint>

namespace kvf_kernels {

// The closed set of kernel outcomes.
enum class KernelCode {
  kOk = 0,
  kInvalidArgument,  // sizes, strides, pointers or indices break the contract
  kCudaError,        // the CUDA runtime reported an error (launch or earlier async)
  kNoDevice,         // no usable CUDA device or driver, or CUDA not compiled in
};

// A code plus a human-readable detail. `detail` points to a string with static
// storage duration (a literal or cudaGetErrorString's text); never null.
struct KernelStatus {
  KernelCode code = KernelCode::kOk;
  const char* detail = "";

  bool ok() const { return code == KernelCode::kOk; }
};

// "ok", "invalid-argument", "cuda-error", "no-device".
const char* KernelCodeName(KernelCode code);

// Parameters of one gather. Sizes are counts of elements or rows; strides are in
// elements (floats), not bytes.
struct GatherRowsParams {
  const float* src = nullptr;        // [n_heads, src_len, dim], see strides
  int64_t src_head_stride = 0;       // elements between src[h, r, 0] and src[h+1, r, 0]; >= 0
  int64_t src_row_stride = 0;        // elements between src[h, r, 0] and src[h, r+1, 0]; >= 0
  int32_t n_heads = 0;               // >= 0
  int32_t src_len = 0;               // rows per head in src; >= 0
  int32_t dim = 0;                   // floats per row; >= 0

  const int32_t* indptr = nullptr;   // [n_heads + 1]; indptr[0] == 0, non-decreasing,
                                     // indptr[n_heads] == nnz
  const int32_t* indices = nullptr;  // [nnz]; each in [0, src_len)
  int32_t nnz = 0;                   // total kept rows over all heads; >= 0

  // Optional host copy of `indptr`, read only by CudaGather (where `indptr` is a
  // device pointer) to validate it on the host. Null: CudaGather skips the indptr
  // checks. CpuGather ignores it.
  const int32_t* host_indptr = nullptr;

  float* dst = nullptr;              // [n_heads, dst_capacity, dim], contiguous
  int32_t dst_capacity = 0;          // rows per head in dst; >= every head's count
};

// The reference gather on the host: plain loops, no threads, no vectorisation.
// REQUIRES: all pointers are host pointers; dst does not overlap src, indptr or
// indices.
// Errors: kInvalidArgument (with no write to dst) when a size or stride is
// negative, indptr is null, another pointer needed for non-empty work is null,
// indptr is not a valid CSR offset array for nnz, a head keeps more than
// dst_capacity rows, or an index is outside [0, src_len).
KernelStatus CpuGather(const GatherRowsParams& p);

// The CUDA gather: enqueues one kernel on `stream` (a cudaStream_t; null = the
// legacy default stream) and returns without waiting for it.
// REQUIRES: src, indptr, indices and dst are device pointers on the current
// device, live until the kernel finishes; dst does not overlap the inputs.
// REQUIRES: every index is in [0, src_len). This is NOT checked on the host (the
// indices live on the device). The kernel never reads outside src for a bad index
// or a bad indptr: it fills that dst row with NaN instead, so the bug is visible.
// Host-side checks (kInvalidArgument, nothing enqueued): sizes, strides, null
// pointers, and, when host_indptr is given, indptr[0] == 0, monotonicity,
// indptr[n_heads] == nnz and every head's count <= dst_capacity.
// An empty gather (no dst element) enqueues nothing and returns kOk.
// Errors: kNoDevice when there is no usable device or driver, or CUDA was not
// compiled in; kCudaError for any other CUDA runtime error (which may be a sticky
// error from earlier asynchronous work on the device).
// Uses 16-byte (float4) copies when dim, both strides and both base pointers
// allow it, scalar copies otherwise.
KernelStatus CudaGather(const GatherRowsParams& p, void* stream);

// True when CUDA was compiled in and the runtime sees at least one device. Never
// crashes without a driver: any runtime error reads as false.
bool CudaAvailable();

}  // namespace kvf_kernels
