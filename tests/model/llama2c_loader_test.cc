// llama2.c checkpoint loading: the real stories260K file, and corrupted copies of
// it that must fail with a model-load error naming the file (never crash or hang).
#include "worker/model/llama2c_loader.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include <gtest/gtest.h>

#include "test_support.h"
#include "worker/model/model.h"

namespace kvfunda {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class CorruptCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("kvf_ckpt_");
    ASSERT_FALSE(dir_.empty());
    bytes_ = ReadAll(testing::Stories260KPath());
    ASSERT_EQ(bytes_.size(), 1056540u);
    tokenizer_ = ReadAll(testing::SharedDir() + "/models/stories260K/tok512.bin");
    ASSERT_FALSE(tokenizer_.empty());
    Write("tok512.bin", tokenizer_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& content) {
    std::ofstream(dir_ / name, std::ios::binary) << content;
    return (dir_ / name).string();
  }
  std::string WithHeaderField(int field, int32_t value) {
    std::string b = bytes_;
    std::memcpy(b.data() + 4 * field, &value, 4);
    return b;
  }
  // Loads through both entry points and expects a model-load error naming the file
  // and containing `expect` (when given).
  void ExpectModelLoadError(const std::string& content, const std::string& expect) {
    const std::string path = Write("model.bin", content);
    auto ckpt = LoadLlama2cCheckpoint(path);
    ASSERT_FALSE(ckpt.ok()) << "loaded a corrupt checkpoint; expected: " << expect;
    EXPECT_EQ(ckpt.status().code(), Status::Code::kModelLoad) << ckpt.status().ToString();
    EXPECT_NE(ckpt.status().message().find(path), std::string::npos) << ckpt.status().ToString();
    EXPECT_NE(ckpt.status().message().find(expect), std::string::npos)
        << ckpt.status().ToString() << " lacks \"" << expect << "\"";
    auto model = LoadModel(path, ModelLoadOptions{});
    ASSERT_FALSE(model.ok());
    EXPECT_EQ(model.status().code(), Status::Code::kModelLoad);
    EXPECT_NE(model.status().message().find(path), std::string::npos);
  }

  fs::path dir_;
  std::string bytes_, tokenizer_;
};

TEST(Llama2cLoader, ReadsStories260K) {
  auto r = LoadLlama2cCheckpoint(testing::Stories260KPath());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Llama2cCheckpoint& c = *r;
  EXPECT_EQ(c.header.dim, 64);
  EXPECT_EQ(c.header.hidden_dim, 172);
  EXPECT_EQ(c.header.n_layers, 5);
  EXPECT_EQ(c.header.n_heads, 8);
  EXPECT_EQ(c.header.n_kv_heads, 4);
  EXPECT_EQ(c.header.seq_len, 512);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_TRUE(c.shared_classifier);
  EXPECT_EQ(c.wcls.offset, c.token_embedding.offset);
  EXPECT_EQ(c.token_embedding.count, 512u * 64u);
  EXPECT_EQ(c.wk.count, 5u * 32u * 64u);
  EXPECT_EQ(c.w2.count, 5u * 64u * 172u);
  EXPECT_EQ(c.rms_final.offset + c.rms_final.count + 2u * 512u * 4u, c.data.size());
  EXPECT_EQ(Llama2cFileBytes(c.header), 1056540);
  // RMSNorm gains of a trained model are positive-ish and O(1), not noise.
  float sum = 0;
  for (size_t i = 0; i < c.rms_final.count; ++i) sum += c.data[c.rms_final.offset + i];
  EXPECT_GT(sum / 64.0f, 0.1f);
}

TEST(Llama2cLoader, MissingFile) {
  auto r = LoadLlama2cCheckpoint("/nonexistent/kvfunda/model.bin");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kModelLoad);
  EXPECT_NE(r.status().message().find("/nonexistent/kvfunda/model.bin"), std::string::npos);
}

TEST_F(CorruptCheckpointTest, Truncated) {
  ExpectModelLoadError("", "shorter than the 28-byte");
  ExpectModelLoadError(bytes_.substr(0, 27), "shorter than the 28-byte");
  for (size_t cut : {size_t{28}, size_t{100}, bytes_.size() / 2, bytes_.size() - 4,
                     bytes_.size() - 1}) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    ExpectModelLoadError(bytes_.substr(0, cut), "truncated");
  }
  ExpectModelLoadError(bytes_ + std::string(4, '\0'), "trailing bytes");
}

TEST_F(CorruptCheckpointTest, BadDimensions) {
  ExpectModelLoadError(WithHeaderField(0, -64), "dim = -64");
  ExpectModelLoadError(WithHeaderField(0, 0), "dim = 0");
  ExpectModelLoadError(WithHeaderField(1, -1), "hidden_dim");
  ExpectModelLoadError(WithHeaderField(2, 0), "n_layers");
  ExpectModelLoadError(WithHeaderField(3, -8), "n_heads");
  ExpectModelLoadError(WithHeaderField(4, 0), "n_kv_heads");
  ExpectModelLoadError(WithHeaderField(5, 0), "vocab_size");
  ExpectModelLoadError(WithHeaderField(6, -512), "seq_len");
  ExpectModelLoadError(WithHeaderField(0, std::numeric_limits<int32_t>::max()), "dim");
  ExpectModelLoadError(WithHeaderField(5, std::numeric_limits<int32_t>::min()), "vocab_size");
  ExpectModelLoadError(WithHeaderField(2, 1000), "implies");          // plausible but wrong size
  ExpectModelLoadError(WithHeaderField(5, -512), "truncated");        // unshared wcls is missing
}

TEST_F(CorruptCheckpointTest, HeadsNotDivisible) {
  ExpectModelLoadError(WithHeaderField(4, 3), "not a multiple of n_kv_heads 3");
  ExpectModelLoadError(WithHeaderField(4, 16), "not a multiple of n_kv_heads 16");
  ExpectModelLoadError(WithHeaderField(3, 7), "dim 64 is not a multiple of n_heads 7");
  ExpectModelLoadError(WithHeaderField(3, 64), "odd");  // head_dim 1
}

TEST_F(CorruptCheckpointTest, NonFiniteWeight) {
  std::string b = bytes_;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const size_t wq_offset = 28 + 4 * (512 * 64 + 5 * 64);  // first float of wq
  std::memcpy(b.data() + wq_offset + 4 * 10, &nan, 4);
  ExpectModelLoadError(b, "weight wq");
}

TEST_F(CorruptCheckpointTest, TokenizerProblems) {
  const std::string model = Write("model.bin", bytes_);
  ASSERT_TRUE(LoadModel(model, ModelLoadOptions{}).ok());

  // A tokenizer with fewer tokens than the model's vocabulary.
  size_t at = 4;
  for (int i = 0; i < 300; ++i) {
    int32_t len;
    std::memcpy(&len, tokenizer_.data() + at + 4, 4);
    at += 8 + static_cast<size_t>(len);
  }
  Write("tok512.bin", tokenizer_.substr(0, at));
  auto r = LoadModel(model, ModelLoadOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kModelLoad);
  EXPECT_NE(r.status().message().find("300 tokens"), std::string::npos) << r.status().ToString();

  fs::remove(dir_ / "tok512.bin");
  r = LoadModel(model, ModelLoadOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no tokenizer"), std::string::npos) << r.status().ToString();
}

}  // namespace
}  // namespace kvfunda
