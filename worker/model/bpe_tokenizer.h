// BpeTokenizer: the Tokenizer of real checkpoints, a BPE vocabulary run through the
// HF `tokenizers` pipeline (see tokenizer_spec.h):
//   1. added tokens (special or not) are cut out of the raw text first, leftmost-
//      longest match; each is its own id;
//   2. every other segment is normalized (NFC; Prepend/Replace for SentencePiece-
//      style vocabularies) and pre-tokenized (regex split, ByteLevel, Digits,
//      Metaspace) into pieces;
//   3. each piece is BPE-encoded: its chars are symbols (unknown chars become
//      <0xXX> byte tokens with byte_fallback, else the unk token), then adjacent
//      symbols merge lowest merge rank first (leftmost on ties), as HF's BPE model;
//      or, for GGUF "llama" vocabularies, highest piece score first, as llama.cpp's
//      SentencePiece tokenizer.
// Decode() runs the decoder steps (ByteLevel, Metaspace, Replace + ByteFallback +
// Fuse + Strip) over the token strings; bytes that are not valid UTF-8 become
// U+FFFD as in HF, so decoding a whole id list gives back the encoded text (up to
// normalization). StreamDecoder emits text token by token, holding back a UTF-8
// sequence split across tokens.
//
// Loaders: LoadHfTokenizer (tokenizer.json), LoadGpt2Tokenizer (encoder.json +
// vocab.bpe), MakeGgufTokenizer (the tokenizer.ggml.* metadata of a GGUF file).
// Threading: immutable after construction; Encode/Decode are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "coordinator/base/status.h"
#include "worker/model/pre_tokenizer.h"
#include "worker/model/tokenizer.h"
#include "worker/model/tokenizer_spec.h"

namespace kvfunda {

// The vocabulary of a GGUF file (its tokenizer.ggml.* keys), as the GGUF loader
// reads it. Token types follow llama.cpp: 1 normal, 2 unknown, 3 control,
// 4 user-defined, 5 unused, 6 byte.
struct GgufVocab {
  std::string source;               // the GGUF path, for error messages
  std::string model;                // tokenizer.ggml.model: "gpt2" or "llama"
  std::string pre;                  // tokenizer.ggml.pre; "" = "default"
  std::vector<std::string> tokens;  // [vocab] tokenizer.ggml.tokens
  std::vector<float> scores;        // [vocab] tokenizer.ggml.scores; required for "llama"
  std::vector<int32_t> token_types;  // [vocab] tokenizer.ggml.token_type; empty = all normal
  std::vector<std::string> merges;  // [n_merges] "a b"; required for "gpt2"
  int32_t bos_id = -1;              // tokenizer.ggml.bos_token_id; -1 when absent
  int32_t eos_id = -1;              // tokenizer.ggml.eos_token_id
  int32_t unk_id = -1;              // tokenizer.ggml.unknown_token_id
  std::optional<bool> add_bos;      // tokenizer.ggml.add_bos_token
  std::optional<bool> add_space_prefix;  // tokenizer.ggml.add_space_prefix ("llama")
};

class BpeTokenizer final : public Tokenizer {
 public:
  // Builds the tokenizer. Errors: model-load naming spec.source (empty vocabulary,
  // a merge whose parts or result are not in the vocabulary, a bad regex, ids out
  // of range, scores missing in score mode).
  static Result<std::unique_ptr<BpeTokenizer>> Create(const TokenizerSpec& spec);
  // The concrete-typed forms of LoadHfTokenizer, LoadGpt2Tokenizer and
  // MakeGgufTokenizer below (same contracts).
  static Result<std::unique_ptr<BpeTokenizer>> FromHfJson(const std::string& path);
  static Result<std::unique_ptr<BpeTokenizer>> FromGpt2Files(const std::string& encoder_json_path,
                                                             const std::string& vocab_bpe_path);
  static Result<std::unique_ptr<BpeTokenizer>> FromGguf(const GgufVocab& vocab);

  // Token ids of `text` (no post-processor template: only the BOS when add_bos and
  // the tokenizer has one).
  std::vector<int32_t> Encode(std::string_view text, bool add_bos) const override;
  // Decode(ids, /*skip_special=*/true): special tokens produce no text.
  std::string Decode(const std::vector<int32_t>& ids) const override;
  // HF decode(ids, skip_special_tokens). Ids out of range are skipped.
  std::string Decode(const std::vector<int32_t>& ids, bool skip_special) const;
  // The piece as stored in the vocabulary ("Ġthe", "▁the", "<0x0A>", "<|im_end|>");
  // "" for an id out of range.
  std::string Piece(int32_t id) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(pieces_.size()); }
  int32_t bos_id() const override { return bos_id_; }
  int32_t eos_id() const override { return eos_id_; }

  // Whether the source's post-processor prepends the BOS (what add_bos should be
  // for a raw prompt).
  bool add_bos_default() const { return add_bos_default_; }
  bool is_special(int32_t id) const;
  // The id of a piece or added token, or -1.
  int32_t TokenId(std::string_view piece) const;

  // The raw bytes token `id` contributes to decoded text; `first`: it is the first
  // token of the text (SentencePiece decoders drop its leading space). Special
  // tokens give "" when skip_special. May be an incomplete UTF-8 sequence.
  std::string TokenBytes(int32_t id, bool first, bool skip_special) const;

 private:
  struct MergeEntry {
    int32_t rank;
    int32_t merged_id;
  };
  struct AddedMatch {
    size_t begin, end;  // bytes of the input, whitespace absorbed by lstrip/rstrip included
    int32_t id;
  };

  BpeTokenizer() = default;
  // The added-token matches of `text`, left to right.
  std::vector<AddedMatch> FindAddedTokens(std::string_view text) const;
  // Encodes one pre-tokenized piece, appending to *out.
  void EncodePiece(const std::string& piece, std::vector<int32_t>* out) const;
  void MergeByRank(std::vector<int32_t>* symbols) const;
  void EncodeByScore(const std::string& piece, std::vector<int32_t>* out) const;
  // The decoder steps over token strings (HF decode_chain), joined.
  std::string RunDecoder(std::vector<std::string> tokens, bool lossy) const;

  TokenizerSpec spec_;  // normalizer / pre-tokenizer / decoder steps and flags
  std::unique_ptr<PreTokenizer> pre_;
  std::vector<std::string> pieces_;                  // [vocab] id -> piece
  std::vector<bool> special_;                        // [vocab] special added token
  std::unordered_map<std::string, int32_t> ids_;     // piece or added content -> id
  std::unordered_map<uint32_t, int32_t> char_ids_;   // single code point piece -> id
  std::unordered_map<uint64_t, MergeEntry> merges_;  // (left id << 32 | right id) -> merge
  int32_t byte_ids_[256];                            // <0xXX> token per byte, or -1
  int32_t unk_id_ = -1;
  std::vector<AddedTokenSpec> added_;                // sorted by content
  bool added_first_byte_[256] = {};                  // some added token starts with this byte
  int32_t bos_id_ = -1;
  int32_t eos_id_ = -1;
  bool add_bos_default_ = false;
};

// Emits decoded text token by token: Push() returns the text that is complete so
// far, holding back the bytes of a UTF-8 sequence that the next token may finish;
// Finish() flushes (an incomplete tail becomes U+FFFD). Concatenating every Push()
// and Finish() equals tokenizer.Decode(all ids, skip_special) for byte-level and
// SentencePiece-style decoders.
// Ownership: borrows the tokenizer, which must outlive it. Threading: one thread.
class StreamDecoder {
 public:
  StreamDecoder(const BpeTokenizer& tokenizer, bool skip_special)
      : tokenizer_(tokenizer), skip_special_(skip_special) {}
  std::string Push(int32_t id);
  std::string Finish();

 private:
  const BpeTokenizer& tokenizer_;
  bool skip_special_;
  bool first_ = true;
  std::string pending_;  // bytes not yet returned
};

// Reads an HF tokenizer.json (BPE model only). BOS: the leading special token of a
// TemplateProcessing post-processor, else bos_token of the tokenizer_config.json
// beside it; EOS: eos_token of that tokenizer_config.json (-1 when absent).
// Errors: model-load naming the file (missing, not JSON, no/unknown model type,
// bad merges, unsupported normalizer / pre-tokenizer / decoder type).
Result<std::unique_ptr<Tokenizer>> LoadHfTokenizer(const std::string& path);

// Reads GPT-2's encoder.json + vocab.bpe (ByteLevel with the GPT-2 regex;
// <|endoftext|> is BOS, EOS and a special added token). Errors: model-load naming
// the file.
Result<std::unique_ptr<Tokenizer>> LoadGpt2Tokenizer(const std::string& encoder_json_path,
                                                     const std::string& vocab_bpe_path);

// Builds the tokenizer of a GGUF vocabulary: "gpt2" (byte-level BPE by merges; the
// split regex chosen by `pre`: default/gpt-2, llama-bpe/llama3, qwen2, smollm) or
// "llama" (SentencePiece BPE by scores with byte fallback). Control and user-defined
// tokens are matched as added tokens (control ones are special).
// Errors: model-load naming vocab.source (unknown model or pre type, sizes that
// disagree, missing scores or merges).
Result<std::unique_ptr<Tokenizer>> MakeGgufTokenizer(const GgufVocab& vocab);

}  // namespace kvfunda
