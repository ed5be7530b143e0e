// LlamaModel on the real stories260K checkpoint: the golden greedy story, the
// blockwise prefill and its statistics against a naive full-attention reference
// (llama_reference.h), decode equivalences (after prefill, batched vs single,
// ragged per-head caches) and error mapping.
#include "worker/model/llama_model.h"

#include <chrono>
#include <cmath>
#include <iostream>
#include <random>
#include <set>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include "llama_reference.h"
#include "test_support.h"

namespace kvfunda {
namespace {

using testing::ReferenceForward;
using testing::ReferenceRun;

std::vector<float> ToVector(const at::Tensor& t) {
  const at::Tensor c = t.detach().to(at::kCPU).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

// Every element within atol + rtol |expected|; reports the first failure.
void ExpectAllClose(const std::vector<float>& actual, const std::vector<float>& expected,
                    double atol, double rtol, const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (size_t i = 0; i < actual.size(); ++i) {
    ASSERT_FALSE(std::isnan(actual[i])) << what << " [" << i << "] is NaN";
    ASSERT_NEAR(actual[i], expected[i], atol + rtol * std::fabs(expected[i]))
        << what << " [" << i << "] of " << actual.size();
  }
}

int32_t Argmax(const std::vector<float>& v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

class LlamaModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto model = LoadModel(testing::Stories260KPath(), ModelLoadOptions{});
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    model_ = std::move(model).value().release();
    auto ckpt = LoadLlama2cCheckpoint(testing::Stories260KPath());
    ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
    ckpt_ = new Llama2cCheckpoint(std::move(ckpt).value());
  }
  static void TearDownTestSuite() {
    delete model_;
    delete ckpt_;
  }
  static std::vector<int32_t> Encode(const std::string& text, bool bos) {
    return model_->tokenizer().Encode(text, bos);
  }
  static PrefillOutput MustPrefill(const std::vector<int32_t>& tokens,
                                   const PrefillStatsRequest& req = {}) {
    auto r = model_->Prefill(tokens, req);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return std::move(r).value();
  }
  // Logits [vocab] of one decode step of a single cache.
  static std::vector<float> Step(KvCache& cache, int32_t token) {
    KvCache* ptrs[] = {&cache};
    const int32_t toks[] = {token};
    auto r = model_->DecodeStep(ptrs, toks);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->sizes(), (at::IntArrayRef{1, model_->config().vocab_size}));
    return ToVector(*r);
  }

  static Model* model_;
  static Llama2cCheckpoint* ckpt_;
};
Model* LlamaModelTest::model_ = nullptr;
Llama2cCheckpoint* LlamaModelTest::ckpt_ = nullptr;

TEST_F(LlamaModelTest, Config) {
  const ModelConfig& c = model_->config();
  EXPECT_EQ(c.architecture, "llama");
  EXPECT_EQ(c.n_layers, 5);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.hidden, 64);
  EXPECT_EQ(c.ffn_hidden, 172);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.max_context, 512);
  EXPECT_EQ(model_->tokenizer().vocab_size(), 512);
}

// The sample in llama2.c doc/stories260K.md (run.c -t 0 "Once upon a time").
TEST_F(LlamaModelTest, GoldenGreedyStory) {
  const std::string expected =
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
      "park. One day, she saw a big, red ball.";
  std::vector<int32_t> tokens = Encode("Once upon a time", /*bos=*/true);
  PrefillOutput out = MustPrefill(tokens);
  std::vector<float> logits = ToVector(out.last_logits);
  for (int step = 0; step < 64; ++step) {
    const int32_t next = Argmax(logits);
    if (next == model_->tokenizer().bos_id() || next == model_->tokenizer().eos_id()) break;
    tokens.push_back(next);
    logits = Step(out.cache, next);
  }
  const std::string text = model_->tokenizer().Decode(tokens);
  EXPECT_EQ(text.substr(0, expected.size()), expected) << "generated: " << text;
}

TEST_F(LlamaModelTest, PrefillAndStatsMatchNaiveAttention) {
  const std::vector<int32_t> tokens =
      Encode("Once upon a time, there was a little dog. He liked the sun.", true);
  const int64_t len = static_cast<int64_t>(tokens.size());
  ASSERT_GE(len, 12);
  const ReferenceRun ref = ReferenceForward(*ckpt_, tokens);
  const int heads = 8, kv_heads = 4, layers = 5;

  for (int block : {1, 3, 5, static_cast<int>(len), 256}) {
    for (int window : {0, 1, 4, static_cast<int>(len), static_cast<int>(len) + 7}) {
      SCOPED_TRACE("block " + std::to_string(block) + " window " + std::to_string(window));
      PrefillStatsRequest req;
      req.block = block;
      req.window = window;
      req.column_sums = (block + window) % 2 == 0 || block == 1;
      PrefillOutput out = MustPrefill(tokens, req);
      ExpectAllClose(ToVector(out.last_logits), ref.logits[len - 1], 1e-4, 1e-4, "last_logits");

      ASSERT_EQ(out.cache.layers.size(), 5u);
      EXPECT_EQ(out.cache.next_position, len);
      for (int l = 0; l < layers; ++l) {
        const LayerKv& kv = out.cache.layers[l];
        ASSERT_EQ(kv.k.sizes(), (at::IntArrayRef{kv_heads, len, 8}));
        EXPECT_EQ(kv.length, std::vector<int32_t>(kv_heads, static_cast<int32_t>(len)));
        ExpectAllClose(ToVector(kv.k), ref.k[l], 1e-4, 1e-4, "k layer " + std::to_string(l));
        ExpectAllClose(ToVector(kv.v), ref.v[l], 1e-4, 1e-4, "v layer " + std::to_string(l));
      }

      if (!req.column_sums) {
        EXPECT_TRUE(out.stats.column_sums.empty());
      } else {
        ASSERT_EQ(out.stats.column_sums.size(), 5u);
        for (int l = 0; l < layers; ++l) {
          std::vector<float> expected(heads * len, 0.0f);
          for (int h = 0; h < heads; ++h)
            for (int64_t q = 0; q < len; ++q)
              for (int64_t t = 0; t < len; ++t)
                expected[h * len + t] += ref.attention[l][(h * len + q) * len + t];
          ASSERT_EQ(out.stats.column_sums[l].sizes(), (at::IntArrayRef{heads, len}));
          ExpectAllClose(ToVector(out.stats.column_sums[l]), expected, 1e-5, 1e-4,
                         "column_sums layer " + std::to_string(l));
        }
      }

      const int64_t w = std::min<int64_t>(window, len);
      if (w == 0) {
        EXPECT_TRUE(out.stats.window_attention.empty());
        continue;
      }
      ASSERT_EQ(out.stats.window_attention.size(), 5u);
      for (int l = 0; l < layers; ++l) {
        std::vector<float> expected;
        for (int h = 0; h < heads; ++h)
          for (int64_t i = 0; i < w; ++i)
            for (int64_t t = 0; t < len; ++t)
              expected.push_back(ref.attention[l][(h * len + (len - w + i)) * len + t]);
        ASSERT_EQ(out.stats.window_attention[l].sizes(), (at::IntArrayRef{heads, w, len}));
        ExpectAllClose(ToVector(out.stats.window_attention[l]), expected, 1e-6, 1e-4,
                       "window layer " + std::to_string(l));
      }
    }
  }
}

TEST_F(LlamaModelTest, DecodeAfterPrefillEqualsLongerPrefill) {
  const std::vector<int32_t> prompt = Encode("The cat sat", true);
  const std::vector<int32_t> more = Encode("on the big red mat and slept.", false);
  std::vector<int32_t> all = prompt;
  all.insert(all.end(), more.begin(), more.end());
  const ReferenceRun ref = ReferenceForward(*ckpt_, all);

  PrefillOutput out = MustPrefill(prompt);
  const int64_t capacity0 = out.cache.layers[0].k.size(1);
  EXPECT_EQ(capacity0, static_cast<int64_t>(prompt.size()));  // full: the first step must grow
  std::vector<float> logits;
  for (size_t i = 0; i < more.size(); ++i) {
    logits = Step(out.cache, more[i]);
    ExpectAllClose(logits, ref.logits[prompt.size() + i], 1e-4, 1e-4,
                   "decode step " + std::to_string(i));
  }
  EXPECT_EQ(out.cache.next_position, static_cast<int64_t>(all.size()));
  EXPECT_GT(out.cache.layers[0].k.size(1), capacity0);

  PrefillOutput whole = MustPrefill(all);
  ExpectAllClose(logits, ToVector(whole.last_logits), 1e-4, 1e-4, "last logits");
  const int64_t n = static_cast<int64_t>(all.size());
  for (int l = 0; l < 5; ++l) {
    const LayerKv& kv = out.cache.layers[l];
    EXPECT_EQ(kv.length, std::vector<int32_t>(4, static_cast<int32_t>(n)));
    ExpectAllClose(ToVector(kv.k.narrow(1, 0, n)), ToVector(whole.cache.layers[l].k), 1e-4, 1e-4,
                   "k");
    ExpectAllClose(ToVector(kv.v.narrow(1, 0, n)), ToVector(whole.cache.layers[l].v), 1e-4, 1e-4,
                   "v");
  }
}

// Positions dropped from head h of layer l in the ragged cache.
bool Removed(int layer, int head, int64_t pos) {
  if (head == 3) return false;                  // one head keeps everything
  if (head == 1 && layer == 2) return pos < 9;  // a long dropped prefix
  return (pos * 7 + layer * 3 + head) % 4 == 0;
}

// A compact cache holding only the kept entries of `full`, padding filled with
// large finite garbage that attention must ignore.
KvCache RaggedCopy(const KvCache& full, std::mt19937& rng) {
  KvCache out;
  out.next_position = full.next_position;
  std::uniform_real_distribution<float> garbage(50.0f, 90.0f);
  for (size_t l = 0; l < full.layers.size(); ++l) {
    const LayerKv& src = full.layers[l];
    const int64_t heads = src.k.size(0), len = src.k.size(1), hd = src.k.size(2);
    std::vector<std::vector<int64_t>> kept(heads);
    size_t longest = 0;
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t t = 0; t < len; ++t)
        if (!Removed(static_cast<int>(l), static_cast<int>(h), t)) kept[h].push_back(t);
      longest = std::max(longest, kept[h].size());
    }
    const int64_t capacity = static_cast<int64_t>(longest) + 1;
    LayerKv dst;
    dst.k = at::empty({heads, capacity, hd}, at::kFloat);
    dst.v = at::empty({heads, capacity, hd}, at::kFloat);
    for (float* p : {dst.k.data_ptr<float>(), dst.v.data_ptr<float>()})
      for (int64_t i = 0; i < dst.k.numel(); ++i) p[i] = garbage(rng);
    for (int64_t h = 0; h < heads; ++h) {
      for (size_t i = 0; i < kept[h].size(); ++i) {
        dst.k[h][static_cast<int64_t>(i)].copy_(src.k[h][kept[h][i]]);
        dst.v[h][static_cast<int64_t>(i)].copy_(src.v[h][kept[h][i]]);
      }
      dst.length.push_back(static_cast<int32_t>(kept[h].size()));
    }
    out.layers.push_back(std::move(dst));
  }
  return out;
}

TEST_F(LlamaModelTest, BatchedRaggedDecodeEqualsSingleDecodeAndReference) {
  const std::vector<std::vector<int32_t>> prompts = {
      Encode("Tom", true),
      Encode("Once upon a time, there was a girl", true),
      Encode("The sun was hot. The dog and the cat played in the big park all day.", true),
  };
  const std::vector<int32_t> feed = Encode("and then they went home to sleep happily", false);
  const int steps = 7;
  ASSERT_GE(feed.size(), static_cast<size_t>(steps));

  std::mt19937 rng(3);
  std::vector<KvCache> batched;
  for (const auto& p : prompts) batched.push_back(MustPrefill(p).cache);
  batched.push_back(RaggedCopy(batched[2], rng));  // sequence 3: prompt 2, ragged heads
  ASSERT_NE(batched[3].layers[0].length[0], batched[3].layers[0].length[3]);
  std::vector<KvCache> single;
  for (const KvCache& c : batched) single.push_back(c.Clone());

  // Each sequence b reads feed[(b + i) % feed.size()] at step i.
  const int64_t batch = static_cast<int64_t>(batched.size());
  std::vector<std::vector<std::vector<float>>> batched_logits(batch);
  for (int i = 0; i < steps; ++i) {
    std::vector<KvCache*> ptrs;
    std::vector<int32_t> toks;
    for (int64_t b = 0; b < batch; ++b) {
      ptrs.push_back(&batched[b]);
      toks.push_back(feed[(b + i) % feed.size()]);
    }
    auto r = model_->DecodeStep(ptrs, toks);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->sizes(), (at::IntArrayRef{batch, 512}));
    for (int64_t b = 0; b < batch; ++b) {
      batched_logits[b].push_back(ToVector((*r)[b]));
      const std::vector<float> one = Step(single[b], toks[b]);
      ExpectAllClose(batched_logits[b].back(), one, 1e-4, 1e-4,
                     "seq " + std::to_string(b) + " step " + std::to_string(i));
    }
  }
  for (int64_t b = 0; b < batch; ++b) {
    EXPECT_EQ(batched[b].next_position, single[b].next_position);
    for (int l = 0; l < 5; ++l) EXPECT_EQ(batched[b].layers[l].length, single[b].layers[l].length);
  }

  // Against the naive reference over prompt + fed tokens (the ragged sequence with
  // its dropped prompt keys hidden from the decoded queries).
  for (int64_t b = 0; b < batch; ++b) {
    const std::vector<int32_t>& prompt = prompts[b == 3 ? 2 : b];
    std::vector<int32_t> all = prompt;
    for (int i = 0; i < steps; ++i) all.push_back(feed[(b + i) % feed.size()]);
    const int64_t plen = static_cast<int64_t>(prompt.size());
    testing::KeyFilter filter;
    if (b == 3) {
      filter = [plen](int layer, int head, int64_t q, int64_t t) {
        return q < plen || t >= plen || !Removed(layer, head, t);
      };
    }
    const ReferenceRun ref = ReferenceForward(*ckpt_, all, filter);
    for (int i = 0; i < steps; ++i) {
      ExpectAllClose(batched_logits[b][i], ref.logits[plen + i], 1e-4, 1e-4,
                     "reference seq " + std::to_string(b) + " step " + std::to_string(i));
    }
  }
  // Heads of the ragged cache grew by exactly one entry per step.
  const KvCache& ragged = batched[3];
  for (int l = 0; l < 5; ++l) {
    for (int h = 0; h < 4; ++h) {
      int32_t kept = 0;
      for (int64_t t = 0; t < static_cast<int64_t>(prompts[2].size()); ++t) kept += !Removed(l, h, t);
      EXPECT_EQ(ragged.layers[l].length[h], kept + steps);
    }
  }
}

TEST_F(LlamaModelTest, CacheBytesAndClone) {
  PrefillOutput out = MustPrefill(Encode("A small cat", true));
  const int64_t len = out.cache.next_position;
  const int64_t per_layer = 2 * 4 * len * 8 * 4;  // k and v, [4, len, 8] fp32
  EXPECT_EQ(out.cache.BytesAllocated(), 5 * per_layer);
  EXPECT_EQ(out.cache.BytesValid(), 5 * per_layer);
  EXPECT_EQ(out.cache.peak_bytes(), 5 * per_layer);

  KvCache copy = out.cache.Clone();
  Step(copy, 5);
  EXPECT_EQ(out.cache.next_position, len);  // the original is untouched
  EXPECT_EQ(out.cache.layers[0].k.size(1), len);
  EXPECT_EQ(copy.BytesValid(), 5 * 2 * 4 * (len + 1) * 8 * 4);
  EXPECT_GT(copy.BytesAllocated(), copy.BytesValid());  // grown geometrically
  EXPECT_EQ(copy.peak_bytes(), copy.BytesAllocated());
}

TEST_F(LlamaModelTest, ErrorsAreValues) {
  EXPECT_EQ(model_->Prefill({}, {}).status().code(), Status::Code::kBadInput);
  EXPECT_EQ(model_->Prefill(std::vector<int32_t>(513, 5), {}).status().code(),
            Status::Code::kBadInput);
  EXPECT_EQ(model_->Prefill({1, 512}, {}).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(model_->Prefill({1, -1}, {}).status().code(), Status::Code::kInvalidArgument);
  PrefillStatsRequest bad_block;
  bad_block.block = 0;
  EXPECT_EQ(model_->Prefill({1, 5}, bad_block).status().code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(model_->Prefill(std::vector<int32_t>(512, 5), {}).ok());

  PrefillOutput out = MustPrefill({1, 5, 6});
  KvCache* one[] = {&out.cache};
  const int32_t tok[] = {7};
  const int32_t two_toks[] = {7, 8};
  const int32_t bad_tok[] = {512};
  KvCache* dup[] = {&out.cache, &out.cache};
  KvCache* null_cache[] = {nullptr};
  EXPECT_EQ(model_->DecodeStep(one, two_toks).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(model_->DecodeStep(one, bad_tok).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(model_->DecodeStep(dup, two_toks).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(model_->DecodeStep(null_cache, tok).status().code(), Status::Code::kInvalidArgument);
  KvCache wrong = out.cache.Clone();
  wrong.layers[2].length[1] = 99;
  KvCache* wrong_ptr[] = {&wrong};
  auto r = model_->DecodeStep(wrong_ptr, tok);
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("layer 2"), std::string::npos) << r.status().ToString();
  wrong = out.cache.Clone();
  wrong.layers.pop_back();
  EXPECT_EQ(model_->DecodeStep(wrong_ptr, tok).status().code(), Status::Code::kInvalidArgument);
  wrong = out.cache.Clone();
  wrong.layers[0].v = wrong.layers[0].v.to(at::kDouble);
  EXPECT_EQ(model_->DecodeStep(wrong_ptr, tok).status().code(), Status::Code::kInvalidArgument);
  // None of the failed calls touched the cache.
  EXPECT_EQ(out.cache.next_position, 3);
  EXPECT_EQ(out.cache.layers[0].length, std::vector<int32_t>(4, 3));
  EXPECT_TRUE(model_->DecodeStep(one, tok).ok());
}

// Not a benchmark harness, just the numbers for the report (1 thread and all
// cores); checks that the outputs are finite.
TEST(LlamaModelThroughput, PrefillAndDecode) {
  using Clock = std::chrono::steady_clock;
  for (int threads : {1, 0}) {
    auto loaded = LoadModel(testing::Stories260KPath(), ModelLoadOptions{threads});
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    Model& model = **loaded;
    const std::vector<int32_t> prompt(512, 300);
    PrefillStatsRequest req;
    req.column_sums = true;
    req.window = 32;
    ASSERT_TRUE(model.Prefill(prompt, req).ok());  // warm-up
    auto t0 = Clock::now();
    const int reps = 3;
    for (int i = 0; i < reps; ++i) ASSERT_TRUE(model.Prefill(prompt, req).ok());
    const double prefill_s = std::chrono::duration<double>(Clock::now() - t0).count() / reps;
    std::cout << "[throughput] stories260K, " << at::get_num_threads() << " thread(s): prefill "
              << 512 / prefill_s << " tok/s (L=512, column sums + window 32)\n";

    for (int batch : {1, 16}) {
      std::vector<KvCache> caches;
      for (int b = 0; b < batch; ++b) {
        auto r = model.Prefill(std::vector<int32_t>(64, 300), {});
        ASSERT_TRUE(r.ok());
        caches.push_back(std::move(r->cache));
      }
      std::vector<KvCache*> ptrs;
      for (KvCache& c : caches) ptrs.push_back(&c);
      std::vector<int32_t> toks(batch, 301);
      const int steps = 48;
      t0 = Clock::now();
      at::Tensor logits;
      for (int s = 0; s < steps; ++s) {
        auto r = model.DecodeStep(ptrs, toks);
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        logits = *r;
      }
      const double decode_s = std::chrono::duration<double>(Clock::now() - t0).count();
      EXPECT_TRUE(at::isfinite(logits).all().item<bool>());
      std::cout << "[throughput] stories260K, " << at::get_num_threads()
                << " thread(s): decode B=" << batch << ": " << batch * steps / decode_s
                << " tok/s\n";
    }
  }
}

}  // namespace
}  // namespace kvfunda
