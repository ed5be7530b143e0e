// config.json parsing for the supported families, refusals, and llama3 RoPE.
#include "worker/model/hf_config.h"

#include <cmath>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "format_test_util.h"
#include "worker/model/gguf_file.h"

namespace kvfunda {
namespace {

using testing::FormatFixture;

CheckpointConfig LoadSample(const std::string& name) {
  auto r = LoadHfConfig(FormatFixture("configs/" + name + ".json"));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r.value() : CheckpointConfig{};
}

TEST(HfConfigTest, Llama31With8BRopeScaling) {
  CheckpointConfig c = LoadSample("Llama-3.1-8B-Instruct");
  EXPECT_EQ(c.family, ModelFamily::kLlama);
  EXPECT_EQ(c.architecture, "LlamaForCausalLM");
  EXPECT_EQ(c.hidden_size, 4096);
  EXPECT_EQ(c.intermediate_size, 14336);
  EXPECT_EQ(c.num_hidden_layers, 32);
  EXPECT_EQ(c.num_attention_heads, 32);
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.vocab_size, 128256);
  EXPECT_EQ(c.max_position_embeddings, 131072);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rope_scaling.type, "llama3");
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 8.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling.low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling.high_freq_factor, 4.0);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_EQ(c.bos_token_ids, std::vector<int64_t>{128000});
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
  EXPECT_EQ(c.torch_dtype, "bfloat16");
}

TEST(HfConfigTest, MistralV03) {
  CheckpointConfig c = LoadSample("Mistral-7B-Instruct-v0.3");
  EXPECT_EQ(c.family, ModelFamily::kMistral);
  EXPECT_EQ(c.model_type, "mistral");
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.vocab_size, 32768);
  EXPECT_DOUBLE_EQ(c.rope_theta, 1e6);
  EXPECT_FALSE(c.sliding_window.has_value());  // null in v0.3
  EXPECT_FALSE(c.use_sliding_window);
  EXPECT_TRUE(c.rope_scaling.type.empty());
  EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{2});

  // v0.1 omits nothing but has a 4096 window; an absent key means MistralConfig's default.
  auto v01 = ParseHfConfig(R"({"architectures":["MistralForCausalLM"],"hidden_size":4096,
      "intermediate_size":14336,"num_hidden_layers":32,"num_attention_heads":32,
      "num_key_value_heads":8,"vocab_size":32000,"sliding_window":4096})", "v01");
  ASSERT_TRUE(v01.ok()) << v01.status().ToString();
  EXPECT_EQ(v01->sliding_window, 4096);
  EXPECT_TRUE(v01->use_sliding_window);
  auto absent = ParseHfConfig(R"({"model_type":"mistral","hidden_size":64,"intermediate_size":128,
      "num_hidden_layers":2,"num_attention_heads":8,"vocab_size":100})", "absent");
  ASSERT_TRUE(absent.ok()) << absent.status().ToString();
  EXPECT_EQ(absent->sliding_window, 4096);
  EXPECT_EQ(absent->max_position_embeddings, 131072);
}

TEST(HfConfigTest, Qwen25HasBiasAndRecordsWindow) {
  CheckpointConfig c = LoadSample("Qwen2.5-7B-Instruct");
  EXPECT_EQ(c.family, ModelFamily::kQwen2);
  EXPECT_EQ(c.hidden_size, 3584);
  EXPECT_EQ(c.num_attention_heads, 28);
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.vocab_size, 152064);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_TRUE(c.attention_bias);  // Qwen2 q/k/v always carry a bias
  EXPECT_EQ(c.sliding_window, 131072);
  EXPECT_FALSE(c.use_sliding_window);
  EXPECT_EQ(c.bos_token_ids, std::vector<int64_t>{151643});
  EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{151645});
}

TEST(HfConfigTest, SmolLM2IsTiedLlama) {
  CheckpointConfig c = LoadSample("SmolLM2-135M-Instruct");
  EXPECT_EQ(c.family, ModelFamily::kLlama);
  EXPECT_EQ(c.num_hidden_layers, 30);
  EXPECT_EQ(c.hidden_size, 576);
  EXPECT_EQ(c.num_attention_heads, 9);
  EXPECT_EQ(c.num_key_value_heads, 3);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.vocab_size, 49152);
  EXPECT_EQ(c.max_position_embeddings, 8192);
  EXPECT_DOUBLE_EQ(c.rope_theta, 100000.0);  // an integer in the JSON
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_TRUE(c.rope_scaling.type.empty());  // null
  // Default RoPE: theta^(-2i/d).
  auto inv = RopeInverseFrequencies(c);
  ASSERT_EQ(inv.size(), 32u);
  EXPECT_DOUBLE_EQ(inv[0], 1.0);
  EXPECT_NEAR(inv[1], std::pow(100000.0, -2.0 / 64), 1e-15);
  EXPECT_NEAR(inv[31], std::pow(100000.0, -62.0 / 64), 1e-18);
}

TEST(HfConfigTest, Llama3InverseFrequenciesMatchTransformersFormula) {
  auto bytes = testing::ReadBytes(FormatFixture("rope_llama3.json"));
  auto fixture = nlohmann::json::parse(bytes.begin(), bytes.end());
  ASSERT_EQ(fixture["cases"].size(), 2u);
  for (const auto& k : fixture["cases"]) {
    SCOPED_TRACE(k["name"].get<std::string>());
    CheckpointConfig c = LoadSample("Llama-3.1-8B-Instruct");
    c.rope_theta = k["rope_theta"];
    c.head_dim = k["head_dim"];
    c.rope_scaling.factor = k["factor"];
    c.rope_scaling.low_freq_factor = k["low_freq_factor"];
    c.rope_scaling.high_freq_factor = k["high_freq_factor"];
    c.rope_scaling.original_max_position_embeddings = k["original_max_position_embeddings"];
    const auto want = k["inv_freq"].get<std::vector<double>>();
    const auto got = RopeInverseFrequencies(c);
    ASSERT_EQ(got.size(), want.size());
    int scaled_low = 0, smoothed = 0, kept = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_NEAR(got[i], want[i], 1e-12 * want[i]) << "pair " << i;
      const double plain = std::pow(c.rope_theta, -2.0 * static_cast<double>(i) / static_cast<double>(c.head_dim));
      if (std::abs(got[i] - plain) < 1e-15 * plain) {
        ++kept;
      } else if (std::abs(got[i] - plain / c.rope_scaling.factor) < 1e-15 * plain) {
        ++scaled_low;
      } else {
        ++smoothed;
      }
    }
    // All three regimes occur, so the test exercises each branch.
    EXPECT_GT(kept, 0);
    EXPECT_GT(scaled_low, 0);
    EXPECT_GT(smoothed, 0);
  }
}

TEST(HfConfigTest, LinearScalingDividesAll) {
  auto r = ParseHfConfig(R"({"architectures":["LlamaForCausalLM"],"hidden_size":64,"intermediate_size":128,
      "num_hidden_layers":1,"num_attention_heads":4,"vocab_size":10,
      "rope_scaling":{"type":"linear","factor":4.0}})", "linear");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto inv = RopeInverseFrequencies(r.value());
  ASSERT_EQ(inv.size(), 8u);
  EXPECT_DOUBLE_EQ(inv[0], 0.25);
  EXPECT_EQ(r->num_key_value_heads, 4);  // defaults to the head count
  EXPECT_EQ(r->max_position_embeddings, 2048);
  EXPECT_DOUBLE_EQ(r->rms_norm_eps, 1e-6);
}

TEST(HfConfigTest, RefusalsAndErrors) {
  const std::string base = R"("hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,)"
                           R"("num_attention_heads":4,"vocab_size":10)";
  struct Case {
    std::string json, expect;
  };
  const std::vector<Case> cases = {
      {R"({"architectures":["GPTNeoXForCausalLM"],"model_type":"gpt_neox",)" + base + "}",
       "unsupported architecture GPTNeoXForCausalLM (model_type gpt_neox)"},
      {R"({"model_type":"gemma",)" + base + "}", "unsupported architecture (none) (model_type gemma)"},
      {"{" + base + "}", "unsupported architecture"},
      {R"({"architectures":[],)" + base + "}", "non-empty list"},
      {R"({"model_type":"llama","hidden_size":64})", "missing required key \"intermediate_size\""},
      {R"({"model_type":"llama",)" + base + R"(,"num_key_value_heads":3})", "not a multiple of num_key_value_heads 3"},
      {R"({"model_type":"llama","hidden_size":"64","intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":10})",
       "\"hidden_size\" must be an integer"},
      {R"({"model_type":"llama",)" + base + R"(,"rope_scaling":{"rope_type":"yarn","factor":4}})",
       "unsupported rope_scaling type \"yarn\""},
      {R"({"model_type":"llama",)" + base + R"(,"head_dim":15})", "must be even"},
      {R"({"model_type":"llama","hidden_size":66,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":10})",
       "not a multiple of num_attention_heads"},
      {R"({"model_type":"llama",)" + base + R"(,"num_hidden_layers":0})", "num_hidden_layers 0"},
      {R"({"model_type":"llama",)" + base + R"(,"eos_token_id":"x"})", "eos_token_id"},
      {R"({"model_type":"llama",)" + base + R"(,"tie_word_embeddings":1})", "true or false"},
      {"{not json", "not a valid JSON object"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.json);
    auto r = ParseHfConfig(c.json, "cfg.json");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Status::Code::kModelLoad);
    EXPECT_NE(r.status().message().find("cfg.json: "), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos) << r.status().message();
  }
  auto missing = LoadHfConfig("/nonexistent/kvfunda/config.json");
  EXPECT_EQ(missing.status().code(), Status::Code::kModelLoad);
}

TEST(HfConfigTest, FromGgufFixture) {
  auto g = GgufFile::Open(FormatFixture("quant_types.gguf"));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  auto c = ConfigFromGguf(g.value());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->family, ModelFamily::kLlama);
  EXPECT_EQ(c->num_hidden_layers, 2);
  EXPECT_EQ(c->hidden_size, 256);
  EXPECT_EQ(c->intermediate_size, 512);
  EXPECT_EQ(c->num_attention_heads, 4);
  EXPECT_EQ(c->num_key_value_heads, 2);
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_EQ(c->vocab_size, 32);
  EXPECT_EQ(c->max_position_embeddings, 128);
  EXPECT_NEAR(c->rms_norm_eps, 1e-5, 1e-12);
  EXPECT_TRUE(c->tie_word_embeddings);  // no output.weight tensor
  EXPECT_FALSE(c->attention_bias);

  // An unsupported GGUF architecture is refused by name.
  const auto dir = testing::MakeTempDir("kvf_cfg_");
  testing::GgufBytes b;
  b.Header(3, 0, 1).KvStr("general.architecture", "gemma2");
  testing::WriteBytes(dir / "g.gguf", b.bytes());
  auto g2 = GgufFile::Open((dir / "g.gguf").string());
  ASSERT_TRUE(g2.ok());
  auto c2 = ConfigFromGguf(g2.value());
  EXPECT_EQ(c2.status().code(), Status::Code::kModelLoad);
  EXPECT_NE(c2.status().message().find("unsupported GGUF architecture \"gemma2\""), std::string::npos)
      << c2.status().message();
  // A llama file missing a required key names it.
  testing::GgufBytes b3;
  b3.Header(3, 0, 2).KvStr("general.architecture", "llama").KvU32("llama.block_count", 2);
  testing::WriteBytes(dir / "m.gguf", b3.bytes());
  auto g3 = GgufFile::Open((dir / "m.gguf").string());
  ASSERT_TRUE(g3.ok());
  auto c3 = ConfigFromGguf(g3.value());
  EXPECT_NE(c3.status().message().find("missing key llama.embedding_length"), std::string::npos)
      << c3.status().message();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kvfunda
