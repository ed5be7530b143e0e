// Safetensors: single files, sharded checkpoints with an index, and corrupt files.
#include "worker/model/safetensors_file.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "alloc_probe.h"
#include "format_test_util.h"

namespace kvfunda {
namespace {

namespace fs = std::filesystem;

// Header length + header JSON (padded with spaces to 8 bytes, as the writer does) + data.
std::vector<uint8_t> Safetensors(std::string header, const std::vector<uint8_t>& data) {
  while (header.size() % 8 != 0) header += ' ';
  const uint64_t n = header.size();
  std::vector<uint8_t> out(8 + header.size() + data.size());
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, header.data(), header.size());
  if (!data.empty()) std::memcpy(out.data() + 8 + header.size(), data.data(), data.size());
  return out;
}

template <typename T>
void Append(std::vector<uint8_t>* out, std::initializer_list<T> values) {
  for (T v : values) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    out->insert(out->end(), p, p + sizeof(T));
  }
}

// f32 [2,3] at [0,24); f16 [4] at [24,32); bf16 [2,2] at [32,40); i32 [3] at
// [40,52); f32 scalar at [52,56); f32 [0,4] at [56,56).
std::vector<uint8_t> ValidFile() {
  std::vector<uint8_t> data;
  Append<float>(&data, {1, 2, 3, 4, 5, 6.5f});
  Append<uint16_t>(&data, {0x3C00, 0xC000, 0x0001, 0x7C00});      // 1, -2, 2^-24, inf
  Append<uint16_t>(&data, {0x3F80, 0xC049, 0x0000, 0x8000});      // 1, -3.140625, 0, -0
  Append<int32_t>(&data, {7, -8, 9});
  Append<float>(&data, {42.0f});
  const std::string header = R"({"__metadata__":{"format":"pt"},)"
                             R"("w.f32":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                             R"("w.f16":{"dtype":"F16","shape":[4],"data_offsets":[24,32]},)"
                             R"("w.bf16":{"dtype":"BF16","shape":[2,2],"data_offsets":[32,40]},)"
                             R"("w.i32":{"dtype":"I32","shape":[3],"data_offsets":[40,52]},)"
                             R"("w.scalar":{"dtype":"F32","shape":[],"data_offsets":[52,56]},)"
                             R"("w.empty":{"dtype":"F32","shape":[0,4],"data_offsets":[56,56]}})";
  return Safetensors(header, data);
}

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::MakeTempDir("kvf_st_"); }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::vector<uint8_t>& bytes) {
    const std::string path = (dir_ / name).string();
    testing::WriteBytes(path, bytes);
    return path;
  }
  std::string WriteText(const std::string& name, const std::string& text) {
    return Write(name, std::vector<uint8_t>(text.begin(), text.end()));
  }

  void ExpectError(const std::vector<uint8_t>& bytes, const std::string& label, const std::string& expect) {
    SCOPED_TRACE(label);
    const std::string path = Write("bad_" + std::to_string(n_++) + ".safetensors", bytes);
    testing::ResetLargestAllocation();
    auto r = SafetensorsFile::Open(path);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Status::Code::kModelLoad) << r.status().ToString();
    EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find(expect), std::string::npos)
        << "expected \"" << expect << "\" in: " << r.status().message();
    EXPECT_LT(testing::LargestAllocation(), size_t{1} << 20);
  }

  fs::path dir_;
  int n_ = 0;
};

TEST_F(SafetensorsTest, ReadsEveryFloatDtypeAndShape) {
  auto r = SafetensorsFile::Open(Write("model.safetensors", ValidFile()));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->metadata().at("format"), "pt");
  ASSERT_EQ(r->tensors().size(), 6u);
  EXPECT_EQ(r->tensors().front().name, "w.bf16");  // sorted by name

  const SafetensorsTensor* f32 = r->Find("w.f32");
  ASSERT_NE(f32, nullptr);
  EXPECT_EQ(f32->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(f32->n_elements, 6);
  EXPECT_EQ(f32->dtype, SafetensorsDtype::kF32);
  EXPECT_EQ(r->ReadFloat32("w.f32").value(), (std::vector<float>{1, 2, 3, 4, 5, 6.5f}));

  auto f16 = r->ReadFloat32("w.f16").value();
  EXPECT_EQ(f16[0], 1.0f);
  EXPECT_EQ(f16[1], -2.0f);
  EXPECT_EQ(f16[2], 0x1p-24f);
  EXPECT_TRUE(std::isinf(f16[3]));
  auto bf16 = r->ReadFloat32("w.bf16").value();
  EXPECT_EQ(bf16, (std::vector<float>{1.0f, -3.140625f, 0.0f, -0.0f}));
  EXPECT_TRUE(std::signbit(bf16[3]));
  EXPECT_EQ(r->ReadFloat32("w.scalar").value(), std::vector<float>{42.0f});
  EXPECT_TRUE(r->Find("w.scalar")->shape.empty());
  EXPECT_TRUE(r->ReadFloat32("w.empty").value().empty());

  auto i32 = r->ReadFloat32("w.i32");
  EXPECT_EQ(i32.status().code(), Status::Code::kModelLoad);
  EXPECT_NE(i32.status().message().find("dtype I32"), std::string::npos) << i32.status().message();
  EXPECT_EQ(r->TensorData(*r->Find("w.i32")).size(), 12u);
  EXPECT_EQ(r->ReadFloat32("absent").status().code(), Status::Code::kNotFound);

  // A folder holding model.safetensors opens as a one-shard checkpoint.
  auto ckpt = SafetensorsCheckpoint::Open(dir_.string());
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  EXPECT_EQ(ckpt->shards().size(), 1u);
  EXPECT_EQ(ckpt->TensorNames().size(), 6u);
  EXPECT_EQ(ckpt->ReadFloat32("w.f32").value()[5], 6.5f);
}

TEST_F(SafetensorsTest, ShardedCheckpointWithIndex) {
  std::vector<uint8_t> d1, d2;
  Append<float>(&d1, {1, 2, 3, 4});
  Append<uint16_t>(&d2, {0x4000, 0x4040});  // bf16 2, 3
  Append<float>(&d2, {9});
  Write("model-00001-of-00002.safetensors",
        Safetensors(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})", d1));
  Write("model-00002-of-00002.safetensors",
        Safetensors(R"({"b":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},)"
                    R"("c":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", d2));
  const std::string index = WriteText("model.safetensors.index.json", R"({
    "metadata": {"total_size": 28},
    "weight_map": {"a": "model-00001-of-00002.safetensors",
                   "b": "model-00002-of-00002.safetensors",
                   "c": "model-00002-of-00002.safetensors"}})");
  for (const std::string& path : {dir_.string(), index}) {
    auto r = SafetensorsCheckpoint::Open(path);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->shards().size(), 2u);  // each shard opened once
    EXPECT_EQ(r->TensorNames(), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(r->ReadFloat32("a").value(), (std::vector<float>{1, 2, 3, 4}));
    EXPECT_EQ(r->ReadFloat32("b").value(), (std::vector<float>{2, 3}));
    EXPECT_EQ(r->ReadFloat32("c").value(), (std::vector<float>{9}));
    const SafetensorsFile* shard = nullptr;
    ASSERT_NE(r->Find("c", &shard), nullptr);
    EXPECT_NE(shard->path().find("00002"), std::string::npos);
    EXPECT_EQ(r->ReadFloat32("zzz").status().code(), Status::Code::kNotFound);
  }
}

TEST_F(SafetensorsTest, BrokenIndexes) {
  std::vector<uint8_t> d;
  Append<float>(&d, {1});
  Write("s1.safetensors", Safetensors(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", d));
  struct Case {
    std::string label, index, expect;
  };
  const std::vector<Case> cases = {
      {"bad json", R"({"weight_map": {"a": "s1.safetensors")", "not valid JSON"},
      {"not an object", R"([1, 2])", "not a JSON object"},
      {"no weight_map", R"({"metadata": {}})", "weight_map"},
      {"empty weight_map", R"({"weight_map": {}})", "weight_map is empty"},
      {"non-string shard", R"({"weight_map": {"a": 3}})", "is not a string"},
      {"path escape", R"({"weight_map": {"a": "../s1.safetensors"}})", "plain file name"},
      {"missing shard", R"({"weight_map": {"a": "s9.safetensors"}})", "s9.safetensors"},
      {"tensor not in shard", R"({"weight_map": {"a": "s1.safetensors", "q": "s1.safetensors"}})",
       "tensor q is missing"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    const std::string path = WriteText("idx.index.json", c.index);
    auto r = SafetensorsCheckpoint::Open(path);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Status::Code::kModelLoad);
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos) << r.status().message();
  }
  const fs::path empty_dir = dir_ / "empty";
  fs::create_directories(empty_dir);
  auto none = SafetensorsCheckpoint::Open(empty_dir.string());
  EXPECT_EQ(none.status().code(), Status::Code::kModelLoad);
  EXPECT_NE(none.status().message().find("no model.safetensors"), std::string::npos);
}

TEST_F(SafetensorsTest, CorruptFiles) {
  const std::vector<uint8_t> good = ValidFile();
  ExpectError({}, "empty", "truncated");
  ExpectError({1, 0, 0}, "3 bytes", "truncated");
  {
    auto b = good;
    const uint64_t huge = uint64_t{1} << 62;
    std::memcpy(b.data(), &huge, 8);
    ExpectError(b, "header length 2^62", "runs past the end");
    const uint64_t one_past = good.size() - 7;
    std::memcpy(b.data(), &one_past, 8);
    ExpectError(b, "header length one past", "runs past the end");
  }
  std::vector<uint8_t> d8(8, 0);
  ExpectError(Safetensors(R"({"a": {"dtype": "F32", )", d8), "bad json", "not valid JSON");
  ExpectError(Safetensors("[]", d8), "array header", "not a JSON object");
  ExpectError(Safetensors("{\"a\xff\": 1}", d8), "invalid utf-8", "not valid JSON");
  ExpectError(Safetensors(R"({"a": 1})", d8), "entry not object", "not an object");
  ExpectError(Safetensors(R"({"__metadata__": [1]})", d8), "metadata not object", "__metadata__");
  ExpectError(Safetensors(R"({"__metadata__": {"k": 1}})", d8), "metadata value", "not a string");
  ExpectError(Safetensors(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", d8), "no dtype", "dtype");
  ExpectError(Safetensors(R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", d8),
              "unknown dtype", "unknown dtype Q4");
  ExpectError(Safetensors(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", d8),
              "negative dim", "non-negative");
  ExpectError(Safetensors(R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", d8),
              "fractional dim", "non-negative");
  ExpectError(Safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", d8),
              "one offset", "[begin, end]");
  ExpectError(Safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", d8),
              "begin > end", "begin <= end");
  ExpectError(Safetensors(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", d8),
              "past data end", "past the end of the data section");
  ExpectError(Safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551615]}})", d8),
              "offset u64 max", "non-negative integers");
  ExpectError(Safetensors(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", d8),
              "shape vs bytes", "but data_offsets span 8");
  ExpectError(Safetensors(R"({"a":{"dtype":"BF16","shape":[1099511627776,1099511627776],"data_offsets":[0,8]}})", d8),
              "element overflow", "overflows");
  ExpectError(Safetensors(R"({"a":{"dtype":"F64","shape":[1152921504606846976],"data_offsets":[0,8]}})", d8),
              "byte overflow", "too large");

  // Truncated anywhere before the end of the last tensor's bytes.
  for (size_t cut = 0; cut < good.size(); cut += 3) {
    ExpectError(std::vector<uint8_t>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut)),
                "truncated at " + std::to_string(cut), "");
  }
}

}  // namespace
}  // namespace kvfunda
