// The libtorch side of kernels/kv_gather.h: checks the tensor, builds the CSR
// form of `kept`, allocates dst and calls the CPU or CUDA kernel.
#include "worker/model/kernel_adapter.h"

#include <cstddef>
#include <limits>
#include <new>
#include <string>

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/util/Exception.h>

#include "kernels/kv_gather.h"

// The CUDA path needs both our CUDA kernels and a CUDA-enabled libtorch (the
// generated ATen/cuda/CUDAConfig.h ships only with one; Debian's CPU-only libtorch
// has the other ATen/cuda headers but not this one).
#if defined(KVFUNDA_HAVE_CUDA) && __has_include(<ATen/cuda/CUDAConfig.h>)
#define KVF_ADAPTER_TORCH_CUDA 1
#include <ATen/cuda/CUDAContext.h>
#include <ATen/ops/from_blob.h>
#include <c10/cuda/CUDAGuard.h>
#endif

namespace kvfunda {
namespace {

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

std::string ShapeString(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(t.size(i));
  }
  return s + "]";
}

Status FromKernelStatus(const kvf_kernels::KernelStatus& s) {
  if (s.ok()) return Status::Ok();
  std::string m = std::string("kv gather kernel: ") + kvf_kernels::KernelCodeName(s.code) + ": " +
                  s.detail;
  if (s.code == kvf_kernels::KernelCode::kInvalidArgument) return Status::InvalidArgument(m);
  return Status::Internal(m);
}

// Checks src and kept; fills the CSR arrays. Messages name the offending head.
Status BuildCsr(const at::Tensor& src, const std::vector<std::vector<int32_t>>& kept,
                int32_t capacity, std::vector<int32_t>* indptr, std::vector<int32_t>* indices) {
  if (!src.defined()) return Status::InvalidArgument("GatherKeptRows: src is undefined");
  if (src.dim() != 3) {
    return Status::InvalidArgument("GatherKeptRows: src must be [n_heads, T, D], got shape " +
                                   ShapeString(src));
  }
  if (src.scalar_type() != at::kFloat) {
    return Status::InvalidArgument(std::string("GatherKeptRows: src must be float32, got ") +
                                   c10::toString(src.scalar_type()));
  }
  if (!src.is_contiguous()) {
    return Status::InvalidArgument("GatherKeptRows: src must be contiguous (shape " +
                                   ShapeString(src) + ")");
  }
  if (src.size(0) > kInt32Max || src.size(1) > kInt32Max || src.size(2) > kInt32Max) {
    return Status::InvalidArgument("GatherKeptRows: src shape " + ShapeString(src) +
                                   " has a dimension above 2^31-1");
  }
  const int64_t n_heads = src.size(0);
  const int64_t src_len = src.size(1);
  if (static_cast<int64_t>(kept.size()) != n_heads) {
    return Status::InvalidArgument("GatherKeptRows: kept has " + std::to_string(kept.size()) +
                                   " heads, src has " + std::to_string(n_heads));
  }
  if (capacity < 0) {
    return Status::InvalidArgument("GatherKeptRows: capacity " + std::to_string(capacity) +
                                   " is negative");
  }

  int64_t nnz = 0;
  for (const auto& rows : kept) nnz += static_cast<int64_t>(rows.size());
  if (nnz > kInt32Max) {
    return Status::InvalidArgument("GatherKeptRows: " + std::to_string(nnz) +
                                   " kept rows in all exceed 2^31-1");
  }
  indptr->assign(1, 0);
  indptr->reserve(kept.size() + 1);
  indices->clear();
  indices->reserve(static_cast<size_t>(nnz));
  for (size_t h = 0; h < kept.size(); ++h) {
    const std::vector<int32_t>& rows = kept[h];
    if (static_cast<int64_t>(rows.size()) > capacity) {
      return Status::InvalidArgument("GatherKeptRows: head " + std::to_string(h) + " keeps " +
                                     std::to_string(rows.size()) + " rows, capacity is " +
                                     std::to_string(capacity));
    }
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rows[i] < 0 || rows[i] >= src_len) {
        return Status::InvalidArgument("GatherKeptRows: kept[" + std::to_string(h) + "][" +
                                       std::to_string(i) + "] = " + std::to_string(rows[i]) +
                                       " is outside [0, " + std::to_string(src_len) + ")");
      }
      indices->push_back(rows[i]);
    }
    indptr->push_back(static_cast<int32_t>(indices->size()));
  }
  return Status::Ok();
}

Result<at::Tensor> GatherImpl(const at::Tensor& src,
                              const std::vector<std::vector<int32_t>>& kept, int32_t capacity) {
  std::vector<int32_t> indptr;   // [n_heads + 1]
  std::vector<int32_t> indices;  // [nnz]
  KVF_RETURN_IF_ERROR(BuildCsr(src, kept, capacity, &indptr, &indices));

  kvf_kernels::GatherRowsParams p;
  p.n_heads = static_cast<int32_t>(src.size(0));
  p.src_len = static_cast<int32_t>(src.size(1));
  p.dim = static_cast<int32_t>(src.size(2));
  p.src_head_stride = src.stride(0);
  p.src_row_stride = src.stride(1);
  p.nnz = static_cast<int32_t>(indices.size());
  p.dst_capacity = capacity;
  p.host_indptr = indptr.data();

  if (src.device().is_cpu()) {
    at::Tensor dst = at::empty({src.size(0), capacity, src.size(2)}, src.options());
    p.src = src.data_ptr<float>();
    p.indptr = indptr.data();
    p.indices = indices.data();
    p.dst = dst.data_ptr<float>();
    KVF_RETURN_IF_ERROR(FromKernelStatus(kvf_kernels::CpuGather(p)));
    return dst;
  }
  if (src.device().is_cuda()) {
#ifdef KVF_ADAPTER_TORCH_CUDA
    const c10::cuda::CUDAGuard guard(src.device());
    // One device array [indptr | indices], copied on the current stream; the caching
    // allocator keeps it valid for the kernel, which runs on the same stream.
    std::vector<int32_t> csr(indptr);
    csr.insert(csr.end(), indices.begin(), indices.end());
    at::Tensor host_csr = at::from_blob(csr.data(), {static_cast<int64_t>(csr.size())}, at::kInt);
    at::Tensor dev_csr = host_csr.to(src.device(), /*non_blocking=*/false, /*copy=*/true);
    at::Tensor dst = at::empty({src.size(0), capacity, src.size(2)}, src.options());
    p.src = src.data_ptr<float>();
    p.indptr = dev_csr.data_ptr<int32_t>();
    p.indices = p.indptr + indptr.size();
    p.dst = dst.data_ptr<float>();
    KVF_RETURN_IF_ERROR(FromKernelStatus(
        kvf_kernels::CudaGather(p, at::cuda::getCurrentCUDAStream().stream())));
    return dst;
#else
    return Status::InvalidArgument(
        "GatherKeptRows: CUDA tensors need a CUDA-enabled libtorch and kvfunda built with "
        "KVFUNDA_CUDA=ON");
#endif
  }
  return Status::InvalidArgument("GatherKeptRows: unsupported device " + src.device().str());
}

}  // namespace

Result<at::Tensor> GatherKeptRows(const at::Tensor& src,
                                  const std::vector<std::vector<int32_t>>& kept,
                                  int32_t capacity) {
  // libtorch reports allocation and device failures by throwing; turn them into values.
  try {
    return GatherImpl(src, kept, capacity);
  } catch (const c10::OutOfMemoryError& e) {
    return Status::OutOfMemory(std::string("GatherKeptRows: ") + e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory("GatherKeptRows: host allocation failed");
  } catch (const c10::Error& e) {
    return Status::Internal(std::string("GatherKeptRows: ") + e.what_without_backtrace());
  }
}

}  // namespace kvfunda
