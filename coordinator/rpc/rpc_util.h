// Helpers shared by the gRPC service classes: Status -> grpc::Status mapping and
// the bearer-token check.
//
// Mapping: bad-input / invalid-argument -> INVALID_ARGUMENT (with the message),
// not-found -> NOT_FOUND, io / transient -> UNAVAILABLE (the caller may retry:
// nothing was stored), model-load -> FAILED_PRECONDITION, out-of-memory ->
// RESOURCE_EXHAUSTED, cancelled -> CANCELLED, corruption -> DATA_LOSS,
// internal -> INTERNAL.
// Threading: free functions; thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>

#include "coordinator/base/status.h"

namespace kvfunda::rpc {

grpc::Status ToGrpc(const Status& s);

// OK when `token` is empty or the call carries "authorization: Bearer <token>";
// UNAUTHENTICATED otherwise. The comparison takes the same time for any
// same-length guess.
grpc::Status CheckAuth(const grpc::ServerContext* context, const std::string& token);

}  // namespace kvfunda::rpc
