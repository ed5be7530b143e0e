// Readers that turn each tokenizer source into a TokenizerSpec: HF tokenizer.json
// (plus the tokenizer_config.json beside it, for BOS/EOS), GPT-2's encoder.json +
// vocab.bpe, and a GGUF file's tokenizer.ggml.* vocabulary. BpeTokenizer is then
// built from the spec (see LoadHfTokenizer and friends in bpe_tokenizer.h).
//
// Stateless functions. Threading: thread-safe.
#pragma once

#include <string>

#include "coordinator/base/status.h"
#include "worker/model/bpe_tokenizer.h"
#include "worker/model/tokenizer_spec.h"

namespace kvfunda {

// Parses an HF tokenizer.json whose model is BPE. Supported: normalizers NFC,
// Prepend, Replace (string pattern), Sequence; pre-tokenizers Split (Isolated,
// Removed, MergedWithPrevious, MergedWithNext), ByteLevel, Digits, Metaspace,
// Sequence; decoders ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace,
// Sequence; post-processor TemplateProcessing (its leading special token is the
// BOS), ByteLevel, Sequence. Errors: model-load naming `path` and the offending
// key (unreadable file, bad JSON, missing or non-BPE model, bad vocab or merges,
// unsupported component type).
Result<TokenizerSpec> ReadHfTokenizerSpec(const std::string& path);

// Parses GPT-2's encoder.json (piece -> id) and vocab.bpe ("#version" line, then one
// "a b" merge per line). Errors: model-load naming the file.
Result<TokenizerSpec> ReadGpt2Spec(const std::string& encoder_json_path,
                                   const std::string& vocab_bpe_path);

// The spec of a GGUF vocabulary (see MakeGgufTokenizer). "qwen2" also gets the NFC
// normalizer of Qwen's tokenizer.json. Errors: model-load naming vocab.source.
Result<TokenizerSpec> GgufTokenizerSpec(const GgufVocab& vocab);

}  // namespace kvfunda
