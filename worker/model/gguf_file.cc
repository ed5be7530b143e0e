#include "worker/model/gguf_file.h"

#include <bit>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

namespace kvfunda {
namespace {

constexpr uint32_t kMaxDims = 4;          // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 8;         // arrays nested deeper are refused
constexpr uint64_t kDefaultAlignment = 32;
// Smallest possible encodings, used to bound counts by the bytes left.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;           // empty key, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;  // empty name, n_dims 0, type, offset

std::string Hex32(uint32_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s = "0x";
  for (int shift = 28; shift >= 0; shift -= 4) s += kDigits[(v >> shift) & 0xF];
  return s;
}

// Bytes of one scalar of `type`, 0 for string/array.
uint64_t ScalarBytes(GgufType type) {
  switch (type) {
    case GgufType::kUint8: case GgufType::kInt8: case GgufType::kBool: return 1;
    case GgufType::kUint16: case GgufType::kInt16: return 2;
    case GgufType::kUint32: case GgufType::kInt32: case GgufType::kFloat32: return 4;
    case GgufType::kUint64: case GgufType::kInt64: case GgufType::kFloat64: return 8;
    case GgufType::kString: case GgufType::kArray: return 0;
  }
  return 0;
}

bool IsIntegerType(GgufType t) {
  switch (t) {
    case GgufType::kUint8: case GgufType::kInt8: case GgufType::kUint16: case GgufType::kInt16:
    case GgufType::kUint32: case GgufType::kInt32: case GgufType::kUint64: case GgufType::kInt64:
    case GgufType::kBool:
      return true;
    default:
      return false;
  }
}

bool IsFloatType(GgufType t) { return t == GgufType::kFloat32 || t == GgufType::kFloat64; }

}  // namespace

std::string_view GgufTypeName(GgufType type) {
  switch (type) {
    case GgufType::kUint8: return "UINT8";
    case GgufType::kInt8: return "INT8";
    case GgufType::kUint16: return "UINT16";
    case GgufType::kInt16: return "INT16";
    case GgufType::kUint32: return "UINT32";
    case GgufType::kInt32: return "INT32";
    case GgufType::kFloat32: return "FLOAT32";
    case GgufType::kBool: return "BOOL";
    case GgufType::kString: return "STRING";
    case GgufType::kArray: return "ARRAY";
    case GgufType::kUint64: return "UINT64";
    case GgufType::kInt64: return "INT64";
    case GgufType::kFloat64: return "FLOAT64";
  }
  return "?";
}

bool GgufValue::IsInteger() const { return IsIntegerType(type); }
bool GgufValue::IsFloat() const { return IsFloatType(type); }

size_t GgufValue::ArraySize() const {
  if (type != GgufType::kArray) return 0;
  return ints.size() + floats.size() + strings.size() + arrays.size();
}

// Reads the header, metadata and tensor infos from the map, checking every read.
class GgufParser {
 public:
  explicit GgufParser(GgufFile* f) : f_(f), bytes_(f->file_.bytes()) {}

  Status Parse() {
    KVF_RETURN_IF_ERROR(ParseHeader());
    KVF_RETURN_IF_ERROR(ParseMetadata());
    KVF_RETURN_IF_ERROR(ParseTensorInfos());
    return PlaceData();
  }

 private:
  Status Fail(const std::string& what) const {
    return Status::ModelLoad(f_->path() + ": " + what);
  }

  uint64_t Left() const { return bytes_.size() - pos_; }

  // `what` describes the field for error messages: a string, or a callable that
  // builds one (so the hot loops over array elements build no strings).
  template <typename What>
  static std::string Describe(const What& what) {
    if constexpr (std::is_invocable_v<What>) {
      return what();
    } else {
      return std::string(what);
    }
  }

  template <typename What>
  Status Need(uint64_t n, const What& what) const {
    if (n <= Left()) return Status::Ok();
    return Fail("truncated: " + Describe(what) + " at byte " + std::to_string(pos_) + " needs " +
                std::to_string(n) + " bytes, only " + std::to_string(Left()) +
                " left (file size " + std::to_string(bytes_.size()) + ")");
  }

  template <typename T, typename What>
  Status Read(T* out, const What& what) {
    KVF_RETURN_IF_ERROR(Need(sizeof(T), what));
    std::memcpy(out, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::Ok();
  }

  template <typename What>
  Status ReadString(std::string* out, const What& what) {
    uint64_t len = 0;
    KVF_RETURN_IF_ERROR(Read(&len, what));
    if (len > Left()) {
      return Fail(Describe(what) + " at byte " + std::to_string(pos_ - 8) + ": length " +
                  std::to_string(len) + " runs past the end of the file (" +
                  std::to_string(Left()) + " bytes left)");
    }
    out->assign(reinterpret_cast<const char*>(bytes_.data() + pos_), len);
    pos_ += len;
    return Status::Ok();
  }

  Status ParseHeader() {
    KVF_RETURN_IF_ERROR(Need(4, "magic"));
    if (std::memcmp(bytes_.data(), "GGUF", 4) != 0) {
      uint32_t magic;
      std::memcpy(&magic, bytes_.data(), 4);
      return Fail("bad magic " + Hex32(magic) + " (expected \"GGUF\"; not a GGUF file)");
    }
    pos_ = 4;
    uint32_t version = 0;
    KVF_RETURN_IF_ERROR(Read(&version, "version"));
    if (version != 2 && version != 3) {
      const uint32_t swapped = __builtin_bswap32(version);
      if (swapped == 2 || swapped == 3) {
        return Fail("GGUF version " + std::to_string(swapped) +
                    " is big-endian; only little-endian files are supported");
      }
      return Fail("unsupported GGUF version " + std::to_string(version) +
                  " (supported: 2 and 3)");
    }
    f_->version_ = version;
    KVF_RETURN_IF_ERROR(Read(&n_tensors_, "tensor count"));
    KVF_RETURN_IF_ERROR(Read(&n_kv_, "metadata count"));
    // Every entry takes some bytes, so a count larger than the bytes left allow is
    // corrupt; checking it here keeps reserve() below bounded by the file size.
    if (n_kv_ > Left() / kMinKvBytes) {
      return Fail("metadata count " + std::to_string(n_kv_) + " is impossible with " +
                  std::to_string(Left()) + " bytes left");
    }
    if (n_tensors_ > Left() / kMinTensorInfoBytes) {
      return Fail("tensor count " + std::to_string(n_tensors_) + " is impossible with " +
                  std::to_string(Left()) + " bytes left");
    }
    return Status::Ok();
  }

  Status ReadType(GgufType* out, const std::string& key) {
    uint32_t t = 0;
    KVF_RETURN_IF_ERROR(Read(&t, "value type of key " + key));
    if (t > static_cast<uint32_t>(GgufType::kFloat64)) {
      return Fail("key " + key + ": unknown value type " + std::to_string(t));
    }
    *out = static_cast<GgufType>(t);
    return Status::Ok();
  }

  Status ReadScalar(GgufType type, const std::string& key, int64_t* i, double* d) {
    auto what = [&key] { return "value of key " + key; };
    switch (type) {
      case GgufType::kUint8: { uint8_t v = 0; KVF_RETURN_IF_ERROR(Read(&v, what)); *i = v; break; }
      case GgufType::kInt8: { int8_t v = 0; KVF_RETURN_IF_ERROR(Read(&v, what)); *i = v; break; }
      case GgufType::kBool: { uint8_t v = 0; KVF_RETURN_IF_ERROR(Read(&v, what)); *i = v != 0; break; }
      case GgufType::kUint16: { uint16_t v = 0; KVF_RETURN_IF_ERROR(Read(&v, what)); *i = v; break; }
      case GgufType::kInt16: { int16_t v = 0; KVF_RETURN_IF_ERROR(Read(&v, what)); *i = v; break; }
      case GgufType::kUint32: { uint32_t v = 0; KVF_RETURN_IF_ERROR(Read(&v, what)); *i = v; break; }
      case GgufType::kInt32: { int32_t v = 0; KVF_RETURN_IF_ERROR(Read(&v, what)); *i = v; break; }
      case GgufType::kUint64: {
        uint64_t v = 0;
        KVF_RETURN_IF_ERROR(Read(&v, what));
        *i = std::bit_cast<int64_t>(v);
        break;
      }
      case GgufType::kInt64: { int64_t v = 0; KVF_RETURN_IF_ERROR(Read(&v, what)); *i = v; break; }
      case GgufType::kFloat32: { float v = 0; KVF_RETURN_IF_ERROR(Read(&v, what)); *d = v; break; }
      case GgufType::kFloat64: { double v = 0; KVF_RETURN_IF_ERROR(Read(&v, what)); *d = v; break; }
      case GgufType::kString: case GgufType::kArray:
        return Fail("key " + key + ": internal: not a scalar type");
    }
    return Status::Ok();
  }

  Status ReadValue(GgufType type, const std::string& key, int depth, GgufValue* out) {
    out->type = type;
    if (type == GgufType::kString) return ReadString(&out->string_value, "string value of key " + key);
    if (type != GgufType::kArray) return ReadScalar(type, key, &out->int_value, &out->float_value);

    if (depth >= kMaxArrayDepth) {
      return Fail("key " + key + ": arrays nested deeper than " + std::to_string(kMaxArrayDepth));
    }
    KVF_RETURN_IF_ERROR(ReadType(&out->element_type, key));
    uint64_t count = 0;
    KVF_RETURN_IF_ERROR(Read(&count, "array length of key " + key));
    const GgufType et = out->element_type;
    const uint64_t min_bytes = et == GgufType::kString ? 8 : et == GgufType::kArray ? 12 : ScalarBytes(et);
    if (count > Left() / min_bytes) {
      return Fail("key " + key + ": array of " + std::to_string(count) + " " +
                  std::string(GgufTypeName(et)) + " runs past the end of the file (" +
                  std::to_string(Left()) + " bytes left)");
    }
    const size_t n = static_cast<size_t>(count);
    if (et == GgufType::kString) {
      out->strings.resize(n);
      for (size_t k = 0; k < n; ++k) {
        KVF_RETURN_IF_ERROR(ReadString(&out->strings[k], [&] {
          return "string " + std::to_string(k) + " of key " + key;
        }));
      }
    } else if (et == GgufType::kArray) {
      out->arrays.resize(n);
      for (size_t k = 0; k < n; ++k) {
        KVF_RETURN_IF_ERROR(ReadValue(GgufType::kArray, key, depth + 1, &out->arrays[k]));
      }
    } else if (IsFloatType(et)) {
      out->floats.resize(n);
      int64_t unused = 0;
      for (size_t k = 0; k < n; ++k) KVF_RETURN_IF_ERROR(ReadScalar(et, key, &unused, &out->floats[k]));
    } else {
      out->ints.resize(n);
      double unused = 0;
      for (size_t k = 0; k < n; ++k) KVF_RETURN_IF_ERROR(ReadScalar(et, key, &out->ints[k], &unused));
    }
    return Status::Ok();
  }

  Status ParseMetadata() {
    f_->metadata_.reserve(static_cast<size_t>(n_kv_));
    for (uint64_t k = 0; k < n_kv_; ++k) {
      GgufKeyValue kv;
      KVF_RETURN_IF_ERROR(ReadString(&kv.key, "key of metadata entry " + std::to_string(k)));
      GgufType type;
      KVF_RETURN_IF_ERROR(ReadType(&type, kv.key));
      KVF_RETURN_IF_ERROR(ReadValue(type, kv.key, 0, &kv.value));
      if (!f_->key_index_.emplace(kv.key, f_->metadata_.size()).second) {
        return Fail("duplicate metadata key " + kv.key);
      }
      f_->metadata_.push_back(std::move(kv));
    }
    return Status::Ok();
  }

  Status ParseTensorInfos() {
    f_->tensors_.reserve(static_cast<size_t>(n_tensors_));
    for (uint64_t k = 0; k < n_tensors_; ++k) {
      GgufTensorInfo t;
      KVF_RETURN_IF_ERROR(ReadString(&t.name, "name of tensor " + std::to_string(k)));
      const std::string what = "tensor " + t.name;
      uint32_t n_dims = 0;
      KVF_RETURN_IF_ERROR(Read(&n_dims, "n_dims of " + what));
      if (n_dims > kMaxDims) {
        return Fail(what + ": n_dims " + std::to_string(n_dims) + " exceeds " + std::to_string(kMaxDims));
      }
      int64_t n_elements = 1;
      for (uint32_t d = 0; d < n_dims; ++d) {
        uint64_t dim = 0;
        KVF_RETURN_IF_ERROR(Read(&dim, "dims of " + what));
        if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
            __builtin_mul_overflow(n_elements, static_cast<int64_t>(dim), &n_elements)) {
          return Fail(what + ": element count overflows (dim " + std::to_string(d) + " = " +
                      std::to_string(dim) + ")");
        }
        t.dims.push_back(static_cast<int64_t>(dim));
      }
      KVF_RETURN_IF_ERROR(Read(&t.type, "type of " + what));
      const GgmlTypeTraits* traits = FindGgmlType(t.type);
      if (traits == nullptr) return Fail(what + ": unknown ggml type " + std::to_string(t.type));
      const int64_t row = t.dims.empty() ? 1 : t.dims[0];
      if (row % traits->block_size != 0) {
        return Fail(what + ": row length " + std::to_string(row) + " is not a multiple of the " +
                    traits->name + " block size " + std::to_string(traits->block_size));
      }
      t.n_elements = n_elements;
      t.n_bytes = GgmlTensorBytes(*traits, n_elements);
      if (t.n_bytes < 0) return Fail(what + ": byte size overflows");
      KVF_RETURN_IF_ERROR(Read(&t.offset, "data offset of " + what));
      if (!f_->tensor_index_.emplace(t.name, f_->tensors_.size()).second) {
        return Fail("duplicate tensor name " + t.name);
      }
      f_->tensors_.push_back(std::move(t));
    }
    return Status::Ok();
  }

  Status PlaceData() {
    if (const GgufValue* a = f_->Find("general.alignment")) {
      if (a->type != GgufType::kUint32 || a->int_value == 0 ||
          (a->int_value & (a->int_value - 1)) != 0) {
        return Fail("general.alignment must be a UINT32 power of two, found " +
                    std::string(GgufTypeName(a->type)) + " " + std::to_string(a->int_value));
      }
      f_->alignment_ = static_cast<uint64_t>(a->int_value);
    } else {
      f_->alignment_ = kDefaultAlignment;
    }
    const uint64_t align = f_->alignment_;
    const uint64_t start = (pos_ + align - 1) / align * align;  // pos_ <= file size, no overflow
    f_->data_offset_ = start;
    if (f_->tensors_.empty()) return Status::Ok();
    if (start > bytes_.size()) {
      return Fail("truncated: the data section would start at byte " + std::to_string(start) +
                  " past the end of the file (" + std::to_string(bytes_.size()) + " bytes)");
    }
    const uint64_t data_size = bytes_.size() - start;
    for (const GgufTensorInfo& t : f_->tensors_) {
      if (t.offset % align != 0) {
        return Fail("tensor " + t.name + ": data offset " + std::to_string(t.offset) +
                    " is not a multiple of the alignment " + std::to_string(align));
      }
      if (t.offset > data_size || static_cast<uint64_t>(t.n_bytes) > data_size - t.offset) {
        return Fail("tensor " + t.name + ": data [" + std::to_string(t.offset) + ", +" +
                    std::to_string(t.n_bytes) + ") runs past the end of the data section (" +
                    std::to_string(data_size) + " bytes; file truncated?)");
      }
    }
    return Status::Ok();
  }

  GgufFile* f_;
  std::span<const uint8_t> bytes_;
  uint64_t pos_ = 0;
  uint64_t n_tensors_ = 0;
  uint64_t n_kv_ = 0;
};

Result<GgufFile> GgufFile::Open(const std::string& path) {
  Result<MappedFile> mapped = MappedFile::Open(path);
  if (!mapped.ok()) return Status::ModelLoad(mapped.status().message());
  GgufFile file(std::move(mapped).value());
  GgufParser parser(&file);
  KVF_RETURN_IF_ERROR(parser.Parse());
  return file;
}

const GgufValue* GgufFile::Find(std::string_view key) const {
  auto it = key_index_.find(std::string(key));
  return it == key_index_.end() ? nullptr : &metadata_[it->second].value;
}

Status GgufFile::TypeError(std::string_view key, std::string_view expected, const GgufValue& v) const {
  std::string found(GgufTypeName(v.type));
  if (v.type == GgufType::kArray) found += " of " + std::string(GgufTypeName(v.element_type));
  return Status::ModelLoad(path() + ": key " + std::string(key) + ": expected " +
                           std::string(expected) + ", found " + found);
}

#define KVF_GGUF_FIND(v, key)                                                            \
  const GgufValue* v = Find(key);                                                        \
  if (v == nullptr) return Status::NotFound(path() + ": no metadata key " + std::string(key))

Result<std::string> GgufFile::GetString(std::string_view key) const {
  KVF_GGUF_FIND(v, key);
  if (v->type != GgufType::kString) return TypeError(key, "STRING", *v);
  return v->string_value;
}

Result<int64_t> GgufFile::GetInt(std::string_view key) const {
  KVF_GGUF_FIND(v, key);
  if (!v->IsInteger() || v->type == GgufType::kBool) return TypeError(key, "an integer", *v);
  if (v->type == GgufType::kUint64 && v->int_value < 0) {
    return Status::ModelLoad(path() + ": key " + std::string(key) + ": value " +
                             std::to_string(std::bit_cast<uint64_t>(v->int_value)) +
                             " does not fit int64");
  }
  return v->int_value;
}

Result<uint32_t> GgufFile::GetU32(std::string_view key) const {
  KVF_ASSIGN_OR_RETURN(int64_t i, GetInt(key));
  if (i < 0 || i > std::numeric_limits<uint32_t>::max()) {
    return Status::ModelLoad(path() + ": key " + std::string(key) + ": value " +
                             std::to_string(i) + " does not fit uint32");
  }
  return static_cast<uint32_t>(i);
}

Result<double> GgufFile::GetF64(std::string_view key) const {
  KVF_GGUF_FIND(v, key);
  if (v->IsFloat()) return v->float_value;
  if (v->IsInteger() && v->type != GgufType::kBool) {
    if (v->type == GgufType::kUint64) return static_cast<double>(std::bit_cast<uint64_t>(v->int_value));
    return static_cast<double>(v->int_value);
  }
  return TypeError(key, "a number", *v);
}

Result<float> GgufFile::GetF32(std::string_view key) const {
  KVF_ASSIGN_OR_RETURN(double d, GetF64(key));
  return static_cast<float>(d);
}

Result<bool> GgufFile::GetBool(std::string_view key) const {
  KVF_GGUF_FIND(v, key);
  if (v->type != GgufType::kBool) return TypeError(key, "BOOL", *v);
  return v->int_value != 0;
}

Result<std::vector<std::string>> GgufFile::GetStringArray(std::string_view key) const {
  KVF_GGUF_FIND(v, key);
  if (v->type != GgufType::kArray || v->element_type != GgufType::kString) {
    return TypeError(key, "ARRAY of STRING", *v);
  }
  return v->strings;
}

Result<std::vector<int64_t>> GgufFile::GetIntArray(std::string_view key) const {
  KVF_GGUF_FIND(v, key);
  if (v->type != GgufType::kArray || !IsIntegerType(v->element_type)) {
    return TypeError(key, "ARRAY of integers", *v);
  }
  if (v->element_type == GgufType::kUint64) {
    for (int64_t i : v->ints) {
      if (i < 0) {
        return Status::ModelLoad(path() + ": key " + std::string(key) +
                                 ": a UINT64 element does not fit int64");
      }
    }
  }
  return v->ints;
}

Result<std::vector<float>> GgufFile::GetFloatArray(std::string_view key) const {
  KVF_GGUF_FIND(v, key);
  if (v->type != GgufType::kArray ||
      !(IsFloatType(v->element_type) ||
        (IsIntegerType(v->element_type) && v->element_type != GgufType::kBool))) {
    return TypeError(key, "ARRAY of numbers", *v);
  }
  std::vector<float> out;
  out.reserve(v->ArraySize());
  for (double d : v->floats) out.push_back(static_cast<float>(d));
  for (int64_t i : v->ints) {
    out.push_back(v->element_type == GgufType::kUint64
                      ? static_cast<float>(std::bit_cast<uint64_t>(i))
                      : static_cast<float>(i));
  }
  return out;
}

#undef KVF_GGUF_FIND

const GgufTensorInfo* GgufFile::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const uint8_t> GgufFile::TensorData(const GgufTensorInfo& info) const {
  return file_.bytes().subspan(data_offset_ + info.offset, static_cast<size_t>(info.n_bytes));
}

Result<std::vector<float>> GgufFile::DequantizeTensor(std::string_view name, int num_threads) const {
  const GgufTensorInfo* t = FindTensor(name);
  if (t == nullptr) return Status::NotFound(path() + ": no tensor " + std::string(name));
  const GgmlTypeTraits* traits = FindGgmlType(t->type);
  if (traits == nullptr || !traits->dequantizable) {
    // Checked before allocating, so an unsupported type costs nothing.
    return DequantizeToF32(t->type, {}, {}, 1).WithContext(path() + ": tensor " + t->name);
  }
  std::vector<float> out(static_cast<size_t>(t->n_elements));
  KVF_RETURN_IF_ERROR(DequantizeToF32(t->type, TensorData(*t), out, num_threads)
                          .WithContext(path() + ": tensor " + t->name));
  return out;
}

}  // namespace kvfunda
