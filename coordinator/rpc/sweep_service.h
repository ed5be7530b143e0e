// SweepServiceImpl: the gRPC SweepService (users: submit, status, cancel, resume,
// watch). Thin: checks the token and the request, calls the SweepManager, fills
// the reply.
//
// WatchSweep polls the sweep every watch_poll_ms and streams a SweepEvent whenever
// its counts or state change (the first event is sent at once), with the newest
// event-log message as `message`; it returns when the sweep has ended, the client
// cancels, or Stop() is called.
//
// Ownership: the Coordinator owns it; borrows the SweepManager and EventLog.
// Threading: thread-safe (gRPC calls the handlers from its thread pool).
#pragma once

#include <atomic>

#include "coordinator/core/coordinator_config.h"
#include "coordinator/core/event_log.h"
#include "coordinator/core/sweep_manager.h"
#include "proto/kvfunda.grpc.pb.h"

namespace kvfunda::rpc {

class SweepServiceImpl final : public v1::SweepService::Service {
 public:
  SweepServiceImpl(const CoordinatorConfig& config, SweepManager& sweeps, EventLog& events)
      : config_(config), sweeps_(sweeps), events_(events) {}

  // Makes running WatchSweep calls return (before the server shuts down).
  void Stop() { stopping_ = true; }

  grpc::Status SubmitSweep(grpc::ServerContext* context, const v1::SubmitSweepRequest* request,
                           v1::SubmitSweepReply* reply) override;
  grpc::Status GetSweep(grpc::ServerContext* context, const v1::GetSweepRequest* request,
                        v1::SweepStatus* reply) override;
  grpc::Status ListSweeps(grpc::ServerContext* context, const v1::ListSweepsRequest* request,
                          v1::ListSweepsReply* reply) override;
  grpc::Status CancelSweep(grpc::ServerContext* context, const v1::CancelSweepRequest* request,
                           v1::CancelSweepReply* reply) override;
  grpc::Status ResumeSweep(grpc::ServerContext* context, const v1::ResumeSweepRequest* request,
                           v1::ResumeSweepReply* reply) override;
  grpc::Status GetResults(grpc::ServerContext* context, const v1::GetSweepRequest* request,
                          v1::SweepResults* reply) override;
  grpc::Status WatchSweep(grpc::ServerContext* context, const v1::WatchSweepRequest* request,
                          grpc::ServerWriter<v1::SweepEvent>* writer) override;

 private:
  const CoordinatorConfig config_;
  SweepManager& sweeps_;
  EventLog& events_;
  std::atomic<bool> stopping_{false};
};

}  // namespace kvfunda::rpc
