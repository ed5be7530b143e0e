// WorkerServiceImpl: the gRPC WorkerService (workers: register, lease,
// heartbeat, report, complete, fail, release). Thin: checks the token and the
// request, calls the WorkerRegistry / LeaseTable, fills the reply.
//
// Unknown worker ids: Lease answers NOT_FOUND ("register again") and Heartbeat
// sets `reregister`; reports, completions and failures are judged by their lease
// id alone (lease ids are unguessable), so results are never dropped because of
// a registry mishap.
//
// Ownership: the Coordinator owns it; borrows the registry and the table.
// Threading: thread-safe.
#pragma once

#include "coordinator/core/coordinator_config.h"
#include "coordinator/core/lease_table.h"
#include "coordinator/core/worker_registry.h"
#include "proto/kvfunda.grpc.pb.h"

namespace kvfunda::rpc {

class WorkerServiceImpl final : public v1::WorkerService::Service {
 public:
  WorkerServiceImpl(const CoordinatorConfig& config, WorkerRegistry& workers, LeaseTable& table)
      : config_(config), workers_(workers), table_(table) {}

  grpc::Status Register(grpc::ServerContext* context, const v1::RegisterRequest* request,
                        v1::RegisterReply* reply) override;
  grpc::Status Lease(grpc::ServerContext* context, const v1::LeaseRequest* request,
                     v1::LeaseReply* reply) override;
  grpc::Status Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* request,
                         v1::HeartbeatReply* reply) override;
  grpc::Status ReportResults(grpc::ServerContext* context,
                             const v1::ReportResultsRequest* request,
                             v1::ReportResultsReply* reply) override;
  grpc::Status CompleteShard(grpc::ServerContext* context,
                             const v1::CompleteShardRequest* request,
                             v1::CompleteShardReply* reply) override;
  grpc::Status FailShard(grpc::ServerContext* context, const v1::FailShardRequest* request,
                         v1::FailShardReply* reply) override;
  grpc::Status ReleaseShard(grpc::ServerContext* context, const v1::ReleaseShardRequest* request,
                            v1::ReleaseShardReply* reply) override;

 private:
  const CoordinatorConfig config_;
  WorkerRegistry& workers_;
  LeaseTable& table_;
};

}  // namespace kvfunda::rpc
