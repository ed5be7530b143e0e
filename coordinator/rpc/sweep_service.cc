#include "coordinator/rpc/sweep_service.h"

#include <chrono>
#include <thread>

#include "coordinator/rpc/rpc_util.h"

namespace kvfunda::rpc {

#define KVF_RPC_AUTH(context)                                      \
  do {                                                             \
    grpc::Status auth_ = CheckAuth(context, config_.auth_token);   \
    if (!auth_.ok()) return auth_;                                 \
  } while (0)

grpc::Status SweepServiceImpl::SubmitSweep(grpc::ServerContext* context,
                                           const v1::SubmitSweepRequest* request,
                                           v1::SubmitSweepReply* reply) {
  KVF_RPC_AUTH(context);
  if (request->spec_text().empty()) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "spec_text is empty"};
  }
  Result<v1::SubmitSweepReply> r =
      sweeps_.Submit(request->spec_text(), request->spec_name(), request->dry_run());
  if (!r.ok()) return ToGrpc(r.status());
  *reply = std::move(r).value();
  return grpc::Status::OK;
}

grpc::Status SweepServiceImpl::GetSweep(grpc::ServerContext* context,
                                        const v1::GetSweepRequest* request,
                                        v1::SweepStatus* reply) {
  KVF_RPC_AUTH(context);
  Result<v1::SweepStatus> r = sweeps_.Get(request->sweep_id());
  if (!r.ok()) return ToGrpc(r.status());
  *reply = std::move(r).value();
  return grpc::Status::OK;
}

grpc::Status SweepServiceImpl::ListSweeps(grpc::ServerContext* context,
                                          const v1::ListSweepsRequest* /*request*/,
                                          v1::ListSweepsReply* reply) {
  KVF_RPC_AUTH(context);
  for (v1::SweepStatus& s : sweeps_.List()) *reply->add_sweeps() = std::move(s);
  return grpc::Status::OK;
}

grpc::Status SweepServiceImpl::CancelSweep(grpc::ServerContext* context,
                                           const v1::CancelSweepRequest* request,
                                           v1::CancelSweepReply* reply) {
  KVF_RPC_AUTH(context);
  Result<int> r = sweeps_.Cancel(request->sweep_id());
  if (!r.ok()) return ToGrpc(r.status());
  reply->set_shards_cancelled(*r);
  return grpc::Status::OK;
}

grpc::Status SweepServiceImpl::ResumeSweep(grpc::ServerContext* context,
                                           const v1::ResumeSweepRequest* request,
                                           v1::ResumeSweepReply* reply) {
  KVF_RPC_AUTH(context);
  Result<int> r = sweeps_.Resume(request->sweep_id());
  if (!r.ok()) return ToGrpc(r.status());
  reply->set_shards_requeued(*r);
  return grpc::Status::OK;
}

grpc::Status SweepServiceImpl::GetResults(grpc::ServerContext* context,
                                          const v1::GetSweepRequest* request,
                                          v1::SweepResults* reply) {
  KVF_RPC_AUTH(context);
  Result<v1::SweepResults> r = sweeps_.Results(request->sweep_id());
  if (!r.ok()) return ToGrpc(r.status());
  *reply = std::move(r).value();
  return grpc::Status::OK;
}

grpc::Status SweepServiceImpl::WatchSweep(grpc::ServerContext* context,
                                          const v1::WatchSweepRequest* request,
                                          grpc::ServerWriter<v1::SweepEvent>* writer) {
  KVF_RPC_AUTH(context);
  Result<int64_t> id = SweepManager::ParseSweepId(request->sweep_id());
  if (!id.ok()) return ToGrpc(id.status());
  std::string last;  // serialized counts of the last event sent
  uint64_t seen_seq = 0;
  while (!stopping_ && !context->IsCancelled()) {
    Result<v1::SweepStatus> st = sweeps_.Get(request->sweep_id());
    if (!st.ok()) return ToGrpc(st.status());
    v1::SweepStatus counts = *st;
    counts.clear_samples_per_s();  // rates and ETA change every poll; not an event
    counts.clear_eta_s();
    std::string key = counts.SerializeAsString();
    if (key != last) {
      last = std::move(key);
      v1::SweepEvent ev;
      *ev.mutable_status() = *st;
      std::vector<LoggedEvent> news = events_.Since(seen_seq, *id);
      if (!news.empty()) {
        seen_seq = news.back().seq;
        ev.set_message(news.back().message);
      }
      if (!writer->Write(ev)) break;  // the client went away
    }
    const v1::SweepState s = st->state();
    if (s == v1::SWEEP_DONE || s == v1::SWEEP_FAILED || s == v1::SWEEP_CANCELLED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(config_.watch_poll_ms));
  }
  return grpc::Status::OK;
}

}  // namespace kvfunda::rpc
