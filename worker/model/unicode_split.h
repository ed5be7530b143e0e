// RegexSplitter: finds the matches of one pre-tokenizer regex in UTF-8 text, with
// PCRE2 in UTF + UCP mode (so \p{L}, \p{N}, \s and (?i) follow Unicode, as the
// Oniguruma engine of HF tokenizers does), JIT-compiled when available. Also the
// split patterns of the known byte-level families.
//
// Ownership: owns the compiled pattern. Threading: immutable after Compile();
// FindMatches() is thread-safe (each call uses its own match data).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "coordinator/base/status.h"

namespace kvfunda {

// GPT-2's split (also HF ByteLevel's use_regex pattern).
inline constexpr std::string_view kGpt2SplitPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// Llama-3's split (digits in runs of at most three).
inline constexpr std::string_view kLlama3SplitPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen2 / Qwen2.5 / Qwen3's split (each digit alone).
inline constexpr std::string_view kQwen2SplitPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

class RegexSplitter {
 public:
  // Compiles `pattern` (a regex, or a plain string when `literal`).
  // Errors: invalid-argument with PCRE2's message and the offset in the pattern.
  static Result<std::unique_ptr<RegexSplitter>> Compile(std::string_view pattern, bool literal);
  ~RegexSplitter();
  RegexSplitter(const RegexSplitter&) = delete;
  RegexSplitter& operator=(const RegexSplitter&) = delete;

  // Appends [begin, end) byte offsets of every non-empty, non-overlapping match in
  // `text`, left to right. Invalid UTF-8 in `text` is tolerated (never matched
  // across). Errors: internal when PCRE2 fails (e.g. its match limit).
  Status FindMatches(std::string_view text, std::vector<std::pair<size_t, size_t>>* out) const;

  const std::string& pattern() const { return pattern_; }

 private:
  RegexSplitter() = default;
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8*
  bool jit_ = false;
};

}  // namespace kvfunda
