// The end-to-end test of the foundation: a real coordinator and real workers on
// loopback run a sweep on the stories260K model while a worker is SIGKILLed
// mid-shard and the coordinator is SIGKILLed and restarted mid-sweep. At the end
// the store holds exactly cells x samples results, none twice, and `kvfunda
// status` says done.
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "e2e/process_db_util.h"
#include "e2e/subprocess.h"
#include "test_support.h"

namespace kvfunda::testing {
namespace {

// Polls `pred` every 100 ms until it holds or `timeout` passes.
template <typename Pred>
bool WaitFor(Pred pred, std::chrono::seconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return pred();
}

class MultiProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("kvfunda_e2e_");
    ASSERT_FALSE(dir_.empty());
    db_ = (dir_ / "kvfunda.db").string();
    port_ = FreePort();
    address_ = "127.0.0.1:" + std::to_string(port_);
  }
  void TearDown() override {
    if (!HasFailure()) std::filesystem::remove_all(dir_);
    else std::cerr << "logs kept in " << dir_ << "\n";
  }

  std::vector<std::string> CoordinatorArgs() const {
    return {KvfundaBinary(), "coordinator", "--port", std::to_string(port_), "--http-port", "0",
            "--db", db_, "--lease-ms", "2000", "--heartbeat-ms", "300"};
  }
  std::vector<std::string> WorkerArgs(const std::string& name) const {
    return {KvfundaBinary(), "worker", "--coordinator", address_, "--threads", "1", "--name", name,
            "--report-batch", "1"};
  }
  std::string Log(const std::string& name) const { return (dir_ / (name + ".log")).string(); }

  std::filesystem::path dir_;
  std::string db_;
  int port_ = 0;
  std::string address_;
};

TEST_F(MultiProcessTest, SurvivesWorkerAndCoordinatorKills) {
  const int kSamples = 16;
  const int kCells = 3;  // full + streamingllm x {0.5, 0.25}
  std::string spec_path = (dir_ / "sweep.yaml").string();
  {
    std::ofstream spec(spec_path);
    spec << "name: e2e\n"
         << "models:\n  - {id: stories, path: " << Stories260KPath() << ", type: base}\n"
         << "methods: [streamingllm]\n"
         << "ratios: [0.5, 0.25]\n"
         << "tasks:\n  - {name: fidelity, shots: [0], params: {num_samples: " << kSamples
         << ", prompt_tokens: 48}}\n"
         << "shard_size: 2\n"
         << "max_attempts: 10\n"
         << "decoding: {max_new_tokens: 24}\n";
  }

  Subprocess coordinator(CoordinatorArgs(), Log("coordinator"));
  Subprocess w1(WorkerArgs("w1"), Log("w1"));
  Subprocess w2(WorkerArgs("w2"), Log("w2"));

  // Submit (retrying until the coordinator listens).
  std::string submit_out;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto [rc, out] = RunCommand({KvfundaBinary(), "submit", spec_path, "--coordinator", address_},
                                    (dir_ / "submit.log").string());
        submit_out = out;
        return rc == 0;
      },
      std::chrono::seconds(30)))
      << submit_out << ReadFile(Log("coordinator"));
  std::smatch m;
  ASSERT_TRUE(std::regex_search(submit_out, m, std::regex("sweep ([0-9]+)"))) << submit_out;
  const std::string sweep_id = m[1];

  const std::string count_sql =
      "SELECT COUNT(*) FROM results r JOIN sweep_cells c ON c.cell_id = r.cell_id WHERE c.sweep_id = " +
      sweep_id;
  auto stored = [&] { return QueryInt(db_, count_sql); };

  // 1. SIGKILL worker 1 once results flow (it holds a lease, mid-shard).
  ASSERT_TRUE(WaitFor([&] { return stored() >= 3; }, std::chrono::seconds(90)))
      << ReadFile(Log("w1")) << ReadFile(Log("coordinator"));
  w1.Kill(SIGKILL);

  // 2. SIGKILL the coordinator mid-sweep, restart it on the same port and database.
  int64_t before = stored();
  ASSERT_TRUE(WaitFor([&] { return stored() >= before + 3; }, std::chrono::seconds(90)))
      << ReadFile(Log("w2"));
  coordinator.Kill(SIGKILL);
  int64_t at_kill = stored();
  ASSERT_LT(at_kill, kSamples * kCells) << "the sweep finished before the coordinator was killed";
  ASSERT_TRUE(coordinator.Start(CoordinatorArgs(), Log("coordinator")));
  Subprocess w3(WorkerArgs("w3"), Log("w3"));

  // 3. Everything finishes.
  ASSERT_TRUE(WaitFor(
      [&] {
        return QueryInt(db_, "SELECT COUNT(*) FROM shards WHERE sweep_id = " + sweep_id +
                                 " AND state != 'done'") == 0;
      },
      std::chrono::seconds(240)))
      << ReadFile(Log("coordinator")) << ReadFile(Log("w2")) << ReadFile(Log("w3"));

  EXPECT_EQ(stored(), kSamples * kCells);
  EXPECT_EQ(QueryInt(db_, "SELECT COUNT(DISTINCT r.cell_id || ':' || r.sample_idx) FROM results r "
                          "JOIN sweep_cells c ON c.cell_id = r.cell_id WHERE c.sweep_id = " +
                              sweep_id),
            kSamples * kCells);
  EXPECT_EQ(QueryInt(db_, "SELECT COUNT(*) FROM results r JOIN sweep_cells c ON c.cell_id = "
                          "r.cell_id WHERE c.sweep_id = " + sweep_id + " AND (r.sample_idx < 0 OR "
                          "r.sample_idx >= " + std::to_string(kSamples) + ")"),
            0);

  // `kvfunda status` against the live coordinator and against the database file.
  auto [rc1, live] = RunCommand({KvfundaBinary(), "status", "--coordinator", address_},
                                (dir_ / "status1.log").string());
  EXPECT_EQ(rc1, 0) << live;
  EXPECT_NE(live.find("done"), std::string::npos) << live;

  // SIGTERM: workers stop cleanly (exit 0), then the coordinator.
  w2.Kill(SIGTERM);
  w3.Kill(SIGTERM);
  EXPECT_EQ(w2.Wait(std::chrono::seconds(20)), 0) << ReadFile(Log("w2"));
  EXPECT_EQ(w3.Wait(std::chrono::seconds(20)), 0) << ReadFile(Log("w3"));
  coordinator.Kill(SIGTERM);
  EXPECT_EQ(coordinator.Wait(std::chrono::seconds(20)), 0) << ReadFile(Log("coordinator"));

  auto [rc2, offline] = RunCommand({KvfundaBinary(), "status", "--db", db_},
                                   (dir_ / "status2.log").string());
  EXPECT_EQ(rc2, 0) << offline;
  EXPECT_NE(offline.find("done"), std::string::npos) << offline;
  auto [rc3, results] = RunCommand({KvfundaBinary(), "results", "--db", db_, "--csv"},
                                   (dir_ / "results.log").string());
  EXPECT_EQ(rc3, 0) << results;
  EXPECT_NE(results.find("streamingllm"), std::string::npos) << results;
  EXPECT_EQ(QueryText(db_, "PRAGMA integrity_check"), "ok");
}

}  // namespace
}  // namespace kvfunda::testing
