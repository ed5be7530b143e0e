// Method and task catalogs: descriptors and CanonicalParams().
#include <gtest/gtest.h>

#include <string>

#include "worker/compression/method_catalog.h"
#include "worker/tasks/task_catalog.h"

namespace kvfunda {
namespace {

bool Contains(const Status& s, const std::string& text) {
  return s.message().find(text) != std::string::npos;
}

TEST(MethodCatalogTest, FullAndStreamingLlm) {
  const MethodDescriptor* full = FindMethod("full");
  ASSERT_NE(full, nullptr);
  EXPECT_FALSE(full->uses_ratio);
  EXPECT_TRUE(full->params.empty());

  const MethodDescriptor* s = FindMethod("streamingllm");
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->uses_ratio);
  ASSERT_EQ(s->params.size(), 1u);
  EXPECT_EQ(s->params[0].name, "sinks");
  EXPECT_EQ(s->params[0].type, ParamSpec::Type::kInt);
  EXPECT_EQ(s->params[0].default_value, 4);
  EXPECT_EQ(s->params[0].min, 0);
  EXPECT_EQ(s->params[0].max, 1024);

  EXPECT_EQ(FindMethod("h9o"), nullptr);
  EXPECT_EQ(FindMethod("Full"), nullptr);
  // Names are unique.
  for (size_t i = 0; i < AllMethods().size(); ++i) {
    for (size_t j = i + 1; j < AllMethods().size(); ++j) {
      EXPECT_NE(AllMethods()[i].name, AllMethods()[j].name);
    }
  }
}

TEST(MethodCatalogTest, CanonicalParamsFillsDefaults) {
  const auto& params = FindMethod("streamingllm")->params;
  Result<nlohmann::json> none = CanonicalParams(params, nullptr);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(*none, (nlohmann::json{{"sinks", 4}}));
  Result<nlohmann::json> empty = CanonicalParams(params, nlohmann::json::object());
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->dump(), R"({"sinks":4})");
  Result<nlohmann::json> given = CanonicalParams(params, {{"sinks", 0}});
  ASSERT_TRUE(given.ok());
  EXPECT_EQ(given->dump(), R"({"sinks":0})");
  Result<nlohmann::json> top = CanonicalParams(params, {{"sinks", 1024}});
  ASSERT_TRUE(top.ok());
  EXPECT_EQ((*top)["sinks"], 1024);
  // `full` has no parameters: canonical form is the empty object.
  Result<nlohmann::json> full = CanonicalParams(FindMethod("full")->params, nullptr);
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->dump(), "{}");
}

TEST(MethodCatalogTest, CanonicalParamsRejects) {
  const auto& params = FindMethod("streamingllm")->params;
  struct Row {
    nlohmann::json given;
    std::string expected;
  };
  const Row rows[] = {
      {{{"x", 1}}, "unknown parameter 'x' (known: sinks)"},
      {{{"sinks", 1025}}, "parameter 'sinks': 1025 is outside [0, 1024]"},
      {{{"sinks", -1}}, "parameter 'sinks': -1 is outside [0, 1024]"},
      {{{"sinks", 2.5}}, "parameter 'sinks': expected an integer, got 2.5"},
      {{{"sinks", "4"}}, "parameter 'sinks': expected an integer, got \"4\""},
      {{{"sinks", true}}, "parameter 'sinks': expected an integer, got true"},
      {nlohmann::json::array({1}), "parameters must be a map"},
      {42, "parameters must be a map"},
  };
  for (const Row& row : rows) {
    Result<nlohmann::json> r = CanonicalParams(params, row.given);
    ASSERT_FALSE(r.ok()) << row.given.dump();
    EXPECT_EQ(r.status().code(), Status::Code::kBadInput);
    EXPECT_TRUE(Contains(r.status(), row.expected))
        << r.status().message() << " vs " << row.expected;
  }
  Result<nlohmann::json> full = CanonicalParams(FindMethod("full")->params, {{"sinks", 4}});
  ASSERT_FALSE(full.ok());
  EXPECT_TRUE(Contains(full.status(), "unknown parameter 'sinks' (known: none)"));
}

TEST(MethodCatalogTest, CanonicalParamsChecksDoubleBoolStringSpecs) {
  ParamSpec d;
  d.name = "alpha";
  d.type = ParamSpec::Type::kDouble;
  d.default_value = 0.5;
  d.min = 0;
  d.max = 1;
  ParamSpec b;
  b.name = "unified";
  b.type = ParamSpec::Type::kBool;
  b.default_value = false;
  ParamSpec s;
  s.name = "pool";
  s.type = ParamSpec::Type::kString;
  s.default_value = "max";
  s.choices = {"max", "avg"};
  ParamSpec free_int;  // min > max: no range
  free_int.name = "k";
  free_int.default_value = 1;
  free_int.min = 1;
  free_int.max = 0;
  const std::vector<ParamSpec> params = {d, b, s, free_int};

  Result<nlohmann::json> defaults = CanonicalParams(params, nullptr);
  ASSERT_TRUE(defaults.ok()) << defaults.status().ToString();
  EXPECT_EQ(defaults->dump(), R"({"alpha":0.5,"k":1,"pool":"max","unified":false})");

  // An integer for a double parameter becomes a double (one canonical form).
  Result<nlohmann::json> one = CanonicalParams(params, {{"alpha", 1}, {"k", -999999}});
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_TRUE((*one)["alpha"].is_number_float());
  EXPECT_EQ(one->dump(), R"({"alpha":1.0,"k":-999999,"pool":"max","unified":false})");

  EXPECT_TRUE(Contains(CanonicalParams(params, {{"alpha", 1.5}}).status(),
                       "parameter 'alpha': 1.5 is outside [0, 1]"));
  EXPECT_TRUE(Contains(CanonicalParams(params, {{"unified", 1}}).status(),
                       "parameter 'unified': expected true or false, got 1"));
  EXPECT_TRUE(Contains(CanonicalParams(params, {{"pool", "min"}}).status(),
                       "parameter 'pool': 'min' is not one of: max, avg"));
  EXPECT_TRUE(Contains(CanonicalParams(params, {{"pool", 3}}).status(),
                       "parameter 'pool': expected a string, got 3"));
}

TEST(TaskCatalogTest, Fidelity) {
  const TaskDescriptor* t = FindTask("fidelity");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->allowed_shots, std::vector<int>{0});
  EXPECT_EQ(t->template_version, "fidelity-v1");
  ASSERT_NE(t->count_samples, nullptr);
  Result<nlohmann::json> params = CanonicalParams(t->params, nullptr);
  ASSERT_TRUE(params.ok()) << params.status().ToString();
  EXPECT_EQ(params->dump(), R"({"num_samples":64,"prompt_temperature":1.0,"prompt_tokens":96})");

  Result<int64_t> n = t->count_samples(*params, "");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 64);
  Result<nlohmann::json> more = CanonicalParams(t->params, {{"num_samples", 1000000}});
  ASSERT_TRUE(more.ok());
  EXPECT_EQ(*t->count_samples(*more, "/data"), 1000000);
  EXPECT_FALSE(t->count_samples(nlohmann::json::object(), "").ok());

  EXPECT_TRUE(Contains(CanonicalParams(t->params, {{"num_samples", 0}}).status(),
                       "parameter 'num_samples': 0 is outside [1, 1000000]"));
  EXPECT_TRUE(Contains(CanonicalParams(t->params, {{"prompt_tokens", 4097}}).status(),
                       "parameter 'prompt_tokens': 4097 is outside [8, 4096]"));
  EXPECT_TRUE(Contains(CanonicalParams(t->params, {{"prompt_temperature", 2.5}}).status(),
                       "parameter 'prompt_temperature': 2.5 is outside [0, 2]"));
  EXPECT_EQ(FindTask("mmlu"), nullptr);
}

}  // namespace
}  // namespace kvfunda
