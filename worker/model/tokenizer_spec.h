// TokenizerSpec: a plain description of one BPE tokenizer, the common form that
// every source (HF tokenizer.json, GPT-2 encoder.json + vocab.bpe, GGUF-embedded
// vocabularies) is turned into before BpeTokenizer is built from it.
//
// It mirrors the HF `tokenizers` pipeline: added tokens are split off first; each
// remaining segment goes through the normalizer steps, then the pre-tokenizer steps
// (which cut it into pieces), then the BPE model; decoding runs the decoder steps
// over the token strings. Only the step kinds listed below are supported; loaders
// refuse others by name.
//
// Ownership: values; the loaders fill one and BpeTokenizer copies what it needs.
// Threading: plain data.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kvfunda {

// One token matched in the raw text before normalization (HF "added_tokens").
struct AddedTokenSpec {
  int32_t id = -1;
  std::string content;
  bool special = false;      // skipped by Decode(ids, skip_special = true)
  bool lstrip = false;       // the match absorbs whitespace on its left
  bool rstrip = false;       // the match absorbs whitespace on its right
  bool single_word = false;  // matches only when not inside a word
};

struct NormalizerStep {
  enum class Kind {
    kNfc,      // Unicode NFC
    kPrepend,  // prepend `content` to a non-empty segment
    kReplace,  // replace every `pattern` (a literal string) with `content`
  };
  Kind kind = Kind::kNfc;
  std::string pattern;
  std::string content;
};

struct PreTokenizerStep {
  enum class Kind {
    kSplit,      // regex `pattern` (PCRE2 syntax, UTF + UCP); `behavior` says what to keep
    kByteLevel,  // optional prefix space, optional GPT-2 regex split, bytes -> GPT-2 chars
    kDigits,     // split off digit runs (each digit alone when individual_digits)
    kMetaspace,  // ' ' -> replacement, prepend per scheme, split before each replacement
  };
  enum class Behavior { kIsolated, kRemoved, kMergedWithPrevious, kMergedWithNext };
  enum class Prepend { kAlways, kFirst, kNever };
  Kind kind = Kind::kSplit;
  std::string pattern;           // kSplit: a regex; kByteLevel with use_regex: the GPT-2 regex
  bool literal = false;          // kSplit: `pattern` is a plain string, not a regex
  bool invert = false;           // kSplit: the pieces are the non-matches
  Behavior behavior = Behavior::kIsolated;
  bool add_prefix_space = false;  // kByteLevel
  bool use_regex = true;          // kByteLevel
  bool individual_digits = false;  // kDigits
  std::string replacement = "\xE2\x96\x81";  // kMetaspace: U+2581
  Prepend prepend = Prepend::kAlways;         // kMetaspace
  bool split = true;                          // kMetaspace
};

struct DecoderStep {
  enum class Kind {
    kByteLevel,     // GPT-2 chars -> bytes (tokens with other chars pass through as UTF-8)
    kReplace,       // every literal `pattern` -> `content`, per token
    kByteFallback,  // runs of <0xXX> tokens -> their bytes (U+FFFD per byte when invalid)
    kFuse,          // join all tokens into one
    kStrip,         // per token, drop up to `start` leading / `stop` trailing `content` chars
    kMetaspace,     // replacement -> ' '; dropped instead in the first token (unless never)
  };
  Kind kind = Kind::kByteLevel;
  std::string pattern;
  std::string content;
  int start = 0;
  int stop = 0;
  PreTokenizerStep::Prepend prepend = PreTokenizerStep::Prepend::kAlways;  // kMetaspace
};

struct TokenizerSpec {
  std::string source;  // file (or description) named in error messages

  // ---- model
  std::vector<std::string> pieces;  // [vocab] id -> piece as stored; "" for a hole
  // Merge mode: HF BPE by merge rank (index in `merges`), or SentencePiece BPE by
  // piece score (llama.cpp's LLAMA_VOCAB_TYPE_SPM: the adjacent pair whose
  // concatenation is the highest-scoring piece merges first).
  bool merge_by_score = false;
  std::vector<std::pair<std::string, std::string>> merges;  // [n_merges] in rank order
  std::vector<float> scores;                                // [vocab] when merge_by_score
  std::string unk_token;        // "" when none
  bool byte_fallback = false;   // unknown chars -> <0xXX> tokens
  bool fuse_unk = false;        // consecutive unknowns -> one unk token
  bool ignore_merges = false;   // a piece that is itself in the vocabulary is one token

  std::vector<AddedTokenSpec> added;
  std::vector<NormalizerStep> normalizer;
  std::vector<PreTokenizerStep> pre_tokenizer;
  std::vector<DecoderStep> decoder;  // empty: tokens joined with ' ' (as HF)

  int32_t bos_id = -1;          // -1 when the tokenizer has none
  int32_t eos_id = -1;
  bool add_bos_default = false;  // the source's post-processor adds the BOS
};

}  // namespace kvfunda
