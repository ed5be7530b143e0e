// UTF-8 helpers, the GPT-2 byte alphabet, NFC and the PCRE2 splitter.
#include "worker/model/unicode_text.h"

#include <gtest/gtest.h>

#include "worker/model/unicode_split.h"

namespace kvfunda {
namespace {

TEST(UnicodeTextTest, CodePointsAndLossyRepair) {
  const std::string s = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";  // a é € 😀
  size_t pos = 0;
  EXPECT_EQ(unicode::NextCodePoint(s, &pos), 0x61u);
  EXPECT_EQ(unicode::NextCodePoint(s, &pos), 0xE9u);
  EXPECT_EQ(unicode::NextCodePoint(s, &pos), 0x20ACu);
  EXPECT_EQ(unicode::NextCodePoint(s, &pos), 0x1F600u);
  EXPECT_EQ(pos, s.size());
  std::string back;
  for (const uint32_t cp : {0x61u, 0xE9u, 0x20ACu, 0x1F600u}) unicode::AppendUtf8(cp, &back);
  EXPECT_EQ(back, s);
  EXPECT_EQ(unicode::Utf8Lossy(s), s);
  // Maximal invalid subparts: a truncated 4-byte sequence is one U+FFFD; a lone
  // continuation byte is one; an overlong lead byte is one per byte.
  EXPECT_EQ(unicode::Utf8Lossy("x\xF0\x9F\x98y"), "x\xEF\xBF\xBDy");
  EXPECT_EQ(unicode::Utf8Lossy("\x80"), "\xEF\xBF\xBD");
  EXPECT_EQ(unicode::Utf8Lossy("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(unicode::Utf8Lossy("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
}

TEST(UnicodeTextTest, CompletePrefixHoldsBackOnlyAnIncompleteTail) {
  EXPECT_EQ(unicode::CompletePrefixLength("ab"), 2u);
  EXPECT_EQ(unicode::CompletePrefixLength("ab\xF0\x9F"), 2u);
  EXPECT_EQ(unicode::CompletePrefixLength("ab\xF0\x9F\x98"), 2u);
  EXPECT_EQ(unicode::CompletePrefixLength("ab\xF0\x9F\x98\x80"), 6u);
  EXPECT_EQ(unicode::CompletePrefixLength("ab\xC3"), 2u);
  EXPECT_EQ(unicode::CompletePrefixLength("ab\xFF"), 3u);      // invalid, not incomplete
  EXPECT_EQ(unicode::CompletePrefixLength("ab\xE0\x80"), 4u);  // can never complete
}

TEST(UnicodeTextTest, ByteLevelAlphabet) {
  EXPECT_EQ(unicode::ByteToChar(' '), 0x120u);   // Ġ
  EXPECT_EQ(unicode::ByteToChar('\n'), 0x10Au);  // Ċ
  EXPECT_EQ(unicode::ByteToChar('A'), static_cast<uint32_t>('A'));
  for (int b = 0; b < 256; ++b) EXPECT_EQ(unicode::CharToByte(unicode::ByteToChar(b)), b);
  EXPECT_EQ(unicode::CharToByte(0x4E2D), -1);
  EXPECT_EQ(unicode::BytesToByteLevel("a b"), "a\xC4\xA0" "b");
}

TEST(UnicodeTextTest, Nfc) {
  EXPECT_EQ(unicode::Nfc("e\xCC\x81"), "\xC3\xA9");    // e + U+0301 -> é
  EXPECT_EQ(unicode::Nfc("\xE2\x84\xAB"), "\xC3\x85");  // U+212B ANGSTROM SIGN -> Å
  EXPECT_EQ(unicode::Nfc("\xEF\xAC\x81"), "\xEF\xAC\x81");  // ﬁ is NFC already
  EXPECT_EQ(unicode::Nfc("plain"), "plain");
}

TEST(RegexSplitterTest, UnicodeCategoriesAndLookahead) {
  auto r = RegexSplitter::Compile(kGpt2SplitPattern, false);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const std::string text = "Hi  there, \xD0\x9C\xD0\xB8\xD1\x80 42!";  // "Hi  there, Мир 42!"
  std::vector<std::pair<size_t, size_t>> spans;
  ASSERT_TRUE((*r)->FindMatches(text, &spans).ok());
  std::vector<std::string> parts;
  for (const auto& [b, e] : spans) parts.push_back(text.substr(b, e - b));
  // \s+(?!\S) leaves the last space of a run to the next word.
  EXPECT_EQ(parts, (std::vector<std::string>{"Hi", " ", " there", ",", " \xD0\x9C\xD0\xB8\xD1\x80",
                                             " 42", "!"}));
  auto bad = RegexSplitter::Compile("(unclosed", false);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("(unclosed"), std::string::npos);
}

}  // namespace
}  // namespace kvfunda
