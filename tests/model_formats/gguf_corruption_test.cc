// Loader robustness: truncated and field-flipped GGUF files must each give a
// model-load error that names the file: no crash, no hang, no huge allocation.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "alloc_probe.h"
#include "format_test_util.h"
#include "worker/model/gguf_file.h"

namespace kvfunda {
namespace {

using testing::FormatFixture;
using testing::GgufBytes;

// Nothing a corrupt header says may make the parser allocate more than this in
// one piece (the fixture itself is 12 KB).
constexpr size_t kMaxAllocation = 1 << 20;

class GgufCorruptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("kvf_gguf_bad_");
    good_ = testing::ReadBytes(FormatFixture("quant_types.gguf"));
    ASSERT_GT(good_.size(), 4096u);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes `bytes`, opens it, and checks for a model-load error naming the file
  // whose message contains `expect` (when not empty).
  void ExpectLoadError(const std::vector<uint8_t>& bytes, const std::string& label,
                       const std::string& expect = "") {
    SCOPED_TRACE(label);
    const std::string path = (dir_ / ("case_" + std::to_string(n_++) + ".gguf")).string();
    testing::WriteBytes(path, bytes);
    testing::ResetLargestAllocation();
    const auto start = std::chrono::steady_clock::now();
    auto r = GgufFile::Open(path);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    const size_t largest = testing::LargestAllocation();
    ASSERT_FALSE(r.ok()) << "a corrupt file opened";
    EXPECT_EQ(r.status().code(), Status::Code::kModelLoad) << r.status().ToString();
    EXPECT_NE(r.status().message().find(path), std::string::npos)
        << "error does not name the file: " << r.status().message();
    if (!expect.empty()) {
      EXPECT_NE(r.status().message().find(expect), std::string::npos)
          << "expected \"" << expect << "\" in: " << r.status().message();
    }
    EXPECT_LT(largest, kMaxAllocation) << r.status().message();
    EXPECT_LT(ms, 2000.0);
  }

  std::vector<uint8_t> With(size_t offset, const void* value, size_t n) const {
    std::vector<uint8_t> b = good_;
    std::memcpy(b.data() + offset, value, n);
    return b;
  }
  template <typename T>
  std::vector<uint8_t> WithPod(size_t offset, T v) const { return With(offset, &v, sizeof(T)); }

  // Offset of the first tensor info (its name length field) in the fixture.
  size_t FirstTensorInfo() const {
    const std::string needle = std::string("\x05\0\0\0\0\0\0\0t.f32", 13);
    auto it = std::search(good_.begin(), good_.end(), needle.begin(), needle.end());
    EXPECT_NE(it, good_.end());
    return static_cast<size_t>(it - good_.begin());
  }

  std::filesystem::path dir_;
  std::vector<uint8_t> good_;
  int n_ = 0;
};

TEST_F(GgufCorruptionTest, TruncatedAnywhere) {
  auto full = GgufFile::Open(FormatFixture("quant_types.gguf"));
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  // The file is complete once the last tensor's bytes are present (what follows
  // is padding).
  uint64_t needed = 0;
  for (const auto& t : full->tensors()) {
    needed = std::max<uint64_t>(needed, full->data_offset() + t.offset + static_cast<uint64_t>(t.n_bytes));
  }
  ASSERT_LE(needed, good_.size());
  std::vector<size_t> cuts;
  for (size_t c = 0; c < full->data_offset(); c += 7) cuts.push_back(c);  // the whole header
  for (size_t c = full->data_offset(); c < needed; c += 211) cuts.push_back(c);  // sampled data
  cuts.push_back(static_cast<size_t>(full->data_offset()) - 1);
  cuts.push_back(static_cast<size_t>(needed) - 1);
  for (size_t cut : cuts) {
    std::vector<uint8_t> b(good_.begin(), good_.begin() + static_cast<std::ptrdiff_t>(cut));
    ExpectLoadError(b, "truncated at " + std::to_string(cut));
  }
  EXPECT_GT(cuts.size(), 250u);
}

TEST_F(GgufCorruptionTest, FlippedHeaderFields) {
  ExpectLoadError(With(0, "GGML", 4), "magic", "bad magic");
  ExpectLoadError(With(0, "\0\0\0\0", 4), "zero magic", "not a GGUF file");
  ExpectLoadError(WithPod<uint32_t>(4, 1), "version 1", "unsupported GGUF version 1");
  ExpectLoadError(WithPod<uint32_t>(4, 4), "version 4", "unsupported GGUF version 4");
  ExpectLoadError(WithPod<uint32_t>(4, 0x03000000), "big-endian", "big-endian");
  ExpectLoadError(WithPod<uint64_t>(8, uint64_t{1} << 62), "tensor count 2^62", "tensor count");
  ExpectLoadError(WithPod<uint64_t>(16, uint64_t{1} << 62), "kv count 2^62", "metadata count");
  ExpectLoadError(WithPod<uint64_t>(8, ~uint64_t{0}), "tensor count max", "tensor count");
  ExpectLoadError(WithPod<uint64_t>(16, 1000), "kv count too large");
  // The first key's length (right after the 24-byte header).
  ExpectLoadError(WithPod<uint64_t>(24, uint64_t{1} << 62), "key length 2^62", "past the end");
  ExpectLoadError(WithPod<uint64_t>(24, good_.size()), "key length = file size", "past the end");
  // The first key is general.architecture; its value type follows the key.
  const size_t type_at = 24 + 8 + std::strlen("general.architecture");
  ExpectLoadError(WithPod<uint32_t>(type_at, 13), "value type 13", "unknown value type 13");
  ExpectLoadError(WithPod<uint32_t>(type_at, 0xFFFFFFFF), "value type max", "unknown value type");
  // Its string value's length.
  ExpectLoadError(WithPod<uint64_t>(type_at + 4, uint64_t{1} << 62), "string length huge", "past the end");

  const size_t ti = FirstTensorInfo();
  const size_t n_dims_at = ti + 8 + 5;
  const size_t dim0_at = n_dims_at + 4;
  const size_t type_field = dim0_at + 16;
  const size_t offset_field = type_field + 4;
  ExpectLoadError(WithPod<uint32_t>(n_dims_at, 9), "n_dims 9", "n_dims 9");
  ExpectLoadError(WithPod<uint32_t>(n_dims_at, 0xFFFFFFFF), "n_dims max", "n_dims");
  ExpectLoadError(WithPod<uint64_t>(dim0_at, uint64_t{1} << 62), "dim 2^62");
  ExpectLoadError(WithPod<uint64_t>(dim0_at, ~uint64_t{0}), "dim max", "overflows");
  ExpectLoadError(WithPod<uint64_t>(dim0_at + 8, uint64_t{1} << 62), "dim1 2^62 overflows", "overflows");
  ExpectLoadError(WithPod<uint32_t>(type_field, 999), "type 999", "unknown ggml type 999");
  ExpectLoadError(WithPod<uint32_t>(type_field, 4), "removed type 4", "unknown ggml type 4");
  ExpectLoadError(WithPod<uint64_t>(offset_field, good_.size()), "offset past EOF", "past the end");
  ExpectLoadError(WithPod<uint64_t>(offset_field, ~uint64_t{0} - 31), "offset near 2^64", "past the end");
  ExpectLoadError(WithPod<uint64_t>(offset_field, 3), "misaligned offset", "alignment");
  // Re-typed as Q8_0 with a row of 33 values: not whole 32-value blocks.
  {
    auto b = WithPod<uint32_t>(type_field, static_cast<uint32_t>(GgmlType::kQ8_0));
    uint64_t dim33 = 33;
    std::memcpy(b.data() + dim0_at, &dim33, 8);
    ExpectLoadError(b, "row not whole blocks", "not a multiple");
  }
}

TEST_F(GgufCorruptionTest, HandBuiltStructuralErrors) {
  // Arrays nested deeper than the limit (would overflow the stack if unbounded).
  {
    GgufBytes b;
    b.Header(3, 0, 1).Str("deep").U32(9);
    for (int i = 0; i < 100; ++i) b.U32(9).U64(1);
    b.U32(5).U64(0);
    ExpectLoadError(b.bytes(), "deep nesting", "nested deeper");
  }
  // A million-element array claimed in a tiny file.
  {
    GgufBytes b;
    b.Header(3, 0, 1).Str("a").U32(9).U32(8).U64(1'000'000).Str("x");
    ExpectLoadError(b.bytes(), "array count", "runs past the end");
  }
  {
    GgufBytes b;
    b.Header(3, 0, 1).Str("a").U32(9).U32(12).U64(uint64_t{1} << 61);
    ExpectLoadError(b.bytes(), "f64 array count", "runs past the end");
  }
  {
    GgufBytes b;
    b.Header(3, 0, 1).Str("a").U32(9).U32(77).U64(1);
    ExpectLoadError(b.bytes(), "array element type", "unknown value type 77");
  }
  {
    GgufBytes b;
    b.Header(3, 0, 2).KvU32("k", 1).KvU32("k", 2);
    ExpectLoadError(b.bytes(), "duplicate key", "duplicate metadata key k");
  }
  {
    GgufBytes b;
    b.Header(3, 2, 0).TensorInfo("w", {32}, 0, 0).TensorInfo("w", {32}, 0, 128).Pad(32).Zeros(256);
    ExpectLoadError(b.bytes(), "duplicate tensor", "duplicate tensor name w");
  }
  for (uint32_t align : {0u, 3u, 48u}) {
    GgufBytes b;
    b.Header(3, 1, 1).KvU32("general.alignment", align).TensorInfo("w", {8}, 0, 0).Pad(64).Zeros(64);
    ExpectLoadError(b.bytes(), "alignment " + std::to_string(align), "general.alignment");
  }
  {
    GgufBytes b;
    b.Header(3, 1, 1).KvStr("general.alignment", "32").TensorInfo("w", {8}, 0, 0).Pad(32).Zeros(64);
    ExpectLoadError(b.bytes(), "alignment as string", "general.alignment");
  }
  {
    // Header says one tensor of 8 F32 but the file ends before its data.
    GgufBytes b;
    b.Header(3, 1, 0).TensorInfo("w", {8}, 0, 0).Pad(32).Zeros(16);
    ExpectLoadError(b.bytes(), "data short", "runs past the end of the data section");
  }
  ExpectLoadError({}, "empty file", "truncated");
  ExpectLoadError({'G', 'G'}, "two bytes", "truncated");

  auto missing = GgufFile::Open((dir_ / "does_not_exist.gguf").string());
  EXPECT_EQ(missing.status().code(), Status::Code::kModelLoad);
  EXPECT_NE(missing.status().message().find("does_not_exist.gguf"), std::string::npos);
  auto directory = GgufFile::Open(dir_.string());
  EXPECT_EQ(directory.status().code(), Status::Code::kModelLoad);
  EXPECT_NE(directory.status().message().find("not a regular file"), std::string::npos);
}

TEST_F(GgufCorruptionTest, RandomHeaderByteFlipsNeverCrash) {
  // Seeded random damage to the header region: each file either opens (then all
  // its tensors dequantise or give an error) or gives a model-load error.
  auto full = GgufFile::Open(FormatFixture("quant_types.gguf"));
  ASSERT_TRUE(full.ok());
  const size_t header_end = static_cast<size_t>(full->data_offset());
  std::mt19937 rng(1234);
  int opened = 0, refused = 0;
  const std::string path = (dir_ / "flip.gguf").string();
  for (int iter = 0; iter < 400; ++iter) {
    std::vector<uint8_t> b = good_;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) b[rng() % header_end] ^= static_cast<uint8_t>(1u << (rng() % 8));
    testing::WriteBytes(path, b);
    testing::ResetLargestAllocation();
    auto r = GgufFile::Open(path);
    EXPECT_LT(testing::LargestAllocation(), kMaxAllocation) << "iteration " << iter;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Status::Code::kModelLoad) << r.status().ToString();
      EXPECT_NE(r.status().message().find(path), std::string::npos);
      ++refused;
      continue;
    }
    ++opened;
    for (const auto& t : r->tensors()) {
      if (t.n_elements > (int64_t{1} << 20)) continue;  // a flipped dim may ask for a lot
      auto v = r->DequantizeTensor(t.name, 1);
      if (!v.ok()) {
        EXPECT_EQ(v.status().code(), Status::Code::kModelLoad) << v.status().ToString();
      }
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_GT(opened, 0);  // flips inside string bytes leave a valid file
}

TEST_F(GgufCorruptionTest, UnsupportedTypeParsesButRefusesToDequantize) {
  // Q3_K is a real ggml type: the file is valid, dequantisation names the type.
  GgufBytes b;
  b.Header(3, 1, 0).TensorInfo("w", {256}, static_cast<uint32_t>(GgmlType::kQ3_K), 0).Pad(32).Zeros(110);
  const std::string path = (dir_ / "q3k.gguf").string();
  testing::WriteBytes(path, b.bytes());
  auto r = GgufFile::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto v = r->DequantizeTensor("w", 1);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), Status::Code::kModelLoad);
  EXPECT_NE(v.status().message().find(path), std::string::npos);
  EXPECT_NE(v.status().message().find("tensor w"), std::string::npos);
  EXPECT_NE(v.status().message().find("Q3_K is not supported"), std::string::npos) << v.status().message();
}

}  // namespace
}  // namespace kvfunda
