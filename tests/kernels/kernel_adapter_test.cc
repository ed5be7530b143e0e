// Tests of worker/model/kernel_adapter.h: GatherKeptRows against at::index_select
// per head, zero fill past each head's count, and the invalid-argument paths.
#include "worker/model/kernel_adapter.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/index_select.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/zeros_like.h>
#include <gtest/gtest.h>

namespace kvfunda {
namespace {

// dst[h, :n] == index_select(src[h], 0, kept[h]) and dst[h, n:] == 0 for every head.
void ExpectMatchesIndexSelect(const at::Tensor& src, const std::vector<std::vector<int32_t>>& kept,
                              int32_t capacity, const at::Tensor& dst) {
  ASSERT_EQ(dst.dim(), 3);
  ASSERT_EQ(dst.size(0), src.size(0));
  ASSERT_EQ(dst.size(1), capacity);
  ASSERT_EQ(dst.size(2), src.size(2));
  ASSERT_EQ(dst.scalar_type(), at::kFloat);
  for (size_t h = 0; h < kept.size(); ++h) {
    const int64_t n = static_cast<int64_t>(kept[h].size());
    std::vector<int64_t> idx(kept[h].begin(), kept[h].end());
    const at::Tensor index = at::from_blob(idx.data(), {n}, at::kLong).clone();
    const at::Tensor want = at::index_select(src[h], 0, index);
    EXPECT_TRUE(at::equal(dst[h].narrow(0, 0, n), want)) << "head " << h;
    const at::Tensor rest = dst[h].narrow(0, n, capacity - n);
    EXPECT_TRUE(at::equal(rest, at::zeros_like(rest))) << "head " << h << " is not zero-filled";
  }
}

TEST(KernelAdapterTest, MatchesIndexSelectPerHead) {
  const at::Tensor src = at::arange(2 * 5 * 3, at::kFloat).reshape({2, 5, 3});
  const std::vector<std::vector<int32_t>> kept = {{4, 0, 2}, {1}};
  auto dst = GatherKeptRows(src, kept, 4);
  ASSERT_TRUE(dst.ok()) << dst.status().ToString();
  ExpectMatchesIndexSelect(src, kept, 4, *dst);
  // One value spelled out: dst[0, 0] is src row 4 of head 0 = 12, 13, 14.
  EXPECT_EQ((*dst)[0][0][0].item<float>(), 12.0f);
  EXPECT_EQ((*dst)[0][0][2].item<float>(), 14.0f);
}

TEST(KernelAdapterTest, RaggedRandomCases) {
  std::mt19937 rng(7);
  for (int64_t n_heads : {1, 3, 7}) {
    for (int64_t t : {1, 19, 133}) {
      for (int64_t d : {1, 3, 64}) {
        const at::Tensor src = at::randn({n_heads, t, d});
        const int32_t capacity = static_cast<int32_t>(t) + 2;
        std::uniform_int_distribution<int32_t> count_dist(0, capacity);
        std::uniform_int_distribution<int32_t> row_dist(0, static_cast<int32_t>(t) - 1);
        std::vector<std::vector<int32_t>> kept(static_cast<size_t>(n_heads));
        for (size_t h = 0; h < kept.size(); ++h) {
          const int32_t count = h == 1 ? 0 : count_dist(rng);  // head 1 keeps nothing
          for (int32_t i = 0; i < count; ++i) kept[h].push_back(row_dist(rng));
        }
        auto dst = GatherKeptRows(src, kept, capacity);
        ASSERT_TRUE(dst.ok()) << dst.status().ToString();
        SCOPED_TRACE("n_heads=" + std::to_string(n_heads) + " T=" + std::to_string(t) +
                     " D=" + std::to_string(d));
        ExpectMatchesIndexSelect(src, kept, capacity, *dst);
      }
    }
  }
}

TEST(KernelAdapterTest, ZeroCapacityAndEmptyHeads) {
  const at::Tensor src = at::randn({3, 4, 2});
  auto dst = GatherKeptRows(src, {{}, {}, {}}, 0);
  ASSERT_TRUE(dst.ok()) << dst.status().ToString();
  EXPECT_EQ(dst->sizes(), (std::vector<int64_t>{3, 0, 2}));
}

void ExpectInvalid(const Result<at::Tensor>& r, const std::string& needle) {
  ASSERT_FALSE(r.ok()) << "expected an error mentioning '" << needle << "'";
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << r.status().ToString();
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().ToString();
}

TEST(KernelAdapterTest, RejectsBadInputs) {
  const at::Tensor src = at::randn({2, 5, 4});
  const std::vector<std::vector<int32_t>> ok_kept = {{0, 1}, {4}};
  ExpectInvalid(GatherKeptRows(at::Tensor(), ok_kept, 2), "undefined");
  ExpectInvalid(GatherKeptRows(at::randn({2, 5}), ok_kept, 2), "[n_heads, T, D]");
  ExpectInvalid(GatherKeptRows(src.to(at::kDouble), ok_kept, 2), "float32");
  ExpectInvalid(GatherKeptRows(src.transpose(0, 1), ok_kept, 2), "contiguous");
  ExpectInvalid(GatherKeptRows(src, {{0}}, 2), "kept has 1 heads, src has 2");
  ExpectInvalid(GatherKeptRows(src, ok_kept, -1), "negative");
  ExpectInvalid(GatherKeptRows(src, ok_kept, 1), "head 0 keeps 2 rows, capacity is 1");
  ExpectInvalid(GatherKeptRows(src, {{0, 5}, {4}}, 2), "kept[0][1] = 5 is outside [0, 5)");
  ExpectInvalid(GatherKeptRows(src, {{0}, {-1}}, 2), "kept[1][0] = -1");
}

}  // namespace
}  // namespace kvfunda
