// LoadClient: how a simulated worker reaches the coordinator's WorkerService.
//
// Two implementations with the same calls and messages, so the load loop is the
// same and their difference is the transport's cost:
//   - GrpcLoadClient: a real WorkerService stub over its own gRPC channel (its
//     own TCP connection on loopback; channels do not share subchannels).
//   - InProcessLoadClient: calls a WorkerServiceImpl's handlers directly (no
//     serialisation, no sockets); for profiling where the time goes.
// Every call returns the gRPC status; the reply is filled when it is OK.
//
// Ownership: each simulated worker owns one client.
// Threading: thread-compatible (one worker thread uses it).
#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "coordinator/rpc/worker_service.h"
#include "proto/kvfunda.grpc.pb.h"

namespace kvfunda::bench {

class LoadClient {
 public:
  virtual ~LoadClient() = default;
  virtual grpc::Status Register(const v1::RegisterRequest& req, v1::RegisterReply* reply) = 0;
  virtual grpc::Status Lease(const v1::LeaseRequest& req, v1::LeaseReply* reply) = 0;
  virtual grpc::Status Heartbeat(const v1::HeartbeatRequest& req,
                                 v1::HeartbeatReply* reply) = 0;
  virtual grpc::Status ReportResults(const v1::ReportResultsRequest& req,
                                     v1::ReportResultsReply* reply) = 0;
  virtual grpc::Status CompleteShard(const v1::CompleteShardRequest& req,
                                     v1::CompleteShardReply* reply) = 0;
};

// A stub on a fresh channel to `target` ("127.0.0.1:port"). Calls time out after
// `deadline_ms` (they fail with DEADLINE_EXCEEDED then).
std::unique_ptr<LoadClient> MakeGrpcLoadClient(const std::string& target, int deadline_ms);

// Calls `service`'s handlers on the caller's thread. REQUIRES: `service` outlives
// the client and was built without an auth token.
std::unique_ptr<LoadClient> MakeInProcessLoadClient(rpc::WorkerServiceImpl& service);

}  // namespace kvfunda::bench
