#include "kernels/cpu/kv_gather_checks.h"

namespace kvf_kernels::internal {
namespace {

KernelStatus Invalid(const char* detail) { return {KernelCode::kInvalidArgument, detail}; }

}  // namespace

KernelStatus CheckGatherShape(const GatherRowsParams& p) {
  if (p.n_heads < 0) return Invalid("n_heads is negative");
  if (p.src_len < 0) return Invalid("src_len is negative");
  if (p.dim < 0) return Invalid("dim is negative");
  if (p.nnz < 0) return Invalid("nnz is negative");
  if (p.dst_capacity < 0) return Invalid("dst_capacity is negative");
  if (p.src_head_stride < 0 || p.src_row_stride < 0) return Invalid("a src stride is negative");
  if (p.indptr == nullptr) return Invalid("indptr is null");
  if (p.nnz > 0 && p.indices == nullptr) return Invalid("indices is null");
  if (p.nnz > 0 && p.dim > 0 && p.src == nullptr) return Invalid("src is null");
  const int64_t dst_elems = static_cast<int64_t>(p.n_heads) * p.dst_capacity * p.dim;
  if (dst_elems > 0 && p.dst == nullptr) return Invalid("dst is null");
  return {};
}

KernelStatus CheckGatherIndptr(const int32_t* indptr, int32_t n_heads, int32_t nnz,
                               int32_t dst_capacity) {
  if (indptr[0] != 0) return Invalid("indptr[0] is not 0");
  for (int32_t h = 0; h < n_heads; ++h) {
    const int64_t count = static_cast<int64_t>(indptr[h + 1]) - indptr[h];
    if (count < 0) return Invalid("indptr is decreasing");
    if (count > dst_capacity) return Invalid("a head keeps more rows than dst_capacity");
  }
  if (indptr[n_heads] != nnz) return Invalid("indptr[n_heads] is not nnz");
  return {};
}

}  // namespace kvf_kernels::internal
