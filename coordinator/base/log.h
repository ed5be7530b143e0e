// Log: one line per event on stderr, "2026-11-25T07:48:24.123Z I coordinator: text".
// `kvfunda --log-json` switches to one JSON object per line. Secrets never go here.
// Threading: thread-safe (lines are written whole).
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace kvfunda {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// Process-wide settings, set once in main() before threads start.
void SetLogOptions(LogLevel min_level, bool json, std::string component);
void LogLine(LogLevel level, std::string_view text);

// Usage: KVF_LOG(kInfo) << "leased shard " << id;
class LogMessage {
 public:
  explicit LogMessage(LogLevel level) : level_(level) {}
  ~LogMessage() { LogLine(level_, stream_.str()); }
  std::ostringstream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

}  // namespace kvfunda

#define KVF_LOG(level) ::kvfunda::LogMessage(::kvfunda::LogLevel::level).stream()
