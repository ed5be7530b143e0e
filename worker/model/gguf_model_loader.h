// Loading a Model from a GGUF file (llama.cpp's format): architectures "llama"
// (Llama 2/3, Mistral, SmolLM/SmolLM2) and "qwen2". Every tensor is dequantised to
// fp32 at load; the tokenizer is built from the embedded tokenizer.ggml.*
// vocabulary; tokenizer.chat_template is kept raw in ModelConfig::chat_template.
//
// RoPE: llama.cpp's converter permutes the q/k rows of "llama" files so that
// ggml's normal mode (interleaved pairs) is right for them; "qwen2" files keep HF
// order and use the NEOX mode (rotate half) — as llama_model_rope_type() says.
//
// Tensor names: token_embd, output_norm, output (absent: tied), blk.N.{attn_norm,
// attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down}
// .weight, blk.N.attn_{q,k,v}.bias (qwen2).
// Threading: free functions; thread-compatible.
#pragma once

#include <memory>
#include <string>

#include "coordinator/base/status.h"
#include "worker/model/bpe_tokenizer.h"
#include "worker/model/gguf_file.h"
#include "worker/model/model.h"

namespace kvfunda {

// The GGUF name of a Hugging Face tensor name (model.layers.3.self_attn.k_proj.weight
// -> blk.3.attn_k.weight); the input unchanged when it has no GGUF counterpart.
std::string GgufTensorName(const std::string& hf_name);

// The embedded vocabulary (tokenizer.ggml.model / tokens / scores / token_type /
// merges / pre / bos,eos,unknown_token_id / add_bos_token / add_space_prefix).
// Errors: model-load naming the file (no tokenizer.ggml.model or tokens, a key
// of the wrong type).
Result<GgufVocab> ReadGgufVocab(const GgufFile& gguf);

// Loads the model in the GGUF file at `path`. options.num_threads (0: all cores)
// threads dequantise. Errors: model-load naming the file: corrupt file,
// unsupported architecture (by name) or quant type, a missing tensor or one of
// the wrong shape (by name), a bad vocabulary; out-of-memory.
Result<std::unique_ptr<Model>> LoadGgufModel(const std::string& path,
                                             const ModelLoadOptions& options);

}  // namespace kvfunda
