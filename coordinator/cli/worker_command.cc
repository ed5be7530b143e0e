// `kvfunda worker`: a worker process (leases shards, evaluates, reports).
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <thread>

#include "coordinator/base/log.h"
#include "coordinator/cli/subcommand.h"
#include "worker/coordinator_client.h"
#include "worker/shard_evaluator.h"
#include "worker/worker_loop.h"

namespace kvfunda::cli {
namespace {

std::atomic<bool> g_stop{false};  // set by SIGTERM/SIGINT; async-signal-safe

extern "C" void OnStopSignal(int) { g_stop.store(true); }

struct WorkerFlags {
  std::string coordinator = "127.0.0.1:50051";
  std::string name;
  std::string device = "cpu";
  int threads = 0;
  std::vector<std::string> models;
  int max_batch = 16;
  int report_batch = 64;
  std::string token_file;
};

std::string HostName() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

int64_t PhysicalMemory() {
  long pages = sysconf(_SC_PHYS_PAGES);
  long page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page : 0;
}

int RunWorker(const WorkerFlags& f) {
  if (f.device != "cpu") {
    std::cerr << "kvfunda worker: device '" << f.device
              << "' is not available: this build's libtorch is CPU-only\n";
    return 2;
  }
  std::signal(SIGTERM, OnStopSignal);
  std::signal(SIGINT, OnStopSignal);

  WorkerConfig config;
  config.host = HostName();
  config.name = f.name.empty() ? config.host + ":" + std::to_string(getpid()) : f.name;
  config.device = f.device;
  config.memory_bytes = PhysicalMemory();
  config.model_paths = f.models;
  config.report_batch = f.report_batch;
  config.stop = &g_stop;

  GrpcClientOptions client_options;
  client_options.address = f.coordinator;
  client_options.token = ReadTokenFile(f.token_file);
  auto client = MakeGrpcCoordinatorClient(client_options);

  ModelCache models(f.threads);
  ShardEvaluator evaluator(models, EvaluatorOptions{f.max_batch});
  WorkerLoop loop(
      config, *client,
      [&evaluator](const v1::ShardAssignment& shard, ResultSink& sink) {
        return evaluator.Run(shard, sink);
      },
      [&models] { return models.loaded_checksum(); });
  KVF_LOG(kInfo) << "worker " << config.name << " on " << config.device << ", coordinator "
                 << f.coordinator;
  Status s = loop.Run();
  if (!s.ok()) {
    KVF_LOG(kError) << s.ToString();
    return 1;
  }
  KVF_LOG(kInfo) << "stopped after " << loop.shards_completed() << " shards";
  return 0;
}

}  // namespace

void AddWorkerCommand(CLI::App& root, CommandTable& table) {
  auto flags = std::make_shared<WorkerFlags>();
  CLI::App* sub = root.add_subcommand(
      "worker", "Run a worker: lease shards from a coordinator, evaluate them, report results.\n"
                "SIGTERM finishes the current sample, reports it and releases the lease.");
  sub->add_option("--coordinator", flags->coordinator, "coordinator gRPC address host:port")
      ->capture_default_str();
  sub->add_option("--name", flags->name, "name shown in the dashboard (default host:pid)");
  sub->add_option("--device", flags->device, "cpu (cuda:N needs a CUDA-enabled libtorch)")
      ->capture_default_str();
  sub->add_option("--threads", flags->threads, "compute threads (0 = all cores)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--model", flags->models, "a model path this worker can read (repeatable)");
  sub->add_option("--max-batch", flags->max_batch, "cells decoded together in one step")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--report-batch", flags->report_batch, "result rows per report")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--token-file", flags->token_file, "file holding the worker bearer token");
  table[sub] = [flags] { return RunWorker(*flags); };
}

}  // namespace kvfunda::cli
