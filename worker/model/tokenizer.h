// Tokenizer: text <-> token ids for one model.
//
// Implementations: the llama2.c tokenizer (tok512.bin) now; HF tokenizer.json BPE
// and GGUF-embedded vocabularies come with the model-runtime issue.
// Threading: immutable after loading; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kvfunda {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Token ids of `text`; a BOS id first when add_bos.
  virtual std::vector<int32_t> Encode(std::string_view text, bool add_bos) const = 0;
  // Text of `ids` (BOS/EOS and other control tokens produce no text).
  virtual std::string Decode(const std::vector<int32_t>& ids) const = 0;
  // The raw piece of one id, for inspection.
  virtual std::string Piece(int32_t id) const = 0;
  virtual int32_t vocab_size() const = 0;
  virtual int32_t bos_id() const = 0;
  virtual int32_t eos_id() const = 0;
};

}  // namespace kvfunda
