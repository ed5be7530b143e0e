// Building a LlamaModel from a real checkpoint (GGUF or HF safetensors): the
// loaders expose the file's tensors through CheckpointTensors under Hugging Face
// names (model.embed_tokens.weight, model.layers.N.self_attn.q_proj.weight, ...),
// and BuildLlamaModel() reads, checks and fuses them.
//
// Every tensor is converted to fp32 on the CPU at load. A tensor that is missing
// or has the wrong shape is a model-load error naming the file and the tensor in
// the file's own naming (blk.3.attn_k.weight for GGUF).
//
// Ownership: BuildLlamaModel copies what it reads; the CheckpointTensors may be
// destroyed afterwards. Threading: one thread per CheckpointTensors.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "coordinator/base/status.h"
#include "worker/model/hf_config.h"
#include "worker/model/llama_model.h"
#include "worker/model/model.h"
#include "worker/model/tokenizer.h"

namespace kvfunda {

// The tensors of one checkpoint file (or set of shards), by Hugging Face name.
class CheckpointTensors {
 public:
  virtual ~CheckpointTensors() = default;
  // The file's own name of the tensor `hf_name` (for messages).
  virtual std::string FileName(const std::string& hf_name) const = 0;
  // Whether the checkpoint holds `hf_name`.
  virtual bool Has(const std::string& hf_name) const = 0;
  // The tensor as contiguous fp32 on the CPU with the torch shape `shape`
  // (matrices [out, in]). Errors: model-load "<file>: tensor T is missing",
  // "<file>: tensor T has shape [..], expected [..]", or an unsupported dtype.
  virtual Result<at::Tensor> Read(const std::string& hf_name,
                                  const std::vector<int64_t>& shape) = 0;
};

// The hyperparameters of `ckpt` as a ModelConfig (architecture = family name,
// tied_embeddings from the config); the caller adds the ids, dtype and template.
ModelConfig ModelConfigFromCheckpoint(const CheckpointConfig& ckpt);

// Reads every weight of a Llama-family / Qwen2 decoder and builds the model.
// `config` must come from ModelConfigFromCheckpoint(ckpt) (plus extras);
// `rope_style` is the layout of the stored q/k rows (see llama_model.h). The
// classifier is tied when ckpt.tie_word_embeddings or lm_head.weight is absent;
// q/k/v biases are read when ckpt.attention_bias, the o_proj bias when present.
// Errors: model-load naming `path` (tensor problems as above; a tokenizer with
// more tokens than the model's vocabulary); out-of-memory.
Result<std::unique_ptr<LlamaModel>> BuildLlamaModel(const CheckpointConfig& ckpt,
                                                    ModelConfig config, RopeStyle rope_style,
                                                    CheckpointTensors& tensors,
                                                    std::unique_ptr<Tokenizer> tokenizer,
                                                    const std::string& path);

// "[2, 3]".
std::string ShapeString(const std::vector<int64_t>& shape);

}  // namespace kvfunda
