#include "bench/coordinator_load/load_run.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <latch>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/coordinator_load/load_worker.h"
#include "coordinator/base/clock.h"
#include "coordinator/core/coordinator.h"
#include "coordinator/rpc/worker_service.h"
#include "coordinator/spec/sweep_spec.h"

namespace kvfunda::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr int64_t kMaxSamples = 1'000'000;  // the fidelity task's num_samples limit
// Shards per second of window that `samples = 0` provisions: far above any rate
// this benchmark reaches, so workers do not run out.
constexpr double kAutoShardsPerSecond = 20'000;

double Seconds(SteadyClock::duration d) { return std::chrono::duration<double>(d).count(); }

double TimevalSeconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
}

// A small model file with random bytes: a fresh checksum, hence fresh cells.
Result<std::string> WriteModelFile(const std::string& temp_dir, const std::string& label) {
  const std::string path = temp_dir + "/model-" + label + ".bin";
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Status::Io("cannot write " + path);
  std::mt19937_64 rng(std::random_device{}());
  for (int i = 0; i < 512; ++i) {
    const uint64_t v = rng();
    out.write(reinterpret_cast<const char*>(&v), sizeof v);
  }
  out.close();
  if (!out) return Status::Io("cannot write " + path);
  return path;
}

Result<SweepSpec> MakeSpec(const LoadConfig& config, const std::string& model_path,
                           int64_t samples) {
  nlohmann::json spec = {
      {"name", "coordinator-load-" + config.label},
      {"models", {{{"id", "load-model"}, {"path", model_path}, {"type", "base"}}}},
      {"tasks",
       {{{"name", "fidelity"}, {"shots", {0}}, {"params", {{"num_samples", samples}}}}}},
      {"shard_size", config.shard_size},
  };
  if (config.ratios > 0) {
    spec["methods"] = {"streamingllm"};
    nlohmann::json ratios = nlohmann::json::array();
    for (int i = 0; i < config.ratios; ++i) {
      ratios.push_back(0.9 - 0.8 * i / std::max(1, config.ratios - 1));
    }
    spec["ratios"] = ratios;
  } else {
    spec["methods"] = {"full"};
  }
  return ParseSweepSpec(spec.dump(), "coordinator_load");
}

}  // namespace

Result<LoadResult> RunLoad(const LoadConfig& config, const std::string& temp_dir) {
  if (config.workers < 1 || config.shard_size < 1 || config.ratios < 0 || config.seconds <= 0) {
    return Status::InvalidArgument("workers, shard size and seconds must be positive");
  }
  LoadResult result;
  result.config = config;

  CoordinatorConfig cc;
  const bool in_memory = config.db == ":memory:";
  const std::string db_dir = config.db.empty() ? temp_dir : config.db;
  cc.db_path = in_memory ? config.db
                         : db_dir + "/coordinator-load-" + config.label + "-" +
                               (config.transport == Transport::kGrpc ? "grpc" : "inproc") +
                               "-w" + std::to_string(config.workers) + ".db";
  if (!in_memory && std::filesystem::exists(cc.db_path)) {
    return Status::InvalidArgument(cc.db_path + " already exists; the benchmark needs a new file");
  }
  struct RemoveDb {
    std::string path;
    ~RemoveDb() {
      if (path.empty()) return;
      std::error_code ec;
      for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix, ec);
    }
  } remove_db{in_memory ? std::string() : cc.db_path};
  cc.grpc_address = "127.0.0.1:0";
  cc.http_port = -1;
  cc.lease_ms = 10 * 60 * 1000;  // no lease may expire during the window
  if (config.grpc_min_pollers > 0) cc.grpc_min_pollers = config.grpc_min_pollers;
  if (config.grpc_max_pollers > 0) cc.grpc_max_pollers = config.grpc_max_pollers;
  SystemClock clock;
  Coordinator coordinator(cc, clock);
  KVF_RETURN_IF_ERROR(coordinator.Start());

  // ---- the sweep
  int64_t samples = config.samples;
  if (samples <= 0) {
    samples = static_cast<int64_t>(kAutoShardsPerSecond * config.seconds) * config.shard_size;
  }
  samples = std::min(samples, kMaxSamples);
  KVF_ASSIGN_OR_RETURN(std::string model_path, WriteModelFile(temp_dir, config.label));
  KVF_ASSIGN_OR_RETURN(SweepSpec spec, MakeSpec(config, model_path, samples));
  const SteadyClock::time_point submit_start = SteadyClock::now();
  KVF_ASSIGN_OR_RETURN(v1::SubmitSweepReply submitted,
                       coordinator.sweeps().SubmitSpec(spec, /*dry_run=*/false));
  result.submit_s = Seconds(SteadyClock::now() - submit_start);
  result.cells = submitted.cells();
  result.shards = submitted.shards();
  KVF_ASSIGN_OR_RETURN(const int64_t results_before, coordinator.store().CountResults());

  // ---- the workers
  std::unique_ptr<rpc::WorkerServiceImpl> in_process;
  if (config.transport == Transport::kInProcess) {
    in_process = std::make_unique<rpc::WorkerServiceImpl>(cc, coordinator.workers(),
                                                           coordinator.leases());
  }
  const std::string target = "127.0.0.1:" + std::to_string(coordinator.grpc_port());
  std::vector<std::unique_ptr<SimulatedWorker>> workers;
  for (int i = 0; i < config.workers; ++i) {
    WorkerOptions wo;
    wo.name = "load-" + config.label + "-" + std::to_string(i);
    wo.report_batch = config.report_batch;
    wo.heartbeat = config.heartbeat;
    wo.prediction_bytes = config.prediction_bytes;
    std::unique_ptr<LoadClient> client = in_process ? MakeInProcessLoadClient(*in_process)
                                                    : MakeGrpcLoadClient(target, 60'000);
    workers.push_back(std::make_unique<SimulatedWorker>(std::move(client), wo));
    KVF_RETURN_IF_ERROR(workers.back()->Register());
  }
  KVF_RETURN_IF_ERROR(coordinator.writer().Flush());
  const ResultWriter::Stats writer_before = coordinator.writer().stats();

  std::latch ready(config.workers + 1);
  SteadyClock::time_point start;
  std::vector<std::thread> threads;
  for (auto& w : workers) {
    threads.emplace_back([&ready, &start, &config, worker = w.get()] {
      ready.arrive_and_wait();
      worker->Run(start + std::chrono::duration_cast<SteadyClock::duration>(
                              std::chrono::duration<double>(config.seconds)));
    });
  }
  rusage usage_before{};
  getrusage(RUSAGE_SELF, &usage_before);
  start = SteadyClock::now();
  ready.arrive_and_wait();  // `start` is written before any worker reads it
  for (std::thread& t : threads) t.join();
  SteadyClock::time_point finished = start;
  for (auto& w : workers) finished = std::max(finished, w->stats().finished);
  result.elapsed_s = Seconds(finished - start);
  rusage usage_after{};
  getrusage(RUSAGE_SELF, &usage_after);
  result.cpu_user_s = TimevalSeconds(usage_after.ru_utime) - TimevalSeconds(usage_before.ru_utime);
  result.cpu_sys_s = TimevalSeconds(usage_after.ru_stime) - TimevalSeconds(usage_before.ru_stime);

  // ---- totals
  int64_t duplicates = 0, rejected = 0, refused = 0, errors = 0, invalid_hb = 0;
  std::string first_error;
  for (auto& w : workers) {
    const WorkerStats& s = w->stats();
    result.cycles += s.cycles;
    result.rows_sent += s.rows_sent;
    result.rows_stored += s.rows_stored;
    result.out_of_work = result.out_of_work || s.out_of_work;
    result.worker_threads_cpu_s += s.thread_cpu_s;
    duplicates += s.duplicates;
    rejected += s.rejected;
    refused += s.complete_refused;
    errors += s.rpc_errors;
    invalid_hb += s.heartbeats_invalid;
    if (first_error.empty()) first_error = s.first_error;
    result.lease.Merge(s.lease);
    result.heartbeat.Merge(s.heartbeat);
    result.report.Merge(s.report);
    result.complete.Merge(s.complete);
    result.cycle.Merge(s.cycle);
  }
  const ResultWriter::Stats writer_after = coordinator.writer().stats();
  result.writer.transactions = writer_after.transactions - writer_before.transactions;
  result.writer.batches = writer_after.batches - writer_before.batches;
  result.writer.failed_batches = writer_after.failed_batches - writer_before.failed_batches;
  result.writer.results_inserted = writer_after.results_inserted - writer_before.results_inserted;

  // ---- verification: nothing lost, nothing counted twice
  KVF_RETURN_IF_ERROR(coordinator.writer().Flush());
  KVF_ASSIGN_OR_RETURN(const int64_t results_after, coordinator.store().CountResults());
  KVF_ASSIGN_OR_RETURN(v1::SweepStatus status,
                       coordinator.sweeps().Get(submitted.sweep_id()));
  const int64_t in_store = results_after - results_before;
  std::vector<std::string> problems;
  auto expect = [&problems](bool ok, std::string what) {
    if (!ok) problems.push_back(std::move(what));
  };
  const std::string n = std::to_string(in_store);
  expect(in_store == result.rows_stored,
         "store holds " + n + " new rows, coordinator answered stored=" +
             std::to_string(result.rows_stored));
  expect(result.rows_stored == result.rows_sent,
         std::to_string(result.rows_sent) + " rows sent but " +
             std::to_string(result.rows_stored) + " stored");
  expect(status.results_stored() == in_store,
         "sweep status says " + std::to_string(status.results_stored()) + " stored, store " + n);
  expect(status.shards_done() == result.cycles,
         "sweep status says " + std::to_string(status.shards_done()) + " shards done, " +
             std::to_string(result.cycles) + " completions accepted");
  expect(in_store == result.cycles * result.cells * config.shard_size,
         "store holds " + n + " rows, expected cycles x cells x shard_size = " +
             std::to_string(result.cycles * result.cells * config.shard_size));
  expect(duplicates == 0, std::to_string(duplicates) + " duplicates");
  expect(rejected == 0, std::to_string(rejected) + " rejected rows");
  expect(refused == 0, std::to_string(refused) + " completions refused (" + first_error + ")");
  expect(invalid_hb == 0, std::to_string(invalid_hb) + " heartbeats said lease invalid");
  expect(errors == 0, std::to_string(errors) + " RPC errors (" + first_error + ")");
  expect(result.writer.failed_batches == 0,
         std::to_string(result.writer.failed_batches) + " writer batches failed");
  result.verified = problems.empty();
  if (result.verified) {
    result.verify_message = "store +" + n + " rows == stored == sent; " +
                            std::to_string(result.cycles) + " shards done";
  } else {
    for (const std::string& p : problems) {
      result.verify_message += (result.verify_message.empty() ? "" : "; ") + p;
    }
  }
  coordinator.Shutdown();
  return result;
}

}  // namespace kvfunda::bench
