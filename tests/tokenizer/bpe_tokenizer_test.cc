// Hand-checked behaviour of BpeTokenizer: known encodings of the real vocabularies,
// added and special tokens, byte fallback, UTF-8 split across tokens, streaming,
// and small synthetic vocabularies for merge order, lstrip/rstrip and unknowns.
#include <gtest/gtest.h>

#include "tokenizer_fixtures.h"
#include "worker/model/unicode_text.h"

namespace kvfunda {
namespace {

// Declares `const BpeTokenizer& var`, or fails the test when it cannot be loaded.
#define LOAD_TOKENIZER(var, name)                                               \
  std::string var##_error;                                                      \
  const BpeTokenizer* var##_ptr = testing::TestTokenizer(name, &var##_error);   \
  ASSERT_NE(var##_ptr, nullptr) << var##_error;                                 \
  const BpeTokenizer& var = *var##_ptr

std::vector<std::string> Pieces(const BpeTokenizer& tok, const std::vector<int32_t>& ids) {
  std::vector<std::string> out;
  for (const int32_t id : ids) out.push_back(tok.Piece(id));
  return out;
}

using Strings = std::vector<std::string>;

TEST(BpeTokenizerTest, KnownEncodings) {
  LOAD_TOKENIZER(gpt2, "gpt2");
  EXPECT_EQ(gpt2.Encode("Hello world", false), (std::vector<int32_t>{15496, 995}));
  EXPECT_EQ(Pieces(gpt2, gpt2.Encode(" the cat's", false)), (Strings{"Ġthe", "Ġcat", "'s"}));
  EXPECT_EQ(gpt2.vocab_size(), 50257);
  EXPECT_EQ(gpt2.eos_id(), 50256);

  LOAD_TOKENIZER(llama3, "llama3");
  EXPECT_EQ(llama3.Encode("Hello world", false), (std::vector<int32_t>{9906, 1917}));
  // Digits go in runs of at most three.
  EXPECT_EQ(Pieces(llama3, llama3.Encode("1234567", false)), (Strings{"123", "456", "7"}));
  EXPECT_EQ(llama3.bos_id(), 128000);
  EXPECT_EQ(llama3.eos_id(), 128001);

  LOAD_TOKENIZER(qwen3, "qwen3");
  EXPECT_EQ(Pieces(qwen3, qwen3.Encode("2024", false)), (Strings{"2", "0", "2", "4"}));
  EXPECT_EQ(qwen3.bos_id(), -1);
  EXPECT_EQ(qwen3.Piece(qwen3.eos_id()), "<|im_end|>");

  LOAD_TOKENIZER(llama2, "llama2");
  EXPECT_EQ(Pieces(llama2, llama2.Encode("Hello world", false)), (Strings{"▁Hello", "▁world"}));
  EXPECT_EQ(llama2.Encode("Hello world", true).front(), 1);
  EXPECT_TRUE(llama2.add_bos_default());
  EXPECT_FALSE(qwen3.add_bos_default());

  LOAD_TOKENIZER(smol, "smollm2");
  // Each digit alone, then the GPT-2 split.
  EXPECT_EQ(Pieces(smol, smol.Encode("x 42", false)), (Strings{"x", "Ġ", "4", "2"}));
}

TEST(BpeTokenizerTest, AddedAndSpecialTokens) {
  LOAD_TOKENIZER(qwen3, "qwen3");
  const auto ids = qwen3.Encode("<|im_start|>user\nHi<|im_end|>", false);
  ASSERT_GE(ids.size(), 4u);
  EXPECT_EQ(ids.front(), 151644);
  EXPECT_EQ(ids.back(), 151645);
  EXPECT_TRUE(qwen3.is_special(151644));
  EXPECT_EQ(qwen3.Decode(ids), "user\nHi");  // specials skipped
  EXPECT_EQ(qwen3.Decode(ids, false), "<|im_start|>user\nHi<|im_end|>");
  // A non-special added token (<think>) stays in the skip-special decode.
  const auto think = qwen3.Encode("<think>x</think>", false);
  EXPECT_EQ(think.front(), qwen3.TokenId("<think>"));
  EXPECT_FALSE(qwen3.is_special(think.front()));
  EXPECT_EQ(qwen3.Decode(think), "<think>x</think>");
  // An incomplete special token is plain text.
  const auto partial = qwen3.Encode("<|im_start|", false);
  EXPECT_EQ(std::find(partial.begin(), partial.end(), 151644), partial.end());

  LOAD_TOKENIZER(llama3, "llama3");
  EXPECT_EQ(llama3.Encode("<|begin_of_text|><|eot_id|>", false),
            (std::vector<int32_t>{128000, 128009}));
  // Another family's special token is text.
  EXPECT_GT(llama3.Encode("<|im_start|>", false).size(), 1u);
}

TEST(BpeTokenizerTest, ByteFallbackForUnknownChars) {
  LOAD_TOKENIZER(llama2, "llama2");
  // U+1F916 (robot face) is not a piece: its four UTF-8 bytes become <0xXX> tokens.
  const auto ids = llama2.Encode("\xF0\x9F\xA4\x96", false);
  EXPECT_EQ(Pieces(llama2, ids), (Strings{"▁", "<0xF0>", "<0x9F>", "<0xA4>", "<0x96>"}));
  EXPECT_EQ(llama2.Decode(ids), "\xF0\x9F\xA4\x96");
  // A broken byte run decodes to one U+FFFD per byte, as HF's ByteFallback decoder.
  const std::vector<int32_t> broken = {ids[1], ids[2]};
  EXPECT_EQ(llama2.Decode(broken), "\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(BpeTokenizerTest, PartialUtf8AcrossTokens) {
  LOAD_TOKENIZER(gpt2, "gpt2");
  const std::string text = "\xF0\x9F\x98\x80 ok";  // U+1F600 spans several byte-level tokens
  const auto ids = gpt2.Encode(text, false);
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(gpt2.Decode(ids), text);
  // A prefix that cuts the emoji: HF gives U+FFFD for the incomplete bytes.
  const std::vector<int32_t> first = {ids[0]};
  EXPECT_NE(gpt2.Decode(first).find("\xEF\xBF\xBD"), std::string::npos);
  // The streaming decoder holds the bytes back until the emoji is complete.
  StreamDecoder stream(gpt2, true);
  std::vector<std::string> parts;
  for (const int32_t id : ids) parts.push_back(stream.Push(id));
  EXPECT_EQ(parts[0], "");
  std::string joined;
  for (const std::string& p : parts) joined += p;
  joined += stream.Finish();
  EXPECT_EQ(joined, text);
  // Finish() on a dangling partial sequence gives U+FFFD, not the raw bytes.
  StreamDecoder cut(gpt2, true);
  EXPECT_EQ(cut.Push(ids[0]), "");
  EXPECT_EQ(cut.Finish(), "\xEF\xBF\xBD");
}

TEST(BpeTokenizerTest, StreamingSentencePieceDropsOnlyTheFirstSpace) {
  LOAD_TOKENIZER(llama2, "llama2");
  const auto ids = llama2.Encode("Hello world \xF0\x9F\xA4\x96!", false);
  StreamDecoder stream(llama2, true);
  std::string out;
  for (const int32_t id : ids) out += stream.Push(id);
  out += stream.Finish();
  EXPECT_EQ(out, "Hello world \xF0\x9F\xA4\x96!");
}

// A tiny byte-level vocabulary: the 256 byte chars, then the given merges' results.
TokenizerSpec TinyByteLevelSpec(const std::vector<std::pair<std::string, std::string>>& merges) {
  TokenizerSpec spec;
  spec.source = "tiny";
  for (int b = 0; b < 256; ++b) {
    std::string s;
    unicode::AppendUtf8(unicode::ByteToChar(static_cast<uint8_t>(b)), &s);
    spec.pieces.push_back(s);
  }
  for (const auto& m : merges) {
    spec.merges.push_back(m);
    spec.pieces.push_back(m.first + m.second);
  }
  PreTokenizerStep bl;
  bl.kind = PreTokenizerStep::Kind::kByteLevel;
  bl.use_regex = false;
  spec.pre_tokenizer.push_back(bl);
  spec.decoder.push_back(DecoderStep{});
  return spec;
}

TEST(BpeTokenizerTest, MergesApplyLowestRankFirstLeftmostOnTies) {
  // "abc": ranks b+c (0) before a+b (1), so the result is a | bc.
  auto r = BpeTokenizer::Create(TinyByteLevelSpec({{"b", "c"}, {"a", "b"}}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Pieces(**r, (*r)->Encode("abc", false)), (Strings{"a", "bc"}));
  // "aaa" with a+a: the leftmost pair merges first.
  auto r2 = BpeTokenizer::Create(TinyByteLevelSpec({{"a", "a"}}));
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(Pieces(**r2, (*r2)->Encode("aaa", false)), (Strings{"aa", "a"}));
}

TEST(BpeTokenizerTest, AddedTokenLongestMatchAndStrip) {
  TokenizerSpec spec = TinyByteLevelSpec({});
  const auto n = static_cast<int32_t>(spec.pieces.size());
  spec.added.push_back({n, "<a>", true, false, false, false});
  spec.added.push_back({n + 1, "<a><b>", true, false, false, false});
  spec.added.push_back({n + 2, "[X]", false, /*lstrip=*/true, /*rstrip=*/true, false});
  auto r = BpeTokenizer::Create(spec);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const BpeTokenizer& tok = **r;
  EXPECT_EQ(tok.vocab_size(), n + 3);
  EXPECT_EQ(tok.Encode("<a><b>", false), (std::vector<int32_t>{n + 1}));
  EXPECT_EQ(tok.Encode("<a><c>", false).front(), n);
  // lstrip/rstrip: the spaces around [X] belong to the token.
  EXPECT_EQ(Pieces(tok, tok.Encode("q  [X]  z", false)), (Strings{"q", "[X]", "z"}));
}

TEST(BpeTokenizerTest, UnknownCharsFuseIntoOneUnk) {
  TokenizerSpec spec;
  spec.source = "tiny-unk";
  spec.pieces = {"<unk>", "a", "b"};
  spec.unk_token = "<unk>";
  spec.fuse_unk = true;
  auto r = BpeTokenizer::Create(spec);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->Encode("axyzb", false), (std::vector<int32_t>{1, 0, 2}));
  spec.fuse_unk = false;
  auto r2 = BpeTokenizer::Create(spec);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ((*r2)->Encode("axyb", false), (std::vector<int32_t>{1, 0, 0, 2}));
}

TEST(BpeTokenizerTest, TokenizerInterfaceLoaders) {
  auto hf = LoadHfTokenizer(testing::SharedTokenizer("llama3"));
  ASSERT_TRUE(hf.ok()) << hf.status().ToString();
  EXPECT_EQ((*hf)->vocab_size(), 128256);
  EXPECT_EQ((*hf)->Decode((*hf)->Encode("Grüße, 世界!", true)), "Grüße, 世界!");
  auto gguf = MakeGgufTokenizer(testing::SmolLm2Vocab());
  ASSERT_TRUE(gguf.ok()) << gguf.status().ToString();
  EXPECT_EQ((*gguf)->vocab_size(), 49152);
  EXPECT_EQ((*gguf)->bos_id(), 1);
  EXPECT_EQ((*gguf)->eos_id(), 2);
}

TEST(BpeTokenizerTest, MetaspacePipelineAsHf) {
  // Expected values from tokenizers 0.23: pre_tokenizers.Metaspace(prepend_scheme=
  // "first").pre_tokenize_str("Hello  world") and decoders.Metaspace().decode(...).
  TokenizerSpec spec;
  spec.source = "tiny-metaspace";
  spec.pieces = {"<unk>", "\xE2\x96\x81", "H", "i", "x", "w", "o"};
  spec.unk_token = "<unk>";
  PreTokenizerStep ms;
  ms.kind = PreTokenizerStep::Kind::kMetaspace;
  ms.prepend = PreTokenizerStep::Prepend::kFirst;
  spec.pre_tokenizer.push_back(ms);
  DecoderStep dec;
  dec.kind = DecoderStep::Kind::kMetaspace;
  dec.pattern = "\xE2\x96\x81";
  spec.decoder.push_back(dec);
  auto r = BpeTokenizer::Create(spec);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const BpeTokenizer& tok = **r;
  // "Hi  wo" -> pieces "▁Hi", "▁", "▁wo" -> chars.
  EXPECT_EQ(tok.Encode("Hi  wo", false), (std::vector<int32_t>{1, 2, 3, 1, 1, 5, 6}));
  // The first token loses every replacement char; later ones become spaces.
  EXPECT_EQ(tok.Decode({1, 1, 2, 3, 4}), " Hix");
  EXPECT_EQ(tok.Decode({2, 1, 5, 1}), "H w ");
}

}  // namespace
}  // namespace kvfunda
