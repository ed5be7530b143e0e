// Llama2cTokenizer: the llama2.c tokenizer (tokenizer.bin / tok512.bin), a
// SentencePiece-style BPE vocabulary with scores and byte fallback.
//
// File: int32 max_token_length, then per token: float score, int32 len, len bytes
// (the piece). Ids 0, 1, 2 are <unk>, BOS, EOS; pieces "<0xXX>" are raw bytes.
// Encode() follows llama2.c run.c's encode(): optional BOS, a dummy-prefix " "
// token when the text is non-empty, one token per UTF-8 codepoint (byte fallback
// to the <0xXX> tokens when the codepoint is not a piece), then repeatedly merge
// the adjacent pair whose concatenation is the piece with the highest score (the
// leftmost pair on ties) until no pair merges. Decode() follows run.c's decode():
// a piece right after BOS loses its leading space, <0xXX> pieces become their
// byte, and control tokens (<unk>, BOS, EOS) produce no text.
//
// Threading: immutable after Load(); thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "coordinator/base/status.h"
#include "worker/model/tokenizer.h"

namespace kvfunda {

class Llama2cTokenizer final : public Tokenizer {
 public:
  // Reads every token of the file at `path` (the vocabulary size is the token count).
  // Errors: model-load naming the file (missing, truncated entry, negative or huge
  // length, fewer than 3 tokens).
  static Result<std::unique_ptr<Llama2cTokenizer>> Load(const std::string& path);

  std::vector<int32_t> Encode(std::string_view text, bool add_bos) const override;
  std::string Decode(const std::vector<int32_t>& ids) const override;
  // The piece as stored ("<0x0A>" for a byte token); "" for an id out of range.
  std::string Piece(int32_t id) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(pieces_.size()); }
  int32_t bos_id() const override { return kBos; }
  int32_t eos_id() const override { return kEos; }

  float score(int32_t id) const { return scores_[id]; }

 private:
  static constexpr int32_t kUnk = 0;
  static constexpr int32_t kBos = 1;
  static constexpr int32_t kEos = 2;

  Llama2cTokenizer() = default;
  // Id of `piece`, or -1.
  int32_t Lookup(std::string_view piece) const;

  std::vector<std::string> pieces_;  // [vocab] as stored
  std::vector<std::string> text_;    // [vocab] decoded text: byte tokens as their byte
  std::vector<float> scores_;        // [vocab] merge priority (higher merges first)
  std::unordered_map<std::string, int32_t> ids_;  // piece -> lowest id with that piece
  int32_t byte_ids_[256];            // byte -> its <0xXX> token, or kUnk when absent
  int32_t space_id_ = -1;            // the " " piece (dummy prefix), -1 when absent
};

// The tokenizer file beside a llama2.c checkpoint: tokenizer.bin when present in
// the checkpoint's folder, else the only tok*.bin there.
// Errors: model-load when there is none, or several and no tokenizer.bin.
Result<std::string> FindLlama2cTokenizer(const std::string& model_path);

}  // namespace kvfunda
