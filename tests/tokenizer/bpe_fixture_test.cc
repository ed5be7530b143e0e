// BpeTokenizer against the reference HF `tokenizers` package: for every fixture
// string (made by scripts/fixtures/make_tokenizer_fixtures.py) our ids must equal the
// reference ids, our decode must equal the reference decode (with and without
// special tokens), the streaming decoder must give the same text, and decoding
// gives back the text whenever the reference does.
#include <gtest/gtest.h>

#include <sstream>

#include "tokenizer_fixtures.h"

namespace kvfunda {
namespace {

struct FixtureCase {
  const char* tokenizer;  // as TestTokenizer() names it
  const char* fixture;    // tests/tokenizer/fixtures/<fixture>.json
};

std::string Ids(const std::vector<int32_t>& ids) {
  std::ostringstream s;
  for (size_t i = 0; i < ids.size(); ++i) s << (i ? "," : "") << ids[i];
  return s.str();
}

class BpeFixtureTest : public ::testing::TestWithParam<FixtureCase> {};

TEST_P(BpeFixtureTest, MatchesReference) {
  const FixtureCase& fc = GetParam();
  std::string error;
  const BpeTokenizer* tok = testing::TestTokenizer(fc.tokenizer, &error);
  ASSERT_NE(tok, nullptr) << error;
  const nlohmann::json fixture =
      testing::ReadJsonFile(testing::TokenizerFixture(std::string(fc.fixture) + ".json"));
  ASSERT_TRUE(fixture.is_object() && fixture["cases"].is_array()) << fc.fixture;
  const auto& cases = fixture["cases"];
  ASSERT_GE(cases.size(), 200u);

  int ids_ok = 0, decode_ok = 0, skip_ok = 0, stream_ok = 0, roundtrip = 0;
  int shown = 0;
  for (const auto& c : cases) {
    const std::string text = c["text"].get<std::string>();
    const std::vector<int32_t> want = c["ids"].get<std::vector<int32_t>>();
    const std::string want_dec = c.value("decoded", text);
    const std::string want_skip = c.value("decoded_skip", want_dec);
    const std::vector<int32_t> got = tok->Encode(text, /*add_bos=*/false);
    if (got == want) {
      ++ids_ok;
    } else if (shown++ < 8) {
      ADD_FAILURE() << fc.tokenizer << " ids differ for \"" << text << "\"\n  want " << Ids(want)
                    << "\n  got  " << Ids(got);
    }
    // Decode the reference ids, so a decode check does not hinge on encoding.
    const std::string dec = tok->Decode(want, /*skip_special=*/false);
    if (dec == want_dec) ++decode_ok;
    else if (shown++ < 8) ADD_FAILURE() << fc.tokenizer << " decode of \"" << text << "\": \"" << dec << "\"";
    const std::string skip = tok->Decode(want);
    if (skip == want_skip) ++skip_ok;
    else if (shown++ < 8) ADD_FAILURE() << fc.tokenizer << " skip-special decode of \"" << text << "\": \"" << skip << "\"";
    StreamDecoder stream(*tok, /*skip_special=*/false);
    std::string streamed;
    for (const int32_t id : want) streamed += stream.Push(id);
    streamed += stream.Finish();
    if (streamed == want_dec) ++stream_ok;
    else if (shown++ < 8) ADD_FAILURE() << fc.tokenizer << " stream decode of \"" << text << "\": \"" << streamed << "\"";
    if (want_dec == text) {
      EXPECT_EQ(tok->Decode(got, false), text) << fc.tokenizer << ": decode(encode(s)) != s";
      ++roundtrip;
    }
  }
  const int n = static_cast<int>(cases.size());
  std::printf("[ %s ] ids %d/%d, decode %d/%d, decode(skip special) %d/%d, stream %d/%d, "
              "decode(encode(s)) == s on %d strings\n",
              fc.tokenizer, ids_ok, n, decode_ok, n, skip_ok, n, stream_ok, n, roundtrip);
  EXPECT_EQ(ids_ok, n);
  EXPECT_EQ(decode_ok, n);
  EXPECT_EQ(skip_ok, n);
  EXPECT_EQ(stream_ok, n);
}

TEST_P(BpeFixtureTest, BosAsTheReferencePostProcessor) {
  const FixtureCase& fc = GetParam();
  std::string error;
  const BpeTokenizer* tok = testing::TestTokenizer(fc.tokenizer, &error);
  ASSERT_NE(tok, nullptr) << error;
  const nlohmann::json probe =
      testing::ReadJsonFile(testing::TokenizerFixture(std::string(fc.fixture) + ".json"))["bos_probe"];
  const std::vector<int32_t> want = probe["ids_with_special"].get<std::vector<int32_t>>();
  EXPECT_EQ(tok->Encode(probe["text"].get<std::string>(), tok->add_bos_default()), want);
}

INSTANTIATE_TEST_SUITE_P(
    Tokenizers, BpeFixtureTest,
    ::testing::Values(FixtureCase{"llama2", "llama2"}, FixtureCase{"llama3", "llama3"},
                      FixtureCase{"qwen3", "qwen3"}, FixtureCase{"gpt2", "gpt2"},
                      FixtureCase{"smollm2", "smollm2"},
                      // The SentencePiece-by-scores path (GGUF "llama") against the
                      // reference ids of the same vocabulary.
                      FixtureCase{"llama2_spm", "llama2"}),
    [](const ::testing::TestParamInfo<FixtureCase>& p) { return std::string(p.param.tokenizer); });

}  // namespace
}  // namespace kvfunda
