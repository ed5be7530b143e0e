// Status and Result<T>: kvfunda's error values.
//
// Every fallible call returns a Status or a Result<T>. A Status is OK or carries
// a Code and a message written for the user ("sweep.yaml:12: ratios[2]: 1.5 is
// outside (0, 1]"). Codes mirror the worker's FailShard kinds (transient,
// model-load, bad-input, out-of-memory) plus the storage and lookup errors.
// Convert at the edges only: grpc::Status in RPC handlers, HTTP codes in the JSON
// API, SQLite codes in the store, libtorch exceptions in the worker adapter.
//
// Threading: values; immutable after construction, safe to copy between threads.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace kvfunda {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk = 0,
    kTransient,        // retry may succeed (network, lease lost, busy)
    kModelLoad,        // model file missing, corrupt or unsupported
    kBadInput,         // the request or spec is wrong; retrying will not help
    kOutOfMemory,      // allocation failed; retry with smaller batch may help
    kNotFound,         // a named object does not exist
    kInvalidArgument,  // a caller passed a value outside the contract
    kCorruption,       // stored data failed a consistency check
    kIo,               // file system or database I/O failed
    kCancelled,        // the work was cancelled by the user
    kInternal,         // a bug: an invariant did not hold
  };

  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status Transient(std::string m) { return {Code::kTransient, std::move(m)}; }
  static Status ModelLoad(std::string m) { return {Code::kModelLoad, std::move(m)}; }
  static Status BadInput(std::string m) { return {Code::kBadInput, std::move(m)}; }
  static Status OutOfMemory(std::string m) { return {Code::kOutOfMemory, std::move(m)}; }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status Io(std::string m) { return {Code::kIo, std::move(m)}; }
  static Status Cancelled(std::string m) { return {Code::kCancelled, std::move(m)}; }
  static Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // "bad-input: sweep.yaml:3: ratios[0]: ..." ; "ok" when ok().
  std::string ToString() const { return ok() ? "ok" : std::string(CodeName(code_)) + ": " + message_; }

  // Returns a copy with `context` prefixed to the message ("loading x: ...").
  Status WithContext(std::string_view context) const {
    if (ok()) return *this;
    return Status(code_, std::string(context) + ": " + message_);
  }

  static std::string_view CodeName(Code c) {
    switch (c) {
      case Code::kOk: return "ok";
      case Code::kTransient: return "transient";
      case Code::kModelLoad: return "model-load";
      case Code::kBadInput: return "bad-input";
      case Code::kOutOfMemory: return "out-of-memory";
      case Code::kNotFound: return "not-found";
      case Code::kInvalidArgument: return "invalid-argument";
      case Code::kCorruption: return "corruption";
      case Code::kIo: return "io";
      case Code::kCancelled: return "cancelled";
      case Code::kInternal: return "internal";
    }
    return "unknown";
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// Result<T>: a T or a non-OK Status. Construct from either; check ok() before value().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(v_).ok() && "Result constructed from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  // REQUIRES: ok().
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  // OK when ok(), else the error.
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace kvfunda

// Propagates a non-OK Status from the current function.
#define KVF_RETURN_IF_ERROR(expr)                  \
  do {                                             \
    ::kvfunda::Status kvf_status_ = (expr);        \
    if (!kvf_status_.ok()) return kvf_status_;     \
  } while (0)

#define KVF_CONCAT_INNER(a, b) a##b
#define KVF_CONCAT(a, b) KVF_CONCAT_INNER(a, b)
// KVF_ASSIGN_OR_RETURN(auto x, MakeX()); declares x or returns the error.
#define KVF_ASSIGN_OR_RETURN(lhs, expr) \
  KVF_ASSIGN_OR_RETURN_IMPL(KVF_CONCAT(kvf_result_, __LINE__), lhs, expr)
#define KVF_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()
