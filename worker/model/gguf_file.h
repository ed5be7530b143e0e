// GgufFile: a parsed, memory-mapped GGUF (v2/v3) model file — llama.cpp's format.
//
// Layout (little-endian): "GGUF", uint32 version, uint64 tensor_count, uint64
// kv_count; kv_count metadata entries (string key, uint32 value type, value);
// tensor_count tensor infos (string name, uint32 n_dims <= 4, uint64 dims[n_dims]
// (dims[0] is the fastest-varying, the row length), uint32 ggml type, uint64
// offset); padding to `general.alignment` (default 32); the data section. A string
// is a uint64 length plus bytes; an array is a uint32 element type, a uint64 count
// and the elements (arrays nest).
//
// Open() validates everything before trusting it: every count and length is
// checked against the bytes left before anything is allocated, nesting depth is
// bounded, element counts and byte sizes are overflow-checked, tensor data must
// be aligned and inside the file. Any failure is a model-load Status whose message
// names the file and the problem. Metadata is copied out of the map; tensor bytes
// stay in the map (TensorData) until dequantised (DequantizeTensor).
//
// Ownership: a GgufFile owns its mapping; move-only.
// Threading: immutable after Open(); all const methods are safe from many threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "coordinator/base/status.h"
#include "worker/model/dequantize.h"
#include "worker/model/mapped_file.h"

namespace kvfunda {

// GGUF metadata value types (gguf_type).
enum class GgufType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

// "UINT32", "ARRAY", ...
std::string_view GgufTypeName(GgufType type);

// One metadata value. Scalars use one field by type; arrays use one vector by
// element type (integer and bool elements in `ints`, uint64 ones bit-cast).
struct GgufValue {
  GgufType type = GgufType::kUint8;
  GgufType element_type = GgufType::kUint8;  // when type == kArray
  int64_t int_value = 0;     // integer and bool scalars (uint64 bit-cast)
  double float_value = 0.0;  // float32/float64 scalars
  std::string string_value;  // string scalar
  std::vector<int64_t> ints;         // array of integers or bools
  std::vector<double> floats;        // array of float32/float64
  std::vector<std::string> strings;  // array of strings
  std::vector<GgufValue> arrays;     // array of arrays

  bool IsInteger() const;  // an integer or bool scalar
  bool IsFloat() const;    // a float32/float64 scalar
  // Number of elements of an array value (0 for a scalar).
  size_t ArraySize() const;
};

struct GgufKeyValue {
  std::string key;
  GgufValue value;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> dims;  // ggml order: dims[0] = row length (fastest)
  uint32_t type = 0;          // ggml type id (FindGgmlType)
  uint64_t offset = 0;        // from the start of the data section
  int64_t n_elements = 0;     // product of dims
  int64_t n_bytes = 0;        // bytes in the data section
};

class GgufFile {
 public:
  // Parses and validates the GGUF file at `path`.
  // Errors: model-load "<path>: <problem>" (missing file, bad magic, unsupported
  // version, truncated, implausible counts, bad types, bad tensor infos, tensor
  // data outside the file or misaligned, duplicate keys or tensor names).
  static Result<GgufFile> Open(const std::string& path);

  GgufFile(GgufFile&&) = default;
  GgufFile& operator=(GgufFile&&) = default;

  const std::string& path() const { return file_.path(); }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  // Absolute file offset of the data section.
  uint64_t data_offset() const { return data_offset_; }

  // ---- metadata
  // All entries in file order.
  const std::vector<GgufKeyValue>& metadata() const { return metadata_; }
  // nullptr when absent.
  const GgufValue* Find(std::string_view key) const;
  bool Has(std::string_view key) const { return Find(key) != nullptr; }

  // Typed accessors. Errors: not-found when the key is absent; model-load
  // "<path>: key K: expected T, found U" on a type mismatch or a value out of the
  // target range. Integer accessors accept any integer type whose value fits;
  // GetF32/GetF64 also accept integers.
  Result<std::string> GetString(std::string_view key) const;
  Result<uint32_t> GetU32(std::string_view key) const;
  Result<int64_t> GetInt(std::string_view key) const;
  Result<float> GetF32(std::string_view key) const;
  Result<double> GetF64(std::string_view key) const;
  Result<bool> GetBool(std::string_view key) const;
  Result<std::vector<std::string>> GetStringArray(std::string_view key) const;
  Result<std::vector<int64_t>> GetIntArray(std::string_view key) const;  // ints or bools
  Result<std::vector<float>> GetFloatArray(std::string_view key) const;  // floats or ints

  // ---- tensors
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  // nullptr when absent.
  const GgufTensorInfo* FindTensor(std::string_view name) const;
  // The tensor's raw bytes in the map. REQUIRES: `info` is one of tensors().
  std::span<const uint8_t> TensorData(const GgufTensorInfo& info) const;
  // The tensor as fp32, n_elements values in ggml order (row-major with rows of
  // dims[0]). Errors: not-found (no such tensor); model-load "<path>: tensor T:
  // ggml type Q3_K is not supported; ...".
  Result<std::vector<float>> DequantizeTensor(std::string_view name, int num_threads) const;

 private:
  friend class GgufParser;
  explicit GgufFile(MappedFile file) : file_(std::move(file)) {}
  Status TypeError(std::string_view key, std::string_view expected, const GgufValue& v) const;

  MappedFile file_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<GgufKeyValue> metadata_;
  std::unordered_map<std::string, size_t> key_index_;  // key -> metadata_ index
  std::vector<GgufTensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;  // name -> tensors_ index
};

}  // namespace kvfunda
