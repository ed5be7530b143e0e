// Store: migrations (empty database, old database, too-new database), idempotent
// result inserts, and the ResultWriter's group commit and disk-full behaviour.
#include "coordinator/store/store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <future>

#include "coordinator/core/result_writer.h"
#include "coordinator/store/migrations.h"
#include "test_support.h"

namespace kvfunda {
namespace {

constexpr int64_t kNow = 1'700'000'000'000;

std::vector<Migration> FirstMigrationOnly() {
  auto all = EmbeddedMigrations();
  EXPECT_TRUE(all.ok());
  return {all->front()};
}

SweepRow MakeSweep(int64_t id) {
  SweepRow s;
  s.id = id;
  s.name = "s" + std::to_string(id);
  s.spec_json = "{}";
  s.spec_hash = "h";
  s.decoding_json = R"({"max_new_tokens":8,"temperature":0,"top_p":1})";
  return s;
}

CellRow MakeCell(const std::string& id) {
  CellRow c;
  c.cell_id = id;
  c.model_id = "m";
  c.model_checksum = "sum";
  c.method = "full";
  c.params_json = "{}";
  c.task = "fidelity";
  c.identity_json = "{}";
  return c;
}

ResultRow MakeResult(const std::string& cell, int64_t sample, double score) {
  ResultRow r;
  r.cell_id = cell;
  r.sample_idx = sample;
  r.score = score;
  r.prediction = std::string(200, 'x');
  r.reported_ms = kNow;
  return r;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::MakeTempDir("kvf_store_"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Db() const { return (dir_ / "kvfunda.db").string(); }
  std::filesystem::path dir_;
};

TEST(MigrationsTest, EmbeddedAreNumberedAndSorted) {
  auto m = EmbeddedMigrations();
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_GE(m->size(), 2u);
  for (size_t i = 0; i < m->size(); ++i) EXPECT_EQ((*m)[i].version, static_cast<int>(i) + 1);
  EXPECT_EQ(m->front().name, "001_init.sql");
}

TEST_F(StoreTest, MigratesAnEmptyDatabase) {
  auto store = Store::Open(Db(), {}, kNow);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto all = EmbeddedMigrations();
  EXPECT_EQ((*store)->schema_version(), all->back().version);
  // Tables of both migrations exist and are usable.
  Status s = (*store)->Write([](WriteTxn& txn) {
    KVF_RETURN_IF_ERROR(txn.InsertSweep(MakeSweep(1)));
    return txn.InsertEvent(EventRow{0, kNow, 1, "submitted", "hello"});
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto events = (*store)->Events(1, 0, 10);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].message, "hello");
}

TEST_F(StoreTest, InMemoryDatabaseWorks) {
  auto store = Store::Open(":memory:", {}, kNow);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_TRUE((*store)->Write([](WriteTxn& t) { return t.InsertCell(MakeCell("c"), kNow); }).ok());
  auto w = (*store)->LoadSweeps();
  EXPECT_TRUE(w.ok());
}

TEST_F(StoreTest, MigratesAnOldDatabaseKeepingItsRows) {
  {
    StoreOptions old;
    old.migrations = FirstMigrationOnly();
    auto store = Store::Open(Db(), old, kNow);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    EXPECT_EQ((*store)->schema_version(), 1);
    Status s = (*store)->Write([](WriteTxn& txn) {
      KVF_RETURN_IF_ERROR(txn.InsertSweep(MakeSweep(7)));
      KVF_RETURN_IF_ERROR(txn.InsertCell(MakeCell("cell-a"), kNow));
      return txn.InsertResult(MakeResult("cell-a", 3, 0.5)).status();
    });
    ASSERT_TRUE(s.ok()) << s.ToString();
    // The events table belongs to migration 002: not there yet.
    EXPECT_FALSE((*store)->Events(std::nullopt, 0, 10).ok());
  }
  auto store = Store::Open(Db(), {}, kNow);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->schema_version(), 2);
  auto sweeps = (*store)->LoadSweeps();
  ASSERT_TRUE(sweeps.ok());
  ASSERT_EQ(sweeps->size(), 1u);
  EXPECT_EQ((*sweeps)[0].id, 7);
  auto samples = (*store)->StoredSamples("cell-a", 0, 10);
  ASSERT_TRUE(samples.ok());
  EXPECT_EQ(*samples, std::vector<int64_t>{3});
  ASSERT_TRUE((*store)->Write([](WriteTxn& t) {
                        return t.InsertEvent(EventRow{0, kNow, std::nullopt, "k", "after"});
                      }).ok());
  EXPECT_EQ((*store)->Events(std::nullopt, 0, 10)->size(), 1u);
}

TEST_F(StoreTest, RefusesADatabaseNewerThanTheBinary) {
  ASSERT_TRUE(Store::Open(Db(), {}, kNow).ok());
  StoreOptions old;
  old.migrations = FirstMigrationOnly();
  auto store = Store::Open(Db(), old, kNow);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(store.status().message().find("schema version 2"), std::string::npos)
      << store.status().message();
  EXPECT_NE(store.status().message().find("up to 1"), std::string::npos);
}

TEST_F(StoreTest, ReadOnlyOpenSeesCommittedRows) {
  auto rw = Store::Open(Db(), {}, kNow);
  ASSERT_TRUE(rw.ok());
  ASSERT_TRUE((*rw)->Write([](WriteTxn& t) { return t.InsertSweep(MakeSweep(3)); }).ok());
  StoreOptions ro;
  ro.read_only = true;
  auto reader = Store::Open(Db(), ro, kNow);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ((*reader)->LoadSweeps()->size(), 1u);
  EXPECT_FALSE((*reader)->Write([](WriteTxn&) { return Status::Ok(); }).ok());
}

TEST_F(StoreTest, InsertResultIsIdempotent) {
  auto store = Store::Open(Db(), {}, kNow);
  ASSERT_TRUE(store.ok());
  std::vector<bool> fresh;
  Status s = (*store)->Write([&](WriteTxn& txn) {
    KVF_RETURN_IF_ERROR(txn.InsertCell(MakeCell("c"), kNow));
    for (int round = 0; round < 2; ++round) {
      for (int i = 0; i < 3; ++i) {
        KVF_ASSIGN_OR_RETURN(bool f, txn.InsertResult(MakeResult("c", i, round)));
        fresh.push_back(f);
      }
    }
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(fresh, (std::vector<bool>{true, true, true, false, false, false}));
  EXPECT_EQ(*(*store)->CountResults(), 3);
}

TEST_F(StoreTest, ResultForUnknownCellIsRejected) {
  auto store = Store::Open(Db(), {}, kNow);
  ASSERT_TRUE(store.ok());
  Status s = (*store)->Write(
      [](WriteTxn& txn) { return txn.InsertResult(MakeResult("nope", 0, 1)).status(); });
  EXPECT_EQ(s.code(), Status::Code::kIo);
  EXPECT_EQ(*(*store)->CountResults(), 0);
}

TEST_F(StoreTest, WriterGroupsBatchesAndReportsFreshRows) {
  auto store = Store::Open(Db(), {}, kNow);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Write([](WriteTxn& t) { return t.InsertCell(MakeCell("c"), kNow); }).ok());
  ResultWriter writer(**store);
  std::vector<std::future<WriteOutcome>> futures;
  for (int b = 0; b < 20; ++b) {
    WriteBatch batch;
    // Each batch overlaps the previous one by one row.
    for (int i = 0; i < 5; ++i) batch.results.push_back(MakeResult("c", b * 4 + i, 1));
    futures.push_back(writer.Submit(std::move(batch)));
  }
  int fresh = 0;
  for (auto& f : futures) {
    WriteOutcome o = f.get();
    ASSERT_TRUE(o.status.ok()) << o.status.ToString();
    for (bool x : o.inserted) fresh += x;
  }
  EXPECT_EQ(fresh, 20 * 4 + 1);
  EXPECT_EQ(*(*store)->CountResults(), 81);
  EXPECT_LE(writer.stats().transactions, 20);
}

TEST_F(StoreTest, DiskFullGivesIoErrorAndKeepsEarlierResults) {
  auto store = Store::Open(Db(), {}, kNow);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Write([](WriteTxn& t) { return t.InsertCell(MakeCell("c"), kNow); }).ok());
  ResultWriter writer(**store);
  WriteBatch first;
  for (int i = 0; i < 10; ++i) first.results.push_back(MakeResult("c", i, 1));
  ASSERT_TRUE(writer.Submit(std::move(first)).get().status.ok());
  ASSERT_TRUE(writer.Flush().ok());
  // Freeze the database at its current size: the next big batch cannot fit.
  ASSERT_TRUE((*store)->TEST_Exec("PRAGMA max_page_count = 1").ok());  // clamps to current
  WriteBatch big;
  for (int i = 10; i < 2000; ++i) big.results.push_back(MakeResult("c", i, 1));
  WriteOutcome o = writer.Submit(std::move(big)).get();
  ASSERT_FALSE(o.status.ok());
  EXPECT_EQ(o.status.code(), Status::Code::kIo);
  EXPECT_NE(o.status.message().find("full"), std::string::npos) << o.status.message();
  for (bool x : o.inserted) EXPECT_FALSE(x);
  EXPECT_EQ(*(*store)->CountResults(), 10);  // nothing partial, earlier rows intact
  // Once space is back, writing works again.
  ASSERT_TRUE((*store)->TEST_Exec("PRAGMA max_page_count = 1073741823").ok());
  WriteBatch again;
  again.results.push_back(MakeResult("c", 10, 1));
  EXPECT_TRUE(writer.Submit(std::move(again)).get().status.ok());
  EXPECT_EQ(*(*store)->CountResults(), 11);
}

}  // namespace
}  // namespace kvfunda
