// LoadModel: picks the loader for a model path and sets the intra-op thread count.
#include "worker/model/model.h"

#include <thread>

#include <ATen/Parallel.h>

#include "worker/model/llama2c_loader.h"
#include "worker/model/llama2c_tokenizer.h"
#include "worker/model/llama_model.h"

namespace kvfunda {

Result<std::unique_ptr<Model>> LoadModel(const std::string& path,
                                         const ModelLoadOptions& options) {
  if (options.num_threads < 0) {
    return Status::InvalidArgument("num_threads " + std::to_string(options.num_threads) +
                                   " is negative");
  }
  // Today every model is a llama2.c checkpoint; GGUF and HF folders come later.
  KVF_ASSIGN_OR_RETURN(Llama2cCheckpoint checkpoint, LoadLlama2cCheckpoint(path));
  KVF_ASSIGN_OR_RETURN(std::string tokenizer_path, FindLlama2cTokenizer(path));
  KVF_ASSIGN_OR_RETURN(std::unique_ptr<Llama2cTokenizer> tokenizer,
                       Llama2cTokenizer::Load(tokenizer_path));
  KVF_ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> model,
                       LlamaModel::FromLlama2c(std::move(checkpoint), std::move(tokenizer), path));
  const unsigned cores = std::thread::hardware_concurrency();
  at::set_num_threads(options.num_threads > 0 ? options.num_threads
                                              : static_cast<int>(cores > 0 ? cores : 1));
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace kvfunda
