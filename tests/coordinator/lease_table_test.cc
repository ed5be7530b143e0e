// LeaseTable + SweepManager state machine, driven by a FakeClock (no sleeps):
// leases, heartbeats, expiry, retries with backoff, failures, affinity, cancel and
// resume, incomplete completion, late and duplicate reports, reuse across sweeps,
// and a restart on the same database file.
#include "coordinator/core/lease_table.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "coord_test_util.h"
#include "coordinator/base/sha256.h"

namespace kvfunda {
namespace {

using testing::Harness;
using testing::MissingRows;
using testing::Row;
using testing::SmallSpec;

constexpr int64_t kLeaseMs = 10'000;

CoordinatorConfig TestConfig() {
  CoordinatorConfig c;
  c.lease_ms = kLeaseMs;
  c.retry_backoff = BackoffPolicy{1'000, 2.0, 60'000};
  c.idle_retry_ms = 5'000;
  return c;
}

class LeaseTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = kvfunda::testing::MakeTempDir("kvf_lease_");
    model_ = kvfunda::testing::WriteFakeModel(dir_, "model.bin", "weights-1");
    h_ = std::make_unique<Harness>((dir_ / "kvfunda.db").string(), TestConfig());
  }
  void TearDown() override {
    h_.reset();
    std::filesystem::remove_all(dir_);
  }
  ShardRow Shard(int64_t id) { return *h_->table->ShardForTest(id); }

  std::filesystem::path dir_;
  std::string model_;
  std::unique_ptr<Harness> h_;
};

TEST_F(LeaseTableTest, LeaseCarriesEveryCellAndCompletionMarksDone) {
  auto sub = h_->Submit(SmallSpec(model_, 8, 4, {0.5, 0.25}));
  EXPECT_EQ(sub.cells(), 3);
  EXPECT_EQ(sub.shards(), 2);
  EXPECT_EQ(sub.results_expected(), 24);
  EXPECT_EQ(h_->SweepStatusOf(sub.sweep_id()).state(), v1::SWEEP_QUEUED);

  auto a = h_->Lease();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->sweep_id(), sub.sweep_id());
  EXPECT_EQ(a->cells_size(), 3);
  EXPECT_EQ(a->cells(0).method(), "full");
  EXPECT_EQ(a->sample_begin(), 0);
  EXPECT_EQ(a->sample_end(), 4);
  EXPECT_EQ(a->attempt(), 1);
  EXPECT_EQ(a->done_size(), 0);
  EXPECT_EQ(a->lease_deadline_ms(), h_->clock.NowMs() + kLeaseMs);
  EXPECT_EQ(a->decoding().seed(), 1234u);
  EXPECT_EQ(a->model().path(), model_);
  EXPECT_EQ(a->model().checksum().size(), 64u);
  EXPECT_EQ(h_->SweepStatusOf(sub.sweep_id()).state(), v1::SWEEP_RUNNING);

  ReportOutcome r = h_->Report(*a, MissingRows(*a));
  EXPECT_EQ(r.stored, 12);
  auto c = h_->table->Complete(a->lease_id());
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->accepted) << c->message;
  EXPECT_EQ(Shard(a->shard_id()).state, ShardState::kDone);

  auto b = h_->Lease();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->sample_begin(), 4);
  h_->Report(*b, MissingRows(*b));
  ASSERT_TRUE(h_->table->Complete(b->lease_id())->accepted);
  v1::SweepStatus st = h_->SweepStatusOf(sub.sweep_id());
  EXPECT_EQ(st.state(), v1::SWEEP_DONE);
  EXPECT_EQ(st.shards_done(), 2);
  EXPECT_EQ(st.results_stored(), 24);
  EXPECT_EQ(st.eta_s(), 0);
  EXPECT_GT(st.samples_per_s(), 0);
  EXPECT_EQ(*h_->store->CountResults(), 24);
  EXPECT_FALSE(h_->Lease());  // nothing left
}

TEST_F(LeaseTableTest, ReportingTheSameRowsTwiceStoresThemOnce) {
  auto sub = h_->Submit(SmallSpec(model_, 4, 4));
  auto a = h_->Lease();
  ASSERT_TRUE(a);
  auto rows = MissingRows(*a);
  ReportOutcome first = h_->Report(*a, rows);
  EXPECT_EQ(first.stored, 8);
  EXPECT_EQ(first.duplicates, 0);
  rows[0].set_score(-5);  // a different second report of the same pair is ignored too
  ReportOutcome second = h_->Report(*a, rows);
  EXPECT_EQ(second.stored, 0);
  EXPECT_EQ(second.duplicates, 8);
  EXPECT_EQ(*h_->store->CountResults(), 8);
  EXPECT_EQ(h_->SweepStatusOf(sub.sweep_id()).results_stored(), 8);
  auto summary = h_->store->SummarizeSweep(1);
  ASSERT_TRUE(summary.ok());
  EXPECT_DOUBLE_EQ((*summary)[0].score_mean, 1.0);  // the first report won
  EXPECT_DOUBLE_EQ((*summary)[0].metric_means.at("kl_mean"), 0.25);
}

TEST_F(LeaseTableTest, RowsForeignToTheShardAreRejected) {
  h_->Submit(SmallSpec(model_, 8, 4));
  auto a = h_->Lease();
  ASSERT_TRUE(a);
  std::vector<v1::SampleResult> rows = {Row(std::string(64, 'f'), 0),
                                        Row(a->cells(0).cell_id(), 5),  // other shard's sample
                                        Row(a->cells(1).cell_id(), 3)};
  ReportOutcome r = h_->Report(*a, rows);
  EXPECT_EQ(r.rejected, 2);
  EXPECT_EQ(r.stored, 1);
}

TEST_F(LeaseTableTest, HeartbeatsExtendLeasesAndExpiredLeasesAreRequeued) {
  h_->Submit(SmallSpec(model_, 4, 4));
  auto a = h_->Lease();
  ASSERT_TRUE(a);
  h_->clock.AdvanceMs(kLeaseMs * 6 / 10);
  HeartbeatOutcome hb = h_->table->Heartbeat(a->lease_id(), 2);
  EXPECT_TRUE(hb.lease_valid);
  EXPECT_EQ(hb.lease_deadline_ms, h_->clock.NowMs() + kLeaseMs);
  EXPECT_EQ(Shard(a->shard_id()).samples_done, 2);
  h_->clock.AdvanceMs(kLeaseMs * 6 / 10);
  EXPECT_EQ(h_->table->ExpireLeases(), 0);  // the heartbeat kept it

  h_->clock.AdvanceMs(kLeaseMs);
  EXPECT_EQ(h_->table->ExpireLeases(), 1);
  ShardRow s = Shard(a->shard_id());
  EXPECT_EQ(s.state, ShardState::kPending);
  EXPECT_EQ(s.last_error_kind, "lease-expired");
  EXPECT_FALSE(h_->table->Heartbeat(a->lease_id(), 3).lease_valid);

  auto b = h_->Lease("w2");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->shard_id(), a->shard_id());
  EXPECT_EQ(b->attempt(), 2);
  EXPECT_NE(b->lease_id(), a->lease_id());
  EXPECT_EQ(Shard(b->shard_id()).lease_owner, "w2");
}

TEST_F(LeaseTableTest, LateReportAfterExpiryIsStoredButItsCompletionIsIgnored) {
  h_->Submit(SmallSpec(model_, 4, 4));
  auto a = h_->Lease("w1");
  ASSERT_TRUE(a);
  h_->clock.AdvanceMs(kLeaseMs + 1);
  ASSERT_EQ(h_->table->ExpireLeases(), 1);
  auto b = h_->Lease("w2");
  ASSERT_TRUE(b);
  auto rows = MissingRows(*a);
  std::vector<v1::SampleResult> half(rows.begin(), rows.begin() + 4);
  EXPECT_EQ(h_->Report(*a, half).stored, 4);  // stale lease, valid rows
  auto late = h_->table->Complete(a->lease_id());
  ASSERT_TRUE(late.ok());
  EXPECT_FALSE(late->accepted);
  EXPECT_NE(late->message.find("stale"), std::string::npos);
  EXPECT_EQ(Shard(b->shard_id()).state, ShardState::kLeased);
  ReportOutcome r = h_->Report(*b, rows);
  EXPECT_EQ(r.stored, 4);
  EXPECT_EQ(r.duplicates, 4);
  EXPECT_TRUE(h_->table->Complete(b->lease_id())->accepted);
}

TEST_F(LeaseTableTest, TransientFailuresRetryWithBackoffUntilMaxAttempts) {
  auto sub = h_->Submit(SmallSpec(model_, 4, 4));  // one shard, max_attempts 3
  int64_t expected_delay = 1'000;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    auto a = h_->Lease();
    ASSERT_TRUE(a) << "attempt " << attempt;
    EXPECT_EQ(a->attempt(), attempt);
    auto f = h_->table->Fail(a->lease_id(), v1::TRANSIENT, "connection reset");
    ASSERT_TRUE(f.ok());
    if (attempt < 3) {
      EXPECT_TRUE(f->will_retry);
      EXPECT_EQ(f->retry_after_ms, expected_delay);
      int64_t retry = 0;
      EXPECT_FALSE(h_->table->Lease("w1", "", &retry));  // backing off
      EXPECT_EQ(retry, expected_delay);
      h_->clock.AdvanceMs(expected_delay - 1);
      EXPECT_FALSE(h_->Lease());
      h_->clock.AdvanceMs(1);
      expected_delay *= 2;
    } else {
      EXPECT_FALSE(f->will_retry);
    }
  }
  v1::SweepStatus st = h_->SweepStatusOf(sub.sweep_id());
  EXPECT_EQ(st.state(), v1::SWEEP_FAILED);
  EXPECT_EQ(st.shards_failed(), 1);
  ASSERT_EQ(st.errors_size(), 1);
  EXPECT_NE(st.errors(0).find("transient: connection reset"), std::string::npos) << st.errors(0);
  EXPECT_FALSE(h_->Lease());
}

TEST_F(LeaseTableTest, ModelLoadFailureFailsTheShardAtOnceWithTheMessage) {
  auto sub = h_->Submit(SmallSpec(model_, 8, 4));
  auto a = h_->Lease();
  ASSERT_TRUE(a);
  auto f = h_->table->Fail(a->lease_id(), v1::MODEL_LOAD, "cannot open model.bin: bad magic");
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(f->will_retry);
  ShardRow s = Shard(a->shard_id());
  EXPECT_EQ(s.state, ShardState::kFailed);
  EXPECT_EQ(s.attempts, 1);
  v1::SweepStatus st = h_->SweepStatusOf(sub.sweep_id());
  EXPECT_EQ(st.state(), v1::SWEEP_RUNNING);  // the other shard is still pending
  ASSERT_EQ(st.errors_size(), 1);
  EXPECT_EQ(st.errors(0), "shard " + std::to_string(a->shard_id()) +
                              ": model-load: cannot open model.bin: bad magic");
  // A repeated failure on the same (now stale) lease changes nothing.
  EXPECT_FALSE(h_->table->Fail(a->lease_id(), v1::TRANSIENT, "x")->will_retry);
  EXPECT_EQ(Shard(a->shard_id()).last_error, "cannot open model.bin: bad magic");
  auto b = h_->Lease();
  ASSERT_TRUE(b);
  h_->table->Fail(b->lease_id(), v1::BAD_INPUT, "prompt too long").ok();
  EXPECT_EQ(h_->SweepStatusOf(sub.sweep_id()).state(), v1::SWEEP_FAILED);
}

TEST_F(LeaseTableTest, WorkersGetShardsOfTheModelTheyHold) {
  std::string other = kvfunda::testing::WriteFakeModel(dir_, "other.bin", "weights-2");
  h_->Submit(SmallSpec(model_, 4, 4));             // older sweep, model A
  auto newer = h_->Submit(SmallSpec(other, 8, 4));  // newer sweep, model B
  // A worker without a model gets the oldest sweep's shard.
  auto first = h_->Lease("w1", "");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->sweep_id(), "1");
  h_->table->Release(first->lease_id());
  auto any = h_->Lease("w9", "no-such-checksum");  // no match: oldest first (A)
  ASSERT_TRUE(any);
  EXPECT_EQ(any->sweep_id(), "1");
  h_->table->Release(any->lease_id());
  auto sum = Sha256Path(other);
  ASSERT_TRUE(sum.ok());
  auto b = h_->Lease("w2", *sum);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->sweep_id(), newer.sweep_id());
  EXPECT_EQ(b->model().checksum(), *sum);
}

TEST_F(LeaseTableTest, ReleaseReturnsTheShardWithoutCountingTheAttempt) {
  h_->Submit(SmallSpec(model_, 4, 4));
  auto a = h_->Lease();
  ASSERT_TRUE(a);
  h_->table->Release(a->lease_id());
  EXPECT_EQ(Shard(a->shard_id()).state, ShardState::kPending);
  auto b = h_->Lease();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->attempt(), 1);
}

TEST_F(LeaseTableTest, CancelStopsTheSweepAndResumeSkipsStoredPairs) {
  auto sub = h_->Submit(SmallSpec(model_, 12, 4));  // 3 shards, 2 cells
  auto a = h_->Lease();
  ASSERT_TRUE(a);
  auto rows = MissingRows(*a);
  std::vector<v1::SampleResult> some(rows.begin(), rows.begin() + 3);
  h_->Report(*a, some);

  auto cancelled = h_->sweeps->Cancel(sub.sweep_id());
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(*cancelled, 3);
  HeartbeatOutcome hb = h_->table->Heartbeat(a->lease_id(), 1);
  EXPECT_FALSE(hb.lease_valid);
  EXPECT_TRUE(hb.cancelled);
  EXPECT_FALSE(h_->Lease());
  v1::SweepStatus st = h_->SweepStatusOf(sub.sweep_id());
  EXPECT_EQ(st.state(), v1::SWEEP_CANCELLED);
  EXPECT_EQ(st.shards_cancelled(), 3);
  EXPECT_FALSE(h_->table->Complete(a->lease_id())->accepted);

  auto resumed = h_->sweeps->Resume(sub.sweep_id());
  ASSERT_TRUE(resumed.ok());
  EXPECT_EQ(*resumed, 3);
  EXPECT_EQ(h_->SweepStatusOf(sub.sweep_id()).state(), v1::SWEEP_RUNNING);
  auto again = h_->Lease();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->shard_id(), a->shard_id());
  EXPECT_EQ(again->attempt(), 1);  // attempts reset
  ASSERT_EQ(again->done_size(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(again->cells(again->done(i).cell_index()).cell_id(), some[i].cell_id());
    EXPECT_EQ(again->done(i).sample_idx(), some[i].sample_idx());
  }
  EXPECT_EQ(MissingRows(*again).size(), rows.size() - 3);
}

TEST_F(LeaseTableTest, ResumeRequeuesFailedShards) {
  auto sub = h_->Submit(SmallSpec(model_, 4, 4));
  auto a = h_->Lease();
  ASSERT_TRUE(h_->table->Fail(a->lease_id(), v1::MODEL_LOAD, "gone").ok());
  EXPECT_EQ(h_->SweepStatusOf(sub.sweep_id()).state(), v1::SWEEP_FAILED);
  EXPECT_EQ(*h_->sweeps->Resume(sub.sweep_id()), 1);
  EXPECT_EQ(h_->SweepStatusOf(sub.sweep_id()).errors_size(), 0);
  auto b = h_->Lease();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->attempt(), 1);
}

TEST_F(LeaseTableTest, CompletionWithMissingResultsRequeuesTheShard) {
  h_->Submit(SmallSpec(model_, 4, 4));
  auto a = h_->Lease();
  ASSERT_TRUE(a);
  auto rows = MissingRows(*a);
  rows.pop_back();
  h_->Report(*a, rows);
  auto c = h_->table->Complete(a->lease_id());
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->accepted);
  EXPECT_NE(c->message.find("1 of 8 results missing"), std::string::npos) << c->message;
  ShardRow s = Shard(a->shard_id());
  EXPECT_EQ(s.state, ShardState::kPending);
  EXPECT_EQ(s.last_error_kind, "incomplete");
  auto b = h_->Lease();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->attempt(), 2);
  EXPECT_EQ(b->done_size(), 7);
  h_->Report(*b, MissingRows(*b));
  EXPECT_TRUE(h_->table->Complete(b->lease_id())->accepted);
}

TEST_F(LeaseTableTest, IdenticalCellsOfALaterSweepReuseStoredResults) {
  auto first = h_->Submit(SmallSpec(model_, 8, 4, {0.5}));
  while (auto a = h_->Lease()) {
    h_->Report(*a, MissingRows(*a));
    ASSERT_TRUE(h_->table->Complete(a->lease_id())->accepted);
  }
  ASSERT_EQ(h_->SweepStatusOf(first.sweep_id()).state(), v1::SWEEP_DONE);

  auto dry = h_->sweeps->SubmitSpec(SmallSpec(model_, 8, 4, {0.5}), /*dry_run=*/true);
  ASSERT_TRUE(dry.ok());
  EXPECT_EQ(dry->results_reused(), 16);
  EXPECT_TRUE(dry->sweep_id().empty());

  auto same = h_->Submit(SmallSpec(model_, 8, 4, {0.5}));
  EXPECT_EQ(same.results_reused(), 16);
  EXPECT_EQ(same.results_expected(), 16);
  v1::SweepStatus st = h_->SweepStatusOf(same.sweep_id());
  EXPECT_EQ(st.state(), v1::SWEEP_DONE);
  EXPECT_EQ(st.shards_done(), 2);
  EXPECT_FALSE(h_->Lease());

  // A sweep adding a ratio reuses full and 0.5 and computes only 0.25.
  SweepSpec more = SmallSpec(model_, 8, 4, {0.5, 0.25});
  more.seed = 1234;
  auto grown = h_->Submit(more);
  EXPECT_EQ(grown.results_expected(), 24);
  EXPECT_EQ(grown.results_reused(), 16);
  auto a = h_->Lease();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->done_size(), 8);
  EXPECT_EQ(MissingRows(*a).size(), 4u);
  for (const auto& r : MissingRows(*a)) EXPECT_EQ(r.cell_id(), a->cells(2).cell_id());

  // Different settings never reuse.
  SweepSpec other_seed = SmallSpec(model_, 8, 4, {0.5});
  other_seed.seed = 7;
  EXPECT_EQ(h_->Submit(other_seed).results_reused(), 0);
}

TEST_F(LeaseTableTest, RestartKeepsResultsAndHandsLeasesOutAgainAfterExpiry) {
  auto sub = h_->Submit(SmallSpec(model_, 8, 4));
  auto a = h_->Lease("w1");
  ASSERT_TRUE(a);
  auto rows = MissingRows(*a);
  std::vector<v1::SampleResult> some(rows.begin(), rows.begin() + 5);
  h_->Report(*a, some);
  auto b = h_->Lease("w2");
  ASSERT_TRUE(b);
  h_->Report(*b, MissingRows(*b));
  ASSERT_TRUE(h_->table->Complete(b->lease_id())->accepted);
  auto worker = h_->workers->Register(WorkerRow{"", "host-a:cpu", "host-a", "cpu"});
  ASSERT_TRUE(worker.ok());

  h_->clock.AdvanceMs(kLeaseMs / 2);
  h_->Reopen();  // coordinator restart

  EXPECT_TRUE(h_->workers->Known(*worker));
  v1::SweepStatus st = h_->SweepStatusOf(sub.sweep_id());
  EXPECT_EQ(st.results_stored(), 5 + 8);
  EXPECT_EQ(st.shards_done(), 1);
  EXPECT_EQ(st.shards_leased(), 1);
  EXPECT_EQ(*h_->store->CountResults(), 13);
  // The live worker's lease survived, with a fresh deadline.
  HeartbeatOutcome hb = h_->table->Heartbeat(a->lease_id(), 2);
  EXPECT_TRUE(hb.lease_valid);
  EXPECT_EQ(hb.lease_deadline_ms, h_->clock.NowMs() + kLeaseMs);

  // If that worker is in fact gone, its lease expires and the shard is handed out
  // again with the stored pairs in `done`.
  h_->clock.AdvanceMs(kLeaseMs + 1);
  EXPECT_EQ(h_->table->ExpireLeases(), 1);
  auto again = h_->Lease("w3");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->shard_id(), a->shard_id());
  EXPECT_EQ(again->done_size(), 5);
  h_->Report(*again, MissingRows(*again));
  ASSERT_TRUE(h_->table->Complete(again->lease_id())->accepted);
  EXPECT_EQ(h_->SweepStatusOf(sub.sweep_id()).state(), v1::SWEEP_DONE);

  h_->Reopen();  // and a done sweep stays done
  st = h_->SweepStatusOf(sub.sweep_id());
  EXPECT_EQ(st.state(), v1::SWEEP_DONE);
  EXPECT_EQ(st.results_stored(), 16);
  EXPECT_EQ(*h_->store->CountResults(), 16);
}

TEST_F(LeaseTableTest, UnknownSweepsAreNotFound) {
  EXPECT_EQ(h_->sweeps->Get("42").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(h_->sweeps->Cancel("abc").status().code(), Status::Code::kNotFound);
}

}  // namespace
}  // namespace kvfunda
