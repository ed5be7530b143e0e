// Tests of WorkerLoop (worker/worker_loop.h) against a scripted fake coordinator
// (fake_coordinator_client.h) and fake shard runners: registration, leasing,
// batched reporting, completion, failure kinds, SIGTERM-style stop, cancellation,
// lost leases, retries of transient errors, re-registration and retry_after_ms.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "worker/worker_loop.h"
#include "worker_loop/fake_coordinator_client.h"

namespace kvfunda::testing {
namespace {

using namespace std::chrono_literals;

// A shard of `cells` cells over samples [begin, end).
v1::ShardAssignment MakeShard(int64_t id, int cells, int64_t begin, int64_t end) {
  v1::ShardAssignment s;
  s.set_shard_id(id);
  s.set_lease_id("lease-" + std::to_string(id));
  s.set_sweep_id("1");
  s.set_task("fidelity");
  s.set_sample_begin(begin);
  s.set_sample_end(end);
  s.set_attempt(1);
  for (int c = 0; c < cells; ++c) s.add_cells()->set_cell_id("c" + std::to_string(c));
  return s;
}

// One row per cell of `shard` for `sample`.
std::vector<v1::SampleResult> SampleRows(const v1::ShardAssignment& shard, int64_t sample) {
  std::vector<v1::SampleResult> rows;
  for (const auto& cell : shard.cells()) {
    v1::SampleResult r;
    r.set_cell_id(cell.cell_id());
    r.set_sample_idx(sample);
    r.set_score(0.5);
    rows.push_back(std::move(r));
  }
  return rows;
}

// Evaluates every sample of the shard like ShardEvaluator does: checks ShouldStop
// before each sample, reports the sample's rows, then Progress.
Status RunAllSamples(const v1::ShardAssignment& shard, ResultSink& sink) {
  for (int64_t i = shard.sample_begin(); i < shard.sample_end(); ++i) {
    if (sink.ShouldStop()) return Status::Cancelled("stop requested");
    KVF_RETURN_IF_ERROR(sink.Report(SampleRows(shard, i)));
    sink.Progress(i - shard.sample_begin() + 1);
  }
  return Status::Ok();
}

// Polls ShouldStop every millisecond for up to `timeout`; true once it is set.
bool WaitForShouldStop(ResultSink& sink, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (sink.ShouldStop()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return sink.ShouldStop();
}

// Polls `pred` every millisecond for up to 2 s; true once it holds.
template <typename Pred>
bool WaitUntil(Pred pred) {
  auto end = std::chrono::steady_clock::now() + 2s;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return pred();
}

// "cell:sample" keys of rows (a multiset, so duplicates show).
std::multiset<std::string> Keys(const std::vector<v1::SampleResult>& rows) {
  std::multiset<std::string> keys;
  for (const auto& r : rows) keys.insert(r.cell_id() + ":" + std::to_string(r.sample_idx()));
  return keys;
}

std::set<std::string> ExpectedKeys(const v1::ShardAssignment& shard) {
  std::set<std::string> keys;
  for (int64_t i = shard.sample_begin(); i < shard.sample_end(); ++i) {
    for (const auto& c : shard.cells()) keys.insert(c.cell_id() + ":" + std::to_string(i));
  }
  return keys;
}

int Count(const std::vector<std::string>& calls, const std::string& method) {
  int n = 0;
  for (const auto& c : calls) n += c == method;
  return n;
}

class WorkerLoopTest : public ::testing::Test {
 protected:
  WorkerConfig Config(int report_batch = 64) {
    WorkerConfig c;
    c.name = "test-worker";
    c.host = "test-host";
    c.device = "cpu";
    c.memory_bytes = 1 << 30;
    c.model_paths = {"/models/a.bin"};
    c.report_batch = report_batch;
    c.reconnect = BackoffPolicy{2, 2.0, 8};
    c.stop = &stop_;
    return c;
  }

  // Runs loop.Run() on a thread; if it has not returned after `limit`, sets the stop
  // flag (so the test does not hang) and fails.
  Status RunBounded(WorkerLoop& loop, std::chrono::milliseconds limit = 3000ms) {
    auto done = std::async(std::launch::async, [&loop] { return loop.Run(); });
    if (done.wait_for(limit) != std::future_status::ready) {
      ADD_FAILURE() << "WorkerLoop::Run did not return within " << limit.count() << " ms";
      stop_.store(true);
    }
    return done.get();
  }

  std::atomic<bool> stop_{false};
  FakeCoordinatorClient client_{stop_};
};

TEST_F(WorkerLoopTest, RegistersThenLeasesWithAffinity) {
  WorkerLoop loop(Config(), client_, RunAllSamples, [] { return std::string("sum-abc"); });
  ASSERT_TRUE(RunBounded(loop).ok());

  auto calls = client_.calls();
  ASSERT_GE(calls.size(), 2u);
  EXPECT_EQ(calls[0], "Register");
  EXPECT_EQ(calls[1], "Lease");
  auto reg = client_.registers();
  ASSERT_EQ(reg.size(), 1u);
  EXPECT_EQ(reg[0].name(), "test-worker");
  EXPECT_EQ(reg[0].host(), "test-host");
  EXPECT_EQ(reg[0].device(), "cpu");
  EXPECT_EQ(reg[0].memory_bytes(), 1 << 30);
  ASSERT_EQ(reg[0].models_size(), 1);
  EXPECT_EQ(reg[0].models(0).path(), "/models/a.bin");
  EXPECT_GT(reg[0].pid(), 0);
  auto leases = client_.leases();
  ASSERT_FALSE(leases.empty());
  EXPECT_EQ(leases[0].worker_id(), "w1");
  EXPECT_EQ(leases[0].loaded_model_checksum(), "sum-abc");
  EXPECT_EQ(loop.shards_completed(), 0);
}

TEST_F(WorkerLoopTest, ReportsInBatchesAndCompletes) {
  // 2 cells x 10 samples = 20 rows, 2 per Report call; batches of at least 5
  // (6, 6, 6), then the remaining 2 rows at the end.
  v1::ShardAssignment shard = MakeShard(7, 2, 0, 10);
  client_.AddShard(shard);
  WorkerLoop loop(Config(/*report_batch=*/5), client_, RunAllSamples, nullptr);
  ASSERT_TRUE(RunBounded(loop).ok());

  auto reports = client_.reports();
  ASSERT_GE(reports.size(), 2u);
  // Every batch but the last holds at least report_batch rows; buffering sends as
  // soon as the threshold is reached, so these are exactly 6 (3 samples of 2 rows).
  for (size_t i = 0; i + 1 < reports.size(); ++i) {
    EXPECT_GE(reports[i].results_size(), 5) << "batch " << i;
    EXPECT_EQ(reports[i].results_size(), 6) << "batch " << i;
  }
  int total = 0;
  for (const auto& r : reports) {
    total += r.results_size();
    EXPECT_EQ(r.worker_id(), "w1");
    EXPECT_EQ(r.lease_id(), "lease-7");
  }
  EXPECT_EQ(total, 20);
  EXPECT_EQ(reports.size(), 4u);
  EXPECT_EQ(reports.back().results_size(), 2);

  auto keys = Keys(client_.stored_rows());
  EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()), ExpectedKeys(shard));
  EXPECT_EQ(keys.size(), 20u);

  // CompleteShard comes after the last report, for this lease.
  auto calls = client_.calls();
  auto complete_at = std::find(calls.begin(), calls.end(), "CompleteShard");
  ASSERT_NE(complete_at, calls.end());
  EXPECT_EQ(std::count(complete_at, calls.end(), "ReportResults"), 0);
  auto completes = client_.completes();
  ASSERT_EQ(completes.size(), 1u);
  EXPECT_EQ(completes[0].lease_id(), "lease-7");
  EXPECT_EQ(completes[0].worker_id(), "w1");
  EXPECT_EQ(Count(calls, "FailShard"), 0);
  EXPECT_EQ(Count(calls, "ReleaseShard"), 0);
  EXPECT_EQ(loop.shards_completed(), 1);
}

TEST_F(WorkerLoopTest, RemainderBelowBatchIsReportedAtTheEnd) {
  // 3 rows with a batch of 64: a single report, sent before CompleteShard.
  client_.AddShard(MakeShard(1, 1, 10, 13));
  client_.AddShard(MakeShard(2, 1, 13, 14));
  WorkerLoop loop(Config(64), client_, RunAllSamples, nullptr);
  ASSERT_TRUE(RunBounded(loop).ok());
  auto reports = client_.reports();
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].results_size(), 3);
  EXPECT_EQ(reports[0].lease_id(), "lease-1");
  EXPECT_EQ(reports[1].results_size(), 1);
  EXPECT_EQ(reports[1].lease_id(), "lease-2");
  std::vector<std::string> want = {"Register",      "Lease", "ReportResults", "CompleteShard",
                                   "Lease",         "ReportResults", "CompleteShard", "Lease"};
  EXPECT_EQ(client_.calls(), want);
  EXPECT_EQ(loop.shards_completed(), 2);
}

TEST_F(WorkerLoopTest, HeartbeatsCarryLeaseAndProgress) {
  client_.AddShard(MakeShard(3, 1, 0, 4));
  auto runner = [this](const v1::ShardAssignment& shard, ResultSink& sink) -> Status {
    KVF_RETURN_IF_ERROR(RunAllSamples(shard, sink));
    // Wait for two heartbeats that carry the final progress.
    EXPECT_TRUE(WaitUntil([&] {
      int n = 0;
      for (const auto& b : client_.heartbeats()) n += b.samples_done() == 4;
      return n >= 2;
    }));
    return Status::Ok();
  };
  WorkerLoop loop(Config(), client_, runner, nullptr);
  ASSERT_TRUE(RunBounded(loop).ok());
  auto beats = client_.heartbeats();
  ASSERT_GE(beats.size(), 2u);
  for (const auto& b : beats) {
    EXPECT_EQ(b.worker_id(), "w1");
    EXPECT_EQ(b.lease_id(), "lease-3");
  }
  EXPECT_EQ(beats.back().samples_done(), 4);
}

struct ErrorCase {
  Status::Code code;
  v1::ErrorKind kind;
  const char* name;
};

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

class WorkerLoopErrorTest : public WorkerLoopTest,
                            public ::testing::WithParamInterface<ErrorCase> {};

TEST_P(WorkerLoopErrorTest, RunnerErrorFailsShardWithItsKind) {
  const ErrorCase param = GetParam();
  client_.AddShard(MakeShard(4, 2, 0, 5));
  auto runner = [&param](const v1::ShardAssignment& shard, ResultSink& sink) -> Status {
    KVF_RETURN_IF_ERROR(sink.Report(SampleRows(shard, 0)));
    return Status(param.code, "sample 1: something broke");
  };
  WorkerLoop loop(Config(), client_, runner, nullptr);
  ASSERT_TRUE(RunBounded(loop).ok());

  auto fails = client_.fails();
  ASSERT_EQ(fails.size(), 1u);
  EXPECT_EQ(fails[0].kind(), param.kind) << v1::ErrorKind_Name(fails[0].kind());
  EXPECT_EQ(fails[0].message(), "sample 1: something broke");
  EXPECT_EQ(fails[0].lease_id(), "lease-4");
  EXPECT_EQ(fails[0].worker_id(), "w1");
  auto calls = client_.calls();
  EXPECT_EQ(Count(calls, "CompleteShard"), 0);
  EXPECT_EQ(Count(calls, "ReleaseShard"), 0);
  // The finished sample's rows were reported before the failure.
  EXPECT_EQ(client_.stored_rows().size(), 2u);
  auto fail_at = std::find(calls.begin(), calls.end(), "FailShard");
  EXPECT_EQ(std::count(calls.begin(), fail_at, "ReportResults"), 1);
  EXPECT_EQ(loop.shards_completed(), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, WorkerLoopErrorTest,
    ::testing::Values(ErrorCase{Status::Code::kModelLoad, v1::MODEL_LOAD, "ModelLoad"},
                      ErrorCase{Status::Code::kBadInput, v1::BAD_INPUT, "BadInput"},
                      ErrorCase{Status::Code::kOutOfMemory, v1::OUT_OF_MEMORY, "OutOfMemory"},
                      ErrorCase{Status::Code::kTransient, v1::TRANSIENT, "Transient"}),
    [](const ::testing::TestParamInfo<ErrorCase>& p) { return std::string(p.param.name); });

TEST_F(WorkerLoopTest, FailShardIsRetriedWhileCoordinatorAway) {
  client_.AddShard(MakeShard(4, 1, 0, 2));
  client_.ScriptFail(Status::Transient("coordinator away"));
  client_.ScriptFail(Status::Transient("coordinator away"));
  auto runner = [](const v1::ShardAssignment&, ResultSink&) {
    return Status::OutOfMemory("CUDA out of memory");
  };
  WorkerLoop loop(Config(), client_, runner, nullptr);
  ASSERT_TRUE(RunBounded(loop).ok());
  auto fails = client_.fails();
  ASSERT_EQ(fails.size(), 3u);
  for (const auto& f : fails) EXPECT_EQ(f.kind(), v1::OUT_OF_MEMORY);
}

TEST_F(WorkerLoopTest, StopDuringShardReportsAndReleases) {
  client_.AddShard(MakeShard(5, 2, 0, 100));
  std::promise<void> started;
  std::atomic<bool> runner_saw_stop{false};
  auto runner = [&](const v1::ShardAssignment& shard, ResultSink& sink) -> Status {
    KVF_RETURN_IF_ERROR(sink.Report(SampleRows(shard, 0)));
    sink.Progress(1);
    started.set_value();
    // Sample 1 is in progress when the stop arrives: it is finished and reported.
    bool saw = WaitForShouldStop(sink, 2000ms);
    runner_saw_stop = saw;
    KVF_RETURN_IF_ERROR(sink.Report(SampleRows(shard, 1)));
    sink.Progress(2);
    if (!saw) return Status::Ok();
    return Status::Cancelled("stop requested");
  };
  WorkerLoop loop(Config(), client_, runner, nullptr);
  auto done = std::async(std::launch::async, [&loop] { return loop.Run(); });
  ASSERT_EQ(started.get_future().wait_for(2s), std::future_status::ready);
  stop_.store(true);  // what the SIGTERM handler does
  ASSERT_EQ(done.wait_for(2s), std::future_status::ready) << "Run() did not return after stop";
  EXPECT_TRUE(done.get().ok());

  EXPECT_TRUE(runner_saw_stop);
  EXPECT_EQ(client_.stored_rows().size(), 4u);  // both samples x 2 cells
  auto releases = client_.releases();
  ASSERT_EQ(releases.size(), 1u);
  EXPECT_EQ(releases[0].lease_id(), "lease-5");
  EXPECT_EQ(releases[0].worker_id(), "w1");
  auto calls = client_.calls();
  EXPECT_EQ(Count(calls, "CompleteShard"), 0);
  EXPECT_EQ(Count(calls, "FailShard"), 0);
  // Reports precede the release, and nothing is leased after it.
  std::vector<std::string> want = {"Register", "Lease", "ReportResults", "ReleaseShard"};
  EXPECT_EQ(calls, want);
}

TEST_F(WorkerLoopTest, StopWhileIdleEndsRunPromptly) {
  v1::LeaseReply idle;
  idle.set_retry_after_ms(60'000);
  client_.ScriptLease(idle);
  WorkerLoop loop(Config(), client_, RunAllSamples, nullptr);
  auto done = std::async(std::launch::async, [&loop] { return loop.Run(); });
  std::this_thread::sleep_for(50ms);
  auto t0 = std::chrono::steady_clock::now();
  stop_.store(true);
  ASSERT_EQ(done.wait_for(2s), std::future_status::ready) << "retry_after sleep not interruptible";
  EXPECT_TRUE(done.get().ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
  EXPECT_EQ(Count(client_.calls(), "Lease"), 1);
}

TEST_F(WorkerLoopTest, CancelledHeartbeatStopsShardWithoutCompleting) {
  client_.AddShard(MakeShard(6, 1, 0, 50));
  client_.SetHeartbeatFn([](const v1::HeartbeatRequest&, int index) {
    v1::HeartbeatReply r;
    r.set_lease_valid(true);
    r.set_cancelled(index >= 2);
    return r;
  });
  std::atomic<bool> runner_saw_stop{false};
  auto runner = [&](const v1::ShardAssignment& shard, ResultSink& sink) -> Status {
    KVF_RETURN_IF_ERROR(sink.Report(SampleRows(shard, 0)));
    sink.Progress(1);
    if (!WaitForShouldStop(sink, 2000ms)) return Status::Ok();
    runner_saw_stop = true;
    return Status::Cancelled("sweep cancelled");
  };
  WorkerLoop loop(Config(), client_, runner, nullptr);
  ASSERT_TRUE(RunBounded(loop).ok());

  EXPECT_TRUE(runner_saw_stop);
  auto calls = client_.calls();
  EXPECT_EQ(Count(calls, "CompleteShard"), 0);
  EXPECT_EQ(Count(calls, "FailShard"), 0);
  EXPECT_EQ(client_.stored_rows().size(), 1u);  // the finished sample stays stored
  EXPECT_GE(client_.heartbeats().size(), 3u);
  EXPECT_EQ(loop.shards_completed(), 0);
  // The worker goes back to leasing afterwards.
  EXPECT_EQ(calls.back(), "Lease");
}

TEST_F(WorkerLoopTest, LostLeaseDropsShard) {
  client_.AddShard(MakeShard(8, 1, 0, 50));
  client_.AddShard(MakeShard(9, 1, 0, 1));
  client_.SetHeartbeatFn([](const v1::HeartbeatRequest& req, int) {
    v1::HeartbeatReply r;
    r.set_lease_valid(req.lease_id() != "lease-8");
    return r;
  });
  std::atomic<int> stops_seen{0};
  auto runner = [&](const v1::ShardAssignment& shard, ResultSink& sink) -> Status {
    if (shard.shard_id() == 9) return RunAllSamples(shard, sink);
    if (!WaitForShouldStop(sink, 2000ms)) return Status::Ok();
    ++stops_seen;
    return Status::Cancelled("lease lost");
  };
  WorkerLoop loop(Config(), client_, runner, nullptr);
  ASSERT_TRUE(RunBounded(loop).ok());

  EXPECT_EQ(stops_seen.load(), 1);
  auto calls = client_.calls();
  EXPECT_EQ(Count(calls, "FailShard"), 0);
  EXPECT_EQ(Count(calls, "ReleaseShard"), 0);
  // Only the second shard completes.
  auto completes = client_.completes();
  ASSERT_EQ(completes.size(), 1u);
  EXPECT_EQ(completes[0].lease_id(), "lease-9");
  EXPECT_EQ(loop.shards_completed(), 1);
}

TEST_F(WorkerLoopTest, TransientErrorsAreRetriedAndRowsArriveOnce) {
  v1::ShardAssignment shard = MakeShard(10, 3, 0, 6);
  client_.AddShard(shard);
  client_.ScriptRegister(Status::Transient("connection refused"));
  client_.ScriptRegister(Status::Transient("connection refused"));
  client_.ScriptLease(Status::Transient("deadline exceeded"));
  client_.ScriptReport(Status::Transient("unavailable"));
  client_.ScriptReport(Status::Transient("unavailable"));
  client_.ScriptComplete(Status::Transient("unavailable"));
  WorkerLoop loop(Config(/*report_batch=*/4), client_, RunAllSamples, nullptr);
  ASSERT_TRUE(RunBounded(loop).ok());

  auto calls = client_.calls();
  EXPECT_EQ(Count(calls, "Register"), 3);
  EXPECT_EQ(calls[0], "Register");
  EXPECT_EQ(calls[1], "Register");
  EXPECT_EQ(calls[2], "Register");
  EXPECT_EQ(calls[3], "Lease");
  EXPECT_EQ(calls[4], "Lease");
  auto keys = Keys(client_.stored_rows());
  EXPECT_EQ(keys.size(), 18u);
  EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()), ExpectedKeys(shard));
  // The two failed sends carried the same rows as the successful retry.
  auto reports = client_.reports();
  ASSERT_GE(reports.size(), 3u);
  EXPECT_EQ(reports[0].SerializeAsString(), reports[2].SerializeAsString());
  EXPECT_EQ(client_.completes().size(), 2u);
  EXPECT_EQ(loop.shards_completed(), 1);
}

TEST_F(WorkerLoopTest, ReconnectBackoffGrows) {
  for (int i = 0; i < 4; ++i) client_.ScriptRegister(Status::Transient("connection refused"));
  WorkerConfig config = Config();
  config.reconnect = BackoffPolicy{10, 2.0, 40};  // waits 10, 20, 40, 40 ms
  WorkerLoop loop(config, client_, RunAllSamples, nullptr);
  ASSERT_TRUE(RunBounded(loop).ok());
  auto t = client_.times_of("Register");
  ASSERT_EQ(t.size(), 5u);
  EXPECT_GE(t[1] - t[0], 10ms);
  EXPECT_GE(t[2] - t[1], 20ms);
  EXPECT_GE(t[3] - t[2], 40ms);
  EXPECT_GE(t[4] - t[3], 40ms);
  EXPECT_GE(t[4] - t[0], 110ms);
}

TEST_F(WorkerLoopTest, StopWhileCoordinatorAwayEndsRun) {
  for (int i = 0; i < 1000; ++i) client_.ScriptRegister(Status::Transient("connection refused"));
  WorkerConfig config = Config();
  config.reconnect = BackoffPolicy{20, 2.0, 20'000};
  WorkerLoop loop(config, client_, RunAllSamples, nullptr);
  auto done = std::async(std::launch::async, [&loop] { return loop.Run(); });
  std::this_thread::sleep_for(200ms);  // backoff is now in its multi-second waits
  auto t0 = std::chrono::steady_clock::now();
  stop_.store(true);
  ASSERT_EQ(done.wait_for(2s), std::future_status::ready) << "reconnect backoff not interruptible";
  EXPECT_TRUE(done.get().ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
  EXPECT_EQ(Count(client_.calls(), "Lease"), 0);
  EXPECT_LE(Count(client_.calls(), "Register"), 6);
}

TEST_F(WorkerLoopTest, NonTransientRegisterErrorEndsRun) {
  client_.ScriptRegister(Status::BadInput("unauthenticated: bad token"));
  WorkerLoop loop(Config(), client_, RunAllSamples, nullptr);
  Status s = RunBounded(loop);
  EXPECT_EQ(s.code(), Status::Code::kBadInput);
  EXPECT_NE(s.message().find("bad token"), std::string::npos) << s.ToString();
  EXPECT_EQ(Count(client_.calls(), "Lease"), 0);
}

TEST_F(WorkerLoopTest, LeaseNotFoundRegistersAgain) {
  client_.ScriptLease(Status::NotFound("unknown worker w1"));
  client_.AddShard(MakeShard(11, 1, 0, 2));
  WorkerLoop loop(Config(), client_, RunAllSamples, nullptr);
  ASSERT_TRUE(RunBounded(loop).ok());
  auto calls = client_.calls();
  ASSERT_GE(calls.size(), 4u);
  std::vector<std::string> head(calls.begin(), calls.begin() + 4);
  std::vector<std::string> want = {"Register", "Lease", "Register", "Lease"};
  EXPECT_EQ(head, want);
  auto leases = client_.leases();
  EXPECT_EQ(leases[0].worker_id(), "w1");
  EXPECT_EQ(leases[1].worker_id(), "w2");
  auto completes = client_.completes();
  ASSERT_EQ(completes.size(), 1u);
  EXPECT_EQ(completes[0].worker_id(), "w2");
}

TEST_F(WorkerLoopTest, HeartbeatReregisterRegistersAfterShard) {
  client_.AddShard(MakeShard(12, 1, 0, 1));
  client_.AddShard(MakeShard(13, 1, 0, 1));
  client_.SetHeartbeatFn([](const v1::HeartbeatRequest& req, int) {
    v1::HeartbeatReply r;
    r.set_lease_valid(true);
    r.set_reregister(req.lease_id() == "lease-12");
    return r;
  });
  auto runner = [this](const v1::ShardAssignment& shard, ResultSink& sink) -> Status {
    if (shard.shard_id() == 12) {  // wait for the heartbeat that asks to re-register
      EXPECT_TRUE(WaitUntil([&] { return !client_.heartbeats().empty(); }));
    }
    return RunAllSamples(shard, sink);
  };
  WorkerLoop loop(Config(), client_, runner, nullptr);
  ASSERT_TRUE(RunBounded(loop).ok());
  EXPECT_EQ(Count(client_.calls(), "Register"), 2);
  auto leases = client_.leases();
  ASSERT_GE(leases.size(), 2u);
  EXPECT_EQ(leases[1].worker_id(), "w2");
}

TEST_F(WorkerLoopTest, RetryAfterIsHonoured) {
  v1::LeaseReply idle;
  idle.set_retry_after_ms(150);
  client_.ScriptLease(idle);
  client_.AddShard(MakeShard(14, 1, 0, 1));
  WorkerLoop loop(Config(), client_, RunAllSamples, nullptr);
  ASSERT_TRUE(RunBounded(loop).ok());
  auto t = client_.times_of("Lease");
  ASSERT_GE(t.size(), 2u);
  EXPECT_GE(t[1] - t[0], 150ms);
  EXPECT_LT(t[1] - t[0], 1000ms);
  EXPECT_EQ(loop.shards_completed(), 1);
}

TEST_F(WorkerLoopTest, CompletionNotAcceptedIsNotCounted) {
  client_.AddShard(MakeShard(15, 1, 0, 2));
  v1::CompleteShardReply rejected;
  rejected.set_accepted(false);
  rejected.set_message("results missing");
  client_.ScriptComplete(rejected);
  WorkerLoop loop(Config(), client_, RunAllSamples, nullptr);
  ASSERT_TRUE(RunBounded(loop).ok());
  EXPECT_EQ(client_.completes().size(), 1u);
  EXPECT_EQ(loop.shards_completed(), 0);
}

TEST_F(WorkerLoopTest, ReportFailureFailsShardAsTransient) {
  client_.AddShard(MakeShard(16, 1, 0, 3));
  // A non-transient report error twice: once from the runner's Report, once from the final flush.
  client_.ScriptReport(Status::BadInput("lease unknown"));
  client_.ScriptReport(Status::BadInput("lease unknown"));
  WorkerLoop loop(Config(/*report_batch=*/1), client_, RunAllSamples, nullptr);
  ASSERT_TRUE(RunBounded(loop).ok());
  auto fails = client_.fails();
  ASSERT_EQ(fails.size(), 1u);
  EXPECT_EQ(fails[0].kind(), v1::TRANSIENT);
  EXPECT_NE(fails[0].message().find("lease unknown"), std::string::npos) << fails[0].message();
  EXPECT_EQ(Count(client_.calls(), "CompleteShard"), 0);
}

}  // namespace
}  // namespace kvfunda::testing
