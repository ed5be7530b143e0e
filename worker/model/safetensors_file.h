// Safetensors checkpoints: one memory-mapped .safetensors file (SafetensorsFile)
// and a Hugging Face checkpoint that may be sharded (SafetensorsCheckpoint).
//
// File layout: uint64 little-endian N; N bytes of UTF-8 JSON
//   {"__metadata__": {"k": "v"}, "<name>": {"dtype": "BF16", "shape": [d0, d1],
//    "data_offsets": [begin, end]}, ...}
// then the data section; offsets are relative to its start (byte 8 + N) and each
// tensor is row-major (shape[-1] fastest). A sharded checkpoint has
// model.safetensors.index.json: {"metadata": {...}, "weight_map": {"<name>":
// "model-00001-of-00004.safetensors"}} with the shards in the same folder.
//
// Open() validates before trusting: header length within the file (and at most
// 100 MB), well-formed JSON, known dtypes, non-negative shapes whose element count
// times the dtype size equals the byte range, and offsets inside the data section.
// Errors are model-load Statuses naming the file and the problem. Conversion to
// fp32 supports F32, F16 and BF16.
//
// Ownership: each object owns its mappings; move-only.
// Threading: immutable after Open(); const methods are safe from many threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "coordinator/base/status.h"
#include "worker/model/mapped_file.h"

namespace kvfunda {

enum class SafetensorsDtype {
  kBool, kU8, kI8, kI16, kU16, kF16, kBF16, kI32, kU32, kF32, kF64, kI64, kU64,
  kF8E4M3, kF8E5M2,
};

// "BF16", ...
std::string_view SafetensorsDtypeName(SafetensorsDtype dtype);
// Bytes per element.
int64_t SafetensorsDtypeBytes(SafetensorsDtype dtype);

struct SafetensorsTensor {
  std::string name;
  SafetensorsDtype dtype = SafetensorsDtype::kF32;
  std::vector<int64_t> shape;  // row-major, last dim fastest; empty = scalar
  int64_t n_elements = 0;
  uint64_t offset = 0;  // absolute offset in the file
  uint64_t n_bytes = 0;
};

class SafetensorsFile {
 public:
  // Parses and validates the .safetensors file at `path`.
  // Errors: model-load "<path>: <problem>".
  static Result<SafetensorsFile> Open(const std::string& path);

  SafetensorsFile(SafetensorsFile&&) = default;
  SafetensorsFile& operator=(SafetensorsFile&&) = default;

  const std::string& path() const { return file_.path(); }
  // The "__metadata__" string map (empty when absent).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Tensors sorted by name.
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  // nullptr when absent.
  const SafetensorsTensor* Find(std::string_view name) const;
  // The tensor's bytes in the map. REQUIRES: `t` is one of tensors().
  std::span<const uint8_t> TensorData(const SafetensorsTensor& t) const;
  // The tensor as fp32 (n_elements values, row-major). Errors: not-found; model-load
  // for a dtype other than F32/F16/BF16.
  Result<std::vector<float>> ReadFloat32(std::string_view name) const;

 private:
  explicit SafetensorsFile(MappedFile file) : file_(std::move(file)) {}
  Status ParseHeader();

  MappedFile file_;
  std::map<std::string, std::string> metadata_;
  std::vector<SafetensorsTensor> tensors_;
  std::unordered_map<std::string, size_t> index_;  // name -> tensors_ index
};

// Converts `t`'s bytes to fp32. REQUIRES: bytes.size() == t.n_bytes, dst.size() ==
// t.n_elements. Errors: model-load for a dtype other than F32/F16/BF16.
Status SafetensorsToFloat32(const SafetensorsTensor& t, std::span<const uint8_t> bytes,
                            std::span<float> dst);

// All the tensors of a Hugging Face checkpoint: one file or an index plus shards.
class SafetensorsCheckpoint {
 public:
  // `path` is a .safetensors file, a model.safetensors.index.json, or a folder
  // holding either (the index wins). Each shard is opened once.
  // Errors: model-load naming the file: no checkpoint in the folder, bad index JSON,
  // a shard name with a path separator, a missing or corrupt shard, a tensor the
  // index assigns to a shard that lacks it.
  static Result<SafetensorsCheckpoint> Open(const std::string& path);

  // The files opened, in shard-name order.
  const std::vector<SafetensorsFile>& shards() const { return shards_; }
  // Every tensor name, sorted.
  std::vector<std::string> TensorNames() const;
  // The tensor and the shard holding it; nullptr when absent.
  const SafetensorsTensor* Find(std::string_view name, const SafetensorsFile** shard) const;
  // As SafetensorsFile::ReadFloat32, across shards.
  Result<std::vector<float>> ReadFloat32(std::string_view name) const;

 private:
  SafetensorsCheckpoint() = default;

  std::vector<SafetensorsFile> shards_;
  std::unordered_map<std::string, size_t> owner_;  // tensor name -> shards_ index
};

}  // namespace kvfunda
