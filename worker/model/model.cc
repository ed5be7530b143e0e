// LoadModel: picks the loader for a model path and sets the intra-op thread count.
#include "worker/model/model.h"

#include <fstream>
#include <string_view>
#include <thread>

#include <ATen/Parallel.h>

#include "worker/model/gguf_model_loader.h"
#include "worker/model/hf_model_loader.h"
#include "worker/model/llama2c_loader.h"
#include "worker/model/llama2c_tokenizer.h"
#include "worker/model/llama_model.h"

namespace kvfunda {
namespace {

// A .gguf name, or a file that starts with the GGUF magic.
bool IsGgufPath(const std::string& path) {
  const std::string_view ext = ".gguf";
  if (path.size() >= ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0) {
    return true;
  }
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::string_view(magic, 4) == "GGUF";
}

}  // namespace

Result<std::unique_ptr<Model>> LoadModel(const std::string& path,
                                         const ModelLoadOptions& options) {
  if (options.num_threads < 0) {
    return Status::InvalidArgument("num_threads " + std::to_string(options.num_threads) +
                                   " is negative");
  }
  const unsigned cores = std::thread::hardware_concurrency();
  at::set_num_threads(options.num_threads > 0 ? options.num_threads
                                              : static_cast<int>(cores > 0 ? cores : 1));
  if (IsGgufPath(path)) return LoadGgufModel(path, options);
  if (IsHfModelFolder(path)) return LoadHfModel(path, options);
  KVF_ASSIGN_OR_RETURN(Llama2cCheckpoint checkpoint, LoadLlama2cCheckpoint(path));
  KVF_ASSIGN_OR_RETURN(std::string tokenizer_path, FindLlama2cTokenizer(path));
  KVF_ASSIGN_OR_RETURN(std::unique_ptr<Llama2cTokenizer> tokenizer,
                       Llama2cTokenizer::Load(tokenizer_path));
  KVF_ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> model,
                       LlamaModel::FromLlama2c(std::move(checkpoint), std::move(tokenizer), path));
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace kvfunda
