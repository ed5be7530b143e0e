// Dequantisation: every supported ggml type against gguf-py's reference values,
// exact f16/bf16 conversion, threading, and the error paths.
#include "worker/model/dequantize.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <set>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "format_test_util.h"
#include "worker/model/gguf_file.h"

namespace kvfunda {
namespace {

using testing::FormatFixture;
using testing::ReadBytes;

TEST(DequantizeTest, EveryTypeMatchesGgufPyReferenceBitForBit) {
  auto gguf = GgufFile::Open(FormatFixture("quant_types.gguf"));
  ASSERT_TRUE(gguf.ok()) << gguf.status().ToString();
  auto manifest_bytes = ReadBytes(FormatFixture("quant_types_ref.json"));
  auto manifest = nlohmann::json::parse(manifest_bytes.begin(), manifest_bytes.end());
  auto ref_bytes = ReadBytes(FormatFixture("quant_types_ref.bin"));
  ASSERT_EQ(ref_bytes.size(), manifest["n_values"].get<size_t>() * 4);
  std::vector<float> ref(ref_bytes.size() / 4);
  std::memcpy(ref.data(), ref_bytes.data(), ref_bytes.size());

  std::set<std::string> seen;
  for (const auto& m : manifest["tensors"]) {
    const std::string name = m["name"];
    SCOPED_TRACE(name);
    const GgufTensorInfo* info = gguf->FindTensor(name);
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(info->type, m["type"].get<uint32_t>());
    EXPECT_EQ(info->dims, m["dims"].get<std::vector<int64_t>>());
    EXPECT_EQ(GgmlTypeName(info->type), m["type_name"].get<std::string>());
    seen.insert(m["type_name"].get<std::string>());
    const size_t off = m["ref_offset"];
    for (int threads : {1, 3}) {
      auto values = gguf->DequantizeTensor(name, threads);
      ASSERT_TRUE(values.ok()) << values.status().ToString();
      ASSERT_EQ(values->size(), static_cast<size_t>(info->n_elements));
      int mismatches = 0;
      for (size_t i = 0; i < values->size(); ++i) {
        const uint32_t got = std::bit_cast<uint32_t>((*values)[i]);
        const uint32_t want = std::bit_cast<uint32_t>(ref[off + i]);
        if (got != want && ++mismatches <= 5) {
          ADD_FAILURE() << "value " << i << ": got " << (*values)[i] << " (0x" << std::hex << got
                        << "), reference " << ref[off + i] << " (0x" << want << ")" << std::dec;
        }
      }
      EXPECT_EQ(mismatches, 0);
    }
  }
  // All eleven supported types are covered by the fixture.
  EXPECT_EQ(seen, (std::set<std::string>{"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0",
                                         "Q5_1", "Q4_K", "Q5_K", "Q6_K"}));
}

TEST(DequantizeTest, HandComputedBlocks) {
  // Q8_0: d = 0.5 (f16 0x3800), q = -128, -1, 0, 1, 127, then zeros.
  std::vector<uint8_t> q8(34, 0);
  q8[0] = 0x00;
  q8[1] = 0x38;
  const int8_t qs[5] = {-128, -1, 0, 1, 127};
  std::memcpy(&q8[2], qs, 5);
  std::vector<float> out(32);
  ASSERT_TRUE(DequantizeToF32(static_cast<uint32_t>(GgmlType::kQ8_0), q8, out, 1).ok());
  EXPECT_EQ(out[0], -64.0f);
  EXPECT_EQ(out[1], -0.5f);
  EXPECT_EQ(out[2], 0.0f);
  EXPECT_EQ(out[3], 0.5f);
  EXPECT_EQ(out[4], 63.5f);

  // Q4_1: d = 2 (0x4000), m = -1 (0xBC00); byte 0x9F -> value 0 = 15*2-1, value 16 = 9*2-1.
  std::vector<uint8_t> q41(20, 0);
  q41[1] = 0x40;
  q41[3] = 0xBC;
  q41[4] = 0x9F;
  ASSERT_TRUE(DequantizeToF32(static_cast<uint32_t>(GgmlType::kQ4_1), q41, out, 1).ok());
  EXPECT_EQ(out[0], 29.0f);
  EXPECT_EQ(out[16], 17.0f);
  EXPECT_EQ(out[1], -1.0f);

  // Q5_0: d = 1; qh bit 0 and bit 16 set; qs[0] = 0x21 -> values 0: (1|16)-16 = 1,
  // 16: (2|16)-16 = 2; value 1: 0-16 = -16.
  std::vector<uint8_t> q50(22, 0);
  q50[1] = 0x3C;
  const uint32_t qh = 1u | (1u << 16);
  std::memcpy(&q50[2], &qh, 4);
  q50[6] = 0x21;
  ASSERT_TRUE(DequantizeToF32(static_cast<uint32_t>(GgmlType::kQ5_0), q50, out, 1).ok());
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[16], 2.0f);
  EXPECT_EQ(out[1], -16.0f);
}

TEST(DequantizeTest, HalfToFloatIsExactForAllBitPatterns) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const _Float16 ref = std::bit_cast<_Float16>(static_cast<uint16_t>(h));
    const float want = static_cast<float>(ref);
    const float got = HalfToFloat(static_cast<uint16_t>(h));
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(got)) << h;
      ASSERT_EQ(std::signbit(got), std::signbit(want)) << h;
    } else {
      ASSERT_EQ(std::bit_cast<uint32_t>(got), std::bit_cast<uint32_t>(want)) << "half 0x" << std::hex << h;
    }
  }
  EXPECT_EQ(Bf16ToFloat(0x3F80), 1.0f);
  EXPECT_EQ(Bf16ToFloat(0xC049), -3.140625f);
  EXPECT_TRUE(std::isinf(Bf16ToFloat(0x7F80)));
}

TEST(DequantizeTest, ThreadedEqualsSingleThreaded) {
  for (GgmlType type : {GgmlType::kQ4_K, GgmlType::kQ6_K, GgmlType::kF16, GgmlType::kQ4_1}) {
    const GgmlTypeTraits* t = FindGgmlType(static_cast<uint32_t>(type));
    ASSERT_NE(t, nullptr);
    const int64_t n = 1'000'448;  // not a multiple of the thread count's chunking
    ASSERT_EQ(n % 256, 0);
    std::vector<uint8_t> src(static_cast<size_t>(GgmlTensorBytes(*t, n)));
    std::mt19937 rng(42);
    for (auto& b : src) b = static_cast<uint8_t>(rng());
    if (type != GgmlType::kF16) {
      // Keep the f16 scales finite so the comparison below sees numbers.
      const size_t d_off = type == GgmlType::kQ6_K ? 208 : 0;
      for (size_t b = 0; b < src.size(); b += static_cast<size_t>(t->type_size)) src[b + d_off + 1] = 0x20;
    }
    std::vector<float> one(static_cast<size_t>(n)), many(static_cast<size_t>(n));
    ASSERT_TRUE(DequantizeToF32(t->id, src, one, 1).ok());
    ASSERT_TRUE(DequantizeToF32(t->id, src, many, 7).ok());
    EXPECT_EQ(std::memcmp(one.data(), many.data(), one.size() * sizeof(float)), 0) << t->name;
  }
}

TEST(DequantizeTest, Errors) {
  std::vector<float> out(256);
  std::vector<uint8_t> src(110);
  Status s = DequantizeToF32(static_cast<uint32_t>(GgmlType::kQ3_K), src, out, 1);
  EXPECT_EQ(s.code(), Status::Code::kModelLoad);
  EXPECT_NE(s.message().find("Q3_K is not supported"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("Q6_K"), std::string::npos) << "lists the supported types";

  s = DequantizeToF32(999, src, out, 1);
  EXPECT_EQ(s.code(), Status::Code::kModelLoad);
  EXPECT_NE(s.message().find("999"), std::string::npos);

  // 256 Q4_0 values need 8 blocks of 18 bytes = 144 bytes.
  std::vector<uint8_t> short_src(143);
  s = DequantizeToF32(static_cast<uint32_t>(GgmlType::kQ4_0), short_src, out, 1);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.ToString();
  std::vector<float> ragged(33);
  s = DequantizeToF32(static_cast<uint32_t>(GgmlType::kQ4_0), short_src, ragged, 1);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.ToString();

  EXPECT_EQ(FindGgmlType(4), nullptr);  // removed Q4_2
  EXPECT_EQ(GgmlTypeName(4), "type 4");
  EXPECT_EQ(GgmlTensorBytes(*FindGgmlType(2), 64), 36);
  EXPECT_EQ(GgmlTensorBytes(*FindGgmlType(2), 65), -1);
  EXPECT_EQ(GgmlTensorBytes(*FindGgmlType(0), INT64_MAX), -1);
}

}  // namespace
}  // namespace kvfunda
