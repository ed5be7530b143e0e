#include "coordinator/base/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include <nlohmann/json.hpp>

namespace kvfunda {
namespace {

struct LogOptions {
  LogLevel min_level = LogLevel::kInfo;
  bool json = false;
  std::string component = "kvfunda";
};

LogOptions& Options() {
  static LogOptions options;
  return options;
}

std::mutex& LogMutex() {
  static std::mutex mu;
  return mu;
}

std::string TimeStamp() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "info";
}

}  // namespace

void SetLogOptions(LogLevel min_level, bool json, std::string component) {
  Options() = LogOptions{min_level, json, std::move(component)};
}

void LogLine(LogLevel level, std::string_view text) {
  const LogOptions& o = Options();
  if (level < o.min_level) return;
  std::string line;
  if (o.json) {
    nlohmann::json j = {{"ts", TimeStamp()}, {"level", LevelName(level)},
                        {"component", o.component}, {"msg", std::string(text)}};
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = TimeStamp() + " " + static_cast<char>(LevelName(level)[0] - 32) + " " + o.component +
           ": " + std::string(text);
  }
  line.push_back('\n');
  std::lock_guard<std::mutex> lock(LogMutex());
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace kvfunda
