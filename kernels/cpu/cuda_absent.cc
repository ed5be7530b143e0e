// The CUDA entry points of kernels/ when kvfunda is built without CUDA: the one
// place that switches on KVFUNDA_HAVE_CUDA. With CUDA, kernels/cuda/*.cu define
// them instead. Callers need no #ifdef: they ask CudaAvailable() or get kNoDevice.
#ifndef KVFUNDA_HAVE_CUDA

#include "kernels/kv_gather.h"

namespace kvf_kernels {

bool CudaAvailable() { return false; }

KernelStatus CudaGather(const GatherRowsParams& /*p*/, void* /*stream*/) {
  return {KernelCode::kNoDevice, "kvfunda was built without CUDA kernels"};
}

}  // namespace kvf_kernels

#endif  // KVFUNDA_HAVE_CUDA
