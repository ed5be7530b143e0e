// Tests of `kvfunda tokenize`, `kvfunda model-info` and `kvfunda generate`, run as the
// real binary: tokenize on Llama-3's tokenizer.json from ../shared (ids from the HF
// `tokenizers` package), model-info and greedy generation on stories260K (the golden
// story of llama2.c's doc/stories260K.md), and the errors of bad arguments.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "e2e/subprocess.h"
#include "test_support.h"

namespace kvfunda::testing {
namespace {

struct RunResult {
  int status = -1;
  std::string output;  // stdout and stderr together
};

RunResult RunKvfunda(const std::vector<std::string>& args) {
  static int counter = 0;
  std::filesystem::path dir = MakeTempDir("kvf_cli_model_");
  std::string log = (dir / ("run" + std::to_string(counter++) + ".log")).string();
  std::vector<std::string> argv = {KvfundaBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult r;
  {
    Subprocess p(argv, log);
    r.status = p.Wait(std::chrono::seconds(120));
  }
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  r.output = ss.str();
  std::filesystem::remove_all(dir);
  return r;
}

std::string Llama3TokenizerJson() { return SharedDir() + "/tokenizers/llama3/tokenizer.json"; }

TEST(CliModelTest, TokenizeBareTokenizerJson) {
  RunResult r = RunKvfunda({"tokenize", "--model", Llama3TokenizerJson(), "--text",
                            "Hello, world! 12345 <|eot_id|>", "--json"});
  ASSERT_EQ(r.status, 0) << r.output;
  nlohmann::json out = nlohmann::json::parse(r.output, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(out.is_discarded()) << r.output;
  // From tokenizers.Tokenizer.from_file(...).encode(text, add_special_tokens=False).
  EXPECT_EQ(out["ids"], nlohmann::json({9906, 11, 1917, 0, 220, 4513, 1774, 220, 128009}));
  EXPECT_EQ(out["pieces"],
            nlohmann::json({"Hello", ",", "Ġworld", "!", "Ġ", "123", "45", "Ġ", "<|eot_id|>"}));
}

TEST(CliModelTest, TokenizeModelAsTable) {
  RunResult r = RunKvfunda({"tokenize", "--model", Stories260KPath(), "--text", "Once upon a time", "--bos"});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.rfind("1\t", 0), 0u) << "BOS first: " << r.output;
  EXPECT_NE(r.output.find(" tokens\n"), std::string::npos) << r.output;
}

TEST(CliModelTest, ModelInfoStories260K) {
  RunResult r = RunKvfunda({"model-info", Stories260KPath(), "--json"});
  ASSERT_EQ(r.status, 0) << r.output;
  nlohmann::json out = nlohmann::json::parse(r.output, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(out.is_discarded()) << r.output;
  EXPECT_EQ(out["architecture"], "llama");
  EXPECT_EQ(out["layers"], 5);
  EXPECT_EQ(out["heads"], 8);
  EXPECT_EQ(out["kv_heads"], 4);
  EXPECT_EQ(out["head_dim"], 8);
  EXPECT_EQ(out["context"], 512);
  EXPECT_EQ(out["vocab"], 512);
  EXPECT_EQ(out["dtype"], "f32");
  EXPECT_EQ(out["kv_bytes_per_token"], 2 * 5 * 4 * 8 * 4);
  EXPECT_EQ(out["chat_format"], "raw");

  RunResult text = RunKvfunda({"model-info", Stories260KPath()});
  ASSERT_EQ(text.status, 0) << text.output;
  EXPECT_NE(text.output.find("kv bytes per token  1280"), std::string::npos) << text.output;
}

TEST(CliModelTest, GenerateGreedyGoldenStory) {
  RunResult r = RunKvfunda({"generate", "--model", Stories260KPath(), "--prompt", "Once upon a time",
                            "--max-new-tokens", "20", "--threads", "1"});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.rfind("Once upon a time, there was a little girl named Lily", 0), 0u) << r.output;
}

TEST(CliModelTest, GenerateSeededSamplingIsReproducible) {
  std::vector<std::string> args = {"generate", "--model", Stories260KPath(), "--prompt", "Once upon a time",
                                   "--max-new-tokens", "24", "--temperature", "1.0", "--top-p", "0.9",
                                   "--seed", "7", "--threads", "1"};
  RunResult a = RunKvfunda(args);
  RunResult b = RunKvfunda(args);
  ASSERT_EQ(a.status, 0) << a.output;
  EXPECT_EQ(a.output, b.output);
  EXPECT_EQ(a.output.rfind("Once upon a time", 0), 0u) << a.output;
}

// The demo model as scripts/fetch_demo_model.sh caches it; "" when absent.
std::string SmolLm2Path() {
  const char* env = std::getenv("KVFUNDA_MODELS_DIR");
  std::string dir = env && *env ? env : SourceDir() + "/models";
  std::string path = dir + "/SmolLM2-135M-Instruct.Q4_1.gguf";
  return std::filesystem::exists(path) ? path : "";
}

// --chat formats one user turn with SmolLM2's ChatML template (default system prompt);
// the greedy answer is llama.cpp's on the F32 copy of the same weights
// (tests/model_runtime/fixtures/smollm2_reference.json, prompt 4).
TEST(CliModelTest, GenerateChatSmolLm2MatchesLlamaCpp) {
  const std::string model = SmolLm2Path();
  if (model.empty()) GTEST_SKIP() << "SmolLM2 not fetched (scripts/fetch_demo_model.sh)";
  RunResult info = RunKvfunda({"model-info", model});
  ASSERT_EQ(info.status, 0) << info.output;
  EXPECT_NE(info.output.find("kv bytes per token  46080"), std::string::npos) << info.output;
  EXPECT_NE(info.output.find("chat format         chatml"), std::string::npos) << info.output;
  RunResult r = RunKvfunda({"generate", "--model", model, "--chat", "--prompt",
                            "What is the boiling point of water in Celsius?", "--max-new-tokens", "16"});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.rfind("The boiling point of water in Celsius is approximately 100.0", 0), 0u) << r.output;
}

TEST(CliModelTest, Errors) {
  RunResult missing = RunKvfunda({"model-info", "/nonexistent/model.bin"});
  EXPECT_NE(missing.status, 0);
  EXPECT_NE(missing.output.find("/nonexistent/model.bin"), std::string::npos) << missing.output;
  RunResult bad_json = RunKvfunda({"tokenize", "--model", "/nonexistent/tokenizer.json", "--text", "x"});
  EXPECT_NE(bad_json.status, 0);
  EXPECT_NE(bad_json.output.find("tokenizer.json"), std::string::npos) << bad_json.output;
  RunResult bad_top_p = RunKvfunda({"generate", "--model", Stories260KPath(), "--prompt", "x", "--top-p", "0"});
  EXPECT_NE(bad_top_p.status, 0);
  RunResult no_prompt = RunKvfunda({"generate", "--model", Stories260KPath()});
  EXPECT_EQ(no_prompt.status, 2) << no_prompt.output;
}

}  // namespace
}  // namespace kvfunda::testing
