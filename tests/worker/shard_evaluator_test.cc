// ShardEvaluator on the real stories260K model: the fidelity metrics, the shared
// prefill (one Run over many cells == one Run per cell), done pairs, cancellation
// and error kinds.
#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_support.h"
#include "worker/shard_evaluator.h"

namespace kvfunda {
namespace {

// Collects what the evaluator reports.
class VectorSink final : public ResultSink {
 public:
  explicit VectorSink(int stop_after_samples = -1) : stop_after_(stop_after_samples) {}
  Status Report(std::vector<v1::SampleResult> batch) override {
    ++reports;
    for (auto& row : batch) rows.push_back(std::move(row));
    return Status::Ok();
  }
  void Progress(int64_t samples_done) override { progress.push_back(samples_done); }
  bool ShouldStop() override {
    return stop_after_ >= 0 && static_cast<int>(progress.size()) >= stop_after_;
  }

  std::vector<v1::SampleResult> rows;
  std::vector<int64_t> progress;
  int reports = 0;

 private:
  const int stop_after_;
};

struct CellArg {
  std::string method;
  double ratio;
};

v1::ShardAssignment MakeShard(const std::vector<CellArg>& cells, int64_t begin, int64_t end,
                              int max_new_tokens = 24, double temperature = 0.0) {
  v1::ShardAssignment shard;
  shard.set_shard_id(7);
  shard.mutable_model()->set_id("stories260k");
  shard.mutable_model()->set_path(testing::Stories260KPath());
  shard.mutable_model()->set_checksum("test-checksum");
  shard.set_task("fidelity");
  shard.set_shots(0);
  shard.set_sample_begin(begin);
  shard.set_sample_end(end);
  for (const CellArg& c : cells) {
    v1::Cell* cell = shard.add_cells();
    cell->set_cell_id(c.method + "@" + std::to_string(c.ratio));
    cell->set_model_id("stories260k");
    cell->set_method(c.method);
    cell->set_params_json(c.method == "streamingllm" ? R"({"sinks":4})" : "{}");
    cell->set_ratio(c.ratio);
    cell->set_task("fidelity");
    cell->set_shots(0);
  }
  shard.mutable_decoding()->set_max_new_tokens(max_new_tokens);
  shard.mutable_decoding()->set_temperature(temperature);
  shard.mutable_decoding()->set_top_p(0.9);
  shard.mutable_decoding()->set_seed(1234);
  shard.set_task_params_json(
      R"({"num_samples": 16, "prompt_tokens": 48, "prompt_temperature": 1.0, "seed": 1234})");
  return shard;
}

using RowKey = std::pair<std::string, int64_t>;
std::map<RowKey, v1::SampleResult> ByKey(const std::vector<v1::SampleResult>& rows) {
  std::map<RowKey, v1::SampleResult> out;
  for (const auto& row : rows) {
    EXPECT_TRUE(out.emplace(RowKey{row.cell_id(), row.sample_idx()}, row).second)
        << "duplicate row " << row.cell_id() << " " << row.sample_idx();
  }
  return out;
}

class ShardEvaluatorTest : public ::testing::Test {
 protected:
  Status Run(const v1::ShardAssignment& shard, VectorSink& sink, int max_batch = 16) {
    ShardEvaluator evaluator(models_, EvaluatorOptions{.max_batch = max_batch});
    return evaluator.Run(shard, sink);
  }
  ModelCache models_{1};
};

TEST_F(ShardEvaluatorTest, FullCellMatchesItselfAndRatioOneMatchesFull) {
  VectorSink sink;
  const v1::ShardAssignment shard =
      MakeShard({{"full", 1.0}, {"streamingllm", 1.0}, {"streamingllm", 0.25}}, 0, 3);
  ASSERT_TRUE(Run(shard, sink).ok());
  EXPECT_EQ(sink.reports, 3);
  EXPECT_EQ(sink.progress, (std::vector<int64_t>{1, 2, 3}));
  ASSERT_EQ(sink.rows.size(), 9u);
  EXPECT_EQ(models_.loaded_checksum(), "test-checksum");
  double kl_quarter = 0;
  for (int64_t s = 0; s < 3; ++s) {
    const v1::SampleResult& full = sink.rows[static_cast<size_t>(3 * s)];
    const v1::SampleResult& one = sink.rows[static_cast<size_t>(3 * s + 1)];
    const v1::SampleResult& quarter = sink.rows[static_cast<size_t>(3 * s + 2)];
    EXPECT_EQ(full.cell_id(), shard.cells(0).cell_id());
    EXPECT_EQ(full.sample_idx(), s);
    EXPECT_EQ(full.score(), 1.0);
    EXPECT_EQ(full.metrics().at("exact_match"), 1.0);
    EXPECT_EQ(full.metrics().at("kl_mean"), 0.0);
    EXPECT_EQ(full.metrics().at("prefix_agree"), full.output_tokens());
    EXPECT_EQ(full.prompt_tokens(), 49);
    EXPECT_GT(full.output_tokens(), 0);
    EXPECT_LE(full.output_tokens(), 24);
    EXPECT_FALSE(full.prediction().empty());
    EXPECT_EQ(full.reference(), full.prediction());
    EXPECT_GT(full.prefill_ms(), 0.0);
    EXPECT_GT(full.kv_bytes_peak(), 0);
    const nlohmann::json detail = nlohmann::json::parse(full.detail_json());
    EXPECT_EQ(detail.at("budget"), 49);
    EXPECT_FALSE(detail.at("prompt").get<std::string>().empty());

    EXPECT_EQ(one.prediction(), full.prediction());
    EXPECT_EQ(one.metrics().at("exact_match"), 1.0);
    EXPECT_EQ(one.score(), 1.0);
    EXPECT_LT(one.metrics().at("kl_mean"), 1e-9);
    EXPECT_EQ(one.kv_bytes_peak(), full.kv_bytes_peak());
    EXPECT_EQ(one.prefill_ms(), full.prefill_ms());  // one shared prefill

    // 25% of 49 prompt entries kept: 12, plus room for 24 tokens.
    EXPECT_EQ(nlohmann::json::parse(quarter.detail_json()).at("budget"), 12);
    EXPECT_LT(quarter.kv_bytes_peak(), full.kv_bytes_peak());
    EXPECT_EQ(quarter.kv_bytes_peak() * (49 + 24), full.kv_bytes_peak() * (12 + 24));
    EXPECT_EQ(quarter.reference(), full.prediction());
    EXPECT_EQ(quarter.score(), quarter.metrics().at("exact_match"));
    EXPECT_GE(quarter.metrics().at("kl_mean"), 0.0);
    kl_quarter += quarter.metrics().at("kl_mean");
  }
  EXPECT_GT(kl_quarter, 1e-3);  // dropping 75% of the prompt changes the distributions
}

// The central property: evaluating many cells from one prefill gives exactly
// what evaluating each cell on its own gives.
TEST_F(ShardEvaluatorTest, SharedPrefillEqualsOneCellPerShard) {
  const std::vector<CellArg> cells = {
      {"full", 1.0}, {"streamingllm", 0.5}, {"streamingllm", 0.25}, {"streamingllm", 0.1}};
  VectorSink together_sink;
  ASSERT_TRUE(Run(MakeShard(cells, 0, 4), together_sink, /*max_batch=*/2).ok());
  VectorSink alone_sink;
  for (const CellArg& c : cells) ASSERT_TRUE(Run(MakeShard({c}, 0, 4), alone_sink).ok());

  const auto together = ByKey(together_sink.rows);
  const auto alone = ByKey(alone_sink.rows);
  ASSERT_EQ(together.size(), 16u);
  ASSERT_EQ(alone.size(), 16u);
  int diverged = 0;
  for (const auto& [key, a] : together) {
    SCOPED_TRACE(key.first + " sample " + std::to_string(key.second));
    ASSERT_TRUE(alone.contains(key));
    const v1::SampleResult& b = alone.at(key);
    EXPECT_EQ(a.prediction(), b.prediction());
    EXPECT_EQ(a.reference(), b.reference());
    EXPECT_EQ(a.output_tokens(), b.output_tokens());
    EXPECT_EQ(a.prompt_tokens(), b.prompt_tokens());
    EXPECT_EQ(a.score(), b.score());
    EXPECT_EQ(a.kv_bytes_peak(), b.kv_bytes_peak());
    EXPECT_EQ(a.kv_bytes_final(), b.kv_bytes_final());
    ASSERT_EQ(a.metrics().size(), b.metrics().size());
    for (const auto& [name, value] : a.metrics()) {
      EXPECT_NEAR(value, b.metrics().at(name), 1e-5) << name;
    }
    if (a.metrics().at("exact_match") == 0) ++diverged;
  }
  // The test only means something if some compressed cells left the reference.
  EXPECT_GT(diverged, 0);
}

TEST_F(ShardEvaluatorTest, SeededSamplingIsReproducibleAndRatioOneMatchesFull) {
  const v1::ShardAssignment shard = MakeShard(
      {{"full", 1.0}, {"streamingllm", 1.0}, {"streamingllm", 0.2}}, 2, 4, 24, /*temperature=*/0.8);
  VectorSink first;
  VectorSink second;
  ASSERT_TRUE(Run(shard, first).ok());
  ASSERT_TRUE(Run(shard, second, 1).ok());
  ASSERT_EQ(first.rows.size(), 6u);
  ASSERT_EQ(second.rows.size(), 6u);
  for (size_t i = 0; i < first.rows.size(); ++i) {
    EXPECT_EQ(first.rows[i].prediction(), second.rows[i].prediction());
  }
  for (size_t s = 0; s < 2; ++s) {
    EXPECT_EQ(first.rows[3 * s + 1].prediction(), first.rows[3 * s].prediction());
    EXPECT_EQ(first.rows[3 * s + 1].metrics().at("exact_match"), 1.0);
  }
  // Sampling differs from greedy decoding of the same prompts.
  VectorSink greedy;
  ASSERT_TRUE(Run(MakeShard({{"full", 1.0}}, 2, 4), greedy).ok());
  EXPECT_TRUE(greedy.rows[0].prediction() != first.rows[0].prediction() ||
              greedy.rows[1].prediction() != first.rows[3].prediction());
}

TEST_F(ShardEvaluatorTest, DonePairsAreSkipped) {
  v1::ShardAssignment shard =
      MakeShard({{"full", 1.0}, {"streamingllm", 0.5}, {"streamingllm", 0.25}}, 0, 3);
  VectorSink all;
  ASSERT_TRUE(Run(shard, all).ok());
  const auto all_rows = ByKey(all.rows);

  // Sample 1 is fully done; sample 0 has its full and 0.25 cells done.
  for (auto [cell, sample] : std::vector<std::pair<int, int64_t>>{{0, 1}, {1, 1}, {2, 1}, {0, 0}, {2, 0}}) {
    auto* done = shard.add_done();
    done->set_cell_index(cell);
    done->set_sample_idx(sample);
  }
  VectorSink sink;
  ASSERT_TRUE(Run(shard, sink).ok());
  EXPECT_EQ(sink.reports, 2);  // nothing reported for sample 1
  EXPECT_EQ(sink.progress, (std::vector<int64_t>{1, 2, 3}));
  const auto rows = ByKey(sink.rows);
  ASSERT_EQ(rows.size(), 4u);
  const std::vector<RowKey> expected = {{shard.cells(1).cell_id(), 0},
                                        {shard.cells(0).cell_id(), 2},
                                        {shard.cells(1).cell_id(), 2},
                                        {shard.cells(2).cell_id(), 2}};
  for (const RowKey& key : expected) {
    ASSERT_TRUE(rows.contains(key)) << key.first << " " << key.second;
    EXPECT_EQ(rows.at(key).prediction(), all_rows.at(key).prediction());
    EXPECT_NEAR(rows.at(key).metrics().at("kl_mean"), all_rows.at(key).metrics().at("kl_mean"),
                1e-5);
  }
}

TEST_F(ShardEvaluatorTest, AllDoneLoadsNoModel) {
  v1::ShardAssignment shard = MakeShard({{"full", 1.0}}, 0, 2);
  shard.mutable_model()->set_path("/nonexistent/model.bin");
  for (int64_t s = 0; s < 2; ++s) {
    auto* done = shard.add_done();
    done->set_cell_index(0);
    done->set_sample_idx(s);
  }
  VectorSink sink;
  ASSERT_TRUE(Run(shard, sink).ok());
  EXPECT_EQ(sink.reports, 0);
  EXPECT_EQ(sink.progress, (std::vector<int64_t>{1, 2}));
}

TEST_F(ShardEvaluatorTest, StopAfterTheFirstSampleIsCancelled) {
  VectorSink sink(/*stop_after_samples=*/1);
  const Status status = Run(MakeShard({{"full", 1.0}, {"streamingllm", 0.5}}, 0, 4), sink);
  EXPECT_EQ(status.code(), Status::Code::kCancelled) << status.ToString();
  EXPECT_EQ(sink.reports, 1);
  EXPECT_EQ(sink.rows.size(), 2u);
  EXPECT_EQ(sink.progress, (std::vector<int64_t>{1}));
}

TEST_F(ShardEvaluatorTest, ErrorsCarryTheFailShardKind) {
  {
    v1::ShardAssignment shard = MakeShard({{"full", 1.0}}, 0, 1);
    shard.mutable_model()->set_path(testing::SharedDir() + "/models/none.bin");
    VectorSink sink;
    EXPECT_EQ(Run(shard, sink).code(), Status::Code::kModelLoad);
    EXPECT_TRUE(sink.rows.empty());
  }
  {
    VectorSink sink;
    const Status s = Run(MakeShard({{"h9o", 0.5}}, 0, 1), sink);
    EXPECT_EQ(s.code(), Status::Code::kBadInput) << s.ToString();
    EXPECT_NE(s.message().find("h9o"), std::string::npos) << s.ToString();
  }
  {
    v1::ShardAssignment shard = MakeShard({{"streamingllm", 0.5}}, 0, 1);
    shard.mutable_cells(0)->set_params_json(R"({"sinks": "x"})");
    VectorSink sink;
    EXPECT_EQ(Run(shard, sink).code(), Status::Code::kBadInput);
  }
  {
    // 481 prompt tokens + 64 new ones do not fit the 512-token context.
    v1::ShardAssignment shard = MakeShard({{"full", 1.0}}, 0, 1, 64);
    shard.set_task_params_json(R"({"num_samples": 4, "prompt_tokens": 480})");
    VectorSink sink;
    const Status s = Run(shard, sink);
    EXPECT_EQ(s.code(), Status::Code::kBadInput) << s.ToString();
    EXPECT_NE(s.message().find("context"), std::string::npos) << s.ToString();
  }
  {
    v1::ShardAssignment shard = MakeShard({{"full", 1.0}}, 0, 1);
    shard.mutable_decoding()->set_max_new_tokens(0);
    VectorSink sink;
    EXPECT_EQ(Run(shard, sink).code(), Status::Code::kBadInput);
  }
  {
    VectorSink sink;
    EXPECT_EQ(Run(MakeShard({{"full", 1.0}}, 0, 1), sink, /*max_batch=*/0).code(),
              Status::Code::kBadInput);
  }
}

}  // namespace
}  // namespace kvfunda
