// A table of bad sweep specs and the message each must get: the source, the line
// and the field path, in the format "<source>:<line>: <field>: <problem>".
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "coordinator/spec/sweep_spec.h"

namespace kvfunda {
namespace {

struct BadSpec {
  std::string label;     // test name
  std::string text;      // the spec
  std::string expected;  // a substring the message must contain
  bool check_paths = false;
  std::string source = "sweep.yaml";
};

// Lines 1-7 of a valid spec; rows append to it or replace parts of it.
const char* const kHead = R"(name: t
models:
  - {id: m, path: /models/m.bin, type: base}
methods: [full, streamingllm]
ratios: [0.5, 0.25]
tasks:
  - {name: fidelity, shots: [0]}
)";

std::string Head() { return kHead; }

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "test table bug: '" << from << "' not in the spec";
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

std::vector<BadSpec> Table() {
  return {
      {"UnknownTopLevelKey", Head() + "colour: red\n",
       "sweep.yaml:8: colour: unknown key (allowed: name, models, methods, ratios, tasks, limit, "
       "shard_size, seed, max_attempts, decoding, data_dir)"},
      {"UnknownModelKey", Replace(Head(), "type: base}", "colour: x}"),
       "sweep.yaml:3: models[0].colour: unknown key (allowed: id, path, type)"},
      {"UnknownDecodingKey", Head() + "decoding:\n  beam: 4\n",
       "sweep.yaml:9: decoding.beam: unknown key (allowed: max_new_tokens, temperature, top_p)"},
      {"UnknownTaskKey", Replace(Head(), "shots: [0]}", "shot: [0]}"),
       "sweep.yaml:7: tasks[0].shot: unknown key (allowed: name, shots, limit, params)"},
      {"UnknownMethod", Replace(Head(), "[full, streamingllm]", "[full, h9o]"),
       "sweep.yaml:4: methods[1]: unknown method 'h9o' (known: full, streamingllm, h2o, snapkv, "
       "pyramidkv, chunkkv)"},
      {"UnknownTask", Replace(Head(), "name: fidelity", "name: mmlu"),
       "sweep.yaml:7: tasks[0].name: unknown task 'mmlu' (known: fidelity)"},
      {"RatioZero", Replace(Head(), "[0.5, 0.25]", "[0.5, 0]"),
       "sweep.yaml:5: ratios[1]: 0 is outside (0, 1]"},
      {"RatioAboveOneBlockList",
       Replace(Head(), "ratios: [0.5, 0.25]\n", "ratios:\n  - 0.5\n  - 0.25\n  - 1.5\n"),
       "sweep.yaml:8: ratios[2]: 1.5 is outside (0, 1]"},
      {"RatioNegative", Replace(Head(), "[0.5, 0.25]", "[-0.1]"),
       "sweep.yaml:5: ratios[0]: -0.1 is outside (0, 1]"},
      {"RatioNotANumber", Replace(Head(), "[0.5, 0.25]", "[0.5, abc]"),
       "sweep.yaml:5: ratios[1]: expected a number, got 'abc'"},
      {"RatioQuoted", Replace(Head(), "[0.5, 0.25]", "[\"0.5\"]"),
       "sweep.yaml:5: ratios[0]: expected a number, got the quoted string \"0.5\""},
      {"RatioDuplicate", Replace(Head(), "[0.5, 0.25]", "[0.5, 0.25, 0.50]"),
       "sweep.yaml:5: ratios[2]: duplicate ratio 0.50 (also ratios[0])"},
      {"RatiosMissingWithMethods", Replace(Head(), "ratios: [0.5, 0.25]\n", ""),
       "sweep.yaml:1: ratios: at least one ratio is required when methods other than full"},
      {"ShotsDuplicate", Replace(Head(), "shots: [0]", "shots: [0, 0]"),
       "sweep.yaml:7: tasks[0].shots[1]: duplicate shots 0"},
      {"ShotsNotAllowed", Replace(Head(), "shots: [0]", "shots: [0, 5]"),
       "sweep.yaml:7: tasks[0].shots[1]: 5 shots is not allowed for task 'fidelity' (allowed: 0)"},
      {"ShotsNotAllowedScalar", Replace(Head(), "shots: [0]", "shots: 3"),
       "sweep.yaml:7: tasks[0].shots: 3 shots is not allowed for task 'fidelity'"},
      {"ShotsNegative", Replace(Head(), "shots: [0]", "shots: [-1]"),
       "sweep.yaml:7: tasks[0].shots[0]: -1 is outside [0, 1024]"},
      {"DuplicateModelId",
       Replace(Head(), "type: base}\n", "type: base}\n  - {id: m, path: /models/n.bin}\n"),
       "sweep.yaml:4: models[1].id: duplicate model id 'm' (also models[0])"},
      {"DuplicateYamlKey", Head() + "seed: 1\nlimit: 4\nseed: 2\n",
       "sweep.yaml:10: seed: duplicate key (first at line 8)"},
      {"DuplicateNestedYamlKey", Replace(Head(), "type: base}", "type: base, id: n}"),
       "sweep.yaml:3: models[0].id: duplicate key (first at line 3)"},
      {"DuplicateMethod", Replace(Head(), "[full, streamingllm]", "[streamingllm, streamingllm]"),
       "sweep.yaml:4: methods[1]: duplicate method 'streamingllm'"},
      {"DuplicateTask", Head() + "  - {name: fidelity, shots: [0]}\n",
       "sweep.yaml:8: tasks[1]: duplicate task 'fidelity' (also tasks[0])"},
      {"MissingName", Replace(Head(), "name: t\n", ""),
       "sweep.yaml:1: name: required key is missing"},
      {"NullName", Replace(Head(), "name: t\n", "name:\n"),
       "sweep.yaml:1: name: expected a string, got nothing (null)"},
      {"NullLimitMidFile", Replace(Head(), "name: t\n", "name: t\nlimit:\n"),
       "sweep.yaml:2: limit: expected an integer, got nothing (null)"},
      {"BadName", Replace(Head(), "name: t\n", "name: my sweep!\n"),
       "sweep.yaml:1: name: 'my sweep!' must be 1-100 characters"},
      {"MissingModels",
       Replace(Head(), "models:\n  - {id: m, path: /models/m.bin, type: base}\n", ""),
       "sweep.yaml:1: models: required key is missing"},
      {"EmptyModels",
       Replace(Head(), "models:\n  - {id: m, path: /models/m.bin, type: base}\n", "models: []\n"),
       "sweep.yaml:2: models: at least one model is required"},
      {"MissingModelPath", Replace(Head(), "path: /models/m.bin, ", ""),
       "sweep.yaml:3: models[0].path: required key is missing"},
      {"UnreadableModelPath", Head(),
       "sweep.yaml:3: models[0].path: cannot read '/models/m.bin': No such file or directory",
       true},
      {"UnreadableRelativeModelPath", Replace(Head(), "/models/m.bin", "no-such-dir/m.bin"),
       "sweep.yaml:3: models[0].path: cannot read 'no-such-dir/m.bin' (relative to ", true},
      {"BadModelType", Replace(Head(), "type: base", "type: chat"),
       "sweep.yaml:3: models[0].type: 'chat' is not one of: instruct, base, reasoning"},
      {"ModelsNotAList",
       Replace(Head(), "models:\n  - {id: m, path: /models/m.bin, type: base}\n", "models: 5\n"),
       "sweep.yaml:2: models: expected a list, got '5'"},
      {"MissingTasks", Replace(Head(), "tasks:\n  - {name: fidelity, shots: [0]}\n", ""),
       "sweep.yaml:1: tasks: required key is missing"},
      {"LimitZero", Head() + "limit: 0\n",
       "sweep.yaml:8: limit: must be a positive integer, got 0"},
      {"LimitNegative", Head() + "limit: -3\n",
       "sweep.yaml:8: limit: must be a positive integer, got -3"},
      {"LimitNotInteger", Head() + "limit: 2.5\n",
       "sweep.yaml:8: limit: expected an integer, got '2.5'"},
      {"TaskLimitZero", Replace(Head(), "shots: [0]}", "shots: [0], limit: 0}"),
       "sweep.yaml:7: tasks[0].limit: must be a positive integer, got 0"},
      {"ShardSizeZero", Head() + "shard_size: 0\n",
       "sweep.yaml:8: shard_size: must be a positive integer, got 0"},
      {"MaxAttemptsZero", Head() + "max_attempts: 0\n",
       "sweep.yaml:8: max_attempts: 0 is outside [1, 100]"},
      {"MaxAttemptsTooMany", Head() + "max_attempts: 101\n",
       "sweep.yaml:8: max_attempts: 101 is outside [1, 100]"},
      {"SeedNegative", Head() + "seed: -1\n", "sweep.yaml:8: seed: -1 is outside [0, "},
      {"TopPZero", Head() + "decoding: {top_p: 0}\n",
       "sweep.yaml:8: decoding.top_p: 0 is outside (0, 1]"},
      {"TemperatureNegative", Head() + "decoding:\n  temperature: -1\n",
       "sweep.yaml:9: decoding.temperature: -1 is negative"},
      {"MaxNewTokensZero", Head() + "decoding:\n  max_new_tokens: 0\n",
       "sweep.yaml:9: decoding.max_new_tokens: must be a positive integer, got 0"},
      {"MethodParamUnknown",
       Replace(Head(), "[full, streamingllm]", "[{name: streamingllm, params: {window: 8}}]"),
       "sweep.yaml:4: methods[0].params: unknown parameter 'window' (known: sinks)"},
      {"MethodParamOutOfRange",
       Replace(Head(), "methods: [full, streamingllm]\n",
               "methods:\n  - name: streamingllm\n    params:\n      sinks: 5000\n"),
       "sweep.yaml:7: methods[0].params: parameter 'sinks': 5000 is outside [0, 1024]"},
      {"MethodParamWrongType",
       Replace(Head(), "[full, streamingllm]", "[{name: streamingllm, params: {sinks: many}}]"),
       "sweep.yaml:4: methods[0].params: parameter 'sinks': expected an integer, got \"many\""},
      {"MethodParamsNotAMap",
       Replace(Head(), "[full, streamingllm]", "[{name: streamingllm, params: [1]}]"),
       "sweep.yaml:4: methods[0].params: parameters must be a map"},
      {"FullTakesNoParams",
       Replace(Head(), "[full, streamingllm]", "[{name: full, params: {a: 1}}]"),
       "sweep.yaml:4: methods[0].params: unknown parameter 'a' (known: none)"},
      {"TaskParamOutOfRange",
       Replace(Head(), "shots: [0]}", "shots: [0], params: {prompt_tokens: 4}}"),
       "sweep.yaml:7: tasks[0].params: parameter 'prompt_tokens': 4 is outside [8, 4096]"},
      {"YamlSyntaxError", "name: t\nmodels: [a, b\ntasks: x\n",
       "sweep.yaml:3: YAML syntax error: end of sequence flow not found"},
      {"YamlTab", "name: t\nmodels:\n\t- x\n", "sweep.yaml:3: YAML syntax error: "},
      {"YamlBadIndent", "name: t\nmodels:\n  - id: m\n   path: x\n",
       "sweep.yaml:4: YAML syntax error: "},
      {"JsonSyntaxError", "{\"name\": \"t\",\n \"models\": [}\n",
       "sweep.json:2: JSON syntax error: ", false, "sweep.json"},
      {"JsonTrailingComma", "{\"name\": \"t\",\n \"seed\": 1,\n}\n",
       "sweep.json:3: JSON syntax error: ", false, "sweep.json"},
      {"JsonRatioOutOfRange",
       "{\"name\": \"t\",\n \"models\": [{\"id\": \"m\", \"path\": \"/m\"}],\n"
       " \"methods\": [\"streamingllm\"],\n \"ratios\": [0.5,\n   2],\n"
       " \"tasks\": [{\"name\": \"fidelity\", \"shots\": 0}]}\n",
       "sweep.json:5: ratios[1]: 2 is outside (0, 1]", false, "sweep.json"},
      {"JsonDuplicateKey",
       "{\"name\": \"t\",\n \"models\": [{\"id\": \"m\", \"path\": \"/m\"}],\n"
       " \"tasks\": [\"fidelity\"],\n \"name\": \"u\"}\n",
       "sweep.json:4: name: duplicate key (first at line 1)", false, "sweep.json"},
      {"EmptySpec", "  \n\n", "sweep.yaml:1: (top level): the spec is empty"},
      {"TopLevelList", "- a\n- b\n", "sweep.yaml:1: (top level): a sweep spec must be a map"},
      {"TwoDocuments", Head() + "---\nname: u\n",
       "sweep.yaml:9: (top level): a spec is one YAML document"},
  };
}

TEST(SweepSpecErrorsTest, EveryBadSpecGetsItsMessage) {
  const std::vector<BadSpec> table = Table();
  ASSERT_GE(table.size(), 20u);
  for (const BadSpec& row : table) {
    SCOPED_TRACE(row.label + "\n" + row.text);
    SpecOptions options;
    options.check_model_paths = row.check_paths;
    Result<SweepSpec> spec = ParseSweepSpec(row.text, row.source, options);
    ASSERT_FALSE(spec.ok()) << "accepted a bad spec";
    EXPECT_EQ(spec.status().code(), Status::Code::kBadInput);
    EXPECT_NE(spec.status().message().find(row.expected), std::string::npos)
        << "message: " << spec.status().message() << "\nexpected to contain: " << row.expected;
  }
}

// The head of the table is itself valid: each row fails because of its own change.
TEST(SweepSpecErrorsTest, TableBaseSpecIsValid) {
  SpecOptions options;
  options.check_model_paths = false;
  Result<SweepSpec> spec = ParseSweepSpec(kHead, "sweep.yaml", options);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
}

}  // namespace
}  // namespace kvfunda
