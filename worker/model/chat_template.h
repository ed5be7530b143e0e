// ChatTemplate: turns a conversation (system / user / assistant messages) into the
// prompt text an instruct model was trained on, for the supported families:
//   - Llama-3 headers: <|begin_of_text|><|start_header_id|>ROLE<|end_header_id|>\n\n
//     CONTENT<|eot_id|> ... then the assistant header (contents trimmed, as the HF
//     template); Llama-3.1 templates ("Cutting Knowledge Date") always open with a
//     system block carrying the knowledge/today dates.
//   - Mistral: <s>[INST] USER [/INST]ASSISTANT</s>[INST] ... (Mistral-7B-Instruct-v0.2's
//     template; a system message, which that template refuses, is put before the first
//     user message followed by "\n\n", as v0.3 and llama.cpp do).
//   - ChatML (Qwen2/2.5, SmolLM2): <|im_start|>ROLE\nCONTENT<|im_end|>\n ... then
//     <|im_start|>assistant\n. A default system message, when the model's template
//     has one (SmolLM2: "You are a helpful AI assistant named SmolLM, trained by
//     Hugging Face"), is added when the conversation does not start with one.
//   - Raw (base models): the message contents joined by "\n\n", nothing added.
// The family is chosen from the model's raw chat template string (GGUF
// tokenizer.chat_template or tokenizer_config.json's chat_template) by its markers,
// else from the tokenizer's special tokens, else from the architecture. Jinja is not
// interpreted: the formats are written out, and their output equals the HF
// templates' for these families (tests/chat_template holds strings rendered by jinja2).
// The text includes the BOS token where the template writes one (Llama-3, Mistral),
// so it is encoded with add_bos = false.
// Threading: value types and pure functions; thread-safe.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "coordinator/base/status.h"
#include "worker/model/tokenizer.h"

namespace kvfunda {

enum class ChatFormat {
  kRaw,      // base model: no template
  kLlama3,   // <|start_header_id|> ... <|eot_id|>
  kMistral,  // [INST] ... [/INST]
  kChatMl,   // <|im_start|> ... <|im_end|>
};

// "raw", "llama3", "mistral", "chatml".
std::string_view ChatFormatName(ChatFormat format);

// The chosen format and what the model's template adds by itself.
struct ChatStyle {
  ChatFormat format = ChatFormat::kRaw;
  // ChatML: system message used when the conversation has none ("" = none).
  std::string default_system;
  // Llama-3.1: the "Cutting Knowledge Date: ...\nToday Date: ...\n\n" preamble of the
  // system block, which is then always written ("" = Llama-3 style, no preamble).
  std::string llama31_preamble;
};

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// Chooses the chat style of a model. `chat_template`: the raw Jinja template string
// ("" when the model has none); `architecture`: ModelConfig::architecture ("llama",
// "mistral", "qwen2", ...); `tokenizer` (may be null): consulted when the template is
// empty — a vocabulary whose "<|im_start|>" or "<|start_header_id|>" is one token
// selects ChatML or Llama-3. Fallback by architecture: qwen2 -> ChatML, mistral ->
// Mistral, anything else (llama2.c, base Llama) -> raw. Never fails.
ChatStyle DetectChatStyle(std::string_view chat_template, std::string_view architecture,
                          const Tokenizer* tokenizer);

// The prompt text of `messages`; with add_generation_prompt, ends with the header
// that makes the model answer as the assistant (nothing for raw).
// Errors: invalid-argument for an empty conversation, a role other than system /
// user / assistant, or a system message that is not first.
Result<std::string> FormatChat(const ChatStyle& style, std::span<const ChatMessage> messages,
                               bool add_generation_prompt);

}  // namespace kvfunda
