// Loading a Model from a Hugging Face model folder: config.json (hf_config.h),
// model.safetensors or model.safetensors.index.json + shards (F32/F16/BF16,
// converted to fp32 at load), tokenizer.json (LoadHfTokenizer), and optionally
// tokenizer_config.json (its chat_template, kept raw in ModelConfig) and
// generation_config.json (its eos_token_id joins the EOS set).
//
// HF checkpoints store q/k rows in their natural order and transformers rotates
// halves (rotate_half), so the model uses RopeStyle::kRotateHalf.
// Threading: free functions; thread-compatible.
#pragma once

#include <memory>
#include <string>

#include "coordinator/base/status.h"
#include "worker/model/model.h"

namespace kvfunda {

// Whether `path` is a folder holding config.json.
bool IsHfModelFolder(const std::string& path);

// Loads the model in the HF folder `folder`. Errors: model-load naming the file:
// missing or bad config.json / tokenizer.json / checkpoint, unsupported
// architecture (by name), a missing tensor or one of the wrong shape (by name),
// an unsupported dtype; out-of-memory.
Result<std::unique_ptr<Model>> LoadHfModel(const std::string& folder,
                                           const ModelLoadOptions& options);

}  // namespace kvfunda
