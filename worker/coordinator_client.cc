#include "worker/coordinator_client.h"

#include <chrono>

#include <grpcpp/grpcpp.h>

#include "proto/kvfunda.grpc.pb.h"

namespace kvfunda {
namespace {

Status FromGrpc(const grpc::Status& s, const char* call) {
  std::string msg = std::string(call) + ": " + s.error_message();
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::CANCELLED:
      return Status::Transient(msg);
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
      return Status::BadInput(msg);
    case grpc::StatusCode::NOT_FOUND:
      return Status::NotFound(msg);
    default:
      return Status::Internal(msg);
  }
}

class GrpcCoordinatorClient final : public CoordinatorClient {
 public:
  explicit GrpcCoordinatorClient(const GrpcClientOptions& options) : options_(options) {
    grpc::ChannelArguments args;
    // Reconnect quickly when the coordinator comes back after a restart.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    args.SetMaxReceiveMessageSize(64 << 20);
    channel_ = grpc::CreateCustomChannel(options.address, grpc::InsecureChannelCredentials(), args);
    stub_ = v1::WorkerService::NewStub(channel_);
  }

  Result<v1::RegisterReply> Register(const v1::RegisterRequest& r) override {
    return Call<v1::RegisterReply>("Register", [&](grpc::ClientContext* c, v1::RegisterReply* o) {
      return stub_->Register(c, r, o);
    });
  }
  Result<v1::LeaseReply> Lease(const v1::LeaseRequest& r) override {
    return Call<v1::LeaseReply>("Lease", [&](grpc::ClientContext* c, v1::LeaseReply* o) {
      return stub_->Lease(c, r, o);
    });
  }
  Result<v1::HeartbeatReply> Heartbeat(const v1::HeartbeatRequest& r) override {
    return Call<v1::HeartbeatReply>("Heartbeat", [&](grpc::ClientContext* c, v1::HeartbeatReply* o) {
      return stub_->Heartbeat(c, r, o);
    });
  }
  Result<v1::ReportResultsReply> ReportResults(const v1::ReportResultsRequest& r) override {
    return Call<v1::ReportResultsReply>(
        "ReportResults",
        [&](grpc::ClientContext* c, v1::ReportResultsReply* o) { return stub_->ReportResults(c, r, o); });
  }
  Result<v1::CompleteShardReply> CompleteShard(const v1::CompleteShardRequest& r) override {
    return Call<v1::CompleteShardReply>(
        "CompleteShard",
        [&](grpc::ClientContext* c, v1::CompleteShardReply* o) { return stub_->CompleteShard(c, r, o); });
  }
  Result<v1::FailShardReply> FailShard(const v1::FailShardRequest& r) override {
    return Call<v1::FailShardReply>("FailShard", [&](grpc::ClientContext* c, v1::FailShardReply* o) {
      return stub_->FailShard(c, r, o);
    });
  }
  Result<v1::ReleaseShardReply> ReleaseShard(const v1::ReleaseShardRequest& r) override {
    return Call<v1::ReleaseShardReply>(
        "ReleaseShard",
        [&](grpc::ClientContext* c, v1::ReleaseShardReply* o) { return stub_->ReleaseShard(c, r, o); });
  }

 private:
  template <typename Reply, typename Fn>
  Result<Reply> Call(const char* name, Fn&& fn) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(options_.call_timeout_ms));
    if (!options_.token.empty()) ctx.AddMetadata("authorization", "Bearer " + options_.token);
    Reply reply;
    grpc::Status s = fn(&ctx, &reply);
    if (!s.ok()) return FromGrpc(s, name);
    return reply;
  }

  GrpcClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WorkerService::Stub> stub_;
};

}  // namespace

std::unique_ptr<CoordinatorClient> MakeGrpcCoordinatorClient(const GrpcClientOptions& options) {
  return std::make_unique<GrpcCoordinatorClient>(options);
}

}  // namespace kvfunda
