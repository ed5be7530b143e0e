// schemas/sweep.schema.json must stay in step with the parser and the catalogs: the
// same keys in every map, the same method and task names, the same parameters with
// the same defaults and ranges, the same allowed shots. (Its validity as a JSON
// Schema was also checked with python-jsonschema's Draft202012Validator.)
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "coordinator/spec/sweep_spec.h"
#include "test_support.h"
#include "worker/compression/method_catalog.h"
#include "worker/tasks/task_catalog.h"

namespace kvfunda {
namespace {

nlohmann::json LoadSchema() {
  const std::string path = testing::SourceDir() + "/schemas/sweep.schema.json";
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json schema = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(schema.is_discarded()) << path << " is not valid JSON";
  return schema;
}

std::set<std::string> Keys(const nlohmann::json& object) {
  std::set<std::string> out;
  for (const auto& [k, v] : object.items()) out.insert(k);
  return out;
}

std::set<std::string> AsSet(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

// Follows a local "$ref" ("#/$defs/x") once.
const nlohmann::json& Deref(const nlohmann::json& schema, const nlohmann::json& node) {
  if (!node.contains("$ref")) return node;
  const std::string ref = node["$ref"].get<std::string>();
  const std::string prefix = "#/$defs/";
  EXPECT_EQ(ref.rfind(prefix, 0), 0u) << ref;
  return schema["$defs"].at(ref.substr(prefix.size()));
}

// The object form of a oneOf [name, {object}] item schema.
const nlohmann::json& ObjectForm(const nlohmann::json& schema, const nlohmann::json& item) {
  const nlohmann::json& s = Deref(schema, item);
  for (const nlohmann::json& alt : s.at("oneOf")) {
    if (alt.value("type", "") == "object") return alt;
  }
  ADD_FAILURE() << "no object form in " << s.dump();
  return s;
}

void ExpectParamsMatch(const nlohmann::json& params_schema, const std::vector<ParamSpec>& params,
                       const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(params_schema.at("additionalProperties"), false);
  const nlohmann::json& props = params_schema.at("properties");
  std::set<std::string> names;
  for (const ParamSpec& p : params) names.insert(p.name);
  EXPECT_EQ(Keys(props), names);
  for (const ParamSpec& p : params) {
    if (!props.contains(p.name)) continue;
    const nlohmann::json& s = props[p.name];
    EXPECT_EQ(s.at("default"), p.default_value) << p.name;
    EXPECT_EQ(s.at("description"), p.doc) << p.name;
    switch (p.type) {
      case ParamSpec::Type::kInt:
        EXPECT_EQ(s.at("type"), "integer") << p.name;
        break;
      case ParamSpec::Type::kDouble:
        EXPECT_EQ(s.at("type"), "number") << p.name;
        break;
      case ParamSpec::Type::kBool:
        EXPECT_EQ(s.at("type"), "boolean") << p.name;
        break;
      case ParamSpec::Type::kString:
        EXPECT_EQ(s.at("type"), "string") << p.name;
        break;
    }
    if (p.min <= p.max) {
      EXPECT_EQ(s.at("minimum").get<double>(), p.min) << p.name;
      EXPECT_EQ(s.at("maximum").get<double>(), p.max) << p.name;
    }
    if (!p.choices.empty()) {
      EXPECT_EQ(s.at("enum"), nlohmann::json(p.choices)) << p.name;
    }
  }
}

TEST(SweepSchemaTest, IsDraft202012AndClosed) {
  const nlohmann::json schema = LoadSchema();
  ASSERT_TRUE(schema.is_object());
  EXPECT_EQ(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
  EXPECT_EQ(schema["type"], "object");
  EXPECT_EQ(schema["additionalProperties"], false);
  EXPECT_EQ(schema["required"], (nlohmann::json{"name", "models", "tasks"}));
}

TEST(SweepSchemaTest, KeysMatchTheParser) {
  const nlohmann::json schema = LoadSchema();
  ASSERT_TRUE(schema.is_object());
  const auto& allowed = SweepSpecAllowedKeys();
  EXPECT_EQ(Keys(schema.at("properties")), AsSet(allowed.at("")));

  const nlohmann::json& props = schema["properties"];
  const nlohmann::json& model = Deref(schema, props.at("models").at("items"));
  EXPECT_EQ(Keys(model.at("properties")), AsSet(allowed.at("models[]")));
  EXPECT_EQ(model.at("additionalProperties"), false);

  const nlohmann::json& method = ObjectForm(schema, props.at("methods").at("items"));
  EXPECT_EQ(Keys(method.at("properties")), AsSet(allowed.at("methods[]")));
  EXPECT_EQ(method.at("additionalProperties"), false);

  const nlohmann::json& task = ObjectForm(schema, props.at("tasks").at("items"));
  EXPECT_EQ(Keys(task.at("properties")), AsSet(allowed.at("tasks[]")));
  EXPECT_EQ(task.at("additionalProperties"), false);

  const nlohmann::json& decoding = Deref(schema, props.at("decoding"));
  EXPECT_EQ(Keys(decoding.at("properties")), AsSet(allowed.at("decoding")));
  EXPECT_EQ(decoding.at("additionalProperties"), false);

  // Defaults written in the schema are the parser's defaults.
  SweepSpec defaults;
  EXPECT_EQ(props["shard_size"]["default"], defaults.shard_size);
  EXPECT_EQ(props["seed"]["default"], defaults.seed);
  EXPECT_EQ(props["max_attempts"]["default"], defaults.max_attempts);
  EXPECT_EQ(decoding["properties"]["max_new_tokens"]["default"], defaults.decoding.max_new_tokens);
  EXPECT_EQ(decoding["properties"]["temperature"]["default"].get<double>(),
            defaults.decoding.temperature);
  EXPECT_EQ(decoding["properties"]["top_p"]["default"].get<double>(), defaults.decoding.top_p);
  EXPECT_EQ(model["properties"]["type"]["default"], ModelEntry().type);
}

TEST(SweepSchemaTest, MethodsMatchTheCatalog) {
  const nlohmann::json schema = LoadSchema();
  ASSERT_TRUE(schema.is_object());
  const nlohmann::json& defs = schema.at("$defs");
  std::vector<std::string> names;
  for (const MethodDescriptor& m : AllMethods()) {
    names.push_back(m.name);
    const std::string key = "method." + m.name + ".params";
    ASSERT_TRUE(defs.contains(key)) << key;
    ExpectParamsMatch(defs[key], m.params, key);
  }
  EXPECT_EQ(defs.at("methodName").at("enum"), nlohmann::json(names));
  // One if/then per method in the object form.
  const nlohmann::json& method = ObjectForm(schema, schema["properties"]["methods"]["items"]);
  EXPECT_EQ(method.at("allOf").size(), AllMethods().size());
}

TEST(SweepSchemaTest, TasksMatchTheCatalog) {
  const nlohmann::json schema = LoadSchema();
  ASSERT_TRUE(schema.is_object());
  const nlohmann::json& defs = schema.at("$defs");
  std::vector<std::string> names;
  for (const TaskDescriptor& t : AllTasks()) {
    names.push_back(t.name);
    const std::string params_key = "task." + t.name + ".params";
    ASSERT_TRUE(defs.contains(params_key)) << params_key;
    ExpectParamsMatch(defs[params_key], t.params, params_key);
    if (!t.allowed_shots.empty()) {
      const std::string shots_key = "task." + t.name + ".shots";
      ASSERT_TRUE(defs.contains(shots_key)) << shots_key;
      const nlohmann::json& shots = defs[shots_key].at("oneOf");
      EXPECT_EQ(shots.at(0).at("enum"), nlohmann::json(t.allowed_shots));
      EXPECT_EQ(shots.at(1).at("items").at("enum"), nlohmann::json(t.allowed_shots));
    }
  }
  EXPECT_EQ(defs.at("taskName").at("enum"), nlohmann::json(names));
  const nlohmann::json& task = ObjectForm(schema, schema["properties"]["tasks"]["items"]);
  EXPECT_EQ(task.at("allOf").size(), AllTasks().size());
}

}  // namespace
}  // namespace kvfunda
