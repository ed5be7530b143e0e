// Tests of the `kvfunda` command line, run as the real binary: every subcommand's
// --help; `kvfunda run` on a tiny fidelity sweep (and again, reusing every result);
// `status` / `results` reading the database; spec errors; a missing database; an
// unreachable coordinator; cancel and resume over gRPC with a live coordinator and
// worker; `submit --dry-run`.
#include <netinet/in.h>
#include <sqlite3.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "e2e/process_db_util.h"
#include "e2e/subprocess.h"
#include "test_support.h"

namespace kvfunda::testing {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::vector<std::string> Words(const std::string& line) {
  std::vector<std::string> words;
  std::istringstream in(line);
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

// The state column of sweep `id` in `kvfunda status` output; "" when absent.
std::string SweepState(const std::string& status_output, const std::string& id) {
  for (const auto& line : Lines(status_output)) {
    auto w = Words(line);
    if (w.size() >= 3 && w[0] == id) return w[2];
  }
  return "";
}

// The line of the results table for `method`; "" when absent.
std::string MethodRow(const std::string& table, const std::string& method) {
  for (const auto& line : Lines(table)) {
    auto w = Words(line);
    if (w.size() >= 6 && w[0] == "stories" && w[3] == method) return line;
  }
  return "";
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("kvfunda_cli_");
    ASSERT_FALSE(dir_.empty());
    db_ = Path("kvfunda.db");
  }
  void TearDown() override {
    if (!HasFailure()) std::filesystem::remove_all(dir_);
    else std::cerr << "files kept in " << dir_ << "\n";
  }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  // Writes the tiny fidelity spec (1 model, full + streamingllm@0.5, 4 samples,
  // 2 shards) to `name` and returns its path.
  std::string WriteSpec(const std::string& name, const std::string& ratios = "[0.5]") const {
    std::string path = Path(name);
    std::ofstream spec(path);
    spec << "name: cli\n"
         << "models:\n"
         << "  - {id: stories, path: " << Stories260KPath() << ", type: base}\n"
         << "methods: [streamingllm]\n"
         << "ratios: " << ratios << "\n"
         << "tasks:\n"
         << "  - {name: fidelity, shots: [0], params: {num_samples: 4, prompt_tokens: 24}}\n"
         << "decoding: {max_new_tokens: 8}\n"
         << "shard_size: 2\n";
    return path;
  }

  // Runs `kvfunda <args>` to completion; returns (exit status, stdout+stderr).
  std::pair<int, std::string> Kvfunda(std::vector<std::string> args) {
    args.insert(args.begin(), KvfundaBinary());
    return RunCommand(args, Path("cmd-" + std::to_string(++commands_) + ".log"));
  }

  // Runs several `kvfunda` commands at once (each start costs about a second of
  // library loading); returns each one's (exit status, output), in order.
  std::vector<std::pair<int, std::string>> KvfundaAll(const std::vector<std::vector<std::string>>& all) {
    std::vector<std::unique_ptr<Subprocess>> procs;
    std::vector<std::string> logs;
    for (auto args : all) {
      args.insert(args.begin(), KvfundaBinary());
      logs.push_back(Path("cmd-" + std::to_string(++commands_) + ".log"));
      procs.push_back(std::make_unique<Subprocess>(args, logs.back()));
    }
    std::vector<std::pair<int, std::string>> out;
    for (size_t i = 0; i < procs.size(); ++i) {
      int rc = procs[i]->Wait(120s);
      out.emplace_back(rc, ReadFile(logs[i]));
    }
    return out;
  }

  std::vector<std::string> RunArgs(const std::string& spec) const {
    return {"run", spec, "--workers", "1", "--threads", "1", "--http-port", "-1", "--db", db_};
  }

  std::filesystem::path dir_;
  std::string db_;
  int commands_ = 0;
};

TEST_F(CliTest, HelpOfEverySubcommandNamesItsFlags) {
  struct Case {
    std::string sub;
    std::vector<std::string> flags;
  };
  const std::vector<Case> cases = {
      {"coordinator", {"--port", "--http-port", "--db", "--lease-ms", "--token-file"}},
      {"worker", {"--coordinator", "--threads", "--report-batch", "--token-file"}},
      {"submit", {"--dry-run", "--coordinator", "--watch"}},
      {"status", {"--db", "--coordinator"}},
      {"results", {"--db", "--coordinator", "--csv"}},
      {"resume", {"--coordinator"}},
      {"cancel", {"--coordinator"}},
      {"run", {"--workers", "--db", "--http-port", "--threads"}},
  };
  std::vector<std::vector<std::string>> commands;
  for (const auto& c : cases) commands.push_back({c.sub, "--help"});
  commands.push_back({"--help"});
  auto outputs = KvfundaAll(commands);
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& [rc, out] = outputs[i];
    EXPECT_EQ(rc, 0) << cases[i].sub << ": " << out;
    for (const auto& flag : cases[i].flags) {
      EXPECT_NE(out.find(flag), std::string::npos)
          << cases[i].sub << " --help lacks " << flag << ":\n" << out;
    }
  }
  const auto& [rc, out] = outputs.back();
  EXPECT_EQ(rc, 0) << out;
  for (const char* sub : {"coordinator", "worker", "submit", "status", "results", "resume",
                          "cancel", "run"}) {
    EXPECT_NE(out.find(sub), std::string::npos) << "kvfunda --help lacks " << sub << ":\n" << out;
  }
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  auto outputs = KvfundaAll({{"run", WriteSpec("tiny.yaml"), "--workers", "0"},
                             {"status", "--no-such-flag"},
                             {},
                             {"worker", "--device", "cuda:0"}});
  const auto& [rc_workers, workers] = outputs[0];
  EXPECT_EQ(rc_workers, 2) << workers;
  EXPECT_NE(workers.find("--workers"), std::string::npos) << workers;
  const auto& [rc_flag, flag] = outputs[1];
  EXPECT_EQ(rc_flag, 2) << flag;
  EXPECT_NE(flag.find("--no-such-flag"), std::string::npos) << flag;
  const auto& [rc_none, none] = outputs[2];
  EXPECT_EQ(rc_none, 2) << none;
  EXPECT_NE(none.find("subcommand"), std::string::npos) << none;
  const auto& [rc_device, device] = outputs[3];
  EXPECT_EQ(rc_device, 2) << device;
  EXPECT_NE(device.find("cuda:0"), std::string::npos) << device;
}

TEST_F(CliTest, RunStatusResultsAndRerunReusesResults) {
  std::string spec = WriteSpec("tiny.yaml");
  auto [rc, out] = Kvfunda(RunArgs(spec));
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("2 cells"), std::string::npos) << out;
  EXPECT_NE(out.find("0 reused"), std::string::npos) << out;
  std::string full = MethodRow(out, "full");
  std::string streaming = MethodRow(out, "streamingllm");
  ASSERT_FALSE(full.empty()) << out;
  ASSERT_FALSE(streaming.empty()) << out;
  EXPECT_NE(full.find("4/4"), std::string::npos) << full;
  EXPECT_NE(streaming.find("4/4"), std::string::npos) << streaming;
  EXPECT_NE(streaming.find("0.50"), std::string::npos) << streaming;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("sweep ([0-9]+) done"))) << out;
  const std::string first_id = m[1];

  auto [rc_status, status] = Kvfunda({"status", "--db", db_});
  ASSERT_EQ(rc_status, 0) << status;
  EXPECT_EQ(SweepState(status, first_id), "done") << status;
  EXPECT_NE(status.find("8/8"), std::string::npos) << status;

  auto [rc_csv, csv] = Kvfunda({"results", "--db", db_, "--csv"});
  ASSERT_EQ(rc_csv, 0) << csv;
  auto rows = Lines(csv);
  ASSERT_EQ(rows.size(), 3u) << csv;
  EXPECT_EQ(rows[0].rfind("cell_id,model,task,shots,method", 0), 0u) << rows[0];
  int full_rows = 0, streaming_rows = 0;
  for (size_t i = 1; i < rows.size(); ++i) {
    full_rows += rows[i].find(",full,") != std::string::npos;
    streaming_rows += rows[i].find(",streamingllm,") != std::string::npos;
    EXPECT_NE(rows[i].find(",4,4,"), std::string::npos) << rows[i];  // stored, expected
  }
  EXPECT_EQ(full_rows, 1) << csv;
  EXPECT_EQ(streaming_rows, 1) << csv;
  ASSERT_EQ(QueryInt(db_, "SELECT COUNT(*) FROM results"), 8);

  // The same spec again: every result is reused, and the sweep still finishes.
  auto [rc2, out2] = Kvfunda(RunArgs(spec));
  ASSERT_EQ(rc2, 0) << out2;
  EXPECT_NE(out2.find("8 results (8 reused"), std::string::npos) << out2;
  EXPECT_NE(MethodRow(out2, "full").find("4/4"), std::string::npos) << out2;
  EXPECT_NE(MethodRow(out2, "streamingllm").find("4/4"), std::string::npos) << out2;
  ASSERT_TRUE(std::regex_search(out2, m, std::regex("sweep ([0-9]+) done"))) << out2;
  const std::string second_id = m[1];
  EXPECT_NE(second_id, first_id);
  EXPECT_EQ(QueryInt(db_, "SELECT COUNT(*) FROM results"), 8) << "results were evaluated again";

  auto [rc_status2, status2] = Kvfunda({"status", "--db", db_});
  ASSERT_EQ(rc_status2, 0) << status2;
  EXPECT_EQ(SweepState(status2, first_id), "done") << status2;
  EXPECT_EQ(SweepState(status2, second_id), "done") << status2;
}

TEST_F(CliTest, RunRejectsBadSpecWithLocation) {
  std::string spec = WriteSpec("bad_ratio.yaml", "[0.5, 1.5]");
  auto [rc, out] = Kvfunda(RunArgs(spec));
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("bad_ratio.yaml"), std::string::npos) << out;
  EXPECT_NE(out.find("ratios[1]"), std::string::npos) << out;
  // "ratios:" is line 5 of the spec.
  EXPECT_TRUE(std::regex_search(out, std::regex("bad_ratio\\.yaml:5\\b"))) << out;
  EXPECT_NE(out.find("1.5"), std::string::npos) << out;

  auto [rc_missing, missing] = Kvfunda(RunArgs(Path("no_such_spec.yaml")));
  EXPECT_EQ(rc_missing, 2) << missing;
  EXPECT_NE(missing.find("no_such_spec.yaml"), std::string::npos) << missing;
}

TEST_F(CliTest, MissingDatabaseAndUnreachableCoordinatorAreReported) {
  const std::string missing_db = Path("missing.db");
  const std::string address = "127.0.0.1:" + std::to_string(FreePort());
  auto start = std::chrono::steady_clock::now();
  auto outputs = KvfundaAll({{"status", "--db", missing_db},
                             {"results", "--db", missing_db},
                             {"cancel", "1", "--coordinator", address},
                             {"resume", "1", "--coordinator", address},
                             {"status", "--coordinator", address}});
  EXPECT_LT(std::chrono::steady_clock::now() - start, 20s) << "a command waited for a dead address";
  for (size_t i = 0; i < 2; ++i) {
    const auto& [rc, out] = outputs[i];
    EXPECT_NE(rc, 0) << out;
    EXPECT_NE(out.find(missing_db), std::string::npos) << out;
  }
  EXPECT_FALSE(std::filesystem::exists(missing_db)) << "a read command created the database";
  for (size_t i = 2; i < outputs.size(); ++i) {
    const auto& [rc, out] = outputs[i];
    EXPECT_NE(rc, 0) << out;
    EXPECT_NE(out.find("not reachable"), std::string::npos) << out;
    EXPECT_NE(out.find(address), std::string::npos) << out;
  }
}

// A coordinator process on a free port with its database in the test folder.
class CliCoordinatorTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    address_ = "127.0.0.1:" + std::to_string(FreePort());
    ASSERT_TRUE(coordinator_.Start({KvfundaBinary(), "coordinator", "--port",
                                    address_.substr(address_.find(':') + 1), "--http-port", "-1",
                                    "--db", db_, "--lease-ms", "3000", "--heartbeat-ms", "300"},
                                   Path("coordinator.log")));
  }
  void TearDown() override {
    worker_.Kill(SIGKILL);
    coordinator_.Kill(SIGKILL);
    CliTest::TearDown();
  }

  // `kvfunda submit`, retried while the coordinator is still starting; the output.
  std::string Submit(const std::vector<std::string>& extra) {
    std::string out;
    auto end = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < end) {
      std::vector<std::string> args = {"submit", WriteSpec("tiny.yaml"), "--coordinator", address_};
      args.insert(args.end(), extra.begin(), extra.end());
      auto [rc, text] = Kvfunda(args);
      out = text;
      if (rc == 0) return out;
      if (out.find("not reachable") == std::string::npos) break;  // a real error
      std::this_thread::sleep_for(200ms);
    }
    ADD_FAILURE() << "submit failed: " << out << ReadFile(Path("coordinator.log"));
    return out;
  }

  std::string LiveStatus() { return Kvfunda({"status", "--coordinator", address_}).second; }

  std::string address_;
  Subprocess coordinator_;
  Subprocess worker_;
};

TEST_F(CliCoordinatorTest, CancelThenResumeFinishesTheSweep) {
  std::string out = Submit({});
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("submitted sweep ([0-9]+)"))) << out;
  const std::string id = m[1];
  EXPECT_NE(out.find("2 cells, 2 shards"), std::string::npos) << out;
  EXPECT_EQ(SweepState(LiveStatus(), id), "queued");

  auto [rc_cancel, cancel] = Kvfunda({"cancel", id, "--coordinator", address_});
  ASSERT_EQ(rc_cancel, 0) << cancel;
  EXPECT_NE(cancel.find("2 shards cancelled"), std::string::npos) << cancel;
  std::string status = LiveStatus();
  EXPECT_EQ(SweepState(status, id), "cancelled") << status;

  auto [rc_resume, resume] = Kvfunda({"resume", id, "--coordinator", address_});
  ASSERT_EQ(rc_resume, 0) << resume;
  EXPECT_NE(resume.find("2 shards re-queued"), std::string::npos) << resume;
  status = LiveStatus();
  EXPECT_NE(SweepState(status, id), "cancelled") << status;

  ASSERT_TRUE(worker_.Start({KvfundaBinary(), "worker", "--coordinator", address_, "--threads", "1",
                             "--name", "cli-worker", "--report-batch", "1"},
                            Path("worker.log")));
  auto end = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < end) {
    status = LiveStatus();
    if (SweepState(status, id) == "done") break;
    ASSERT_TRUE(worker_.running()) << ReadFile(Path("worker.log"));
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_EQ(SweepState(status, id), "done")
      << status << ReadFile(Path("worker.log")) << ReadFile(Path("coordinator.log"));
  EXPECT_NE(status.find("8/8"), std::string::npos) << status;

  worker_.Kill(SIGTERM);
  EXPECT_EQ(worker_.Wait(20s), 0) << ReadFile(Path("worker.log"));
  coordinator_.Kill(SIGTERM);
  EXPECT_EQ(coordinator_.Wait(20s), 0) << ReadFile(Path("coordinator.log"));

  auto [rc_results, results] = Kvfunda({"results", id, "--db", db_});
  ASSERT_EQ(rc_results, 0) << results;
  EXPECT_NE(MethodRow(results, "full").find("4/4"), std::string::npos) << results;
  EXPECT_NE(MethodRow(results, "streamingllm").find("4/4"), std::string::npos) << results;
}

TEST_F(CliCoordinatorTest, DryRunQueuesNothing) {
  std::string out = Submit({"--dry-run"});
  EXPECT_NE(out.find("nothing queued"), std::string::npos) << out;
  EXPECT_NE(out.find("2 cells"), std::string::npos) << out;
  EXPECT_NE(out.find("8 results"), std::string::npos) << out;
  auto [rc, status] = Kvfunda({"status", "--coordinator", address_});
  EXPECT_EQ(rc, 0) << status;
  EXPECT_NE(status.find("no sweeps yet"), std::string::npos) << status;

  // A bad spec is rejected by the coordinator with its location; exit status 2.
  std::string bad = WriteSpec("bad_ratio.yaml", "[1.5]");
  auto [rc_bad, bad_out] = Kvfunda({"submit", bad, "--dry-run", "--coordinator", address_});
  EXPECT_EQ(rc_bad, 2) << bad_out;
  EXPECT_NE(bad_out.find("ratios[0]"), std::string::npos) << bad_out;
  EXPECT_NE(bad_out.find("bad_ratio.yaml"), std::string::npos) << bad_out;
}

}  // namespace
}  // namespace kvfunda::testing
