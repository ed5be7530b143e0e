#include "worker/model/unicode_text.h"

#include <unicode/normalizer2.h>
#include <unicode/unistr.h>
#include <unicode/utypes.h>

#include <array>

namespace kvfunda::unicode {
namespace {

// The byte -> char and char -> byte tables of GPT-2's bytes_to_unicode().
struct ByteLevelTables {
  std::array<uint32_t, 256> to_char{};
  std::array<int16_t, 324> to_byte{};  // code points 0..323 cover the whole alphabet

  ByteLevelTables() {
    to_byte.fill(-1);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      to_char[b] = printable ? static_cast<uint32_t>(b) : next++;
      to_byte[to_char[b]] = static_cast<int16_t>(b);
    }
  }
};

const ByteLevelTables& Tables() {
  static const ByteLevelTables tables;  // immutable after first use
  return tables;
}

bool IsCont(unsigned char c) { return (c & 0xC0) == 0x80; }

}  // namespace

size_t ValidSequenceLength(std::string_view text, size_t pos) {
  const size_t n = text.size() - pos;
  const auto* s = reinterpret_cast<const unsigned char*>(text.data() + pos);
  if (n == 0) return 0;
  const unsigned char c = s[0];
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return (n >= 2 && IsCont(s[1])) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (n < 3 || !IsCont(s[1]) || !IsCont(s[2])) return 0;
    if (c == 0xE0 && s[1] < 0xA0) return 0;   // overlong
    if (c == 0xED && s[1] > 0x9F) return 0;   // surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (n < 4 || !IsCont(s[1]) || !IsCont(s[2]) || !IsCont(s[3])) return 0;
    if (c == 0xF0 && s[1] < 0x90) return 0;   // overlong
    if (c == 0xF4 && s[1] > 0x8F) return 0;   // > U+10FFFF
    return 4;
  }
  return 0;
}

uint32_t NextCodePoint(std::string_view text, size_t* pos) {
  const size_t len = ValidSequenceLength(text, *pos);
  const auto* s = reinterpret_cast<const unsigned char*>(text.data() + *pos);
  if (len == 0) {
    ++*pos;
    return kReplacementChar;
  }
  *pos += len;
  switch (len) {
    case 1: return s[0];
    case 2: return ((s[0] & 0x1Fu) << 6) | (s[1] & 0x3Fu);
    case 3: return ((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
    default:
      return ((s[0] & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) |
             (s[3] & 0x3Fu);
  }
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Length of the maximal prefix of an ill-formed sequence at text[pos] that could
// still start a valid sequence (at least 1): one U+FFFD replaces exactly that.
static size_t InvalidRunLength(std::string_view text, size_t pos) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data() + pos);
  const size_t n = text.size() - pos;
  const unsigned char c = s[0];
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) need = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    need = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 1;
  }
  size_t i = 1;
  if (i < n && s[i] >= lo && s[i] <= hi) {
    ++i;
    while (i < need && i < n && IsCont(s[i])) ++i;
  }
  return i;
}

std::string Utf8Lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t pos = 0;
  while (pos < bytes.size()) {
    const size_t len = ValidSequenceLength(bytes, pos);
    if (len > 0) {
      out.append(bytes.data() + pos, len);
      pos += len;
    } else {
      AppendUtf8(kReplacementChar, &out);
      pos += InvalidRunLength(bytes, pos);
    }
  }
  return out;
}

size_t CompletePrefixLength(std::string_view bytes) {
  // Only the last three bytes can start an incomplete sequence.
  const size_t n = bytes.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const size_t start = n - back;
    const auto c = static_cast<unsigned char>(bytes[start]);
    if (IsCont(c)) continue;
    if (c < 0x80) return n;
    // A lead byte: incomplete when the run from it is a valid-so-far prefix.
    if (ValidSequenceLength(bytes, start) == 0 && InvalidRunLength(bytes, start) == back &&
        c >= 0xC2 && c <= 0xF4) {
      return start;
    }
    return n;
  }
  return n;
}

uint32_t ByteToChar(uint8_t b) { return Tables().to_char[b]; }

int CharToByte(uint32_t cp) {
  return cp < Tables().to_byte.size() ? Tables().to_byte[cp] : -1;
}

std::string BytesToByteLevel(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) AppendUtf8(ByteToChar(static_cast<uint8_t>(c)), &out);
  return out;
}

std::string Nfc(std::string_view text) {
  bool ascii = true;
  for (const char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return std::string(text);
  UErrorCode err = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(err);
  if (U_FAILURE(err) || nfc == nullptr) return std::string(text);
  const icu::UnicodeString src =
      icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
  if (nfc->isNormalized(src, err) && U_SUCCESS(err)) return std::string(text);
  err = U_ZERO_ERROR;
  const icu::UnicodeString normalized = nfc->normalize(src, err);
  if (U_FAILURE(err)) return std::string(text);
  std::string out;
  normalized.toUTF8String(out);
  return out;
}

bool IsWhitespace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

int ParseBytePiece(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  int value = 0;
  for (size_t i = 3; i < 5; ++i) {
    const char c = piece[i];
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else return -1;
    value = value * 16 + d;
  }
  return value;
}

}  // namespace kvfunda::unicode
