// The new methods through the ShardEvaluator on the real stories260K model: one
// shared prefill serves H2O (column sums) and the SnapKV family (window attention
// with the largest window asked for) at once, and gives what each cell gives on
// its own; ratio 1.0 reproduces the full cache.
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

class VectorSink final : public ResultSink {
 public:
  Status Report(std::vector<v1::SampleResult> batch) override {
    for (auto& row : batch) rows.push_back(std::move(row));
    return Status::Ok();
  }
  void Progress(int64_t /*samples_done*/) override {}
  bool ShouldStop() override { return false; }
  std::vector<v1::SampleResult> rows;
};

struct CellArg {
  std::string method;
  double ratio;
  std::string params = "{}";
};

v1::ShardAssignment MakeShard(const std::vector<CellArg>& cells, int64_t begin, int64_t end) {
  v1::ShardAssignment shard;
  shard.set_shard_id(3);
  shard.mutable_model()->set_id("stories260k");
  shard.mutable_model()->set_path(testing::Stories260KPath());
  shard.mutable_model()->set_checksum("test-checksum");
  shard.set_task("fidelity");
  shard.set_shots(0);
  shard.set_sample_begin(begin);
  shard.set_sample_end(end);
  for (const CellArg& c : cells) {
    v1::Cell* cell = shard.add_cells();
    cell->set_cell_id(c.method + c.params + "@" + std::to_string(c.ratio));
    cell->set_model_id("stories260k");
    cell->set_method(c.method);
    cell->set_params_json(c.params);
    cell->set_ratio(c.ratio);
    cell->set_task("fidelity");
    cell->set_shots(0);
  }
  shard.mutable_decoding()->set_max_new_tokens(16);
  shard.mutable_decoding()->set_temperature(0.0);
  shard.mutable_decoding()->set_top_p(1.0);
  shard.mutable_decoding()->set_seed(99);
  shard.set_task_params_json(
      R"({"num_samples": 8, "prompt_tokens": 48, "prompt_temperature": 1.0, "seed": 77})");
  return shard;
}

std::map<std::pair<std::string, int64_t>, v1::SampleResult> ByKey(
    const std::vector<v1::SampleResult>& rows) {
  std::map<std::pair<std::string, int64_t>, v1::SampleResult> out;
  for (const auto& row : rows) out.emplace(std::make_pair(row.cell_id(), row.sample_idx()), row);
  return out;
}

TEST(MethodsEvaluatorTest, SharedPrefillEqualsOneCellPerShard) {
  const std::vector<CellArg> cells = {
      {"full", 1.0},        {"h2o", 0.3},     {"snapkv", 0.3},
      {"snapkv", 0.3, R"({"window": 4, "pooling": "avg"})"},
      {"pyramidkv", 0.3},   {"chunkkv", 0.3}, {"chunkkv", 0.5, R"({"reuse_layers": 2})"},
      {"snapkv", 1.0},      {"h2o", 1.0},     {"chunkkv", 1.0}};
  ModelCache models(1);
  VectorSink together;
  {
    ShardEvaluator evaluator(models, EvaluatorOptions{.max_batch = 4});
    const Status s = evaluator.Run(MakeShard(cells, 0, 2), together);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  VectorSink alone;
  for (const CellArg& c : cells) {
    ShardEvaluator evaluator(models, EvaluatorOptions{.max_batch = 4});
    const Status s = evaluator.Run(MakeShard({c}, 0, 2), alone);
    ASSERT_TRUE(s.ok()) << c.method << ": " << s.ToString();
  }
  const auto a = ByKey(together.rows);
  const auto b = ByKey(alone.rows);
  ASSERT_EQ(a.size(), cells.size() * 2);
  ASSERT_EQ(b.size(), cells.size() * 2);
  int diverged = 0;
  for (const auto& [key, row] : a) {
    SCOPED_TRACE(key.first + " sample " + std::to_string(key.second));
    ASSERT_TRUE(b.contains(key));
    const v1::SampleResult& other = b.at(key);
    EXPECT_EQ(row.prediction(), other.prediction());
    EXPECT_EQ(row.kv_bytes_peak(), other.kv_bytes_peak());
    EXPECT_NEAR(row.metrics().at("kl_mean"), other.metrics().at("kl_mean"), 1e-5);
    const nlohmann::json detail = nlohmann::json::parse(row.detail_json());
    const v1::SampleResult& full = a.at({"full{}@" + std::to_string(1.0), key.second});
    if (key.first.ends_with("@" + std::to_string(1.0))) {
      EXPECT_EQ(row.prediction(), full.prediction());
      EXPECT_EQ(row.metrics().at("exact_match"), 1.0);
      EXPECT_EQ(row.kv_bytes_peak(), full.kv_bytes_peak());
    } else {
      EXPECT_LT(row.kv_bytes_peak(), full.kv_bytes_peak());
      EXPECT_LT(detail.at("budget").get<int>(), row.prompt_tokens());
      if (row.metrics().at("exact_match") == 0) ++diverged;
    }
  }
  EXPECT_GT(diverged, 0);  // compression changed something, so equality means something
}

}  // namespace
}  // namespace kvfunda
