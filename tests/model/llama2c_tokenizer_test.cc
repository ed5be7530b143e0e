// Llama2cTokenizer against llama2.c run.c's encode()/decode(). The expected ids
// were produced by a direct Python transcription of run.c's encode() over tok512.bin.
#include "worker/model/llama2c_tokenizer.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include <gtest/gtest.h>

#include "test_support.h"

namespace kvfunda {
namespace {

std::string Tok512Path() { return testing::SharedDir() + "/models/stories260K/tok512.bin"; }

class Llama2cTokenizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loaded = Llama2cTokenizer::Load(Tok512Path());
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    tok_ = std::move(loaded).value();
  }
  std::unique_ptr<Llama2cTokenizer> tok_;
};

TEST_F(Llama2cTokenizerTest, Vocabulary) {
  EXPECT_EQ(tok_->vocab_size(), 512);
  EXPECT_EQ(tok_->bos_id(), 1);
  EXPECT_EQ(tok_->eos_id(), 2);
  EXPECT_EQ(tok_->Piece(0), "<unk>");
  EXPECT_EQ(tok_->Piece(13), "<0x0A>");
  EXPECT_EQ(tok_->Piece(403), " Once");
  EXPECT_EQ(tok_->Piece(512), "");
  EXPECT_EQ(tok_->Piece(-1), "");
}

TEST_F(Llama2cTokenizerTest, KnownEncodingsMatchRunC) {
  struct Case {
    std::string text;
    std::vector<int32_t> ids;  // with BOS
  };
  const std::vector<Case> cases = {
      {"Once upon a time", {1, 403, 407, 261, 378}},
      {"", {1}},
      {"Hello world!", {1, 346, 306, 414, 263, 304, 341, 443}},
      {"Lily's cat\nsat.", {1, 317, 439, 419, 280, 294, 13, 419, 294, 426}},
      {"naïve café ☃ 😀",
       {1, 297, 412, 198, 178, 360, 280, 412, 431, 485, 410, 229, 155, 134, 410, 243, 162, 155,
        131}},
      {"  two  spaces", {1, 410, 410, 259, 424, 414, 410, 262, 427, 412, 331, 419}},
      {"x", {1, 410, 444}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(tok_->Encode(c.text, /*add_bos=*/true), c.ids) << "text: " << c.text;
    std::vector<int32_t> no_bos(c.ids.begin() + 1, c.ids.end());
    EXPECT_EQ(tok_->Encode(c.text, /*add_bos=*/false), no_bos) << "text: " << c.text;
  }
}

TEST_F(Llama2cTokenizerTest, RoundTripsThroughDecode) {
  const std::vector<std::string> texts = {
      "Once upon a time, there was a little girl named Lily.",
      "She said, \"Mom, can I have a cookie?\"\n\nMom smiled: yes!",
      "Tabs\tand  double  spaces  ",
      "Unicode: naïve café — ☃ 😀 日本語 ∑",
      "12345 + 678 = 7023; #@%^&*(){}[]<>|~`",
      "x",
  };
  for (const std::string& text : texts) {
    EXPECT_EQ(tok_->Decode(tok_->Encode(text, /*add_bos=*/true)), text);
    // Without BOS, the dummy-prefix space stays (run.c strips it only after BOS).
    EXPECT_EQ(tok_->Decode(tok_->Encode(text, /*add_bos=*/false)), " " + text);
  }
}

TEST_F(Llama2cTokenizerTest, DecodeFollowsRunC) {
  EXPECT_EQ(tok_->Decode({403, 407}), " Once upon");
  EXPECT_EQ(tok_->Decode({1, 403, 407}), "Once upon");
  EXPECT_EQ(tok_->Decode({1, 13, 403}), "\n Once");       // a byte token after BOS keeps its text
  EXPECT_EQ(tok_->Decode({0, 1, 403, 2}), "Once");      // control tokens produce no text
  EXPECT_EQ(tok_->Decode({1, 2, 403}), " Once");        // only right after BOS is stripped
  EXPECT_EQ(tok_->Decode({403, 600, -5}), " Once");      // ids out of range are skipped
  EXPECT_EQ(tok_->Decode({229, 155, 134}), "☃");          // raw UTF-8 bytes reassemble
}

// run.c's quadratic merge loop, verbatim in spirit: rescan all pairs, merge the
// best-scoring (leftmost on ties), repeat.
std::vector<int32_t> NaiveRunCEncode(const Llama2cTokenizer& tok, const std::string& text) {
  std::map<std::string, int32_t> ids;
  for (int32_t id = tok.vocab_size() - 1; id >= 0; --id) ids[tok.Piece(id)] = id;
  std::vector<int32_t> t;
  if (!text.empty()) t.push_back(ids.at(" "));
  for (unsigned char c : text) {  // ASCII only here: one byte = one codepoint
    auto it = ids.find(std::string(1, static_cast<char>(c)));
    t.push_back(it != ids.end() ? it->second : c + 3);
  }
  while (true) {
    float best = -1e10f;
    int best_idx = -1;
    int32_t best_id = -1;
    for (size_t i = 0; i + 1 < t.size(); ++i) {
      auto it = ids.find(tok.Piece(t[i]) + tok.Piece(t[i + 1]));
      if (it != ids.end() && tok.score(it->second) > best) {
        best = tok.score(it->second);
        best_idx = static_cast<int>(i);
        best_id = it->second;
      }
    }
    if (best_idx < 0) break;
    t[best_idx] = best_id;
    t.erase(t.begin() + best_idx + 1);
  }
  return t;
}

TEST_F(Llama2cTokenizerTest, HeapMergeEqualsRunCMergeLoop) {
  std::mt19937 rng(7);
  const std::string alphabet = "aaabcdeeefghiilmnnoooprsssttuwy  ,.!'\n";
  for (int trial = 0; trial < 200; ++trial) {
    std::string text(1 + rng() % 80, ' ');
    for (char& c : text) c = alphabet[rng() % alphabet.size()];
    ASSERT_EQ(tok_->Encode(text, false), NaiveRunCEncode(*tok_, text)) << "text: " << text;
  }
  std::string story;
  for (int i = 0; i < 30; ++i) story += "The little dog ran to the park and played with a ball. ";
  const std::vector<int32_t> ids = tok_->Encode(story, false);
  EXPECT_LT(ids.size(), story.size() / 2);  // merges happened
  EXPECT_EQ(ids, NaiveRunCEncode(*tok_, story));
  EXPECT_EQ(tok_->Decode(ids), " " + story);
}

TEST(Llama2cTokenizerLoad, RejectsBadFiles) {
  const auto dir = testing::MakeTempDir("kvf_tok_");
  ASSERT_FALSE(dir.empty());
  std::ifstream in(Tok512Path(), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto write = [&](const std::string& name, const std::string& content) {
    std::ofstream(dir / name, std::ios::binary) << content;
    return (dir / name).string();
  };
  for (size_t cut : {size_t{0}, size_t{2}, size_t{6}, size_t{10}, bytes.size() - 1}) {
    const std::string path = write("cut.bin", bytes.substr(0, cut));
    auto r = Llama2cTokenizer::Load(path);
    ASSERT_FALSE(r.ok()) << "cut at " << cut;
    EXPECT_EQ(r.status().code(), Status::Code::kModelLoad);
    EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().ToString();
  }
  std::string bad_len = bytes;
  const int32_t negative = -5;
  std::memcpy(bad_len.data() + 8, &negative, 4);  // length of token 0
  auto r = Llama2cTokenizer::Load(write("neg.bin", bad_len));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("token 0"), std::string::npos) << r.status().ToString();
  EXPECT_FALSE(Llama2cTokenizer::Load((dir / "missing.bin").string()).ok());
  std::filesystem::remove_all(dir);
}

TEST(FindLlama2cTokenizer, PrefersTokenizerBinElseTheOnlyTokBin) {
  const auto dir = testing::MakeTempDir("kvf_findtok_");
  ASSERT_FALSE(dir.empty());
  const std::string model = (dir / "m.bin").string();
  auto r = FindLlama2cTokenizer(model);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kModelLoad);
  EXPECT_NE(r.status().message().find("no tokenizer"), std::string::npos);

  std::ofstream(dir / "tok512.bin") << "x";
  r = FindLlama2cTokenizer(model);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, (dir / "tok512.bin").string());

  std::ofstream(dir / "tok32000.bin") << "x";
  r = FindLlama2cTokenizer(model);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("several"), std::string::npos) << r.status().ToString();

  std::ofstream(dir / "tokenizer.bin") << "x";
  r = FindLlama2cTokenizer(model);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, (dir / "tokenizer.bin").string());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kvfunda
