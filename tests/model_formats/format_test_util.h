// Helpers for the checkpoint-format tests: fixture paths, whole-file I/O, a tiny
// GGUF byte writer for hand-built (and deliberately broken) files.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "test_support.h"

namespace kvfunda::testing {

inline std::string FormatFixture(const std::string& name) {
  return SourceDir() + "/tests/model_formats/fixtures/" + name;
}

inline std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

inline void WriteBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// The SmolLM2 demo GGUF: $KVFUNDA_MODELS_DIR or <repo>/models; "" when absent.
inline std::string SmolLm2Path() {
  const std::string name = "SmolLM2-135M-Instruct.Q4_1.gguf";
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("KVFUNDA_MODELS_DIR"); env && *env) dirs.push_back(env);
  dirs.push_back(SourceDir() + "/models");
  for (const auto& d : dirs) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(d + "/" + name, ec)) return d + "/" + name;
  }
  return "";
}

// Appends little-endian GGUF fields.
class GgufBytes {
 public:
  template <typename T>
  GgufBytes& Pod(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    bytes_.insert(bytes_.end(), p, p + sizeof(T));
    return *this;
  }
  GgufBytes& U32(uint32_t v) { return Pod(v); }
  GgufBytes& U64(uint64_t v) { return Pod(v); }
  GgufBytes& Str(const std::string& s) {
    U64(s.size());
    bytes_.insert(bytes_.end(), s.begin(), s.end());
    return *this;
  }
  GgufBytes& Raw(const std::string& s) {
    bytes_.insert(bytes_.end(), s.begin(), s.end());
    return *this;
  }
  GgufBytes& Header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    return Raw("GGUF").U32(version).U64(n_tensors).U64(n_kv);
  }
  // Key + UINT32 value.
  GgufBytes& KvU32(const std::string& key, uint32_t v) { return Str(key).U32(4).U32(v); }
  GgufBytes& KvStr(const std::string& key, const std::string& v) { return Str(key).U32(8).Str(v); }
  GgufBytes& TensorInfo(const std::string& name, std::vector<uint64_t> dims, uint32_t type,
                        uint64_t offset) {
    Str(name).U32(static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) U64(d);
    return U32(type).U64(offset);
  }
  // Zero padding up to a multiple of `align`.
  GgufBytes& Pad(size_t align) {
    while (bytes_.size() % align != 0) bytes_.push_back(0);
    return *this;
  }
  GgufBytes& Zeros(size_t n) {
    bytes_.insert(bytes_.end(), n, 0);
    return *this;
  }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

}  // namespace kvfunda::testing
