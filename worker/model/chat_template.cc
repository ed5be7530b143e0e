#include "worker/model/chat_template.h"

#include <string>
#include <vector>

namespace kvfunda {
namespace {

bool Contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

// Jinja's `trim` filter: strips leading and trailing whitespace.
std::string_view Trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\r\f\v";
  size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(kSpace);
  return s.substr(b, e - b + 1);
}

// Skips a newline at `pos` of a template, written either as the character or as the
// two-character escape `\n` inside a Jinja string literal; returns the position after
// it, or npos when there is none.
size_t SkipNewline(std::string_view t, size_t pos) {
  if (pos < t.size() && t[pos] == '\n') return pos + 1;
  if (pos + 1 < t.size() && t[pos] == '\\' && t[pos + 1] == 'n') return pos + 2;
  return std::string_view::npos;
}

// The literal default system message of a ChatML template: the text between
// "<|im_start|>system\n" and "<|im_end|>" inside one string literal (no quotes, braces
// or '+' in between, which would mean the text is computed). "" when there is none.
std::string DefaultChatMlSystem(std::string_view t) {
  constexpr std::string_view kOpen = "<|im_start|>system";
  for (size_t pos = t.find(kOpen); pos != std::string_view::npos; pos = t.find(kOpen, pos + 1)) {
    size_t begin = SkipNewline(t, pos + kOpen.size());
    if (begin == std::string_view::npos) continue;
    size_t end = t.find("<|im_end|>", begin);
    if (end == std::string_view::npos) continue;
    std::string_view text = t.substr(begin, end - begin);
    if (text.empty() || text.find_first_of("'\"{}+") != std::string_view::npos) continue;
    return std::string(text);
  }
  return "";
}

// The text of a Jinja string literal that follows `marker` up to the next quote or
// escaped newline; `fallback` when the marker is absent.
std::string LiteralAfter(std::string_view t, std::string_view marker, std::string fallback) {
  size_t pos = t.find(marker);
  if (pos == std::string_view::npos) return fallback;
  size_t begin = pos + marker.size();
  size_t end = t.find_first_of("\"'\\\n", begin);
  if (end == std::string_view::npos || end == begin) return fallback;
  return std::string(t.substr(begin, end - begin));
}

// Llama-3.1's system preamble, with the dates its template writes by default.
std::string Llama31Preamble(std::string_view t) {
  std::string knowledge = LiteralAfter(t, "Cutting Knowledge Date: ", "December 2023");
  std::string today = LiteralAfter(t, "date_string = \"", "26 Jul 2024");
  return "Cutting Knowledge Date: " + knowledge + "\nToday Date: " + today + "\n\n";
}

// Whether `token` is one token of the vocabulary (an added/special token).
bool IsSingleToken(const Tokenizer& tokenizer, std::string_view token) {
  return tokenizer.Encode(token, /*add_bos=*/false).size() == 1;
}

void AppendLlama3Turn(std::string_view role, std::string_view content, std::string* out) {
  *out += "<|start_header_id|>";
  *out += role;
  *out += "<|end_header_id|>\n\n";
  *out += content;
  *out += "<|eot_id|>";
}

std::string FormatLlama3(const ChatStyle& style, std::span<const ChatMessage> messages,
                         bool add_generation_prompt) {
  std::string out = "<|begin_of_text|>";
  size_t first = 0;
  if (!style.llama31_preamble.empty()) {
    // Llama-3.1: the system block is always there; a system message is appended to it.
    std::string system = style.llama31_preamble;
    if (messages[0].role == "system") {
      system += Trim(messages[0].content);
      first = 1;
    }
    AppendLlama3Turn("system", system, &out);
  }
  for (size_t i = first; i < messages.size(); ++i) {
    AppendLlama3Turn(messages[i].role, Trim(messages[i].content), &out);
  }
  if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

std::string FormatMistral(std::span<const ChatMessage> messages) {
  std::string out = "<s>";
  std::string system;
  for (const ChatMessage& m : messages) {
    if (m.role == "system") {
      system = m.content;
    } else if (m.role == "user") {
      out += "[INST] ";
      if (!system.empty()) {
        out += system + "\n\n";
        system.clear();
      }
      out += m.content + " [/INST]";
    } else {
      out += m.content + "</s>";
    }
  }
  // Mistral's generation prompt is the closing [/INST] itself.
  return out;
}

std::string FormatChatMl(const ChatStyle& style, std::span<const ChatMessage> messages,
                         bool add_generation_prompt) {
  std::string out;
  if (messages[0].role != "system" && !style.default_system.empty()) {
    out += "<|im_start|>system\n" + style.default_system + "<|im_end|>\n";
  }
  for (const ChatMessage& m : messages) {
    out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  }
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

std::string FormatRaw(std::span<const ChatMessage> messages) {
  std::string out;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (i > 0) out += "\n\n";
    out += messages[i].content;
  }
  return out;
}

}  // namespace

std::string_view ChatFormatName(ChatFormat format) {
  switch (format) {
    case ChatFormat::kRaw: return "raw";
    case ChatFormat::kLlama3: return "llama3";
    case ChatFormat::kMistral: return "mistral";
    case ChatFormat::kChatMl: return "chatml";
  }
  return "raw";
}

ChatStyle DetectChatStyle(std::string_view chat_template, std::string_view architecture,
                          const Tokenizer* tokenizer) {
  ChatStyle style;
  if (Contains(chat_template, "<|start_header_id|>")) {
    style.format = ChatFormat::kLlama3;
    if (Contains(chat_template, "Cutting Knowledge Date")) {
      style.llama31_preamble = Llama31Preamble(chat_template);
    }
  } else if (Contains(chat_template, "<|im_start|>")) {
    style.format = ChatFormat::kChatMl;
    style.default_system = DefaultChatMlSystem(chat_template);
  } else if (Contains(chat_template, "[INST]")) {
    style.format = ChatFormat::kMistral;
  } else if (tokenizer != nullptr && IsSingleToken(*tokenizer, "<|im_start|>")) {
    style.format = ChatFormat::kChatMl;
  } else if (tokenizer != nullptr && IsSingleToken(*tokenizer, "<|start_header_id|>")) {
    style.format = ChatFormat::kLlama3;
  } else if (architecture == "qwen2") {
    style.format = ChatFormat::kChatMl;
  } else if (architecture == "mistral") {
    style.format = ChatFormat::kMistral;
  }
  return style;
}

Result<std::string> FormatChat(const ChatStyle& style, std::span<const ChatMessage> messages,
                               bool add_generation_prompt) {
  if (messages.empty()) return Status::InvalidArgument("chat: the conversation is empty");
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string& role = messages[i].role;
    if (role != "system" && role != "user" && role != "assistant") {
      return Status::InvalidArgument("chat: unknown role '" + role + "' (want system, user or assistant)");
    }
    if (role == "system" && i != 0) {
      return Status::InvalidArgument("chat: a system message must come first (message " +
                                     std::to_string(i) + ")");
    }
  }
  switch (style.format) {
    case ChatFormat::kLlama3: return FormatLlama3(style, messages, add_generation_prompt);
    case ChatFormat::kMistral: return FormatMistral(messages);
    case ChatFormat::kChatMl: return FormatChatMl(style, messages, add_generation_prompt);
    case ChatFormat::kRaw: break;
  }
  return FormatRaw(messages);
}

}  // namespace kvfunda
