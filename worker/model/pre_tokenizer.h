// PreTokenizer: the text half of a BPE tokenizer, between the added-token split
// and the BPE model. Normalize() runs the normalizer steps over one segment;
// Split() runs the pre-tokenizer steps and returns the pieces the model encodes
// one by one (byte-level pieces already mapped to GPT-2 chars).
//
// Ownership: owns its compiled regexes. Threading: immutable after Create();
// thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "coordinator/base/status.h"
#include "worker/model/tokenizer_spec.h"
#include "worker/model/unicode_split.h"

namespace kvfunda {

class PreTokenizer {
 public:
  // Compiles the regexes of `pre_tokenizer`. Errors: invalid-argument for a regex
  // PCRE2 cannot compile.
  static Result<std::unique_ptr<PreTokenizer>> Create(std::vector<NormalizerStep> normalizer,
                                                      std::vector<PreTokenizerStep> pre_tokenizer);

  // `segment` after every normalizer step (HF order).
  std::string Normalize(std::string_view segment) const;

  // Appends the pieces of `normalized` to *pieces (empty pieces are dropped).
  // `at_start`: the segment starts at offset 0 of the input (Metaspace's "first").
  // Errors: internal when a regex match fails.
  Status Split(std::string normalized, bool at_start, std::vector<std::string>* pieces) const;

  // Whether a ByteLevel step runs (the pieces are GPT-2 chars, not raw text).
  bool byte_level() const { return byte_level_; }

 private:
  PreTokenizer() = default;
  Status ApplyStep(size_t step, const std::string& piece, bool first_piece,
                   std::vector<std::string>* out) const;

  std::vector<NormalizerStep> normalizer_;
  std::vector<PreTokenizerStep> steps_;
  std::vector<std::unique_ptr<RegexSplitter>> regexes_;  // [steps_] or null
  bool byte_level_ = false;
};

}  // namespace kvfunda
