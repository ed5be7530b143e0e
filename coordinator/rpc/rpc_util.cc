#include "coordinator/rpc/rpc_util.h"

namespace kvfunda::rpc {

grpc::Status ToGrpc(const Status& s) {
  using C = Status::Code;
  switch (s.code()) {
    case C::kOk: return grpc::Status::OK;
    case C::kBadInput:
    case C::kInvalidArgument: return {grpc::StatusCode::INVALID_ARGUMENT, s.message()};
    case C::kNotFound: return {grpc::StatusCode::NOT_FOUND, s.message()};
    case C::kIo:
    case C::kTransient: return {grpc::StatusCode::UNAVAILABLE, s.ToString()};
    case C::kModelLoad: return {grpc::StatusCode::FAILED_PRECONDITION, s.ToString()};
    case C::kOutOfMemory: return {grpc::StatusCode::RESOURCE_EXHAUSTED, s.ToString()};
    case C::kCancelled: return {grpc::StatusCode::CANCELLED, s.message()};
    case C::kCorruption: return {grpc::StatusCode::DATA_LOSS, s.ToString()};
    case C::kInternal: return {grpc::StatusCode::INTERNAL, s.ToString()};
  }
  return {grpc::StatusCode::UNKNOWN, s.ToString()};
}

grpc::Status CheckAuth(const grpc::ServerContext* context, const std::string& token) {
  if (token.empty()) return grpc::Status::OK;
  const std::string expected = "Bearer " + token;
  const auto& md = context->client_metadata();
  auto it = md.find("authorization");
  bool ok = false;
  if (it != md.end() && it->second.size() == expected.size()) {
    unsigned char diff = 0;
    for (size_t i = 0; i < expected.size(); ++i) {
      diff |= static_cast<unsigned char>(it->second.data()[i] ^ expected[i]);
    }
    ok = diff == 0;
  }
  if (ok) return grpc::Status::OK;
  return {grpc::StatusCode::UNAUTHENTICATED,
          "missing or wrong bearer token (metadata \"authorization: Bearer <token>\")"};
}

}  // namespace kvfunda::rpc
