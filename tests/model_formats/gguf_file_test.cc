// GGUF parsing: metadata of every value type, typed accessors, tensor infos,
// v2 files, custom alignment.
#include "worker/model/gguf_file.h"

#include <cmath>
#include <memory>

#include <gtest/gtest.h>

#include "format_test_util.h"

namespace kvfunda {
namespace {

using testing::FormatFixture;

class GgufFixtureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = GgufFile::Open(FormatFixture("quant_types.gguf"));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    file_ = std::make_unique<GgufFile>(std::move(r).value());
  }
  std::unique_ptr<GgufFile> file_;
};

TEST_F(GgufFixtureTest, HeaderAndScalars) {
  const GgufFile& g = *file_;
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.alignment(), 32u);
  EXPECT_EQ(g.data_offset() % 32, 0u);
  EXPECT_EQ(g.GetString("general.architecture").value(), "llama");
  EXPECT_EQ(g.GetInt("test.u8").value(), 200);
  EXPECT_EQ(g.GetInt("test.i8").value(), -100);
  EXPECT_EQ(g.GetInt("test.u16").value(), 60000);
  EXPECT_EQ(g.GetInt("test.i16").value(), -30000);
  EXPECT_EQ(g.GetU32("test.u32").value(), 4000000000u);
  EXPECT_EQ(g.GetInt("test.i32").value(), -2000000000);
  EXPECT_EQ(g.GetInt("test.i64").value(), -9000000000000000000);
  EXPECT_EQ(g.GetF32("test.f32").value(), 0.15625f);
  EXPECT_EQ(g.GetF64("test.f64").value(), -1.0e300);
  EXPECT_TRUE(g.GetBool("test.true").value());
  EXPECT_FALSE(g.GetBool("test.false").value());
  EXPECT_EQ(g.GetString("test.string").value(), "h\xc3\xa9llo, GGUF \xe2\x9c\x93");
  // Value types are recorded as stored.
  EXPECT_EQ(g.Find("test.u16")->type, GgufType::kUint16);
  EXPECT_EQ(g.Find("test.f64")->type, GgufType::kFloat64);
  EXPECT_EQ(g.Find("test.u64")->type, GgufType::kUint64);
  // metadata() keeps file order: the writer puts general.architecture first.
  ASSERT_FALSE(g.metadata().empty());
  EXPECT_EQ(g.metadata().front().key, "general.architecture");
  EXPECT_EQ(g.metadata().size(), 32u);
}

TEST_F(GgufFixtureTest, Arrays) {
  const GgufFile& g = *file_;
  EXPECT_EQ(g.GetStringArray("test.strings").value(),
            (std::vector<std::string>{"a", "", "\xc4\xa0the", "<|im_end|>", "\xe6\x97\xa5\xe6\x9c\xac"}));
  EXPECT_EQ(g.GetIntArray("test.u8s").value(), (std::vector<int64_t>{0, 1, 255}));
  EXPECT_EQ(g.GetIntArray("test.i16s").value(), (std::vector<int64_t>{-32768, 0, 32767}));
  EXPECT_EQ(g.GetIntArray("test.i32s").value(), (std::vector<int64_t>{-7, 0, 1, 2147483647}));
  EXPECT_EQ(g.GetIntArray("test.u64s").value(), (std::vector<int64_t>{0, int64_t{1} << 40}));
  EXPECT_EQ(g.GetIntArray("test.bools").value(), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(g.GetFloatArray("test.f32s").value(), (std::vector<float>{0.5f, -2.25f, 1e-3f}));
  auto f64s = g.GetFloatArray("test.f64s").value();
  ASSERT_EQ(f64s.size(), 2u);
  EXPECT_EQ(g.Find("test.f64s")->floats[0], 0.1);
  EXPECT_EQ(g.GetFloatArray("test.i32s").value()[0], -7.0f);  // ints convert
  const GgufValue* nested = g.Find("test.nested");
  ASSERT_NE(nested, nullptr);
  EXPECT_EQ(nested->type, GgufType::kArray);
  EXPECT_EQ(nested->element_type, GgufType::kArray);
  ASSERT_EQ(nested->ArraySize(), 3u);
  EXPECT_EQ(nested->arrays[0].ints, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(nested->arrays[1].ints, (std::vector<int64_t>{3}));
  EXPECT_EQ(nested->arrays[2].ints, (std::vector<int64_t>{4, 5, 6}));
  EXPECT_EQ(nested->arrays[2].element_type, GgufType::kInt32);
}

TEST_F(GgufFixtureTest, AccessorErrors) {
  const GgufFile& g = *file_;
  auto missing = g.GetString("no.such.key");
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  auto wrong = g.GetString("test.u32");
  EXPECT_EQ(wrong.status().code(), Status::Code::kModelLoad);
  EXPECT_NE(wrong.status().message().find("expected STRING, found UINT32"), std::string::npos)
      << wrong.status().message();
  EXPECT_NE(wrong.status().message().find("quant_types.gguf"), std::string::npos);
  EXPECT_FALSE(g.GetU32("test.i32").ok());   // negative does not fit
  EXPECT_FALSE(g.GetU32("test.i64").ok());
  EXPECT_FALSE(g.GetInt("test.u64").ok());   // 1.8e19 does not fit int64
  EXPECT_FALSE(g.GetBool("test.u8").ok());
  EXPECT_FALSE(g.GetInt("test.true").ok());  // a bool is not an integer
  EXPECT_FALSE(g.GetStringArray("test.i32s").ok());
  EXPECT_FALSE(g.GetIntArray("test.strings").ok());
  EXPECT_FALSE(g.GetFloatArray("test.nested").ok());
  EXPECT_EQ(g.DequantizeTensor("nope", 1).status().code(), Status::Code::kNotFound);
}

TEST_F(GgufFixtureTest, TensorInfos) {
  const GgufFile& g = *file_;
  ASSERT_EQ(g.tensors().size(), 11u);
  for (const GgufTensorInfo& t : g.tensors()) {
    SCOPED_TRACE(t.name);
    EXPECT_EQ(t.dims, (std::vector<int64_t>{256, 3}));
    EXPECT_EQ(t.n_elements, 768);
    EXPECT_EQ(t.offset % g.alignment(), 0u);
    const GgmlTypeTraits* traits = FindGgmlType(t.type);
    ASSERT_NE(traits, nullptr);
    EXPECT_EQ(t.n_bytes, 768 / traits->block_size * traits->type_size);
    EXPECT_EQ(g.TensorData(t).size(), static_cast<size_t>(t.n_bytes));
    EXPECT_EQ(g.FindTensor(t.name), &t);
  }
  EXPECT_EQ(g.FindTensor("t.q4_k")->type, static_cast<uint32_t>(GgmlType::kQ4_K));
  EXPECT_EQ(g.FindTensor("t.q4_k")->n_bytes, 3 * 144);
  EXPECT_EQ(g.FindTensor("absent"), nullptr);
}

TEST(GgufFileTest, Version2WithAlignment64) {
  auto r = GgufFile::Open(FormatFixture("v2_align64.gguf"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->version(), 2u);
  EXPECT_EQ(r->alignment(), 64u);
  EXPECT_EQ(r->data_offset() % 64, 0u);
  EXPECT_EQ(r->GetString("general.name").value(), "v2 fixture");
  ASSERT_EQ(r->tensors().size(), 3u);
  for (const auto& t : r->tensors()) {
    EXPECT_EQ(t.offset % 64, 0u) << t.name;
    auto v = r->DequantizeTensor(t.name, 1);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_EQ(v->size(), 256u);
  }
  // Tensor "a" is F32 whose first values are the fixture's special values.
  auto a = r->DequantizeTensor("a", 1).value();
  EXPECT_EQ(a[0], 0.0f);
  EXPECT_TRUE(std::signbit(a[1]));
  EXPECT_TRUE(std::isinf(a[5]));
}

TEST(GgufFileTest, HandBuiltMinimalFiles) {
  const auto dir = testing::MakeTempDir("kvf_gguf_");
  // No tensors and no metadata: valid, even without data padding.
  testing::GgufBytes empty;
  empty.Header(3, 0, 0);
  testing::WriteBytes(dir / "empty.gguf", empty.bytes());
  auto r = GgufFile::Open((dir / "empty.gguf").string());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->tensors().empty());

  // An empty array, a zero-dim (scalar) tensor and a 1-D F16 tensor.
  testing::GgufBytes b;
  b.Header(3, 2, 2).Str("arr").U32(9).U32(5).U64(0).KvU32("general.alignment", 16);
  b.TensorInfo("scalar", {}, 0, 0).TensorInfo("h", {4}, 1, 16).Pad(16);
  b.Pod<float>(2.5f).Zeros(12).Pod<uint16_t>(0x3C00).Pod<uint16_t>(0xC000).Pod<uint16_t>(0).Pod<uint16_t>(0x7C00);
  testing::WriteBytes(dir / "small.gguf", b.bytes());
  r = GgufFile::Open((dir / "small.gguf").string());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->Find("arr")->ArraySize(), 0u);
  EXPECT_EQ(r->GetIntArray("arr").value(), std::vector<int64_t>{});
  EXPECT_EQ(r->alignment(), 16u);
  EXPECT_EQ(r->DequantizeTensor("scalar", 1).value(), std::vector<float>{2.5f});
  auto h = r->DequantizeTensor("h", 1).value();
  ASSERT_EQ(h.size(), 4u);
  EXPECT_EQ(h[0], 1.0f);
  EXPECT_EQ(h[1], -2.0f);
  EXPECT_EQ(h[2], 0.0f);
  EXPECT_TRUE(std::isinf(h[3]));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kvfunda
