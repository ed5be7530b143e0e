#include "coordinator/cli/sweep_client.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>

#include <grpcpp/grpcpp.h>

#include "coordinator/base/clock.h"
#include "coordinator/core/results_summary.h"
#include "coordinator/store/store.h"
#include "proto/kvfunda.grpc.pb.h"

namespace kvfunda::cli {
namespace {

Status FromGrpc(const grpc::Status& s, const std::string& address) {
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return Status::Transient("coordinator " + address + " is not reachable: " + s.error_message());
  }
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) return Status::NotFound(s.error_message());
  return Status::BadInput(s.error_message());
}

class GrpcSweepClient final : public SweepClient {
 public:
  GrpcSweepClient(const std::string& address, std::string token)
      : address_(address),
        token_(std::move(token)),
        stub_(v1::SweepService::NewStub(
            grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))) {}

  Result<std::vector<v1::SweepStatus>> List() override {
    v1::ListSweepsReply reply;
    auto ctx = Context();
    grpc::Status s = stub_->ListSweeps(ctx.get(), v1::ListSweepsRequest(), &reply);
    if (!s.ok()) return FromGrpc(s, address_);
    return std::vector<v1::SweepStatus>(reply.sweeps().begin(), reply.sweeps().end());
  }
  Result<v1::SweepStatus> Get(const std::string& id) override {
    v1::GetSweepRequest req;
    req.set_sweep_id(id);
    v1::SweepStatus reply;
    auto ctx = Context();
    grpc::Status s = stub_->GetSweep(ctx.get(), req, &reply);
    if (!s.ok()) return FromGrpc(s, address_);
    return reply;
  }
  Result<v1::SweepResults> Results(const std::string& id) override {
    v1::GetSweepRequest req;
    req.set_sweep_id(id);
    v1::SweepResults reply;
    auto ctx = Context();
    grpc::Status s = stub_->GetResults(ctx.get(), req, &reply);
    if (!s.ok()) return FromGrpc(s, address_);
    return reply;
  }

 private:
  std::unique_ptr<grpc::ClientContext> Context() const {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    if (!token_.empty()) ctx->AddMetadata("authorization", "Bearer " + token_);
    return ctx;
  }

  std::string address_;
  std::string token_;
  std::unique_ptr<v1::SweepService::Stub> stub_;
};

// Reads a database file directly (read-only); nothing is written.
class StoreSweepClient final : public SweepClient {
 public:
  explicit StoreSweepClient(std::unique_ptr<Store> store) : store_(std::move(store)) {}

  Result<std::vector<v1::SweepStatus>> List() override {
    KVF_ASSIGN_OR_RETURN(auto sweeps, store_->LoadSweeps());
    KVF_ASSIGN_OR_RETURN(auto shards, store_->LoadShards());
    std::vector<v1::SweepStatus> out;
    for (const SweepRow& sweep : sweeps) {
      KVF_ASSIGN_OR_RETURN(auto status, StatusOf(sweep, shards));
      out.push_back(std::move(status));
    }
    return out;
  }
  Result<v1::SweepStatus> Get(const std::string& id) override {
    KVF_ASSIGN_OR_RETURN(int64_t sweep_id, ParseId(id));
    KVF_ASSIGN_OR_RETURN(auto sweep, store_->LoadSweep(sweep_id));
    if (!sweep) return Status::NotFound("no sweep " + id + " in " + store_->path());
    KVF_ASSIGN_OR_RETURN(auto shards, store_->LoadShards());
    return StatusOf(*sweep, shards);
  }
  Result<v1::SweepResults> Results(const std::string& id) override {
    KVF_ASSIGN_OR_RETURN(int64_t sweep_id, ParseId(id));
    KVF_ASSIGN_OR_RETURN(auto results, SummarizeResults(*store_, sweep_id));
    KVF_ASSIGN_OR_RETURN(auto status, Get(id));
    *results.mutable_status() = std::move(status);
    return results;
  }

 private:
  static Result<int64_t> ParseId(const std::string& id) {
    try {
      size_t pos = 0;
      int64_t v = std::stoll(id, &pos);
      if (pos == id.size()) return v;
    } catch (...) {
    }
    return Status::NotFound("no sweep '" + id + "'");
  }

  Result<v1::SweepStatus> StatusOf(const SweepRow& sweep, const std::vector<ShardRow>& shards) {
    v1::SweepStatus st;
    st.set_sweep_id(std::to_string(sweep.id));
    st.set_name(sweep.name);
    st.set_state(SweepStateToProto(sweep.state));
    st.set_created_ms(sweep.created_ms);
    for (const ShardRow& s : shards) {
      if (s.sweep_id != sweep.id) continue;
      st.set_shards_total(st.shards_total() + 1);
      switch (s.state) {
        case ShardState::kPending: st.set_shards_pending(st.shards_pending() + 1); break;
        case ShardState::kLeased: st.set_shards_leased(st.shards_leased() + 1); break;
        case ShardState::kDone: st.set_shards_done(st.shards_done() + 1); break;
        case ShardState::kFailed:
          st.set_shards_failed(st.shards_failed() + 1);
          st.add_errors("shard " + std::to_string(s.id) + ": " + s.last_error_kind + ": " +
                        s.last_error);
          break;
        case ShardState::kCancelled: st.set_shards_cancelled(st.shards_cancelled() + 1); break;
      }
    }
    KVF_ASSIGN_OR_RETURN(auto cells, store_->SummarizeSweep(sweep.id));
    int64_t expected = 0, stored = 0;
    for (const auto& c : cells) {
      expected += c.samples_expected;
      stored += c.samples_stored;
    }
    st.set_cells(static_cast<int32_t>(cells.size()));
    st.set_results_expected(expected);
    st.set_results_stored(stored);
    st.set_samples_per_s(0);  // a rate needs a live coordinator
    st.set_eta_s(-1);
    return st;
  }

  std::unique_ptr<Store> store_;
};

std::string FormatDuration(double s) {
  if (s < 0) return "-";
  char buf[32];
  if (s < 90) std::snprintf(buf, sizeof(buf), "%.0fs", s);
  else if (s < 5400) std::snprintf(buf, sizeof(buf), "%.0fm", s / 60);
  else std::snprintf(buf, sizeof(buf), "%.1fh", s / 3600);
  return buf;
}

}  // namespace

std::string StateLabel(v1::SweepState state) {
  switch (state) {
    case v1::SWEEP_QUEUED: return "queued";
    case v1::SWEEP_RUNNING: return "running";
    case v1::SWEEP_DONE: return "done";
    case v1::SWEEP_FAILED: return "failed";
    case v1::SWEEP_CANCELLED: return "cancelled";
    default: return "unknown";
  }
}

std::string FormatStatusTable(const std::vector<v1::SweepStatus>& sweeps) {
  std::ostringstream os;
  char line[512];
  std::snprintf(line, sizeof(line), "%-6s %-24s %-9s %6s %22s %15s %10s %6s\n", "sweep", "name",
                "state", "cells", "shards done/lsd/fail", "results", "samples/s", "ETA");
  os << line;
  for (const auto& s : sweeps) {
    std::string shards = std::to_string(s.shards_done()) + "/" + std::to_string(s.shards_leased()) +
                         "/" + std::to_string(s.shards_failed()) + " of " +
                         std::to_string(s.shards_total());
    std::string results =
        std::to_string(s.results_stored()) + "/" + std::to_string(s.results_expected());
    std::snprintf(line, sizeof(line), "%-6s %-24s %-9s %6d %22s %15s %10.2f %6s\n",
                  s.sweep_id().c_str(), s.name().substr(0, 24).c_str(),
                  StateLabel(s.state()).c_str(), s.cells(), shards.c_str(), results.c_str(),
                  s.samples_per_s(), FormatDuration(s.eta_s()).c_str());
    os << line;
    for (const auto& e : s.errors()) os << "       error: " << e << "\n";
  }
  return os.str();
}

Result<std::unique_ptr<SweepClient>> OpenSweepClient(const SweepSource& source) {
  if (!source.coordinator.empty()) {
    return std::unique_ptr<SweepClient>(
        std::make_unique<GrpcSweepClient>(source.coordinator, source.token));
  }
  if (!std::filesystem::exists(source.db)) {
    return Status::NotFound("no database " + source.db +
                            " here (pass --db FILE, or --coordinator HOST:PORT for a live one)");
  }
  StoreOptions options;
  options.read_only = true;
  SystemClock clock;
  auto store = Store::Open(source.db, options, clock.NowMs());
  if (!store.ok()) return store.status().WithContext("opening " + source.db);
  return std::unique_ptr<SweepClient>(std::make_unique<StoreSweepClient>(std::move(store).value()));
}

}  // namespace kvfunda::cli
