// Files embedded into the binary at build time (scripts/cmake/embed_files.cmake):
// SQL migrations (schemas/) and dashboard assets (dashboard/).
// Threading: immutable static data; thread-safe.
#pragma once

#include <cstddef>
#include <string_view>

namespace kvfunda::embedded {

struct EmbeddedFile {
  const char* name;           // base file name ("001_init.sql")
  const unsigned char* data;  // bytes, followed by a NUL not counted in size
  size_t size;
  std::string_view view() const { return {reinterpret_cast<const char*>(data), size}; }
};

// Sorted by name; count() entries (the array ends with a {nullptr} sentinel).
const EmbeddedFile* migrations_files();
size_t migrations_count();
const EmbeddedFile* dashboard_files();
size_t dashboard_count();

}  // namespace kvfunda::embedded
