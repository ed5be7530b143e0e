// Tests of kernels/kv_gather.h: the CPU reference against hand-computed cases and
// bad inputs (always run), and the CUDA gather against the reference over a grid
// of odd sizes (skipped without a CUDA device; compiled without CUDA too).
#include "kernels/kv_gather.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#ifdef KVFUNDA_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace kvf_kernels {
namespace {

constexpr float kSentinel = -777.25f;

// Row-major [n_heads, src_len, dim] source with value h*1000 + r*10 + d.
std::vector<float> HandSource(int n_heads, int src_len, int dim) {
  std::vector<float> v;
  for (int h = 0; h < n_heads; ++h)
    for (int r = 0; r < src_len; ++r)
      for (int d = 0; d < dim; ++d) v.push_back(static_cast<float>(h * 1000 + r * 10 + d));
  return v;
}

GatherRowsParams ContiguousParams(const std::vector<float>& src, int n_heads, int src_len,
                                  int dim, const std::vector<int32_t>& indptr,
                                  const std::vector<int32_t>& indices, std::vector<float>* dst,
                                  int capacity) {
  GatherRowsParams p;
  p.src = src.data();
  p.src_head_stride = static_cast<int64_t>(src_len) * dim;
  p.src_row_stride = dim;
  p.n_heads = n_heads;
  p.src_len = src_len;
  p.dim = dim;
  p.indptr = indptr.data();
  p.indices = indices.data();
  p.nnz = static_cast<int32_t>(indices.size());
  dst->assign(static_cast<size_t>(n_heads) * capacity * dim, kSentinel);
  p.dst = dst->data();
  p.dst_capacity = capacity;
  return p;
}

TEST(KvGatherCpuTest, HandComputedCase) {
  // 2 heads x 3 rows x 2 floats. Head 0 keeps rows 2, 0; head 1 keeps row 1.
  const std::vector<float> src = HandSource(2, 3, 2);
  const std::vector<int32_t> indptr = {0, 2, 3};
  const std::vector<int32_t> indices = {2, 0, 1};
  std::vector<float> dst;
  const GatherRowsParams p = ContiguousParams(src, 2, 3, 2, indptr, indices, &dst, 3);
  const KernelStatus s = CpuGather(p);
  ASSERT_TRUE(s.ok()) << s.detail;
  const std::vector<float> expected = {
      20, 21, 0, 1, 0, 0,        // head 0: row 2, row 0, zero row
      1010, 1011, 0, 0, 0, 0,    // head 1: row 1, two zero rows
  };
  EXPECT_EQ(dst, expected);
}

TEST(KvGatherCpuTest, StridedSourceRepeatsAndEmptyHeads) {
  // Source rows padded to 5 floats (dim 3) and heads 20 floats apart (4 rows of 5).
  const int n_heads = 3, src_len = 4, dim = 3, row_stride = 5, head_stride = 20;
  std::vector<float> src(static_cast<size_t>(n_heads) * head_stride, -1.0f);
  for (int h = 0; h < n_heads; ++h)
    for (int r = 0; r < src_len; ++r)
      for (int d = 0; d < dim; ++d)
        src[h * head_stride + r * row_stride + d] = static_cast<float>(h * 100 + r * 10 + d);
  const std::vector<int32_t> indptr = {0, 0, 3, 4};  // head 0 keeps nothing
  const std::vector<int32_t> indices = {3, 3, 1, 0};
  std::vector<float> dst;
  GatherRowsParams p = ContiguousParams(src, n_heads, src_len, dim, indptr, indices, &dst, 3);
  p.src_row_stride = row_stride;
  p.src_head_stride = head_stride;
  ASSERT_TRUE(CpuGather(p).ok());
  const std::vector<float> expected = {
      0, 0, 0, 0, 0, 0, 0, 0, 0,                 // head 0: all zero
      130, 131, 132, 130, 131, 132, 110, 111, 112,  // head 1: rows 3, 3, 1
      200, 201, 202, 0, 0, 0, 0, 0, 0,           // head 2: row 0, zeros
  };
  EXPECT_EQ(dst, expected);
}

TEST(KvGatherCpuTest, EmptyGathersSucceed) {
  const std::vector<float> src;
  const std::vector<int32_t> indptr = {0};
  const std::vector<int32_t> no_indices;
  std::vector<float> dst;
  GatherRowsParams p = ContiguousParams(src, 0, 0, 4, indptr, no_indices, &dst, 5);
  EXPECT_TRUE(CpuGather(p).ok());
  // Capacity 0 with nothing kept: no writes, no error.
  const std::vector<int32_t> indptr2 = {0, 0};
  std::vector<float> src2 = HandSource(1, 2, 2);
  p = ContiguousParams(src2, 1, 2, 2, indptr2, no_indices, &dst, 0);
  EXPECT_TRUE(CpuGather(p).ok());
}

TEST(KvGatherCpuTest, CodeNames) {
  EXPECT_STREQ(KernelCodeName(KernelCode::kOk), "ok");
  EXPECT_STREQ(KernelCodeName(KernelCode::kInvalidArgument), "invalid-argument");
  EXPECT_STREQ(KernelCodeName(KernelCode::kCudaError), "cuda-error");
  EXPECT_STREQ(KernelCodeName(KernelCode::kNoDevice), "no-device");
}

// A valid 2-head case that each InvalidInputs case breaks in one way.
struct BadCase {
  const char* name;
  void (*mutate)(GatherRowsParams*, std::vector<int32_t>* indptr, std::vector<int32_t>* indices);
  bool host_checkable;  // CudaGather can reject it on the host too
};

const BadCase kBadCases[] = {
    {"negative n_heads", [](GatherRowsParams* p, auto*, auto*) { p->n_heads = -1; }, true},
    {"negative dim", [](GatherRowsParams* p, auto*, auto*) { p->dim = -2; }, true},
    {"negative src_len", [](GatherRowsParams* p, auto*, auto*) { p->src_len = -3; }, true},
    {"negative capacity", [](GatherRowsParams* p, auto*, auto*) { p->dst_capacity = -1; }, true},
    {"negative stride", [](GatherRowsParams* p, auto*, auto*) { p->src_row_stride = -2; }, true},
    {"null indptr", [](GatherRowsParams* p, auto*, auto*) { p->indptr = nullptr; }, true},
    {"null indices", [](GatherRowsParams* p, auto*, auto*) { p->indices = nullptr; }, true},
    {"null src", [](GatherRowsParams* p, auto*, auto*) { p->src = nullptr; }, true},
    {"null dst", [](GatherRowsParams* p, auto*, auto*) { p->dst = nullptr; }, true},
    {"index == src_len", [](GatherRowsParams*, auto*, auto* ix) { (*ix)[1] = 3; }, false},
    {"negative index", [](GatherRowsParams*, auto*, auto* ix) { (*ix)[2] = -1; }, false},
    {"indptr[0] != 0", [](GatherRowsParams*, auto* ip, auto*) { (*ip)[0] = 1; }, true},
    {"decreasing indptr", [](GatherRowsParams*, auto* ip, auto*) { (*ip)[2] = 1; }, true},
    {"indptr[n] != nnz", [](GatherRowsParams* p, auto*, auto*) { p->nnz = 2; }, true},
    {"count > capacity", [](GatherRowsParams* p, auto*, auto*) { p->dst_capacity = 1; }, true},
};

TEST(KvGatherCpuTest, InvalidInputsAreRejectedWithoutWrites) {
  const std::vector<float> src = HandSource(2, 3, 2);
  for (const BadCase& c : kBadCases) {
    std::vector<int32_t> indptr = {0, 2, 3};
    std::vector<int32_t> indices = {2, 0, 1};
    std::vector<float> dst;
    GatherRowsParams p = ContiguousParams(src, 2, 3, 2, indptr, indices, &dst, 3);
    c.mutate(&p, &indptr, &indices);
    const KernelStatus s = CpuGather(p);
    EXPECT_EQ(s.code, KernelCode::kInvalidArgument) << c.name;
    EXPECT_STRNE(s.detail, "") << c.name;
    for (float v : dst) ASSERT_EQ(v, kSentinel) << c.name << ": dst was written";
  }
}

// Host-side checks of CudaGather need no device; they run everywhere.
TEST(KvGatherCudaTest, HostSideChecksRejectBadInputsWithoutADevice) {
  const std::vector<float> src = HandSource(2, 3, 2);
  for (const BadCase& c : kBadCases) {
    if (!c.host_checkable) continue;
    std::vector<int32_t> indptr = {0, 2, 3};
    std::vector<int32_t> indices = {2, 0, 1};
    std::vector<float> dst;
    GatherRowsParams p = ContiguousParams(src, 2, 3, 2, indptr, indices, &dst, 3);
    p.host_indptr = indptr.data();
    c.mutate(&p, &indptr, &indices);
    const KernelStatus s = CudaGather(p, nullptr);
#ifdef KVFUNDA_HAVE_CUDA
    EXPECT_EQ(s.code, KernelCode::kInvalidArgument) << c.name << ": " << s.detail;
#else
    EXPECT_EQ(s.code, KernelCode::kNoDevice) << c.name << ": " << s.detail;
#endif
  }
}

TEST(KvGatherCudaTest, ReportsNoDeviceWhenNoneIsAvailable) {
  if (CudaAvailable()) GTEST_SKIP() << "a CUDA device is present; this checks the no-device path";
  const std::vector<float> src = HandSource(1, 2, 4);
  const std::vector<int32_t> indptr = {0, 1};
  const std::vector<int32_t> indices = {1};
  std::vector<float> dst;
  GatherRowsParams p = ContiguousParams(src, 1, 2, 4, indptr, indices, &dst, 2);
  p.host_indptr = indptr.data();
  const KernelStatus s = CudaGather(p, nullptr);
  EXPECT_EQ(s.code, KernelCode::kNoDevice) << s.detail;
  for (float v : dst) EXPECT_EQ(v, kSentinel);
  EXPECT_FALSE(CudaAvailable());  // a second call after the failed launch still answers
}

#ifdef KVFUNDA_HAVE_CUDA

// Owns one device allocation; empty vectors get a 1-element buffer.
template <typename T>
class DeviceArray {
 public:
  explicit DeviceArray(size_t n) : n_(n) {
    if (cudaMalloc(&ptr_, (n == 0 ? 1 : n) * sizeof(T)) != cudaSuccess) ptr_ = nullptr;
  }
  explicit DeviceArray(const std::vector<T>& host) : DeviceArray(host.size()) {
    if (ptr_ != nullptr && !host.empty()) {
      if (cudaMemcpy(ptr_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice) !=
          cudaSuccess) {
        cudaFree(ptr_);
        ptr_ = nullptr;
      }
    }
  }
  ~DeviceArray() {
    if (ptr_ != nullptr) cudaFree(ptr_);
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  T* get() const { return ptr_; }
  bool Fill(const std::vector<T>& host) {
    return cudaMemcpy(ptr_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice) ==
           cudaSuccess;
  }
  std::vector<T> ToHost() const {
    std::vector<T> host(n_);
    if (n_ > 0 && cudaMemcpy(host.data(), ptr_, n_ * sizeof(T), cudaMemcpyDeviceToHost) !=
                      cudaSuccess) {
      host.clear();
    }
    return host;
  }

 private:
  size_t n_;
  T* ptr_ = nullptr;
};

struct GridCase {
  int n_heads, src_len, dim, pad, capacity;
  bool offset;  // src starts one float into its buffer (breaks 16-byte alignment)
  std::string Describe() const {
    std::ostringstream o;
    o << "n_heads=" << n_heads << " src_len=" << src_len << " dim=" << dim
      << " row_pad=" << pad << " capacity=" << capacity << " src_offset=" << offset;
    return o.str();
  }
};

// Runs one case on both implementations; returns "" or the first mismatch.
std::string CompareOne(const GridCase& g, std::mt19937* rng, cudaStream_t stream) {
  const int64_t row_stride = g.dim + g.pad;
  const int64_t head_stride = g.src_len * row_stride;
  const size_t src_elems = static_cast<size_t>(g.n_heads * head_stride) + (g.offset ? 1 : 0);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> src(src_elems);
  for (float& v : src) v = normal(*rng);

  // Ragged counts: head h%3==1 keeps nothing, h%3==0 fills the capacity (with
  // repeats when capacity > src_len), h%3==2 keeps a random count.
  std::vector<int32_t> indptr = {0};
  std::vector<int32_t> indices;
  std::uniform_int_distribution<int32_t> row_dist(0, g.src_len - 1);
  std::uniform_int_distribution<int32_t> count_dist(0, g.capacity);
  for (int h = 0; h < g.n_heads; ++h) {
    const int count = h % 3 == 1 ? 0 : h % 3 == 0 ? g.capacity : count_dist(*rng);
    for (int i = 0; i < count; ++i) indices.push_back(row_dist(*rng));
    indptr.push_back(static_cast<int32_t>(indices.size()));
  }

  const size_t dst_elems = static_cast<size_t>(g.n_heads) * g.capacity * g.dim;
  std::vector<float> expected(dst_elems, kSentinel);
  GatherRowsParams p;
  p.src = src.data() + (g.offset ? 1 : 0);
  p.src_head_stride = head_stride;
  p.src_row_stride = row_stride;
  p.n_heads = g.n_heads;
  p.src_len = g.src_len;
  p.dim = g.dim;
  p.indptr = indptr.data();
  p.indices = indices.data();
  p.nnz = static_cast<int32_t>(indices.size());
  p.dst = expected.data();
  p.dst_capacity = g.capacity;
  const KernelStatus cpu = CpuGather(p);
  if (!cpu.ok()) return std::string("CpuGather failed: ") + cpu.detail;

  DeviceArray<float> d_src(src);
  DeviceArray<int32_t> d_indptr(indptr);
  DeviceArray<int32_t> d_indices(indices);
  DeviceArray<float> d_dst(dst_elems);
  if (!d_src.get() || !d_indptr.get() || !d_indices.get() || !d_dst.get()) return "cudaMalloc";
  if (!d_dst.Fill(std::vector<float>(dst_elems, kSentinel))) return "filling dst";
  p.src = d_src.get() + (g.offset ? 1 : 0);
  p.indptr = d_indptr.get();
  p.indices = d_indices.get();
  p.dst = d_dst.get();
  p.host_indptr = indptr.data();
  const KernelStatus gpu = CudaGather(p, stream);
  if (!gpu.ok()) return std::string("CudaGather failed: ") + gpu.detail;
  if (cudaStreamSynchronize(stream) != cudaSuccess) return "stream sync failed";
  const std::vector<float> got = d_dst.ToHost();
  if (got.size() != dst_elems) return "copy back failed";
  for (size_t k = 0; k < dst_elems; ++k) {
    // A copy is exact: compare bits, which also catches NaN and -0.0.
    if (std::memcmp(&got[k], &expected[k], sizeof(float)) != 0) {
      const size_t row = k / g.dim;
      std::ostringstream o;
      o << "mismatch at head " << row / g.capacity << " row " << row % g.capacity << " col "
        << k % g.dim << ": got " << got[k] << ", want " << expected[k];
      return o.str();
    }
  }
  return "";
}

TEST(KvGatherCudaTest, MatchesReferenceOverOddSizes) {
  if (!CudaAvailable()) GTEST_SKIP() << "no CUDA device or driver: CUDA gather not run";
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  std::mt19937 rng(1234);
  int cases = 0;
  for (int n_heads : {1, 3, 7}) {
    for (int src_len : {1, 19, 733}) {
      for (int dim : {1, 3, 8, 64, 129}) {
        // Contiguous (vector path when dim % 4 == 0), padded rows and an unaligned
        // base (both force the scalar path); capacity above and below src_len.
        for (int variant = 0; variant < 3; ++variant) {
          GridCase g{n_heads, src_len, dim, variant == 1 ? 1 : 0,
                     variant == 2 ? (src_len + 1) / 2 : src_len + 3, variant == 2};
          const std::string err = CompareOne(g, &rng, stream);
          EXPECT_EQ(err, "") << g.Describe();
          ++cases;
        }
      }
    }
  }
  EXPECT_EQ(cases, 3 * 3 * 5 * 3);
  EXPECT_EQ(cudaStreamDestroy(stream), cudaSuccess);
}

TEST(KvGatherCudaTest, OutOfRangeIndexFillsNaNInsteadOfReading) {
  if (!CudaAvailable()) GTEST_SKIP() << "no CUDA device or driver: CUDA gather not run";
  const std::vector<float> src = HandSource(1, 4, 8);
  const std::vector<int32_t> indptr = {0, 3};
  const std::vector<int32_t> indices = {1, 4, -5};  // two out of range
  DeviceArray<float> d_src(src);
  DeviceArray<int32_t> d_indptr(indptr);
  DeviceArray<int32_t> d_indices(indices);
  DeviceArray<float> d_dst(4 * 8);
  GatherRowsParams p;
  p.src = d_src.get();
  p.src_head_stride = 32;
  p.src_row_stride = 8;
  p.n_heads = 1;
  p.src_len = 4;
  p.dim = 8;
  p.indptr = d_indptr.get();
  p.indices = d_indices.get();
  p.nnz = 3;
  p.dst = d_dst.get();
  p.dst_capacity = 4;
  const KernelStatus s = CudaGather(p, nullptr);
  ASSERT_TRUE(s.ok()) << s.detail;
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const std::vector<float> got = d_dst.ToHost();
  ASSERT_EQ(got.size(), 32u);
  for (int d = 0; d < 8; ++d) {
    EXPECT_EQ(got[d], static_cast<float>(10 + d));  // row 1
    EXPECT_TRUE(std::isnan(got[8 + d]));
    EXPECT_TRUE(std::isnan(got[16 + d]));
    EXPECT_EQ(got[24 + d], 0.0f);  // past the head's count
  }
}

#endif  // KVFUNDA_HAVE_CUDA

}  // namespace
}  // namespace kvf_kernels
