// `kvfunda generate`, `kvfunda tokenize`, `kvfunda model-info`: run one model by hand.
//   generate   --model PATH --prompt TEXT [--chat] [--max-new-tokens N]
//              [--temperature T --top-p P --seed S]: prints the continuation (greedy by
//              default), stopping at an EOS (or BOS) id or after N tokens.
//   tokenize   --model PATH --text TEXT [--json]: ids and pieces; PATH may be a model or
//              a bare tokenizer.json.
//   model-info PATH: architecture, shape, context, dtype, KV bytes per token.
// Threading: runs on the main thread; the model uses all cores unless --threads.
#include <algorithm>
#include <cstdint>
#include <iostream>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "coordinator/cli/subcommand.h"
#include "worker/model/bpe_tokenizer.h"
#include "worker/model/chat_template.h"
#include "worker/model/model.h"
#include "worker/tasks/token_sampler.h"

namespace kvfunda::cli {
namespace {

struct GenerateFlags {
  std::string model;
  std::string prompt;
  bool chat = false;
  std::string system;
  int max_new_tokens = 64;
  double temperature = 0.0;
  double top_p = 1.0;
  uint64_t seed = 0;
  int threads = 0;
};

struct TokenizeFlags {
  std::string model;
  std::string text;
  bool json = false;
  bool add_bos = false;
};

struct ModelInfoFlags {
  std::string path;
  bool json = false;
};

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

int Fail(const std::string& command, const Status& status) {
  std::cerr << "kvfunda " << command << ": " << status.ToString() << "\n";
  return 1;
}

// Row `logits` ([vocab] or [1, vocab] fp32) as doubles for the sampler.
std::vector<double> LogitsRow(const at::Tensor& logits) {
  const at::Tensor host = logits.reshape({-1}).to(at::kCPU, at::kDouble).contiguous();
  const double* data = host.data_ptr<double>();
  return std::vector<double>(data, data + host.numel());
}

int RunGenerate(const GenerateFlags& f) {
  if (f.max_new_tokens < 0) return Fail("generate", Status::BadInput("--max-new-tokens must be >= 0"));
  if (f.temperature < 0 || f.top_p <= 0 || f.top_p > 1) {
    return Fail("generate", Status::BadInput("want --temperature >= 0 and 0 < --top-p <= 1"));
  }
  ModelLoadOptions options;
  options.num_threads = f.threads;
  Result<std::unique_ptr<Model>> loaded = LoadModel(f.model, options);
  if (!loaded.ok()) return Fail("generate", loaded.status());
  Model& model = **loaded;
  const ModelConfig& config = model.config();
  const Tokenizer& tokenizer = model.tokenizer();

  std::string text = f.prompt;
  // A raw prompt starts with the BOS when the tokenizer's source says so (HF
  // post-processor, GGUF add_bos_token: false for SmolLM2); llama2.c always has one.
  const auto* bpe = dynamic_cast<const BpeTokenizer*>(&tokenizer);
  bool add_bos = bpe != nullptr ? bpe->add_bos_default() : config.bos_id >= 0;
  if (f.chat) {
    ChatStyle style = DetectChatStyle(config.chat_template, config.architecture, &tokenizer);
    std::vector<ChatMessage> messages;
    if (!f.system.empty()) messages.push_back({"system", f.system});
    messages.push_back({"user", f.prompt});
    Result<std::string> formatted = FormatChat(style, messages, /*add_generation_prompt=*/true);
    if (!formatted.ok()) return Fail("generate", formatted.status());
    text = *formatted;
    // The chat formats write their own BOS where the model wants one.
    if (style.format != ChatFormat::kRaw) add_bos = false;
  }
  std::vector<int32_t> tokens = tokenizer.Encode(text, add_bos);
  if (tokens.empty()) return Fail("generate", Status::BadInput("the prompt encodes to no tokens"));
  if (static_cast<int>(tokens.size()) + f.max_new_tokens > config.max_context) {
    return Fail("generate", Status::BadInput("prompt (" + std::to_string(tokens.size()) + " tokens) + " +
                                             std::to_string(f.max_new_tokens) + " new tokens exceeds the context of " +
                                             std::to_string(config.max_context)));
  }
  std::vector<int32_t> eos = config.eos_ids;
  if (eos.empty() && tokenizer.eos_id() >= 0) eos.push_back(tokenizer.eos_id());
  // A generated BOS starts a new document (llama2.c's run.c stops there too).
  if (config.bos_id >= 0) eos.push_back(config.bos_id);

  const TokenSampler sampler(f.temperature, f.top_p);
  std::mt19937_64 rng(f.seed);
  Result<PrefillOutput> prefill = model.Prefill(tokens, PrefillStatsRequest{});
  if (!prefill.ok()) return Fail("generate", prefill.status());
  KvCache cache = std::move(prefill->cache);
  std::vector<double> logits = LogitsRow(prefill->last_logits);
  std::vector<int32_t> generated;
  for (int i = 0; i < f.max_new_tokens; ++i) {
    const int32_t next = sampler.Choose(logits, rng);
    if (std::find(eos.begin(), eos.end(), next) != eos.end()) break;
    generated.push_back(next);
    if (i + 1 == f.max_new_tokens) break;
    KvCache* caches[] = {&cache};
    const int32_t step_tokens[] = {next};
    Result<at::Tensor> step = model.DecodeStep(caches, step_tokens);
    if (!step.ok()) return Fail("generate", step.status());
    logits = LogitsRow(*step);
  }
  // The prompt as given, then the continuation decoded as a whole (so multi-token
  // characters and SentencePiece spaces come out right).
  std::vector<int32_t> all = tokens;
  all.insert(all.end(), generated.begin(), generated.end());
  const std::string prompt_text = tokenizer.Decode(tokens);
  const std::string full_text = tokenizer.Decode(all);
  const std::string continuation = full_text.compare(0, prompt_text.size(), prompt_text) == 0
                                       ? full_text.substr(prompt_text.size())
                                       : tokenizer.Decode(generated);
  std::cout << (f.chat ? "" : f.prompt) << continuation << "\n";
  return 0;
}

int RunTokenize(const TokenizeFlags& f) {
  std::unique_ptr<Tokenizer> own;
  std::unique_ptr<Model> model;
  const Tokenizer* tokenizer = nullptr;
  if (EndsWith(f.model, ".json")) {
    Result<std::unique_ptr<Tokenizer>> loaded = LoadHfTokenizer(f.model);
    if (!loaded.ok()) return Fail("tokenize", loaded.status());
    own = std::move(*loaded);
    tokenizer = own.get();
  } else {
    ModelLoadOptions options;
    options.num_threads = 1;
    Result<std::unique_ptr<Model>> loaded = LoadModel(f.model, options);
    if (!loaded.ok()) return Fail("tokenize", loaded.status());
    model = std::move(*loaded);
    tokenizer = &model->tokenizer();
  }
  const std::vector<int32_t> ids = tokenizer->Encode(f.text, f.add_bos);
  if (f.json) {
    nlohmann::json out = {{"ids", ids}, {"pieces", nlohmann::json::array()}};
    // Pieces may hold bytes that are not UTF-8 on their own: replace them in JSON.
    for (int32_t id : ids) out["pieces"].push_back(tokenizer->Piece(id));
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    for (int32_t id : ids) std::cout << id << "\t" << tokenizer->Piece(id) << "\n";
    std::cout << ids.size() << " tokens\n";
  }
  return 0;
}

int RunModelInfo(const ModelInfoFlags& f) {
  ModelLoadOptions options;
  options.num_threads = 1;
  Result<std::unique_ptr<Model>> loaded = LoadModel(f.path, options);
  if (!loaded.ok()) return Fail("model-info", loaded.status());
  const ModelConfig& c = (*loaded)->config();
  // The runtime computes and caches K and V in fp32 on CPU.
  const int64_t kv_bytes_per_token = 2LL * c.n_layers * c.n_kv_heads * c.head_dim * 4;
  const std::string chat(ChatFormatName(DetectChatStyle(c.chat_template, c.architecture, &(*loaded)->tokenizer()).format));
  if (f.json) {
    nlohmann::json out = {{"architecture", c.architecture}, {"layers", c.n_layers}, {"heads", c.n_heads},
                          {"kv_heads", c.n_kv_heads}, {"head_dim", c.head_dim}, {"hidden", c.hidden},
                          {"context", c.max_context}, {"vocab", c.vocab_size}, {"dtype", "f32"},
                          {"weights", c.weight_dtype}, {"kv_bytes_per_token", kv_bytes_per_token},
                          {"chat_format", chat}};
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << "architecture        " << c.architecture << "\n"
            << "layers              " << c.n_layers << "\n"
            << "heads               " << c.n_heads << "\n"
            << "kv heads            " << c.n_kv_heads << "\n"
            << "head dim            " << c.head_dim << "\n"
            << "hidden              " << c.hidden << "\n"
            << "context             " << c.max_context << "\n"
            << "vocab               " << c.vocab_size << "\n"
            << "dtype               f32\n"
            << "stored weights      " << (c.weight_dtype.empty() ? "float32" : c.weight_dtype) << "\n"
            << "kv bytes per token  " << kv_bytes_per_token << "\n"
            << "chat format         " << chat << "\n";
  return 0;
}

}  // namespace

void AddModelCommands(CLI::App& root, CommandTable& table) {
  auto gen = std::make_shared<GenerateFlags>();
  CLI::App* g = root.add_subcommand("generate", "run a model on a prompt and print the continuation");
  g->add_option("--model", gen->model, "model path (llama2.c .bin, GGUF file or HF folder)")->required();
  g->add_option("--prompt", gen->prompt, "the prompt text")->required();
  g->add_flag("--chat", gen->chat, "format the prompt as one user turn with the model's chat template");
  g->add_option("--system", gen->system, "system message (with --chat)");
  g->add_option("--max-new-tokens", gen->max_new_tokens, "most tokens to generate (default 64)");
  g->add_option("--temperature", gen->temperature, "sampling temperature; 0 = greedy (default)");
  g->add_option("--top-p", gen->top_p, "nucleus sampling mass (default 1)");
  g->add_option("--seed", gen->seed, "sampling seed (default 0)");
  g->add_option("--threads", gen->threads, "CPU threads (default: all cores)");
  table[g] = [gen] { return RunGenerate(*gen); };

  auto tok = std::make_shared<TokenizeFlags>();
  CLI::App* t = root.add_subcommand("tokenize", "print the token ids and pieces of a text");
  t->add_option("--model", tok->model, "model path, or a tokenizer.json")->required();
  t->add_option("--text", tok->text, "the text")->required();
  t->add_flag("--json", tok->json, "print {\"ids\": [...], \"pieces\": [...]}");
  t->add_flag("--bos", tok->add_bos, "prepend the BOS token");
  table[t] = [tok] { return RunTokenize(*tok); };

  auto info = std::make_shared<ModelInfoFlags>();
  CLI::App* m = root.add_subcommand("model-info", "print a model's architecture, shape and KV size");
  m->add_option("path", info->path, "model path")->required();
  m->add_flag("--json", info->json, "print JSON");
  table[m] = [info] { return RunModelInfo(*info); };
}

}  // namespace kvfunda::cli
