#include "bench/coordinator_load/load_client.h"

#include <chrono>

namespace kvfunda::bench {
namespace {

class GrpcLoadClient final : public LoadClient {
 public:
  GrpcLoadClient(const std::string& target, int deadline_ms) : deadline_ms_(deadline_ms) {
    grpc::ChannelArguments args;
    // One TCP connection per simulated worker, as separate worker processes would have.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetMaxReceiveMessageSize(64 << 20);
    args.SetMaxSendMessageSize(64 << 20);
    stub_ = v1::WorkerService::NewStub(
        grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
  }

  grpc::Status Register(const v1::RegisterRequest& req, v1::RegisterReply* reply) override {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    return stub_->Register(&ctx, req, reply);
  }
  grpc::Status Lease(const v1::LeaseRequest& req, v1::LeaseReply* reply) override {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    return stub_->Lease(&ctx, req, reply);
  }
  grpc::Status Heartbeat(const v1::HeartbeatRequest& req, v1::HeartbeatReply* reply) override {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    return stub_->Heartbeat(&ctx, req, reply);
  }
  grpc::Status ReportResults(const v1::ReportResultsRequest& req,
                             v1::ReportResultsReply* reply) override {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    return stub_->ReportResults(&ctx, req, reply);
  }
  grpc::Status CompleteShard(const v1::CompleteShardRequest& req,
                             v1::CompleteShardReply* reply) override {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    return stub_->CompleteShard(&ctx, req, reply);
  }

 private:
  void SetDeadline(grpc::ClientContext& ctx) const {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms_));
  }

  const int deadline_ms_;
  std::unique_ptr<v1::WorkerService::Stub> stub_;
};

class InProcessLoadClient final : public LoadClient {
 public:
  explicit InProcessLoadClient(rpc::WorkerServiceImpl& service) : service_(service) {}

  grpc::Status Register(const v1::RegisterRequest& req, v1::RegisterReply* reply) override {
    grpc::ServerContext ctx;
    return service_.Register(&ctx, &req, reply);
  }
  grpc::Status Lease(const v1::LeaseRequest& req, v1::LeaseReply* reply) override {
    grpc::ServerContext ctx;
    return service_.Lease(&ctx, &req, reply);
  }
  grpc::Status Heartbeat(const v1::HeartbeatRequest& req, v1::HeartbeatReply* reply) override {
    grpc::ServerContext ctx;
    return service_.Heartbeat(&ctx, &req, reply);
  }
  grpc::Status ReportResults(const v1::ReportResultsRequest& req,
                             v1::ReportResultsReply* reply) override {
    grpc::ServerContext ctx;
    return service_.ReportResults(&ctx, &req, reply);
  }
  grpc::Status CompleteShard(const v1::CompleteShardRequest& req,
                             v1::CompleteShardReply* reply) override {
    grpc::ServerContext ctx;
    return service_.CompleteShard(&ctx, &req, reply);
  }

 private:
  rpc::WorkerServiceImpl& service_;
};

}  // namespace

std::unique_ptr<LoadClient> MakeGrpcLoadClient(const std::string& target, int deadline_ms) {
  return std::make_unique<GrpcLoadClient>(target, deadline_ms);
}

std::unique_ptr<LoadClient> MakeInProcessLoadClient(rpc::WorkerServiceImpl& service) {
  return std::make_unique<InProcessLoadClient>(service);
}

}  // namespace kvfunda::bench
