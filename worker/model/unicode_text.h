// Unicode helpers for the tokenizers: UTF-8 decoding and encoding, the GPT-2
// byte <-> char map of byte-level BPE, lossy UTF-8 repair, and NFC (through ICU).
//
// Free functions over std::string bytes; no state. Threading: thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kvfunda::unicode {

inline constexpr uint32_t kReplacementChar = 0xFFFD;

// Decodes the code point at text[*pos] and advances *pos past it. An invalid or
// truncated sequence yields kReplacementChar and advances by one byte.
// REQUIRES: *pos < text.size().
uint32_t NextCodePoint(std::string_view text, size_t* pos);

// Appends the UTF-8 encoding of `cp` (REQUIRES: cp <= 0x10FFFF, not a surrogate).
void AppendUtf8(uint32_t cp, std::string* out);

// Byte length of the valid UTF-8 sequence starting at text[pos], or 0 when the bytes
// there are not a complete valid sequence.
size_t ValidSequenceLength(std::string_view text, size_t pos);

// `bytes` with each maximal invalid subsequence replaced by U+FFFD (the rule of
// Rust's String::from_utf8_lossy, which HF tokenizers uses when decoding).
std::string Utf8Lossy(std::string_view bytes);

// Length of the longest prefix of `bytes` that does not end inside a sequence that
// is still valid so far but incomplete (the tail a streaming decoder must hold back).
size_t CompletePrefixLength(std::string_view bytes);

// The GPT-2 byte-level alphabet: byte b <-> one code point (printable Latin-1 bytes
// map to themselves, the others to U+0100 + n in byte order).
uint32_t ByteToChar(uint8_t b);
// The byte of a byte-level code point, or -1 when `cp` is not in the alphabet.
int CharToByte(uint32_t cp);
// Every byte of `bytes` mapped to its byte-level char, as UTF-8.
std::string BytesToByteLevel(std::string_view bytes);

// NFC of `text` (valid UTF-8 expected; invalid bytes become U+FFFD). ASCII text is
// returned unchanged without calling ICU.
std::string Nfc(std::string_view text);

// Whether `cp` is Unicode White_Space (what \s matches in the HF split regexes).
bool IsWhitespace(uint32_t cp);

// 0..255 for a byte-fallback piece "<0xXX>" (upper- or lower-case hex), else -1.
int ParseBytePiece(std::string_view piece);

}  // namespace kvfunda::unicode
