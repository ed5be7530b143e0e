// FidelityTask on the real stories260K model, and MakeTask.
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_support.h"
#include "worker/model/model.h"
#include "worker/tasks/fidelity_task.h"
#include "worker/tasks/task.h"

namespace kvfunda {
namespace {

class FidelityTaskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<Model>> model =
        LoadModel(testing::Stories260KPath(), {.num_threads = 1});
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    model_ = std::move(model).value();
  }

  std::unique_ptr<Task> Make(uint64_t seed, double temperature = 1.0, int prompt_tokens = 40) {
    Result<std::unique_ptr<Task>> task = MakeTask(
        "fidelity",
        {{"num_samples", 8}, {"prompt_tokens", prompt_tokens}, {"prompt_temperature", temperature}},
        TaskContext{.data_dir = "", .seed = seed});
    EXPECT_TRUE(task.ok()) << task.status().ToString();
    return task.ok() ? std::move(task).value() : nullptr;
  }

  TaskSample Sample(Task& task, int64_t index) {
    Result<TaskSample> sample = task.MakeSample(*model_, index, 0);
    EXPECT_TRUE(sample.ok()) << sample.status().ToString();
    return sample.ok() ? sample.value() : TaskSample{};
  }

  std::unique_ptr<Model> model_;
};

TEST_F(FidelityTaskTest, PromptsAreStoriesOfTheRequestedLength) {
  std::unique_ptr<Task> task = Make(1234);
  ASSERT_NE(task, nullptr);
  EXPECT_EQ(task->name(), "fidelity");
  const TaskSample s = Sample(*task, 0);
  const Tokenizer& tok = model_->tokenizer();
  ASSERT_EQ(s.prompt_tokens.size(), 41u);
  EXPECT_EQ(s.prompt_tokens.front(), tok.bos_id());
  for (size_t i = 1; i < s.prompt_tokens.size(); ++i) {
    EXPECT_NE(s.prompt_tokens[i], tok.bos_id());
    EXPECT_NE(s.prompt_tokens[i], tok.eos_id());
  }
  EXPECT_EQ(s.prompt_text, tok.Decode(s.prompt_tokens));
  EXPECT_GT(s.prompt_text.size(), 40u);
  EXPECT_EQ(s.index, 0);
  EXPECT_TRUE(s.shots.empty());
  EXPECT_TRUE(s.reference.empty());
}

TEST_F(FidelityTaskTest, PromptsAreDeterministicAndIndependentOfOrder) {
  std::unique_ptr<Task> a = Make(1234);
  std::unique_ptr<Task> b = Make(1234);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const TaskSample a0 = Sample(*a, 0);
  const TaskSample a3 = Sample(*a, 3);
  const TaskSample b3 = Sample(*b, 3);  // other order, other task instance
  const TaskSample b0 = Sample(*b, 0);
  EXPECT_EQ(a0.prompt_tokens, b0.prompt_tokens);
  EXPECT_EQ(a3.prompt_tokens, b3.prompt_tokens);
  EXPECT_EQ(a0.prompt_text, b0.prompt_text);
}

TEST_F(FidelityTaskTest, PromptsDifferAcrossIndicesAndSeeds) {
  std::unique_ptr<Task> task = Make(1234);
  std::unique_ptr<Task> other_seed = Make(99);
  ASSERT_NE(task, nullptr);
  ASSERT_NE(other_seed, nullptr);
  std::vector<std::vector<int32_t>> prompts;
  for (int64_t i = 0; i < 4; ++i) prompts.push_back(Sample(*task, i).prompt_tokens);
  for (size_t i = 0; i < prompts.size(); ++i) {
    for (size_t j = i + 1; j < prompts.size(); ++j) EXPECT_NE(prompts[i], prompts[j]) << i << j;
  }
  EXPECT_NE(Sample(*other_seed, 0).prompt_tokens, prompts[0]);
}

TEST_F(FidelityTaskTest, ZeroTemperatureWritesTheGreedyStory) {
  std::unique_ptr<Task> task = Make(1234, 0.0, 20);
  ASSERT_NE(task, nullptr);
  const TaskSample s0 = Sample(*task, 0);
  const TaskSample s5 = Sample(*task, 5);
  EXPECT_EQ(s0.prompt_tokens, s5.prompt_tokens);
  // The model's greedy story (see shared/README.md), minus the first words.
  EXPECT_EQ(s0.prompt_text.rfind("Once upon a time, there was a little girl named Lily", 0), 0u)
      << s0.prompt_text;
}

TEST_F(FidelityTaskTest, RejectsBadSamples) {
  std::unique_ptr<Task> task = Make(1234);
  ASSERT_NE(task, nullptr);
  for (int64_t index : {-1, 8, 100}) {
    Result<TaskSample> s = task->MakeSample(*model_, index, 0);
    ASSERT_FALSE(s.ok()) << index;
    EXPECT_EQ(s.status().code(), Status::Code::kBadInput);
  }
  Result<TaskSample> shots = task->MakeSample(*model_, 0, 1);
  ASSERT_FALSE(shots.ok());
  EXPECT_EQ(shots.status().code(), Status::Code::kBadInput);

  std::unique_ptr<Task> too_long = Make(1234, 1.0, 600);  // the model's context is 512
  ASSERT_NE(too_long, nullptr);
  Result<TaskSample> s = too_long->MakeSample(*model_, 0, 0);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Status::Code::kBadInput);
  EXPECT_NE(s.status().message().find("context"), std::string::npos) << s.status().ToString();
}

TEST(FidelityScoreTest, ExactMatchAndPrefixAgreement) {
  const FidelityTask task(FidelityParams{}, 1);
  TaskSample sample;
  sample.prompt_tokens = {1, 5, 6};
  Generation full{.tokens = {10, 11, 12, 13}, .text = "abcd"};
  Generation same = full;
  Generation diverged{.tokens = {10, 11, 99, 13}, .text = "abzd"};
  Generation shorter{.tokens = {10, 11, 12}, .text = "abc"};
  Generation first_wrong{.tokens = {7, 11, 12, 13}, .text = "xbcd"};

  SampleScore s = task.Score(sample, same, full);
  EXPECT_EQ(s.score, 1.0);
  EXPECT_EQ(s.metrics.at("prefix_agree"), 4.0);
  s = task.Score(sample, diverged, full);
  EXPECT_EQ(s.score, 0.0);
  EXPECT_EQ(s.metrics.at("prefix_agree"), 2.0);
  s = task.Score(sample, shorter, full);
  EXPECT_EQ(s.score, 0.0);
  EXPECT_EQ(s.metrics.at("prefix_agree"), 3.0);
  s = task.Score(sample, first_wrong, full);
  EXPECT_EQ(s.score, 0.0);
  EXPECT_EQ(s.metrics.at("prefix_agree"), 0.0);
  EXPECT_EQ(s.detail.at("full_cache_tokens"), 4);
}

TEST(MakeTaskTest, RejectsUnknownTasksAndBadParams) {
  Result<std::unique_ptr<Task>> unknown = MakeTask("nosuch", nlohmann::json::object(), {});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), Status::Code::kBadInput);
  for (const nlohmann::json& params :
       {nlohmann::json{{"prompt_tokens", "many"}}, nlohmann::json{{"bogus", 1}},
        nlohmann::json{{"prompt_temperature", -1.0}}}) {
    Result<std::unique_ptr<Task>> bad = MakeTask("fidelity", params, {});
    ASSERT_FALSE(bad.ok()) << params.dump();
    EXPECT_EQ(bad.status().code(), Status::Code::kBadInput) << bad.status().ToString();
  }
  Result<std::unique_ptr<Task>> defaults = MakeTask("fidelity", nullptr, {});
  ASSERT_TRUE(defaults.ok()) << defaults.status().ToString();
}

}  // namespace
}  // namespace kvfunda
