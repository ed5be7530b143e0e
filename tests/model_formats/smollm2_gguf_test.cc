// The real demo model: SmolLM2-135M-Instruct Q4_1 GGUF (skipped when absent; see
// format_test_util.h SmolLm2Path). Parses it, checks its config, dequantises every
// tensor and reports the throughput.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <span>
#include <vector>
#include <thread>

#include <gtest/gtest.h>

#include "format_test_util.h"
#include "worker/model/gguf_file.h"
#include "worker/model/hf_config.h"

namespace kvfunda {
namespace {

TEST(SmolLm2GgufTest, ParsesConfigAndDequantizesEveryTensor) {
  const std::string path = testing::SmolLm2Path();
  if (path.empty()) GTEST_SKIP() << "SmolLM2-135M-Instruct.Q4_1.gguf not found (models/ or $KVFUNDA_MODELS_DIR)";

  const auto t0 = std::chrono::steady_clock::now();
  auto g = GgufFile::Open(path);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  const double parse_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(g->version(), 3u);
  EXPECT_EQ(g->tensors().size(), 272u);

  auto c = ConfigFromGguf(g.value());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->family, ModelFamily::kLlama);
  EXPECT_EQ(c->num_hidden_layers, 30);
  EXPECT_EQ(c->hidden_size, 576);
  EXPECT_EQ(c->intermediate_size, 1536);
  EXPECT_EQ(c->num_attention_heads, 9);
  EXPECT_EQ(c->num_key_value_heads, 3);
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_EQ(c->vocab_size, 49152);
  EXPECT_EQ(c->max_position_embeddings, 8192);
  EXPECT_DOUBLE_EQ(c->rope_theta, 100000.0);
  EXPECT_NEAR(c->rms_norm_eps, 1e-5, 1e-11);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_FALSE(c->attention_bias);
  EXPECT_EQ(c->bos_token_ids, std::vector<int64_t>{1});
  EXPECT_EQ(c->eos_token_ids, std::vector<int64_t>{2});

  // The raw vocabulary metadata a GGUF tokenizer is built from.
  EXPECT_EQ(g->GetString("tokenizer.ggml.model").value(), "gpt2");
  EXPECT_EQ(g->GetStringArray("tokenizer.ggml.tokens").value().size(), 49152u);
  EXPECT_EQ(g->GetStringArray("tokenizer.ggml.merges").value().size(), 48900u);
  EXPECT_EQ(g->GetIntArray("tokenizer.ggml.token_type").value().size(), 49152u);
  EXPECT_NE(g->GetString("tokenizer.chat_template").value().find("<|im_start|>"), std::string::npos);

  const GgufTensorInfo* emb = g->FindTensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->dims, (std::vector<int64_t>{576, 49152}));
  EXPECT_EQ(GgmlTypeName(emb->type), "Q8_0");
  EXPECT_EQ(GgmlTypeName(g->FindTensor("blk.0.attn_q.weight")->type), "Q4_1");

  // Correctness: every tensor dequantises (allocating path) to finite values.
  const int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int64_t values = 0, bytes = 0, largest = 0;
  for (const GgufTensorInfo& t : g->tensors()) {
    auto v = g->DequantizeTensor(t.name, threads);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    ASSERT_EQ(v->size(), static_cast<size_t>(t.n_elements));
    bool finite = true;
    for (float x : *v) finite = finite && std::isfinite(x);
    EXPECT_TRUE(finite) << t.name;
    values += t.n_elements;
    bytes += t.n_bytes;
    largest = std::max(largest, t.n_elements);
  }
  EXPECT_EQ(values, 134'515'008);

  // Throughput of the kernels alone, into one pre-touched buffer (load time is
  // this plus page faults of the destination).
  std::vector<float> out(static_cast<size_t>(largest), 0.0f);
  for (int n_threads : {1, threads}) {
    const auto start = std::chrono::steady_clock::now();
    for (const GgufTensorInfo& t : g->tensors()) {
      ASSERT_TRUE(DequantizeToF32(t.type, g->TensorData(t),
                                  std::span<float>(out.data(), static_cast<size_t>(t.n_elements)), n_threads)
                      .ok());
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("SmolLM2 dequantise, %d thread(s): %lld values from %.1f MB of GGUF tensors in %.3f s = "
                "%.0f M values/s, %.0f MB/s in, %.0f MB/s fp32 out (parse %.1f ms)\n",
                n_threads, static_cast<long long>(values), bytes / 1e6, s, values / s / 1e6,
                bytes / s / 1e6, values * 4.0 / s / 1e6, parse_ms);
    if (threads == 1) break;
  }
}

}  // namespace
}  // namespace kvfunda
