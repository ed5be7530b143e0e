#include "worker/worker_loop.h"

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include "coordinator/base/log.h"

namespace kvfunda {
namespace {

v1::ErrorKind KindOf(const Status& s) {
  switch (s.code()) {
    case Status::Code::kModelLoad: return v1::MODEL_LOAD;
    case Status::Code::kBadInput:
    case Status::Code::kInvalidArgument:
    case Status::Code::kNotFound: return v1::BAD_INPUT;
    case Status::Code::kOutOfMemory: return v1::OUT_OF_MEMORY;
    default: return v1::TRANSIENT;
  }
}

// Calls `fn` until it returns something other than a transient error, backing off
// between tries; gives up (returning the last error) once `give_up()` is true.
template <typename Fn, typename GiveUp>
auto RetryTransient(const BackoffPolicy& policy, Fn&& fn, GiveUp&& give_up) -> decltype(fn()) {
  ExponentialBackoff backoff(policy);
  while (true) {
    auto r = fn();
    if (r.ok() || r.status().code() != Status::Code::kTransient || give_up()) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(backoff.NextMs()));
  }
}

// Heartbeats one lease from its own thread until stopped.
class Heartbeater {
 public:
  Heartbeater(CoordinatorClient& client, std::string worker_id, std::string lease_id,
              int64_t period_ms)
      : client_(client),
        worker_id_(std::move(worker_id)),
        lease_id_(std::move(lease_id)),
        period_ms_(period_ms),
        thread_([this] { Loop(); }) {}
  ~Heartbeater() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  void set_samples_done(int64_t n) { samples_done_ = n; }
  bool cancelled() const { return cancelled_; }
  bool lease_lost() const { return lease_lost_; }
  bool reregister() const { return reregister_; }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!done_) {
      cv_.wait_for(lock, std::chrono::milliseconds(period_ms_));
      if (done_) break;
      lock.unlock();
      v1::HeartbeatRequest req;
      req.set_worker_id(worker_id_);
      req.set_lease_id(lease_id_);
      req.set_samples_done(samples_done_);
      auto reply = client_.Heartbeat(req);
      if (reply.ok()) {
        if (reply->cancelled()) cancelled_ = true;
        if (!reply->lease_valid()) lease_lost_ = true;
        if (reply->reregister()) reregister_ = true;
      } else if (reply.status().code() != Status::Code::kTransient) {
        KVF_LOG(kWarning) << "heartbeat: " << reply.status().ToString();
      }
      lock.lock();
    }
  }

  CoordinatorClient& client_;
  const std::string worker_id_;
  const std::string lease_id_;
  const int64_t period_ms_;
  std::atomic<int64_t> samples_done_{0};
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> lease_lost_{false};
  std::atomic<bool> reregister_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;  // guarded by mu_
  std::thread thread_;  // last: starts after the members above are ready
};

// Buffers a shard's rows and reports them in batches.
class ReportingSink final : public ResultSink {
 public:
  ReportingSink(CoordinatorClient& client, const WorkerConfig& config, std::string worker_id,
                std::string lease_id, Heartbeater& heartbeat, std::atomic<bool>* stop)
      : client_(client),
        config_(config),
        worker_id_(std::move(worker_id)),
        lease_id_(std::move(lease_id)),
        heartbeat_(heartbeat),
        stop_(stop) {}

  Status Report(std::vector<v1::SampleResult> rows) override {
    for (auto& r : rows) *pending_.add_results() = std::move(r);
    if (pending_.results_size() >= config_.report_batch) return Flush();
    return Status::Ok();
  }
  void Progress(int64_t samples_done) override { heartbeat_.set_samples_done(samples_done); }
  bool ShouldStop() override {
    return (stop_ != nullptr && stop_->load()) || heartbeat_.cancelled() || heartbeat_.lease_lost();
  }

  // Sends the buffered rows; retries while the coordinator is away (for up to a
  // minute once a stop was requested).
  Status Flush() {
    if (pending_.results_size() == 0) return Status::Ok();
    pending_.set_worker_id(worker_id_);
    pending_.set_lease_id(lease_id_);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    auto reply = RetryTransient(
        config_.reconnect, [&] { return client_.ReportResults(pending_); },
        [&] {
          return stop_ != nullptr && stop_->load() && std::chrono::steady_clock::now() > deadline;
        });
    if (!reply.ok()) return reply.status();
    stored_ += reply->stored();
    if (reply->rejected() > 0) {
      KVF_LOG(kWarning) << "coordinator rejected " << reply->rejected() << " rows of lease "
                        << lease_id_;
    }
    pending_.Clear();
    return Status::Ok();
  }

  int64_t stored() const { return stored_; }

 private:
  CoordinatorClient& client_;
  const WorkerConfig& config_;
  const std::string worker_id_;
  const std::string lease_id_;
  Heartbeater& heartbeat_;
  std::atomic<bool>* stop_;
  v1::ReportResultsRequest pending_;
  int64_t stored_ = 0;
};

}  // namespace

WorkerLoop::WorkerLoop(WorkerConfig config, CoordinatorClient& client, ShardRunner runner,
                       LoadedModelFn loaded_model)
    : config_(std::move(config)),
      client_(client),
      runner_(std::move(runner)),
      loaded_model_(std::move(loaded_model)) {}

bool WorkerLoop::SleepInterruptibly(int64_t ms) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < end) {
    if (Stopping()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(ms, 50)));
  }
  return !Stopping();
}

Status WorkerLoop::EnsureRegistered() {
  if (!worker_id_.empty()) return Status::Ok();
  v1::RegisterRequest req;
  req.set_name(config_.name);
  req.set_host(config_.host);
  req.set_device(config_.device);
  req.set_memory_bytes(config_.memory_bytes);
  req.set_pid(static_cast<int32_t>(getpid()));
  for (const auto& p : config_.model_paths) req.add_models()->set_path(p);
  ExponentialBackoff backoff(config_.reconnect);
  while (!Stopping()) {
    auto reply = client_.Register(req);
    if (reply.ok()) {
      worker_id_ = reply->worker_id();
      heartbeat_ms_ = reply->heartbeat_ms() > 0 ? reply->heartbeat_ms() : 1000;
      KVF_LOG(kInfo) << "registered as " << worker_id_ << " (heartbeat every " << heartbeat_ms_
                     << " ms)";
      return Status::Ok();
    }
    if (reply.status().code() != Status::Code::kTransient) return reply.status();
    int64_t delay = backoff.NextMs();
    if (backoff.attempts() == 1 || backoff.attempts() % 10 == 0) {
      KVF_LOG(kWarning) << "coordinator unreachable (" << reply.status().message()
                        << "); retrying in " << delay << " ms";
    }
    SleepInterruptibly(delay);
  }
  return Status::Cancelled("stopped before registering");
}

Status WorkerLoop::Run() {
  ExponentialBackoff away(config_.reconnect);
  while (!Stopping()) {
    Status reg = EnsureRegistered();
    if (!reg.ok()) return reg.code() == Status::Code::kCancelled ? Status::Ok() : reg;

    v1::LeaseRequest req;
    req.set_worker_id(worker_id_);
    req.set_loaded_model_checksum(loaded_model_ ? loaded_model_() : "");
    auto reply = client_.Lease(req);
    if (!reply.ok()) {
      if (reply.status().code() == Status::Code::kNotFound) {
        worker_id_.clear();  // the coordinator forgot us (new database): register again
        continue;
      }
      if (reply.status().code() != Status::Code::kTransient) return reply.status();
      SleepInterruptibly(away.NextMs());
      continue;
    }
    away.Reset();
    if (reply->has_shard()) {
      RunShard(reply->shard());
    } else {
      SleepInterruptibly(std::max<int64_t>(reply->retry_after_ms(), 10));
    }
  }
  return Status::Ok();
}

void WorkerLoop::RunShard(const v1::ShardAssignment& shard) {
  KVF_LOG(kInfo) << "leased shard " << shard.shard_id() << " (" << shard.task() << ", "
                 << shard.shots() << "-shot, samples " << shard.sample_begin() << "-"
                 << shard.sample_end() << ", " << shard.cells_size() << " cells, "
                 << shard.done_size() << " pairs already stored, attempt " << shard.attempt()
                 << ")";
  bool reregister = false;
  {
    Heartbeater heartbeat(client_, worker_id_, shard.lease_id(), heartbeat_ms_);
    ReportingSink sink(client_, config_, worker_id_, shard.lease_id(), heartbeat, config_.stop);
    Status run = runner_(shard, sink);
    Status flushed = sink.Flush();
    reregister = heartbeat.reregister();
    auto until_stop = [this] { return Stopping(); };

    if (!flushed.ok()) {
      KVF_LOG(kError) << "shard " << shard.shard_id() << ": could not report results: "
                      << flushed.ToString();
      v1::FailShardRequest fail;
      fail.set_worker_id(worker_id_);
      fail.set_lease_id(shard.lease_id());
      fail.set_kind(v1::TRANSIENT);
      fail.set_message("reporting results failed: " + flushed.message());
      (void)client_.FailShard(fail);
    } else if (run.ok()) {
      v1::CompleteShardRequest req;
      req.set_worker_id(worker_id_);
      req.set_lease_id(shard.lease_id());
      auto done = RetryTransient(config_.reconnect, [&] { return client_.CompleteShard(req); },
                                 until_stop);
      if (done.ok() && done->accepted()) {
        ++shards_completed_;
        KVF_LOG(kInfo) << "shard " << shard.shard_id() << " done (" << sink.stored()
                       << " rows stored)";
      } else {
        KVF_LOG(kWarning) << "shard " << shard.shard_id() << " completion not accepted: "
                          << (done.ok() ? done->message() : done.status().ToString());
      }
    } else if (run.code() == Status::Code::kCancelled) {
      if (heartbeat.cancelled()) {
        KVF_LOG(kInfo) << "shard " << shard.shard_id() << ": sweep cancelled";
      } else if (heartbeat.lease_lost()) {
        KVF_LOG(kWarning) << "shard " << shard.shard_id() << ": lease lost; dropping it";
      } else {
        v1::ReleaseShardRequest rel;
        rel.set_worker_id(worker_id_);
        rel.set_lease_id(shard.lease_id());
        auto released = client_.ReleaseShard(rel);
        KVF_LOG(kInfo) << "stopping: released shard " << shard.shard_id()
                       << (released.ok() ? "" : " (release failed: " +
                                                    released.status().message() + ")");
      }
    } else {
      KVF_LOG(kError) << "shard " << shard.shard_id() << " failed: " << run.ToString();
      v1::FailShardRequest fail;
      fail.set_worker_id(worker_id_);
      fail.set_lease_id(shard.lease_id());
      fail.set_kind(KindOf(run));
      fail.set_message(run.message());
      auto r = RetryTransient(config_.reconnect, [&] { return client_.FailShard(fail); }, until_stop);
      if (!r.ok()) KVF_LOG(kWarning) << "FailShard: " << r.status().ToString();
    }
  }
  if (reregister) worker_id_.clear();
}

}  // namespace kvfunda
