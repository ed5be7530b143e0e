// Helpers shared by kvfunda's tests.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace kvfunda::testing {

// The shared data folder (../shared beside the checkout; env KVFUNDA_SHARED overrides).
inline std::string SharedDir() {
  if (const char* env = std::getenv("KVFUNDA_SHARED"); env && *env) return env;
  return KVFUNDA_SHARED_DIR_DEFAULT;
}

inline std::string SourceDir() { return KVFUNDA_SOURCE_DIR; }

// Path of the built kvfunda binary.
inline std::string KvfundaBinary() { return KVFUNDA_BINARY; }

inline std::string Stories260KPath() {
  return SharedDir() + "/models/stories260K/stories260K.bin";
}

// A fresh empty temporary folder for one test.
inline std::filesystem::path MakeTempDir(const std::string& prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
  char* p = mkdtemp(tmpl.data());
  return p ? std::filesystem::path(p) : std::filesystem::path();
}

}  // namespace kvfunda::testing
