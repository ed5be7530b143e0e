#include "worker/model/safetensors_file.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "worker/model/dequantize.h"

namespace kvfunda {
namespace {

// The reference implementation refuses headers above 100 MB; so do we.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct DtypeInfo {
  const char* name;
  SafetensorsDtype dtype;
  int64_t bytes;
};

constexpr DtypeInfo kDtypes[] = {
    {"BOOL", SafetensorsDtype::kBool, 1},  {"U8", SafetensorsDtype::kU8, 1},
    {"I8", SafetensorsDtype::kI8, 1},      {"I16", SafetensorsDtype::kI16, 2},
    {"U16", SafetensorsDtype::kU16, 2},    {"F16", SafetensorsDtype::kF16, 2},
    {"BF16", SafetensorsDtype::kBF16, 2},  {"I32", SafetensorsDtype::kI32, 4},
    {"U32", SafetensorsDtype::kU32, 4},    {"F32", SafetensorsDtype::kF32, 4},
    {"F64", SafetensorsDtype::kF64, 8},    {"I64", SafetensorsDtype::kI64, 8},
    {"U64", SafetensorsDtype::kU64, 8},    {"F8_E4M3", SafetensorsDtype::kF8E4M3, 1},
    {"F8_E5M2", SafetensorsDtype::kF8E5M2, 1},
};

const DtypeInfo* FindDtype(std::string_view name) {
  for (const auto& d : kDtypes) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

const DtypeInfo& Info(SafetensorsDtype dtype) {
  for (const auto& d : kDtypes) {
    if (d.dtype == dtype) return d;
  }
  return kDtypes[0];  // unreachable: every enumerator is in the table
}

// A JSON value as a non-negative integer that fits int64.
bool AsCount(const nlohmann::json& j, int64_t* out) {
  if (j.is_number_unsigned()) {
    const uint64_t v = j.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    *out = static_cast<int64_t>(v);
    return true;
  }
  if (j.is_number_integer()) {
    const int64_t v = j.get<int64_t>();
    if (v < 0) return false;
    *out = v;
    return true;
  }
  return false;
}

Result<nlohmann::json> ParseJsonBytes(std::span<const uint8_t> bytes, const std::string& path,
                                      std::string_view what) {
  nlohmann::json j = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr,
                                           /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::ModelLoad(path + ": " + std::string(what) + " is not valid JSON");
  if (!j.is_object()) return Status::ModelLoad(path + ": " + std::string(what) + " is not a JSON object");
  return j;
}

}  // namespace

std::string_view SafetensorsDtypeName(SafetensorsDtype dtype) { return Info(dtype).name; }
int64_t SafetensorsDtypeBytes(SafetensorsDtype dtype) { return Info(dtype).bytes; }

Result<SafetensorsFile> SafetensorsFile::Open(const std::string& path) {
  Result<MappedFile> mapped = MappedFile::Open(path);
  if (!mapped.ok()) return Status::ModelLoad(mapped.status().message());
  SafetensorsFile file(std::move(mapped).value());
  KVF_RETURN_IF_ERROR(file.ParseHeader());
  return file;
}

Status SafetensorsFile::ParseHeader() {
  auto fail = [this](const std::string& what) { return Status::ModelLoad(path() + ": " + what); };
  std::span<const uint8_t> bytes = file_.bytes();
  if (bytes.size() < 8) {
    return fail("truncated: " + std::to_string(bytes.size()) +
                " bytes, shorter than the 8-byte header length");
  }
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  if (header_len > bytes.size() - 8) {
    return fail("header length " + std::to_string(header_len) + " runs past the end of the file (" +
                std::to_string(bytes.size()) + " bytes)");
  }
  if (header_len > kMaxHeaderBytes) {
    return fail("header length " + std::to_string(header_len) + " exceeds the 100 MB limit");
  }
  KVF_ASSIGN_OR_RETURN(nlohmann::json header,
                       ParseJsonBytes(bytes.subspan(8, header_len), path(), "header"));
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = bytes.size() - data_start;

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) return fail("__metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) return fail("__metadata__." + m.key() + " is not a string");
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string what = "tensor " + name;
    if (!v.is_object()) return fail(what + ": entry is not an object");
    auto dtype_it = v.find("dtype");
    auto shape_it = v.find("shape");
    auto offsets_it = v.find("data_offsets");
    if (dtype_it == v.end() || !dtype_it->is_string()) return fail(what + ": missing string \"dtype\"");
    if (shape_it == v.end() || !shape_it->is_array()) return fail(what + ": missing array \"shape\"");
    if (offsets_it == v.end() || !offsets_it->is_array() || offsets_it->size() != 2) {
      return fail(what + ": \"data_offsets\" must be [begin, end]");
    }
    const DtypeInfo* dtype = FindDtype(dtype_it->get<std::string>());
    if (dtype == nullptr) return fail(what + ": unknown dtype " + dtype_it->get<std::string>());
    SafetensorsTensor t;
    t.name = name;
    t.dtype = dtype->dtype;
    int64_t n = 1;
    for (const auto& d : *shape_it) {
      int64_t dim = 0;
      if (!AsCount(d, &dim)) return fail(what + ": shape entries must be non-negative integers");
      if (__builtin_mul_overflow(n, dim, &n)) return fail(what + ": element count overflows");
      t.shape.push_back(dim);
    }
    t.n_elements = n;
    int64_t begin = 0, end = 0;
    if (!AsCount((*offsets_it)[0], &begin) || !AsCount((*offsets_it)[1], &end) || begin > end) {
      return fail(what + ": data_offsets must be non-negative integers with begin <= end");
    }
    if (static_cast<uint64_t>(end) > data_size) {
      return fail(what + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                  ") run past the end of the data section (" + std::to_string(data_size) +
                  " bytes; file truncated?)");
    }
    int64_t expected = 0;
    if (__builtin_mul_overflow(n, dtype->bytes, &expected) || expected != end - begin) {
      return fail(what + ": shape × " + dtype->name + " size is " +
                  (expected < 0 ? std::string("too large") : std::to_string(expected)) +
                  " bytes but data_offsets span " + std::to_string(end - begin));
    }
    t.offset = data_start + static_cast<uint64_t>(begin);
    t.n_bytes = static_cast<uint64_t>(end - begin);
    tensors_.push_back(std::move(t));
  }
  // nlohmann's object keeps keys sorted and unique, so tensors_ is sorted by name.
  for (size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
  return Status::Ok();
}

const SafetensorsTensor* SafetensorsFile::Find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const uint8_t> SafetensorsFile::TensorData(const SafetensorsTensor& t) const {
  return file_.bytes().subspan(t.offset, t.n_bytes);
}

Status SafetensorsToFloat32(const SafetensorsTensor& t, std::span<const uint8_t> bytes,
                            std::span<float> dst) {
  if (t.dtype != SafetensorsDtype::kF32 && t.dtype != SafetensorsDtype::kF16 &&
      t.dtype != SafetensorsDtype::kBF16) {
    return Status::ModelLoad("tensor " + t.name + ": dtype " +
                             std::string(SafetensorsDtypeName(t.dtype)) +
                             " cannot be converted to fp32 (supported: F32, F16, BF16)");
  }
  if (bytes.size() != t.n_bytes || dst.size() != static_cast<size_t>(t.n_elements)) {
    return Status::InvalidArgument("tensor " + t.name + ": buffer sizes do not match its shape");
  }
  const size_t n = dst.size();
  switch (t.dtype) {
    case SafetensorsDtype::kF32:
      if (n > 0) std::memcpy(dst.data(), bytes.data(), n * sizeof(float));
      return Status::Ok();
    case SafetensorsDtype::kF16:
    case SafetensorsDtype::kBF16: {
      const bool bf16 = t.dtype == SafetensorsDtype::kBF16;
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, bytes.data() + 2 * i, 2);
        dst[i] = bf16 ? Bf16ToFloat(h) : HalfToFloat(h);
      }
      return Status::Ok();
    }
    default:
      return Status::Internal("unreachable: dtype checked above");
  }
}

Result<std::vector<float>> SafetensorsFile::ReadFloat32(std::string_view name) const {
  const SafetensorsTensor* t = Find(name);
  if (t == nullptr) return Status::NotFound(path() + ": no tensor " + std::string(name));
  if (t->dtype != SafetensorsDtype::kF32 && t->dtype != SafetensorsDtype::kF16 &&
      t->dtype != SafetensorsDtype::kBF16) {
    return SafetensorsToFloat32(*t, TensorData(*t), {}).WithContext(path());
  }
  std::vector<float> out(static_cast<size_t>(t->n_elements));
  KVF_RETURN_IF_ERROR(SafetensorsToFloat32(*t, TensorData(*t), out).WithContext(path()));
  return out;
}

// ---- SafetensorsCheckpoint

Result<SafetensorsCheckpoint> SafetensorsCheckpoint::Open(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path p(path);
  if (fs::is_directory(p, ec)) {
    if (fs::exists(p / "model.safetensors.index.json", ec)) {
      p /= "model.safetensors.index.json";
    } else if (fs::exists(p / "model.safetensors", ec)) {
      p /= "model.safetensors";
    } else {
      return Status::ModelLoad(path + ": no model.safetensors or model.safetensors.index.json in this folder");
    }
  }
  SafetensorsCheckpoint ckpt;
  const std::string file = p.string();
  if (file.size() < 5 || file.substr(file.size() - 5) != ".json") {
    KVF_ASSIGN_OR_RETURN(SafetensorsFile single, SafetensorsFile::Open(file));
    for (const auto& t : single.tensors()) ckpt.owner_.emplace(t.name, 0);
    ckpt.shards_.push_back(std::move(single));
    return ckpt;
  }

  // Sharded: the index maps each tensor to a shard file in the same folder.
  Result<MappedFile> mapped = MappedFile::Open(file);
  if (!mapped.ok()) return Status::ModelLoad(mapped.status().message());
  KVF_ASSIGN_OR_RETURN(nlohmann::json index, ParseJsonBytes(mapped->bytes(), file, "index"));
  auto wm = index.find("weight_map");
  if (wm == index.end() || !wm->is_object()) {
    return Status::ModelLoad(file + ": missing object \"weight_map\"");
  }
  std::map<std::string, std::vector<std::string>> by_shard;  // shard -> tensor names
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!it.value().is_string()) {
      return Status::ModelLoad(file + ": weight_map[" + it.key() + "] is not a string");
    }
    const std::string shard = it.value().get<std::string>();
    if (shard.empty() || shard.find('/') != std::string::npos ||
        shard.find('\\') != std::string::npos || shard == "." || shard == "..") {
      return Status::ModelLoad(file + ": weight_map[" + it.key() + "]: shard name \"" + shard +
                               "\" must be a plain file name in the index's folder");
    }
    by_shard[shard].push_back(it.key());
  }
  if (by_shard.empty()) return Status::ModelLoad(file + ": weight_map is empty");
  const fs::path dir = p.parent_path();
  for (const auto& [shard, names] : by_shard) {
    KVF_ASSIGN_OR_RETURN(SafetensorsFile f, SafetensorsFile::Open((dir / shard).string()));
    for (const std::string& name : names) {
      if (f.Find(name) == nullptr) {
        return Status::ModelLoad(f.path() + ": tensor " + name + " is missing (" + file +
                                 " assigns it to this shard)");
      }
      ckpt.owner_.emplace(name, ckpt.shards_.size());
    }
    ckpt.shards_.push_back(std::move(f));
  }
  return ckpt;
}

std::vector<std::string> SafetensorsCheckpoint::TensorNames() const {
  std::vector<std::string> names;
  names.reserve(owner_.size());
  for (const auto& [name, shard] : owner_) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

const SafetensorsTensor* SafetensorsCheckpoint::Find(std::string_view name,
                                                     const SafetensorsFile** shard) const {
  auto it = owner_.find(std::string(name));
  if (it == owner_.end()) return nullptr;
  const SafetensorsFile& f = shards_[it->second];
  if (shard != nullptr) *shard = &f;
  return f.Find(name);
}

Result<std::vector<float>> SafetensorsCheckpoint::ReadFloat32(std::string_view name) const {
  const SafetensorsFile* f = nullptr;
  if (Find(name, &f) == nullptr) {
    return Status::NotFound("no tensor " + std::string(name) + " in the checkpoint (" +
                            std::to_string(shards_.size()) + " file(s))");
  }
  return f->ReadFloat32(name);
}

}  // namespace kvfunda
