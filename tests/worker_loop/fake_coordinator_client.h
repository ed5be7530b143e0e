// FakeCoordinatorClient: a scriptable, recording CoordinatorClient for WorkerLoop tests.
//
// Each method pops its next scripted reply (a reply or an error Status) when one is
// queued, and otherwise answers a default: Register hands out "w1", "w2", ... with a
// 5 ms heartbeat; Lease hands out the queued shards in order and, once they are
// gone, sets the stop flag given at construction (so WorkerLoop::Run returns) and
// answers "no work"; Heartbeat answers what `heartbeat_fn` says (a valid lease by
// default); ReportResults stores the rows and counts them as stored; Complete /
// Fail / Release accept. Only successful ReportResults calls add rows to
// `stored_rows()` (a failed call means the coordinator did not store them).
// Every call is recorded (request, method name in order, time of the call).
//
// Threading: thread-safe (the worker's heartbeat thread and its evaluation thread
// share it). Scripts should be set up before WorkerLoop::Run starts.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "coordinator/base/status.h"
#include "proto/kvfunda.pb.h"
#include "worker/coordinator_client.h"

namespace kvfunda::testing {

class FakeCoordinatorClient final : public CoordinatorClient {
 public:
  using Clock = std::chrono::steady_clock;
  // Answers a heartbeat; `index` counts heartbeats from 0 (over the whole test).
  using HeartbeatFn = std::function<v1::HeartbeatReply(const v1::HeartbeatRequest&, int index)>;

  // `stop` is set once the queued shards are all handed out and a Lease finds none.
  explicit FakeCoordinatorClient(std::atomic<bool>& stop) : stop_(stop) {}

  // ---- scripting (call before the loop runs, or from any thread)
  void AddShard(v1::ShardAssignment shard) {
    std::lock_guard<std::mutex> lock(mu_);
    shards_.push_back(std::move(shard));
  }
  void ScriptRegister(Result<v1::RegisterReply> r) { Push(register_script_, std::move(r)); }
  void ScriptLease(Result<v1::LeaseReply> r) { Push(lease_script_, std::move(r)); }
  void ScriptReport(Result<v1::ReportResultsReply> r) { Push(report_script_, std::move(r)); }
  void ScriptComplete(Result<v1::CompleteShardReply> r) { Push(complete_script_, std::move(r)); }
  void ScriptFail(Result<v1::FailShardReply> r) { Push(fail_script_, std::move(r)); }
  void SetHeartbeatFn(HeartbeatFn fn) {
    std::lock_guard<std::mutex> lock(mu_);
    heartbeat_fn_ = std::move(fn);
  }

  // ---- CoordinatorClient
  Result<v1::RegisterReply> Register(const v1::RegisterRequest& request) override {
    std::lock_guard<std::mutex> lock(mu_);
    Record("Register");
    registers_.push_back(request);
    if (auto r = Pop(register_script_)) return *r;
    v1::RegisterReply reply;
    reply.set_worker_id("w" + std::to_string(++next_worker_));
    reply.set_lease_ms(1000);
    reply.set_heartbeat_ms(5);
    return reply;
  }

  Result<v1::LeaseReply> Lease(const v1::LeaseRequest& request) override {
    std::lock_guard<std::mutex> lock(mu_);
    Record("Lease");
    leases_.push_back(request);
    if (auto r = Pop(lease_script_)) return *r;
    v1::LeaseReply reply;
    if (!shards_.empty()) {
      *reply.mutable_shard() = std::move(shards_.front());
      shards_.pop_front();
      return reply;
    }
    stop_.store(true);
    reply.set_retry_after_ms(5);
    return reply;
  }

  Result<v1::HeartbeatReply> Heartbeat(const v1::HeartbeatRequest& request) override {
    std::lock_guard<std::mutex> lock(mu_);
    Record("Heartbeat");
    heartbeats_.push_back(request);
    if (heartbeat_fn_) return heartbeat_fn_(request, static_cast<int>(heartbeats_.size()) - 1);
    v1::HeartbeatReply reply;
    reply.set_lease_valid(true);
    return reply;
  }

  Result<v1::ReportResultsReply> ReportResults(const v1::ReportResultsRequest& request) override {
    std::lock_guard<std::mutex> lock(mu_);
    Record("ReportResults");
    reports_.push_back(request);
    if (auto r = Pop(report_script_)) return *r;
    for (const auto& row : request.results()) stored_rows_.push_back(row);
    v1::ReportResultsReply reply;
    reply.set_stored(request.results_size());
    return reply;
  }

  Result<v1::CompleteShardReply> CompleteShard(const v1::CompleteShardRequest& request) override {
    std::lock_guard<std::mutex> lock(mu_);
    Record("CompleteShard");
    completes_.push_back(request);
    if (auto r = Pop(complete_script_)) return *r;
    v1::CompleteShardReply reply;
    reply.set_accepted(true);
    return reply;
  }

  Result<v1::FailShardReply> FailShard(const v1::FailShardRequest& request) override {
    std::lock_guard<std::mutex> lock(mu_);
    Record("FailShard");
    fails_.push_back(request);
    if (auto r = Pop(fail_script_)) return *r;
    v1::FailShardReply reply;
    reply.set_will_retry(true);
    return reply;
  }

  Result<v1::ReleaseShardReply> ReleaseShard(const v1::ReleaseShardRequest& request) override {
    std::lock_guard<std::mutex> lock(mu_);
    Record("ReleaseShard");
    releases_.push_back(request);
    return v1::ReleaseShardReply();
  }

  // ---- what happened (copies, safe to call while the loop runs)
  // Method names in call order, heartbeats left out (their number depends on timing).
  std::vector<std::string> calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const auto& c : calls_) {
      if (c.first != "Heartbeat") out.push_back(c.first);
    }
    return out;
  }
  // Times of the calls to `method`, in order.
  std::vector<Clock::time_point> times_of(const std::string& method) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Clock::time_point> out;
    for (const auto& c : calls_) {
      if (c.first == method) out.push_back(c.second);
    }
    return out;
  }
  std::vector<v1::RegisterRequest> registers() const { return Copy(registers_); }
  std::vector<v1::LeaseRequest> leases() const { return Copy(leases_); }
  std::vector<v1::HeartbeatRequest> heartbeats() const { return Copy(heartbeats_); }
  std::vector<v1::ReportResultsRequest> reports() const { return Copy(reports_); }
  std::vector<v1::CompleteShardRequest> completes() const { return Copy(completes_); }
  std::vector<v1::FailShardRequest> fails() const { return Copy(fails_); }
  std::vector<v1::ReleaseShardRequest> releases() const { return Copy(releases_); }
  std::vector<v1::SampleResult> stored_rows() const { return Copy(stored_rows_); }

 private:
  template <typename T>
  void Push(std::deque<Result<T>>& script, Result<T> r) {
    std::lock_guard<std::mutex> lock(mu_);
    script.push_back(std::move(r));
  }
  // REQUIRES: mu_ held.
  template <typename T>
  static std::optional<Result<T>> Pop(std::deque<Result<T>>& script) {
    if (script.empty()) return std::nullopt;
    Result<T> r = std::move(script.front());
    script.pop_front();
    return r;
  }
  template <typename T>
  std::vector<T> Copy(const std::vector<T>& v) const {
    std::lock_guard<std::mutex> lock(mu_);
    return v;
  }
  // REQUIRES: mu_ held.
  void Record(const char* method) { calls_.emplace_back(method, Clock::now()); }

  std::atomic<bool>& stop_;

  mutable std::mutex mu_;
  // Everything below is guarded by mu_.
  int next_worker_ = 0;
  std::deque<v1::ShardAssignment> shards_;
  std::deque<Result<v1::RegisterReply>> register_script_;
  std::deque<Result<v1::LeaseReply>> lease_script_;
  std::deque<Result<v1::ReportResultsReply>> report_script_;
  std::deque<Result<v1::CompleteShardReply>> complete_script_;
  std::deque<Result<v1::FailShardReply>> fail_script_;
  HeartbeatFn heartbeat_fn_;
  std::vector<std::pair<std::string, Clock::time_point>> calls_;
  std::vector<v1::RegisterRequest> registers_;
  std::vector<v1::LeaseRequest> leases_;
  std::vector<v1::HeartbeatRequest> heartbeats_;
  std::vector<v1::ReportResultsRequest> reports_;
  std::vector<v1::CompleteShardRequest> completes_;
  std::vector<v1::FailShardRequest> fails_;
  std::vector<v1::ReleaseShardRequest> releases_;
  std::vector<v1::SampleResult> stored_rows_;
};

}  // namespace kvfunda::testing
