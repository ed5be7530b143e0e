#include "coordinator/rpc/worker_service.h"

#include <nlohmann/json.hpp>

#include "coordinator/rpc/rpc_util.h"

namespace kvfunda::rpc {
namespace {

grpc::Status Invalid(const std::string& m) { return {grpc::StatusCode::INVALID_ARGUMENT, m}; }

}  // namespace

#define KVF_RPC_AUTH(context)                                      \
  do {                                                             \
    grpc::Status auth_ = CheckAuth(context, config_.auth_token);   \
    if (!auth_.ok()) return auth_;                                 \
  } while (0)

grpc::Status WorkerServiceImpl::Register(grpc::ServerContext* context,
                                         const v1::RegisterRequest* request,
                                         v1::RegisterReply* reply) {
  KVF_RPC_AUTH(context);
  WorkerRow row;
  row.name = request->name();
  row.host = request->host();
  row.device = request->device().empty() ? "cpu" : request->device();
  row.memory_bytes = request->memory_bytes();
  row.pid = request->pid();
  nlohmann::json models = nlohmann::json::array();
  for (const v1::ModelOnDisk& m : request->models()) {
    models.push_back({{"path", m.path()}, {"checksum", m.checksum()}});
  }
  row.models_json = models.dump();
  Result<std::string> id = workers_.Register(std::move(row));
  if (!id.ok()) return ToGrpc(id.status());
  reply->set_worker_id(*id);
  reply->set_lease_ms(config_.lease_ms);
  reply->set_heartbeat_ms(config_.heartbeat_ms);
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::Lease(grpc::ServerContext* context,
                                      const v1::LeaseRequest* request, v1::LeaseReply* reply) {
  KVF_RPC_AUTH(context);
  if (!workers_.Heartbeat(request->worker_id())) {
    return {grpc::StatusCode::NOT_FOUND,
            "unknown worker id '" + request->worker_id() + "': register again"};
  }
  int64_t retry_after_ms = config_.idle_retry_ms;
  std::optional<v1::ShardAssignment> a =
      table_.Lease(request->worker_id(), request->loaded_model_checksum(), &retry_after_ms);
  if (a) {
    *reply->mutable_shard() = std::move(*a);
  } else {
    reply->set_retry_after_ms(retry_after_ms);
  }
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::Heartbeat(grpc::ServerContext* context,
                                          const v1::HeartbeatRequest* request,
                                          v1::HeartbeatReply* reply) {
  KVF_RPC_AUTH(context);
  reply->set_reregister(!workers_.Heartbeat(request->worker_id()));
  if (!request->lease_id().empty()) {
    HeartbeatOutcome h = table_.Heartbeat(request->lease_id(), request->samples_done());
    reply->set_lease_valid(h.lease_valid);
    reply->set_cancelled(h.cancelled);
    reply->set_lease_deadline_ms(h.lease_deadline_ms);
  }
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::ReportResults(grpc::ServerContext* context,
                                              const v1::ReportResultsRequest* request,
                                              v1::ReportResultsReply* reply) {
  KVF_RPC_AUTH(context);
  if (request->lease_id().empty()) return Invalid("lease_id is empty");
  Result<ReportOutcome> r =
      table_.Report(request->worker_id(), request->lease_id(), request->results());
  if (!r.ok()) return ToGrpc(r.status());
  reply->set_stored(r->stored);
  reply->set_duplicates(r->duplicates);
  reply->set_rejected(r->rejected);
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::CompleteShard(grpc::ServerContext* context,
                                              const v1::CompleteShardRequest* request,
                                              v1::CompleteShardReply* reply) {
  KVF_RPC_AUTH(context);
  if (request->lease_id().empty()) return Invalid("lease_id is empty");
  Result<CompleteOutcome> r = table_.Complete(request->lease_id());
  if (!r.ok()) return ToGrpc(r.status());
  reply->set_accepted(r->accepted);
  reply->set_message(r->message);
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::FailShard(grpc::ServerContext* context,
                                          const v1::FailShardRequest* request,
                                          v1::FailShardReply* reply) {
  KVF_RPC_AUTH(context);
  if (request->lease_id().empty()) return Invalid("lease_id is empty");
  Result<FailOutcome> r = table_.Fail(request->lease_id(), request->kind(), request->message());
  if (!r.ok()) return ToGrpc(r.status());
  reply->set_will_retry(r->will_retry);
  reply->set_retry_after_ms(r->retry_after_ms);
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::ReleaseShard(grpc::ServerContext* context,
                                             const v1::ReleaseShardRequest* request,
                                             v1::ReleaseShardReply* /*reply*/) {
  KVF_RPC_AUTH(context);
  if (request->lease_id().empty()) return Invalid("lease_id is empty");
  table_.Release(request->lease_id());
  return grpc::Status::OK;
}

}  // namespace kvfunda::rpc
