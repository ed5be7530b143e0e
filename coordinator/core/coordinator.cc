#include "coordinator/core/coordinator.h"

#include <grpcpp/grpcpp.h>

#include <chrono>

#include "coordinator/base/log.h"
#include "coordinator/http/http_server.h"
#include "coordinator/rpc/sweep_service.h"
#include "coordinator/rpc/worker_service.h"

namespace kvfunda {

Coordinator::Coordinator(CoordinatorConfig config, const Clock& clock)
    : config_(std::move(config)), clock_(clock) {}

Coordinator::~Coordinator() { Shutdown(); }

Status Coordinator::Start() {
  KVF_ASSIGN_OR_RETURN(store_, Store::Open(config_.db_path, config_.store, clock_.NowMs()));
  writer_ = std::make_unique<ResultWriter>(*store_);
  events_ = std::make_unique<EventLog>(*writer_, clock_);
  table_ = std::make_unique<LeaseTable>(config_, *store_, *writer_, *events_, clock_);
  workers_ = std::make_unique<WorkerRegistry>(config_, *writer_, *events_, clock_);
  sweeps_ = std::make_unique<SweepManager>(config_, *store_, *writer_, *table_, clock_);
  KVF_RETURN_IF_ERROR(table_->Load().WithContext("loading " + config_.db_path));
  KVF_RETURN_IF_ERROR(workers_->Load(*store_).WithContext("loading " + config_.db_path));

  sweep_service_ = std::make_unique<rpc::SweepServiceImpl>(config_, *sweeps_, *events_);
  worker_service_ = std::make_unique<rpc::WorkerServiceImpl>(config_, *workers_, *table_);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config_.grpc_address, grpc::InsecureServerCredentials(), &grpc_port_);
  builder.RegisterService(sweep_service_.get());
  builder.RegisterService(worker_service_.get());
  builder.SetMaxReceiveMessageSize(config_.max_message_bytes);
  builder.SetMaxSendMessageSize(config_.max_message_bytes);
  builder.SetSyncServerOption(grpc::ServerBuilder::MIN_POLLERS, config_.grpc_min_pollers);
  builder.SetSyncServerOption(grpc::ServerBuilder::MAX_POLLERS, config_.grpc_max_pollers);
  server_ = builder.BuildAndStart();
  if (!server_ || grpc_port_ == 0) {
    return Status::Io("cannot listen for gRPC on " + config_.grpc_address + " (in use?)");
  }
  if (config_.http_port >= 0) {
    http_ = std::make_unique<HttpServer>(*sweeps_, *workers_, *store_);
    KVF_ASSIGN_OR_RETURN(http_port_, http_->Start(config_.http_host, config_.http_port));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    started_ = true;
  }
  expiry_ = std::thread([this] { ExpiryLoop(); });
  KVF_LOG(kInfo) << "coordinator: gRPC on port " << grpc_port_
                 << (http_port_ >= 0 ? ", dashboard on http://" + config_.http_host + ":" +
                                           std::to_string(http_port_) + "/"
                                     : std::string())
                 << ", store " << config_.db_path;
  return Status::Ok();
}

void Coordinator::ExpiryLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(config_.expiry_period_ms));
    if (stopping_) break;
    lock.unlock();
    table_->ExpireLeases();
    lock.lock();
  }
}

void Coordinator::Shutdown() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (stopping_) {  // another thread is shutting down: wait for it to finish
      cv_.wait(lock, [this] { return stopped_; });
      return;
    }
    stopping_ = true;
  }
  cv_.notify_all();
  if (expiry_.joinable()) expiry_.join();
  if (sweep_service_) sweep_service_->Stop();
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server_->Wait();
  }
  if (http_) http_->Stop();
  if (writer_) {
    Status s = writer_->Flush();
    if (!s.ok()) KVF_LOG(kError) << "coordinator: final flush failed: " << s.ToString();
  }
  server_.reset();
  http_.reset();
  sweep_service_.reset();
  worker_service_.reset();
  sweeps_.reset();
  workers_.reset();
  table_.reset();
  events_.reset();
  writer_.reset();
  store_.reset();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
  }
  cv_.notify_all();
}

void Coordinator::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return stopped_; });
}

}  // namespace kvfunda
