// SweepPlanner: expansion counts and cell identity.
#include "coordinator/core/sweep_planner.h"

#include <gtest/gtest.h>

#include <set>

#include "coord_test_util.h"

namespace kvfunda {
namespace {

using testing::FidelityParams;
using testing::Streaming;

SweepSpec GridSpec() {
  SweepSpec spec;
  spec.name = "grid";
  spec.models = {{"a", "/models/a", "base"}, {"b", "/models/b", "instruct"}};
  spec.methods = {Streaming(4), Streaming(8)};
  spec.ratios = {0.5, 0.25, 0.1};
  // Two task entries (different params, so different cells): shots [0, 5] and [8].
  spec.tasks.push_back(TaskEntry{"fidelity", {0, 5}, std::nullopt, FidelityParams(40)});
  spec.tasks.push_back(TaskEntry{"fidelity", {8}, std::nullopt, FidelityParams(20)});
  spec.limit = 30;
  spec.shard_size = 16;
  return spec;
}

const std::map<std::string, std::string> kSums = {{"a", "sum-a"}, {"b", "sum-b"}};

TEST(SweepPlannerTest, ExpansionCounts) {
  auto plan = PlanSweep(GridSpec(), kSums, "");
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  // groups: 2 models x (2 shots + 1 shots) = 6; cells per group: full + 2 x 3 = 7.
  ASSERT_EQ(plan->groups.size(), 6u);
  EXPECT_EQ(plan->cell_count(), 42);
  // samples: min(30, 40) = 30 -> 2 shards; min(30, 20) = 20 -> 2 shards.
  EXPECT_EQ(plan->shard_count(), 12);
  EXPECT_EQ(plan->results_expected(), 2 * (2 * 7 * 30 + 7 * 20));
  const PlannedGroup& g = plan->groups[0];
  EXPECT_EQ(g.group.model_id, "a");
  EXPECT_EQ(g.group.samples, 30);
  ASSERT_EQ(g.shards.size(), 2u);
  EXPECT_EQ(g.shards[0], (std::pair<int64_t, int64_t>{0, 16}));
  EXPECT_EQ(g.shards[1], (std::pair<int64_t, int64_t>{16, 30}));
  EXPECT_EQ(g.cells[0].method, "full");
  EXPECT_EQ(g.cells[0].ratio, 1.0);
  EXPECT_EQ(g.cells[0].params_json, "{}");
  EXPECT_EQ(g.cells[1].method, "streamingllm");
  std::set<std::string> ids;
  for (const auto& grp : plan->groups) {
    for (const auto& c : grp.cells) ids.insert(c.cell_id);
  }
  EXPECT_EQ(ids.size(), 42u);  // all distinct
}

TEST(SweepPlannerTest, NoLimitUsesEveryAvailableSample) {
  SweepSpec spec = GridSpec();
  spec.limit.reset();
  spec.tasks[1].limit = 7;  // per-task limit wins
  auto plan = PlanSweep(spec, kSums, "");
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->groups[0].group.samples, 40);
  EXPECT_EQ(plan->groups[2].group.samples, 7);
  EXPECT_EQ(plan->shard_count(), 2 * (2 * 3 + 1));
}

TEST(SweepPlannerTest, DataDirIsSentToWorkersButNotHashed) {
  auto a = PlanSweep(GridSpec(), kSums, "/data/one");
  auto b = PlanSweep(GridSpec(), kSums, "/data/two");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->groups[0].cells[3].cell_id, b->groups[0].cells[3].cell_id);
  auto params = nlohmann::json::parse(a->groups[0].group.task_params_json);
  EXPECT_EQ(params["data_dir"], "/data/one");
  EXPECT_EQ(params["num_samples"], 40);
}

TEST(SweepPlannerTest, TwoModelsWithTheSameFileAreRejected) {
  auto plan = PlanSweep(GridSpec(), {{"a", "same"}, {"b", "same"}}, "");
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), Status::Code::kBadInput);
  EXPECT_NE(plan.status().message().find("'a' and 'b'"), std::string::npos);
}

CellIdentity BaseIdentity() {
  CellIdentity id;
  id.model_checksum = "abc";
  id.method = "streamingllm";
  id.params = {{"sinks", 4}};
  id.ratio = 0.5;
  id.task = "fidelity";
  id.shots = 0;
  id.template_version = "fidelity-v1";
  id.task_params = FidelityParams(64);
  id.seed = 1234;
  id.decoding.max_new_tokens = 32;
  return id;
}

TEST(CellIdentityTest, SameSettingsSameId) {
  EXPECT_EQ(CellIdFor(BaseIdentity()), CellIdFor(BaseIdentity()));
  CellIdentity reordered = BaseIdentity();
  // Key order and an explicit data_dir do not matter.
  reordered.task_params = nlohmann::json::object();
  const nlohmann::json original = BaseIdentity().task_params;
  for (auto it = original.rbegin(); it != original.rend(); ++it) {
    reordered.task_params[it.key()] = it.value();
  }
  reordered.task_params["data_dir"] = "/elsewhere";
  reordered.ratio = 0.5000000001;  // prints as 0.500000
  EXPECT_EQ(CellIdFor(BaseIdentity()), CellIdFor(reordered));
  EXPECT_EQ(CellIdFor(BaseIdentity()).size(), 64u);
}

TEST(CellIdentityTest, AnyResultChangingSettingChangesTheId) {
  const std::string base = CellIdFor(BaseIdentity());
  std::vector<std::pair<std::string, CellIdentity>> variants;
  auto add = [&](const std::string& what, auto mutate) {
    CellIdentity id = BaseIdentity();
    mutate(id);
    variants.emplace_back(what, id);
  };
  add("ratio", [](CellIdentity& i) { i.ratio = 0.25; });
  add("params", [](CellIdentity& i) { i.params = {{"sinks", 8}}; });
  add("method", [](CellIdentity& i) { i.method = "h2o"; });
  add("seed", [](CellIdentity& i) { i.seed = 1235; });
  add("max_new_tokens", [](CellIdentity& i) { i.decoding.max_new_tokens = 33; });
  add("temperature", [](CellIdentity& i) { i.decoding.temperature = 0.7; });
  add("top_p", [](CellIdentity& i) { i.decoding.top_p = 0.9; });
  add("checksum", [](CellIdentity& i) { i.model_checksum = "abd"; });
  add("task", [](CellIdentity& i) { i.task = "gsm8k"; });
  add("shots", [](CellIdentity& i) { i.shots = 5; });
  add("template", [](CellIdentity& i) { i.template_version = "fidelity-v2"; });
  add("task params", [](CellIdentity& i) { i.task_params["prompt_tokens"] = 97; });
  std::set<std::string> seen = {base};
  for (const auto& [what, id] : variants) {
    EXPECT_TRUE(seen.insert(CellIdFor(id)).second) << what << " did not change the cell id";
  }
}

TEST(CellIdentityTest, PlannedCellsFollowSpecChanges) {
  auto base = PlanSweep(GridSpec(), kSums, "");
  SweepSpec seed = GridSpec();
  seed.seed = 99;
  SweepSpec tokens = GridSpec();
  tokens.decoding.max_new_tokens = 65;
  SweepSpec shard = GridSpec();
  shard.shard_size = 5;  // scheduling only: same cells
  auto a = PlanSweep(seed, kSums, "");
  auto b = PlanSweep(tokens, kSums, "");
  auto c = PlanSweep(shard, kSums, "");
  auto d = PlanSweep(GridSpec(), {{"a", "sum-a2"}, {"b", "sum-b"}}, "");
  ASSERT_TRUE(base.ok() && a.ok() && b.ok() && c.ok() && d.ok());
  const std::string id = base->groups[0].cells[2].cell_id;
  EXPECT_NE(a->groups[0].cells[2].cell_id, id);
  EXPECT_NE(b->groups[0].cells[2].cell_id, id);
  EXPECT_EQ(c->groups[0].cells[2].cell_id, id);
  EXPECT_NE(d->groups[0].cells[2].cell_id, id);
  EXPECT_EQ(d->groups[3].cells[2].cell_id, base->groups[3].cells[2].cell_id);  // model b unchanged
}

}  // namespace
}  // namespace kvfunda
