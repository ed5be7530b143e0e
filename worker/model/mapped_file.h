// MappedFile: a read-only memory map of a whole file (RAII).
//
// The model loaders (GGUF, safetensors) read their headers and tensor bytes
// straight from the map, so a multi-gigabyte checkpoint costs page cache, not heap.
// An empty file is valid and maps to an empty span (mmap of 0 bytes is not).
//
// Ownership: the MappedFile owns the mapping; spans from bytes() are valid while
// it lives. Move-only.
// Threading: immutable after Open(); safe to read from many threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "coordinator/base/status.h"

namespace kvfunda {

class MappedFile {
 public:
  // Maps the regular file at `path` read-only.
  // Errors: io, naming the file: missing, unreadable, not a regular file, mmap failed.
  static Result<MappedFile> Open(const std::string& path);

  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const std::string& path() const { return path_; }
  // File size in bytes.
  size_t size() const { return size_; }
  // The whole file; empty for an empty file.
  std::span<const uint8_t> bytes() const { return {data_, size_}; }

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  void Release();

  std::string path_;
  const uint8_t* data_ = nullptr;  // nullptr iff size_ == 0
  size_t size_ = 0;
};

}  // namespace kvfunda
