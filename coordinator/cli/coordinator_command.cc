// `kvfunda coordinator` (a long-running coordinator) and `kvfunda run` (a
// coordinator plus N local workers for one sweep).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "coordinator/base/clock.h"
#include "coordinator/base/log.h"
#include "coordinator/cli/subcommand.h"
#include "coordinator/cli/sweep_client.h"
#include "coordinator/core/coordinator.h"
#include "coordinator/core/results_summary.h"

extern char** environ;

namespace kvfunda::cli {
namespace {

std::atomic<bool> g_stop{false};
extern "C" void OnSignal(int) { g_stop.store(true); }

struct ServerFlags {
  int port = 50051;
  std::string host = "0.0.0.0";
  int http_port = 8080;
  std::string http_host = "127.0.0.1";
  std::string db = "kvfunda.db";
  int64_t lease_ms = 30'000;
  int64_t heartbeat_ms = 5'000;
  std::string token_file;
  std::string data_dir;
  std::string synchronous = "NORMAL";
};

void AddServerFlags(CLI::App* sub, ServerFlags& f) {
  sub->add_option("--port", f.port, "gRPC port (0 picks a free one)")->capture_default_str();
  sub->add_option("--host", f.host, "gRPC listen address")->capture_default_str();
  sub->add_option("--http-port", f.http_port, "dashboard/JSON API port (0 free, -1 off)")
      ->capture_default_str();
  sub->add_option("--http-host", f.http_host, "dashboard listen address")->capture_default_str();
  sub->add_option("--db", f.db, "SQLite database file")->capture_default_str();
  sub->add_option("--lease-ms", f.lease_ms, "a lease lasts this long without a heartbeat")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--heartbeat-ms", f.heartbeat_ms, "heartbeat period asked of workers")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--token-file", f.token_file, "file holding the bearer token every call needs");
  sub->add_option("--data-dir", f.data_dir, "datasets folder for specs that name none");
  sub->add_option("--synchronous", f.synchronous, "SQLite synchronous mode")
      ->check(CLI::IsMember({"OFF", "NORMAL", "FULL", "EXTRA"}))
      ->capture_default_str();
}

CoordinatorConfig MakeConfig(const ServerFlags& f) {
  CoordinatorConfig c;
  c.db_path = f.db;
  c.store.synchronous = f.synchronous;
  c.grpc_address = f.host + ":" + std::to_string(f.port);
  c.http_host = f.http_host;
  c.http_port = f.http_port;
  c.lease_ms = f.lease_ms;
  c.heartbeat_ms = std::min(f.heartbeat_ms, std::max<int64_t>(f.lease_ms / 3, 1));
  c.expiry_period_ms = std::clamp<int64_t>(f.lease_ms / 4, 50, 1000);
  c.auth_token = ReadTokenFile(f.token_file);
  c.default_data_dir = f.data_dir;
  return c;
}

std::string DashboardUrl(const ServerFlags& f, int port) {
  std::string host = f.http_host == "0.0.0.0" ? "127.0.0.1" : f.http_host;
  return "http://" + host + ":" + std::to_string(port) + "/";
}

void InstallStopHandlers() {
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
}

void WaitForStop() {
  while (!g_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

int RunCoordinator(const ServerFlags& f) {
  InstallStopHandlers();
  SystemClock clock;
  Coordinator coordinator(MakeConfig(f), clock);
  Status s = coordinator.Start();
  if (!s.ok()) {
    KVF_LOG(kError) << "cannot start: " << s.ToString();
    return 1;
  }
  KVF_LOG(kInfo) << "gRPC on " << f.host << ":" << coordinator.grpc_port() << ", database "
                 << f.db;
  if (coordinator.http_port() > 0) {
    KVF_LOG(kInfo) << "dashboard " << DashboardUrl(f, coordinator.http_port());
  }
  WaitForStop();
  KVF_LOG(kInfo) << "shutting down";
  coordinator.Shutdown();
  return 0;
}

// ---- run
struct RunFlags {
  ServerFlags server;
  std::string spec;
  int workers = 2;
  int threads = 0;
  bool serve = false;
  int max_batch = 16;
};

class LocalWorker {
 public:
  LocalWorker(int index, std::vector<std::string> args, std::string log)
      : index_(index), args_(std::move(args)), log_(std::move(log)) {}
  ~LocalWorker() { Stop(); }

  bool Start() {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<char*> argv;
    for (auto& a : args_) argv.push_back(a.data());
    argv.push_back(nullptr);
    int rc = posix_spawn(&pid_, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) pid_ = -1;
    ++starts_;
    return pid_ > 0;
  }
  // True while the process runs; reaps it when it has exited.
  bool Alive() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 300 && Alive(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (Alive()) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  int starts() const { return starts_; }
  int index() const { return index_; }
  const std::string& log() const { return log_; }

 private:
  int index_;
  std::vector<std::string> args_;
  std::string log_;
  pid_t pid_ = -1;
  int starts_ = 0;
};

// The part of a progress line that changes when real progress happens.
std::string ProgressKey(const v1::SweepStatus& st) {
  std::ostringstream os;
  os << StateLabel(st.state()) << ": shards " << st.shards_done() << "/" << st.shards_total()
     << " done, " << st.shards_leased() << " leased, " << st.shards_failed()
     << " failed; results " << st.results_stored() << "/" << st.results_expected();
  return os.str();
}

std::string ProgressLine(const v1::SweepStatus& st, double elapsed_s) {
  std::ostringstream os;
  os << "[" << static_cast<int>(elapsed_s) << "s] " << ProgressKey(st);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "; %.2f samples/s", st.samples_per_s());
  os << buf;
  if (st.eta_s() >= 0) os << "; ETA " << static_cast<int>(st.eta_s()) << "s";
  return os.str();
}

bool Ended(v1::SweepState s) {
  return s == v1::SWEEP_DONE || s == v1::SWEEP_FAILED || s == v1::SWEEP_CANCELLED;
}

int RunSweep(RunFlags f) {
  std::ifstream in(f.spec);
  if (!in) {
    std::cerr << "kvfunda: cannot read " << f.spec << "\n";
    return 2;
  }
  std::stringstream text;
  text << in.rdbuf();

  InstallStopHandlers();
  SystemClock clock;
  ServerFlags& sf = f.server;
  sf.host = "127.0.0.1";
  Coordinator coordinator(MakeConfig(sf), clock);
  Status s = coordinator.Start();
  if (!s.ok()) {
    std::cerr << "kvfunda: cannot start the coordinator: " << s.ToString() << "\n";
    return 1;
  }
  auto submitted = coordinator.sweeps().Submit(text.str(), f.spec, false);
  if (!submitted.ok()) {
    std::cerr << "kvfunda: " << submitted.status().message() << "\n";
    coordinator.Shutdown();
    return submitted.status().code() == Status::Code::kBadInput ? 2 : 1;
  }
  const std::string id = submitted->sweep_id();
  std::cout << "sweep " << id << ": " << submitted->cells() << " cells, " << submitted->shards()
            << " shards, " << submitted->results_expected() << " results ("
            << submitted->results_reused() << " reused from earlier sweeps)" << std::endl;

  // Nothing left to evaluate (every result reused): no workers needed.
  auto initial = coordinator.sweeps().Get(id);
  const bool already_ended = initial.ok() && Ended(initial->state());
  // Workers: separate processes sharing the cores.
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  int threads = f.threads > 0 ? f.threads : std::max(1, static_cast<int>(cores) / f.workers);
  std::string log_dir = f.server.db + ".logs";
  std::filesystem::create_directories(log_dir);
  std::vector<std::unique_ptr<LocalWorker>> workers;
  std::string address = "127.0.0.1:" + std::to_string(coordinator.grpc_port());
  for (int i = 0; i < (already_ended ? 0 : f.workers); ++i) {
    std::vector<std::string> args = {"kvfunda",   "worker",     "--coordinator",
                                     address,     "--threads",  std::to_string(threads),
                                     "--name",    "local-" + std::to_string(i + 1),
                                     "--max-batch", std::to_string(f.max_batch)};
    if (!sf.token_file.empty()) {
      args.push_back("--token-file");
      args.push_back(sf.token_file);
    }
    workers.push_back(std::make_unique<LocalWorker>(
        i + 1, args, log_dir + "/worker-" + std::to_string(i + 1) + ".log"));
    workers.back()->Start();
  }
  if (!already_ended) std::cout << f.workers << " workers (" << threads << " threads each), logs in " << log_dir
            << "/" << std::endl;
  if (coordinator.http_port() > 0) {
    std::cout << "dashboard: " << DashboardUrl(sf, coordinator.http_port()) << std::endl;
  }

  auto start = std::chrono::steady_clock::now();
  std::string last_line;
  v1::SweepStatus st;
  auto last_print = start;
  while (true) {
    auto got = coordinator.sweeps().Get(id);
    if (got.ok()) st = *got;
    double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::string line = ProgressLine(st, elapsed);
    std::string key = ProgressKey(st);
    auto now = std::chrono::steady_clock::now();
    if (key != last_line || now - last_print > std::chrono::seconds(10)) {
      std::cout << line << std::endl;
      last_line = key;
      last_print = now;
    }
    if (Ended(st.state())) break;
    if (g_stop.load()) {
      std::cout << "interrupted: stopping workers (they finish their sample and release their "
                   "lease); run the same spec again to continue from the stored results"
                << std::endl;
      break;
    }
    for (auto& w : workers) {
      if (!w->Alive()) {
        if (w->starts() >= 4) continue;
        std::cerr << "worker " << w->index() << " exited; restarting it (see " << w->log() << ")"
                  << std::endl;
        w->Start();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  for (auto& w : workers) w->Stop();

  auto results = coordinator.sweeps().Results(id);
  if (results.ok()) {
    std::cout << "\n" << FormatResultsTable(*results);
  } else {
    std::cerr << "kvfunda: results: " << results.status().message() << "\n";
  }
  for (const auto& e : st.errors()) std::cout << "error: " << e << "\n";
  std::cout << "\nsweep " << id << " " << StateLabel(st.state()) << "; database " << sf.db
            << " (`kvfunda status`, `kvfunda results --csv` read it)" << std::endl;
  if (coordinator.http_port() > 0) {
    std::string url = DashboardUrl(sf, coordinator.http_port());
    if (f.serve && !g_stop.load()) {
      std::cout << "dashboard: " << url << " (serving until Ctrl-C)" << std::endl;
      WaitForStop();
    } else {
      std::cout << "dashboard: " << url << " (serve it with `kvfunda coordinator --db " << sf.db
                << "`)" << std::endl;
    }
  }
  coordinator.Shutdown();
  if (st.state() == v1::SWEEP_DONE) return 0;
  return g_stop.load() ? 130 : 1;
}

}  // namespace

void AddCoordinatorCommand(CLI::App& root, CommandTable& table) {
  auto f = std::make_shared<ServerFlags>();
  CLI::App* sub = root.add_subcommand(
      "coordinator", "Run the coordinator: gRPC for users and workers, the dashboard over HTTP, "
                     "state in SQLite.");
  AddServerFlags(sub, *f);
  table[sub] = [f] { return RunCoordinator(*f); };
}

void AddRunCommand(CLI::App& root, CommandTable& table) {
  auto f = std::make_shared<RunFlags>();
  f->server.port = 0;
  CLI::App* sub = root.add_subcommand(
      "run", "Run one sweep locally: a coordinator and N worker processes; exits when it ends.");
  sub->add_option("spec", f->spec, "sweep spec file (YAML or JSON)")->required();
  sub->add_option("--workers", f->workers, "local worker processes")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  sub->add_option("--threads", f->threads, "compute threads per worker (0 = cores / workers)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--max-batch", f->max_batch, "cells decoded together in one step")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_flag("--serve", f->serve, "keep serving the dashboard after the sweep until Ctrl-C");
  AddServerFlags(sub, f->server);
  table[sub] = [f] { return RunSweep(*f); };
}

}  // namespace kvfunda::cli
