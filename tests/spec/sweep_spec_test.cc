// Good sweep specs: YAML and JSON parse with every default filled in, the canonical
// JSON round-trips, and the documented example parses.
#include "coordinator/spec/sweep_spec.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "test_support.h"

namespace kvfunda {
namespace {

SpecOptions NoPathCheck() {
  SpecOptions o;
  o.check_model_paths = false;
  return o;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(SweepSpecTest, MinimalYamlGetsDefaults) {
  const char* text = R"(name: minimal
models:
  - id: tiny
    path: /models/tiny.bin
tasks: [fidelity]
)";
  Result<SweepSpec> spec = ParseSweepSpec(text, "min.yaml", NoPathCheck());
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->name, "minimal");
  ASSERT_EQ(spec->models.size(), 1u);
  EXPECT_EQ(spec->models[0].id, "tiny");
  EXPECT_EQ(spec->models[0].path, "/models/tiny.bin");
  EXPECT_EQ(spec->models[0].type, "instruct");
  EXPECT_TRUE(spec->methods.empty());
  EXPECT_TRUE(spec->ratios.empty());
  ASSERT_EQ(spec->tasks.size(), 1u);
  EXPECT_EQ(spec->tasks[0].name, "fidelity");
  EXPECT_EQ(spec->tasks[0].shots, std::vector<int>{0});
  EXPECT_FALSE(spec->tasks[0].limit.has_value());
  EXPECT_EQ(
      spec->tasks[0].params,
      (nlohmann::json{{"num_samples", 64}, {"prompt_tokens", 96}, {"prompt_temperature", 1.0}}));
  EXPECT_FALSE(spec->limit.has_value());
  EXPECT_EQ(spec->shard_size, 16);
  EXPECT_EQ(spec->seed, 1234u);
  EXPECT_EQ(spec->max_attempts, 3);
  EXPECT_EQ(spec->decoding.max_new_tokens, 64);
  EXPECT_EQ(spec->decoding.temperature, 0.0);
  EXPECT_EQ(spec->decoding.top_p, 1.0);
  EXPECT_EQ(spec->data_dir, "");
}

TEST(SweepSpecTest, FullYamlKeepsEveryValue) {
  const char* text = R"(# every key
name: every-key_1.0
models:
  - {id: a, path: /m/a, type: base}
  - {id: org/b, path: /m/b, type: reasoning}
methods:
  - full
  - name: streamingllm
    params: {sinks: 8}
ratios: [0.9, 0.5, 1]
tasks:
  - name: fidelity
    shots: 0
    limit: 5
    params: {num_samples: 10, prompt_temperature: 1}
limit: 7
shard_size: 3
seed: 0
max_attempts: 100
decoding: {max_new_tokens: 12, temperature: 0.7, top_p: 0.95}
data_dir: /data
)";
  Result<SweepSpec> spec = ParseSweepSpec(text, "all.yaml", NoPathCheck());
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->name, "every-key_1.0");
  ASSERT_EQ(spec->models.size(), 2u);
  EXPECT_EQ(spec->models[1].id, "org/b");
  EXPECT_EQ(spec->models[1].type, "reasoning");
  // `full` is the implicit baseline and never in spec.methods.
  ASSERT_EQ(spec->methods.size(), 1u);
  EXPECT_EQ(spec->methods[0].name, "streamingllm");
  EXPECT_EQ(spec->methods[0].params, (nlohmann::json{{"sinks", 8}}));
  EXPECT_EQ(spec->ratios, (std::vector<double>{0.9, 0.5, 1.0}));
  ASSERT_EQ(spec->tasks.size(), 1u);
  EXPECT_EQ(spec->tasks[0].shots, std::vector<int>{0});
  EXPECT_EQ(spec->tasks[0].limit, 5);
  EXPECT_EQ(spec->tasks[0].params["num_samples"], 10);
  EXPECT_TRUE(spec->tasks[0].params["prompt_temperature"].is_number_float());
  EXPECT_EQ(spec->tasks[0].params["prompt_tokens"], 96);
  EXPECT_EQ(spec->limit, 7);
  EXPECT_EQ(spec->shard_size, 3);
  EXPECT_EQ(spec->seed, 0u);
  EXPECT_EQ(spec->max_attempts, 100);
  EXPECT_EQ(spec->decoding.max_new_tokens, 12);
  EXPECT_DOUBLE_EQ(spec->decoding.temperature, 0.7);
  EXPECT_DOUBLE_EQ(spec->decoding.top_p, 0.95);
  EXPECT_EQ(spec->data_dir, "/data");
}

TEST(SweepSpecTest, JsonParsesLikeYaml) {
  const char* json = R"({
  "name": "j",
  "models": [{"id": "m", "path": "/m"}],
  "methods": ["full", {"name": "streamingllm"}],
  "ratios": [0.5, 0.25],
  "tasks": [{"name": "fidelity", "shots": [0]}],
  "limit": 8,
  "shard_size": 4
})";
  const char* yaml = R"(name: j
models: [{id: m, path: /m}]
methods: [full, streamingllm]
ratios: [0.5, 0.25]
tasks: [{name: fidelity, shots: [0]}]
limit: 8
shard_size: 4
)";
  Result<SweepSpec> from_json = ParseSweepSpec(json, "s.json", NoPathCheck());
  Result<SweepSpec> from_yaml = ParseSweepSpec(yaml, "s.yaml", NoPathCheck());
  ASSERT_TRUE(from_json.ok()) << from_json.status().ToString();
  ASSERT_TRUE(from_yaml.ok()) << from_yaml.status().ToString();
  EXPECT_EQ(SweepSpecToJson(*from_json), SweepSpecToJson(*from_yaml));
  EXPECT_EQ(from_json->methods[0].params, (nlohmann::json{{"sinks", 4}}));
  EXPECT_EQ(from_json->limit, 8);
  EXPECT_EQ(from_json->shard_size, 4);
  EXPECT_EQ(from_json->seed, 1234u);
}

TEST(SweepSpecTest, CanonicalJsonRoundTripsAndFillsDefaults) {
  const char* text = R"(name: rt
models: [{id: m, path: /m}]
methods: [streamingllm]
ratios: [0.3]
tasks: [{name: fidelity, limit: 2}]
)";
  Result<SweepSpec> spec = ParseSweepSpec(text, "rt.yaml", NoPathCheck());
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  const nlohmann::json canonical = SweepSpecToJson(*spec);
  const nlohmann::json expected = nlohmann::json::parse(R"({
    "name": "rt",
    "models": [{"id": "m", "path": "/m", "type": "instruct"}],
    "methods": [{"name": "streamingllm", "params": {"sinks": 4}}],
    "ratios": [0.3],
    "tasks": [{"name": "fidelity", "shots": [0], "limit": 2,
               "params": {"num_samples": 64, "prompt_temperature": 1.0, "prompt_tokens": 96}}],
    "shard_size": 16, "seed": 1234, "max_attempts": 3,
    "decoding": {"max_new_tokens": 64, "temperature": 0.0, "top_p": 1.0},
    "data_dir": ""})");
  EXPECT_EQ(canonical, expected) << canonical.dump(2);
  EXPECT_FALSE(canonical.contains("limit"));  // unset = all samples

  Result<SweepSpec> again = ParseSweepSpec(canonical.dump(), "rt.json", NoPathCheck());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(SweepSpecToJson(*again).dump(), canonical.dump());
}

TEST(SweepSpecTest, ReadableModelPathIsAccepted) {
  const std::string text =
      "name: p\nmodels: [{id: s, path: '" + testing::Stories260KPath() + "'}]\ntasks: [fidelity]\n";
  Result<SweepSpec> spec = ParseSweepSpec(text, "p.yaml");  // checks paths by default
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->models[0].path, testing::Stories260KPath());

  // A folder (HF model layout) is a valid model path too.
  const std::string dir = testing::MakeTempDir("kvf_spec_").string();
  ASSERT_FALSE(dir.empty());
  const std::string folder_text =
      "name: p\nmodels: [{id: s, path: '" + dir + "'}]\ntasks: [fidelity]\n";
  Result<SweepSpec> folder = ParseSweepSpec(folder_text, "p.yaml");
  EXPECT_TRUE(folder.ok()) << folder.status().ToString();
}

TEST(SweepSpecTest, OnlyFullNeedsNoRatios) {
  Result<SweepSpec> spec =
      ParseSweepSpec("name: f\nmodels: [{id: m, path: /m}]\nmethods: [full]\ntasks: [fidelity]\n",
                     "f.yaml", NoPathCheck());
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_TRUE(spec->methods.empty());
  EXPECT_TRUE(spec->ratios.empty());
}

TEST(SweepSpecTest, DocumentedTinyExampleParses) {
  const std::string path = testing::SourceDir() + "/docs/examples/tiny.yaml";
  const std::string text = ReadFile(path);
  ASSERT_FALSE(text.empty()) << path;
  Result<SweepSpec> spec = ParseSweepSpec(text, "tiny.yaml", NoPathCheck());
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->models[0].path, "../shared/models/stories260K/stories260K.bin");
  ASSERT_EQ(spec->methods.size(), 1u);
  EXPECT_EQ(spec->methods[0].name, "streamingllm");
  EXPECT_EQ(spec->ratios, (std::vector<double>{0.5, 0.25}));
  EXPECT_EQ(spec->tasks[0].name, "fidelity");
  EXPECT_EQ(spec->tasks[0].shots, std::vector<int>{0});
  EXPECT_EQ(spec->limit, 8);
  EXPECT_EQ(spec->shard_size, 4);
}

TEST(SweepSpecTest, DocumentedJsonExampleParses) {
  const std::string path = testing::SourceDir() + "/docs/examples/tiny.json";
  const std::string text = ReadFile(path);
  ASSERT_FALSE(text.empty()) << path;
  Result<SweepSpec> json = ParseSweepSpec(text, "tiny.json", NoPathCheck());
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  Result<SweepSpec> yaml = ParseSweepSpec(
      ReadFile(testing::SourceDir() + "/docs/examples/tiny.yaml"), "tiny.yaml", NoPathCheck());
  ASSERT_TRUE(yaml.ok()) << yaml.status().ToString();
  EXPECT_EQ(SweepSpecToJson(*json), SweepSpecToJson(*yaml));
}

}  // namespace
}  // namespace kvfunda
