// Malformed tokenizer sources give a model-load error that names the file and the
// problem, never a crash.
#include <gtest/gtest.h>

#include <fstream>

#include "tokenizer_fixtures.h"

namespace kvfunda {
namespace {

class TokenizerLoadErrorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("kvf_tok_");
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& body) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << body;
    return path;
  }
  // Loads `body` as a tokenizer.json; expects a model-load error naming the file
  // and containing `what`.
  void ExpectError(const std::string& body, const std::string& what) {
    const std::string path = Write("tokenizer.json", body);
    auto r = LoadHfTokenizer(path);
    ASSERT_FALSE(r.ok()) << "loaded: " << body;
    EXPECT_EQ(r.status().code(), Status::Code::kModelLoad);
    EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find(what), std::string::npos) << r.status().message();
  }

  std::filesystem::path dir_;
};

const char* const kGoodModel =
    R"("model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]})";

TEST_F(TokenizerLoadErrorsTest, GoodMinimalFileLoads) {
  const std::string path = Write("tokenizer.json", std::string("{") + kGoodModel + "}");
  auto r = BpeTokenizer::FromHfJson(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->Encode("abab", false), (std::vector<int32_t>{2, 2}));
  EXPECT_EQ((*r)->bos_id(), -1);
}

TEST_F(TokenizerLoadErrorsTest, MissingFile) {
  auto r = LoadHfTokenizer((dir_ / "nope.json").string());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("nope.json"), std::string::npos);
}

TEST_F(TokenizerLoadErrorsTest, NotJson) { ExpectError("{\"model\": ", "not valid JSON"); }

TEST_F(TokenizerLoadErrorsTest, MissingModel) { ExpectError(R"({"version": "1.0"})", "model: missing"); }

TEST_F(TokenizerLoadErrorsTest, UnknownModelType) {
  ExpectError(R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})", "\"WordPiece\" is not supported");
}

TEST_F(TokenizerLoadErrorsTest, MissingVocabOrMerges) {
  ExpectError(R"({"model": {"type": "BPE", "merges": []}})", "model.vocab: missing");
  ExpectError(R"({"model": {"type": "BPE", "vocab": {"a": 0}}})", "model.merges: missing");
}

TEST_F(TokenizerLoadErrorsTest, BadMerges) {
  ExpectError(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["ab"]}})",
              "model.merges[0]");
  ExpectError(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [["a", 1]]}})",
              "model.merges[0]");
  // Both parts are known but their concatenation is not.
  ExpectError(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}})",
              "\"ab\" is not in the vocabulary");
  ExpectError(R"({"model": {"type": "BPE", "vocab": {"a": 0, "ab": 1}, "merges": [["a", "c"]]}})",
              "\"c\" is not in the vocabulary");
}

TEST_F(TokenizerLoadErrorsTest, BadVocabId) {
  ExpectError(R"({"model": {"type": "BPE", "vocab": {"a": -3}, "merges": []}})", "model.vocab[\"a\"]");
}

TEST_F(TokenizerLoadErrorsTest, UnsupportedComponents) {
  ExpectError(std::string("{") + kGoodModel + R"(, "normalizer": {"type": "NFKD"}})",
              "normalizer type \"NFKD\" is not supported");
  ExpectError(std::string("{") + kGoodModel + R"(, "pre_tokenizer": {"type": "Sequence",
              "pretokenizers": [{"type": "BertPreTokenizer"}]}})",
              "pre_tokenizer.pretokenizers[0]");
  ExpectError(std::string("{") + kGoodModel + R"(, "decoder": {"type": "WordPiece"}})",
              "decoder type \"WordPiece\" is not supported");
  ExpectError(std::string("{") + kGoodModel +
                  R"(, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(["}, "behavior": "Isolated"}})",
              "regex");
  ExpectError(std::string("{") + kGoodModel + R"(, "added_tokens": [{"content": "x"}]})",
              "added_tokens[0]");
}

TEST_F(TokenizerLoadErrorsTest, Gpt2Files) {
  const std::string enc = Write("encoder.json", R"({"a": 0, "b": 1, "ab": 2})");
  const std::string bad = Write("vocab.bpe", "#version: 0.2\na b\nnospace\n");
  auto r = LoadGpt2Tokenizer(enc, bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(bad + ":3"), std::string::npos) << r.status().message();
  const std::string good = Write("vocab2.bpe", "#version: 0.2\na b\n");
  auto ok = LoadGpt2Tokenizer(enc, good);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ((*ok)->Encode("ab", false), (std::vector<int32_t>{2}));
}

TEST(GgufVocabErrorsTest, RefusedWithTheFileName) {
  GgufVocab v;
  v.source = "model.gguf";
  auto expect = [](const GgufVocab& vocab, const std::string& what) {
    auto r = MakeGgufTokenizer(vocab);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Status::Code::kModelLoad);
    EXPECT_NE(r.status().message().find("model.gguf"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find(what), std::string::npos) << r.status().message();
  };
  expect(v, "tokenizer.ggml.tokens is empty");
  v.tokens = {"a", "b", "ab"};
  v.model = "bert";
  expect(v, "\"bert\" is not supported");
  v.model = "gpt2";
  expect(v, "tokenizer.ggml.merges is missing");
  v.merges = {"a b"};
  v.pre = "falcon";
  expect(v, "tokenizer.ggml.pre \"falcon\"");
  v.pre = "qwen2";
  v.token_types = {1, 1};
  expect(v, "2 token types for 3 tokens");
  v.token_types.clear();
  v.merges = {"a c"};
  expect(v, "\"c\" is not in the vocabulary");
  v.model = "llama";
  v.scores = {0.0f};
  expect(v, "1 tokenizer.ggml.scores for 3 tokens");
  v.scores = {0.0f, 0.0f, 0.0f};
  v.bos_id = 7;
  expect(v, "outside the vocabulary");
}

}  // namespace
}  // namespace kvfunda
