// CoordinatorClient: the worker's view of WorkerService (proto/kvfunda.proto).
//
// GrpcCoordinatorClient is the real one; tests use fakes. Every call returns the
// reply or a Status: transient for "coordinator away" (UNAVAILABLE, deadline
// exceeded, connection reset), so the caller retries with backoff; other gRPC
// codes map to bad-input / not-found / internal with the server's message.
// Threading: implementations are thread-safe (the heartbeat thread and the
// evaluation thread share one client).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "coordinator/base/status.h"
#include "proto/kvfunda.pb.h"

namespace kvfunda {

class CoordinatorClient {
 public:
  virtual ~CoordinatorClient() = default;
  virtual Result<v1::RegisterReply> Register(const v1::RegisterRequest& request) = 0;
  virtual Result<v1::LeaseReply> Lease(const v1::LeaseRequest& request) = 0;
  virtual Result<v1::HeartbeatReply> Heartbeat(const v1::HeartbeatRequest& request) = 0;
  virtual Result<v1::ReportResultsReply> ReportResults(const v1::ReportResultsRequest& request) = 0;
  virtual Result<v1::CompleteShardReply> CompleteShard(const v1::CompleteShardRequest& request) = 0;
  virtual Result<v1::FailShardReply> FailShard(const v1::FailShardRequest& request) = 0;
  virtual Result<v1::ReleaseShardReply> ReleaseShard(const v1::ReleaseShardRequest& request) = 0;
};

struct GrpcClientOptions {
  std::string address;       // "host:port"
  std::string token;         // bearer token; empty = none
  int64_t call_timeout_ms = 10'000;
};

std::unique_ptr<CoordinatorClient> MakeGrpcCoordinatorClient(const GrpcClientOptions& options);

}  // namespace kvfunda
