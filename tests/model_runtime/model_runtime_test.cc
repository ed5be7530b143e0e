// LoadModel on real checkpoint formats, with tiny random Llama / Qwen2 models the
// test writes itself (tiny_checkpoint.h): the HF layout (rotate-half RoPE) and the
// GGUF layout (q/k permuted by llama.cpp's converter, interleaved RoPE) of the
// same weights give the same logits; tied embeddings; Qwen2 biases; llama3 RoPE
// scaling (config.json rope_scaling and GGUF rope_freqs); load errors naming the
// tensor or the architecture.
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "test_support.h"
#include "tiny_checkpoint.h"
#include "worker/model/hf_config.h"
#include "worker/model/model.h"

namespace kvfunda {
namespace {

using testing::GgufOptions;
using testing::TensorMap;
using testing::TinyDims;

// The logits after prefill of `tokens` followed by two decode steps, concatenated.
std::vector<float> RunLogits(Model& model, const std::vector<int32_t>& tokens) {
  auto pre = model.Prefill(tokens, PrefillStatsRequest{});
  EXPECT_TRUE(pre.ok()) << pre.status().ToString();
  if (!pre.ok()) return {};
  std::vector<float> out;
  auto append = [&out](const at::Tensor& t) {
    const at::Tensor c = t.contiguous();
    out.insert(out.end(), c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  };
  append(pre->last_logits);
  KvCache* cache = &pre->cache;
  for (int32_t next : {5, 9}) {
    auto step = model.DecodeStep(std::span<KvCache* const>(&cache, 1), std::span<const int32_t>(&next, 1));
    EXPECT_TRUE(step.ok()) << step.status().ToString();
    if (!step.ok()) return {};
    append(*step);
  }
  return out;
}

double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = a.size() == b.size() ? 0.0 : INFINITY;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::fabs(double{a[i]} - b[i]));
  return m;
}

double MaxAbs(const std::vector<float>& a) {
  double m = 0;
  for (float x : a) m = std::max(m, std::fabs(double{x}));
  return m;
}

template <typename F>
GgufOptions Opt(F set) {
  GgufOptions o;
  set(o);
  return o;
}

std::vector<int32_t> Prompt(int n, int vocab) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back(static_cast<int32_t>((i * 7 + 3) % vocab));
  return t;
}

std::unique_ptr<Model> Load(const std::string& path) {
  auto m = LoadModel(path, ModelLoadOptions{.num_threads = 2});
  EXPECT_TRUE(m.ok()) << path << ": " << m.status().ToString();
  return m.ok() ? std::move(m).value() : nullptr;
}

class ModelRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::MakeTempDir("kvf_model_runtime_"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  std::filesystem::path dir_;
};

TEST_F(ModelRuntimeTest, LlamaHfAndGgufLayoutsGiveTheSameLogits) {
  TinyDims d;
  const TensorMap w = testing::RandomWeights(d, 1, /*tied=*/false);
  testing::WriteHfFolder(Path("hf"), testing::HfConfigJson(d, false, ""), w, d.vocab);
  testing::WriteGguf(Path("m.gguf"), d, w, Opt([&](GgufOptions& o) { o.chat_template = "{{ messages }}"; }));
  auto hf = Load(Path("hf"));
  auto gguf = Load(Path("m.gguf"));
  ASSERT_TRUE(hf && gguf);

  EXPECT_EQ(hf->config().architecture, "llama");
  EXPECT_EQ(hf->config().n_layers, 2);
  EXPECT_EQ(hf->config().n_kv_heads, 2);
  EXPECT_FALSE(hf->config().tied_embeddings);
  EXPECT_FALSE(gguf->config().tied_embeddings);
  EXPECT_EQ(hf->config().weight_dtype, "float32");
  EXPECT_EQ(gguf->config().weight_dtype, "F32");
  EXPECT_EQ(hf->config().bos_id, 0);
  EXPECT_EQ(gguf->config().bos_id, 0);
  EXPECT_EQ(gguf->config().eos_ids, std::vector<int32_t>{1});
  EXPECT_EQ(gguf->config().chat_template, "{{ messages }}");
  EXPECT_EQ(hf->tokenizer().vocab_size(), 64);
  EXPECT_EQ(gguf->tokenizer().Encode("ab", false), std::vector<int32_t>{2});

  const std::vector<int32_t> prompt = Prompt(20, 64);
  const std::vector<float> a = RunLogits(*hf, prompt), b = RunLogits(*gguf, prompt);
  ASSERT_EQ(a.size(), 3u * 64);
  EXPECT_GT(MaxAbs(a), 0.5);
  EXPECT_LT(MaxAbsDiff(a, b), 1e-4 * MaxAbs(a));

  // The permutation matters: unpermuted q/k under interleaved RoPE is a different model.
  testing::WriteGguf(Path("raw.gguf"), d, w, Opt([&](GgufOptions& o) { o.permute_qk = false; }));
  auto raw = Load(Path("raw.gguf"));
  ASSERT_TRUE(raw);
  EXPECT_GT(MaxAbsDiff(a, RunLogits(*raw, prompt)), 1e-2);
}

TEST_F(ModelRuntimeTest, TiedEmbeddingsInBothFormats) {
  TinyDims d;
  const TensorMap tied = testing::RandomWeights(d, 2, /*tied=*/true);
  testing::WriteHfFolder(Path("hf"), testing::HfConfigJson(d, true, ""), tied, d.vocab);
  testing::WriteGguf(Path("m.gguf"), d, tied, GgufOptions{});
  // The same model with the classifier stored explicitly.
  TensorMap untied = tied;
  untied["lm_head.weight"] = tied.at("model.embed_tokens.weight").clone();
  testing::WriteHfFolder(Path("explicit"), testing::HfConfigJson(d, false, ""), untied, d.vocab);
  auto hf = Load(Path("hf"));
  auto gguf = Load(Path("m.gguf"));
  auto expl = Load(Path("explicit"));
  ASSERT_TRUE(hf && gguf && expl);
  EXPECT_TRUE(hf->config().tied_embeddings);
  EXPECT_TRUE(gguf->config().tied_embeddings);
  EXPECT_FALSE(expl->config().tied_embeddings);
  const std::vector<int32_t> prompt = Prompt(9, 64);
  const std::vector<float> a = RunLogits(*hf, prompt);
  EXPECT_EQ(MaxAbsDiff(a, RunLogits(*expl, prompt)), 0.0);
  EXPECT_LT(MaxAbsDiff(a, RunLogits(*gguf, prompt)), 1e-4 * MaxAbs(a));
}

TEST_F(ModelRuntimeTest, Qwen2BiasesAreUsedAndRotateHalfInGguf) {
  TinyDims d;
  d.family = "qwen2";
  d.rope_theta = 1000000.0;
  const TensorMap w = testing::RandomWeights(d, 3, /*tied=*/false);
  testing::WriteHfFolder(Path("hf"), testing::HfConfigJson(d, false, ""), w, d.vocab);
  // llama.cpp does not permute qwen2's q/k: its NEOX RoPE rotates halves as HF.
  testing::WriteGguf(Path("m.gguf"), d, w, Opt([&](GgufOptions& o) { o.permute_qk = false; }));
  TensorMap zero = w;
  for (auto& [name, t] : zero) {
    if (name.find(".bias") != std::string::npos) t = at::zeros_like(t);
  }
  testing::WriteHfFolder(Path("nobias"), testing::HfConfigJson(d, false, ""), zero, d.vocab);
  auto hf = Load(Path("hf"));
  auto gguf = Load(Path("m.gguf"));
  auto nobias = Load(Path("nobias"));
  ASSERT_TRUE(hf && gguf && nobias);
  EXPECT_EQ(hf->config().architecture, "qwen2");
  EXPECT_EQ(gguf->config().architecture, "qwen2");
  const std::vector<int32_t> prompt = Prompt(15, 64);
  const std::vector<float> a = RunLogits(*hf, prompt);
  EXPECT_LT(MaxAbsDiff(a, RunLogits(*gguf, prompt)), 1e-4 * MaxAbs(a));
  EXPECT_GT(MaxAbsDiff(a, RunLogits(*nobias, prompt)), 1e-2);
}

TEST_F(ModelRuntimeTest, Llama3RopeScalingFromConfigAndFromGgufRopeFreqs) {
  TinyDims d;
  const TensorMap w = testing::RandomWeights(d, 4, /*tied=*/false);
  const std::string scaling =
      "\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, "
      "\"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 32}";
  testing::WriteHfFolder(Path("scaled"), testing::HfConfigJson(d, false, scaling), w, d.vocab);
  testing::WriteHfFolder(Path("plain"), testing::HfConfigJson(d, false, ""), w, d.vocab);
  // llama.cpp's converter stores llama3 scaling as rope_freqs.weight: per pair,
  // the original inverse frequency divided by the scaled one.
  auto scaled_cfg = LoadHfConfig(Path("scaled"));
  auto plain_cfg = LoadHfConfig(Path("plain"));
  ASSERT_TRUE(scaled_cfg.ok() && plain_cfg.ok());
  const std::vector<double> f_scaled = RopeInverseFrequencies(*scaled_cfg);
  const std::vector<double> f_plain = RopeInverseFrequencies(*plain_cfg);
  std::vector<float> factors;
  for (size_t i = 0; i < f_plain.size(); ++i) factors.push_back(static_cast<float>(f_plain[i] / f_scaled[i]));
  EXPECT_GT(factors.back(), 7.9f);  // low frequencies fully interpolated
  testing::WriteGguf(Path("m.gguf"), d, w, Opt([&](GgufOptions& o) { o.rope_freqs = factors; }));

  auto scaled = Load(Path("scaled"));
  auto plain = Load(Path("plain"));
  auto gguf = Load(Path("m.gguf"));
  ASSERT_TRUE(scaled && plain && gguf);
  const std::vector<int32_t> prompt = Prompt(60, 64);
  const std::vector<float> a = RunLogits(*scaled, prompt);
  EXPECT_GT(MaxAbsDiff(a, RunLogits(*plain, prompt)), 1e-2);
  EXPECT_LT(MaxAbsDiff(a, RunLogits(*gguf, prompt)), 1e-4 * MaxAbs(a));
}

// The load error of `path`, "" when it loads.
std::string LoadError(const std::string& path) {
  auto m = LoadModel(path, ModelLoadOptions{.num_threads = 1});
  if (m.ok()) return "";
  EXPECT_EQ(m.status().code(), Status::Code::kModelLoad) << m.status().ToString();
  return m.status().message();
}

TEST_F(ModelRuntimeTest, MissingTensorWrongShapeAndUnsupportedArchitectureAreNamed) {
  TinyDims d;
  const TensorMap w = testing::RandomWeights(d, 5, /*tied=*/false);
  TensorMap missing = w;
  missing.erase("model.layers.1.mlp.up_proj.weight");
  testing::WriteHfFolder(Path("hf_missing"), testing::HfConfigJson(d, false, ""), missing, d.vocab);
  testing::WriteGguf(Path("missing.gguf"), d, missing, GgufOptions{});
  std::string e = LoadError(Path("hf_missing"));
  EXPECT_NE(e.find("model.layers.1.mlp.up_proj.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("missing"), std::string::npos) << e;
  e = LoadError(Path("missing.gguf"));
  EXPECT_NE(e.find("blk.1.ffn_up.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("missing.gguf"), std::string::npos) << e;

  TensorMap wrong = w;
  wrong["model.layers.0.self_attn.k_proj.weight"] = at::zeros({d.heads * d.head_dim, d.hidden});
  testing::WriteHfFolder(Path("hf_wrong"), testing::HfConfigJson(d, false, ""), wrong, d.vocab);
  testing::WriteGguf(Path("wrong.gguf"), d, wrong, GgufOptions{});
  e = LoadError(Path("hf_wrong"));
  EXPECT_NE(e.find("model.layers.0.self_attn.k_proj.weight has shape [32, 32], expected [16, 32]"),
            std::string::npos) << e;
  e = LoadError(Path("wrong.gguf"));
  EXPECT_NE(e.find("blk.0.attn_k.weight has shape [32, 32]"), std::string::npos) << e;
  EXPECT_NE(e.find("expected [16, 32]"), std::string::npos) << e;

  testing::WriteHfFolder(Path("neox"), testing::HfConfigJson(d, false, "", "GPTNeoXForCausalLM"), w,
                         d.vocab);
  e = LoadError(Path("neox"));
  EXPECT_NE(e.find("GPTNeoXForCausalLM"), std::string::npos) << e;
  testing::WriteGguf(Path("falcon.gguf"), d, w, Opt([&](GgufOptions& o) { o.architecture = "falcon"; }));
  e = LoadError(Path("falcon.gguf"));
  EXPECT_NE(e.find("falcon"), std::string::npos) << e;

  // A tokenizer larger than the model's vocabulary.
  TinyDims small = d;
  small.vocab = 32;
  testing::WriteHfFolder(Path("hf_vocab"), testing::HfConfigJson(small, false, ""),
                         testing::RandomWeights(small, 6, false), /*vocab=*/64);
  e = LoadError(Path("hf_vocab"));
  EXPECT_NE(e.find("the tokenizer has 64 tokens"), std::string::npos) << e;
}

}  // namespace
}  // namespace kvfunda
