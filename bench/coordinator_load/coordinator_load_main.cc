// coordinator_load: N simulated workers against a real in-process coordinator.
//
// By default two configurations run side by side, each with a fresh coordinator:
//   a) small shards: 1 sample x 1 cell, so the cycle rate itself is measured
//      (target: >= 2,000 lease+complete cycles/s with 8 workers);
//   b) report-heavy shards: 64 samples x 6 cells = 384 rows per shard
//      (target: >= 20,000 result rows/s with 8 workers).
// --shard-size / --ratios replace them with one custom configuration. Exits 1
// when a run's store does not add up (rows lost or counted twice), 2 on an error.
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "bench/coordinator_load/load_run.h"
#include "coordinator/base/log.h"

namespace kvfunda::bench {
namespace {

constexpr double kTargetCyclesPerS = 2'000;
constexpr double kTargetRowsPerS = 20'000;
constexpr int kTargetWorkers = 8;

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown CPU";
}

std::string Ms(LatencyRecorder& r) {
  if (r.count() == 0) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f/%.2f", r.Quantile(0.5) / 1000.0, r.Quantile(0.99) / 1000.0);
  return buf;
}

const char* TransportName(Transport t) { return t == Transport::kGrpc ? "grpc" : "inproc"; }

std::string Shape(const LoadResult& r) {
  return std::to_string(r.cells) + "x" + std::to_string(r.config.shard_size);
}

// CPU microseconds of the whole process (coordinator and workers) per cycle.
double CpuMicrosPerCycle(const LoadResult& r) {
  if (r.cycles == 0) return 0;
  return (r.cpu_user_s + r.cpu_sys_s) * 1e6 / static_cast<double>(r.cycles);
}

// CPU microseconds per cycle spent outside the simulated workers' own threads:
// the coordinator plus gRPC's background threads.
double ServerMicrosPerCycle(const LoadResult& r) {
  if (r.cycles == 0) return 0;
  return (r.cpu_user_s + r.cpu_sys_s - r.worker_threads_cpu_s) * 1e6 /
         static_cast<double>(r.cycles);
}

void PrintTable(std::vector<LoadResult>& results) {
  std::printf(
      "\n%-6s %-6s %3s %6s %5s %9s %9s %13s %13s %13s %13s %13s %8s %7s %6s %7s %7s %s\n", "cfg",
      "xport", "W", "cxS", "batch", "cycles/s", "rows/s", "Lease ms", "Heartbeat ms",
      "Report ms", "Complete ms", "Cycle ms", "commit/s", "rows/cm", "cpu/s", "cpu us",
      "srv us", "verify");
  std::printf("%-6s %-6s %3s %6s %5s %9s %9s %13s %13s %13s %13s %13s %8s %7s %6s %7s %7s\n", "",
              "", "", "", "", "", "", "p50/p99", "p50/p99", "p50/p99", "p50/p99", "p50/p99", "",
              "", "", "/cycle", "/cycle");
  for (LoadResult& r : results) {
    const double commits = r.elapsed_s > 0 ? r.writer.transactions / r.elapsed_s : 0;
    const double rows_per_commit =
        r.writer.transactions > 0 ? static_cast<double>(r.writer.results_inserted) /
                                        static_cast<double>(r.writer.transactions)
                                  : 0;
    const double cpu = r.elapsed_s > 0 ? (r.cpu_user_s + r.cpu_sys_s) / r.elapsed_s : 0;
    std::printf(
        "%-6s %-6s %3d %6s %5d %9.0f %9.0f %13s %13s %13s %13s %13s %8.0f %7.1f %6.2f %7.0f "
        "%7.0f %s%s\n",
        r.config.label.c_str(), TransportName(r.config.transport), r.config.workers,
        Shape(r).c_str(), r.config.report_batch, r.cycles_per_s(), r.rows_per_s(),
        Ms(r.lease).c_str(), Ms(r.heartbeat).c_str(), Ms(r.report).c_str(),
        Ms(r.complete).c_str(), Ms(r.cycle).c_str(), commits, rows_per_commit, cpu,
        CpuMicrosPerCycle(r), ServerMicrosPerCycle(r), r.verified ? "OK" : "FAIL",
        r.out_of_work ? " (ran out of shards)" : "");
  }
}

void PrintMarkdown(std::vector<LoadResult>& results) {
  std::printf(
      "\n| cfg | transport | workers | cells x samples | cycles/s | rows/s | Lease p50/p99 ms | "
      "Heartbeat p50/p99 ms | Report p50/p99 ms | Complete p50/p99 ms | Cycle p50/p99 ms | "
      "commits/s | CPU s/s | CPU us/cycle | non-worker CPU us/cycle | verify |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (LoadResult& r : results) {
    const double commits = r.elapsed_s > 0 ? r.writer.transactions / r.elapsed_s : 0;
    const double cpu = r.elapsed_s > 0 ? (r.cpu_user_s + r.cpu_sys_s) / r.elapsed_s : 0;
    std::printf(
        "| %s | %s | %d | %s | %.0f | %.0f | %s | %s | %s | %s | %s | %.0f | %.2f | %.0f | %.0f | "
        "%s |\n",
        r.config.label.c_str(), TransportName(r.config.transport), r.config.workers,
        Shape(r).c_str(), r.cycles_per_s(), r.rows_per_s(), Ms(r.lease).c_str(),
        Ms(r.heartbeat).c_str(), Ms(r.report).c_str(), Ms(r.complete).c_str(),
        Ms(r.cycle).c_str(), commits, cpu, CpuMicrosPerCycle(r), ServerMicrosPerCycle(r),
        r.verified ? "OK" : "FAIL");
  }
}

void PrintTargets(const std::vector<LoadResult>& results) {
  std::printf("\ntargets (%d workers, gRPC):\n", kTargetWorkers);
  bool any = false;
  for (const LoadResult& r : results) {
    if (r.config.workers != kTargetWorkers || r.config.transport != Transport::kGrpc) continue;
    auto line = [&](const char* what, double measured, double target) {
      std::printf("  [%s %s] %-28s measured %9.0f  target %6.0f  ratio %.2fx  %s\n",
                  r.config.label.c_str(), Shape(r).c_str(), what, measured, target,
                  measured / target, measured >= target ? "MET" : "MISSED");
      any = true;
    };
    if (r.config.label != "b") line("lease+complete cycles/s", r.cycles_per_s(), kTargetCyclesPerS);
    if (r.config.label != "a") line("result rows/s", r.rows_per_s(), kTargetRowsPerS);
  }
  if (!any) std::printf("  (no run with %d workers over gRPC)\n", kTargetWorkers);
}

int Main(int argc, char** argv) {
  CLI::App app{
      "coordinator_load: N simulated workers lease, heartbeat, report and complete shards "
      "against an in-process coordinator over gRPC on loopback."};
  std::vector<int> workers = {8};
  double seconds = 5;
  int shard_size = 0, ratios = -1, report_batch = 0, prediction_bytes = 32;
  int64_t samples = 0;
  std::string db, transport = "grpc";
  bool no_heartbeat = false, markdown = false;
  app.add_option("--workers", workers, "simulated workers; a list runs each (8 or 1,2,4,8)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  app.add_option("--seconds", seconds, "measured window per run (s)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--shard-size", shard_size,
                 "samples per shard (with --ratios: one custom run instead of a and b)")
      ->check(CLI::PositiveNumber);
  app.add_option("--ratios", ratios, "streamingllm ratios; cells per shard = 1 + ratios")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--report-batch", report_batch,
                 "rows per ReportResults call; 0 = the whole shard in one call")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--db", db,
                 "where each run's new SQLite database goes: a directory (e.g. /dev/shm) or "
                 ":memory:; default a temp dir");
  app.add_option("--transport", transport,
                 "grpc (real stubs on loopback), inproc (handlers called directly), or both")
      ->check(CLI::IsMember({"grpc", "inproc", "both"}))
      ->capture_default_str();
  app.add_flag("--no-heartbeat", no_heartbeat, "skip the Heartbeat call of each cycle");
  app.add_option("--prediction-bytes", prediction_bytes, "prediction text per row (bytes)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--samples", samples, "fidelity num_samples; 0 = enough for the window")
      ->check(CLI::NonNegativeNumber);
  int min_pollers = 0, max_pollers = 0;
  app.add_option("--grpc-min-pollers", min_pollers,
                 "coordinator gRPC sync-server min pollers (0 = CoordinatorConfig default)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--grpc-max-pollers", max_pollers,
                 "coordinator gRPC sync-server max pollers (0 = CoordinatorConfig default)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--markdown", markdown, "also print the table as Markdown (for bench/RESULTS.md)");
  CLI11_PARSE(app, argc, argv);
  // The coordinator's info lines (one per start) would interleave with the table.
  SetLogOptions(LogLevel::kWarning, false, "coordinator_load");

  std::vector<LoadConfig> shapes;
  if (shard_size > 0 || ratios >= 0) {
    LoadConfig c;
    c.label = "custom";
    c.shard_size = shard_size > 0 ? shard_size : 16;
    c.ratios = ratios >= 0 ? ratios : 5;
    shapes.push_back(c);
  } else {
    LoadConfig a;
    a.label = "a";
    a.shard_size = 1;
    a.ratios = 0;
    LoadConfig b;
    b.label = "b";
    b.shard_size = 64;
    b.ratios = 5;
    shapes = {a, b};
  }
  std::vector<Transport> transports;
  if (transport != "inproc") transports.push_back(Transport::kGrpc);
  if (transport != "grpc") transports.push_back(Transport::kInProcess);

  const char* tmp_env = std::getenv("TMPDIR");
  std::string dir_pattern = std::string(tmp_env && *tmp_env ? tmp_env : "/tmp") +
                            "/kvfunda-coordinator-load-XXXXXX";
  std::vector<char> pattern(dir_pattern.begin(), dir_pattern.end());
  pattern.push_back('\0');
  if (mkdtemp(pattern.data()) == nullptr) {
    std::fprintf(stderr, "coordinator_load: cannot create a temp dir %s\n", dir_pattern.c_str());
    return 2;
  }
  const std::string temp_dir = pattern.data();

  const std::string store = db.empty()        ? "SQLite WAL file in a temp dir"
                            : db == ":memory:" ? std::string(":memory:")
                                               : "SQLite WAL file in " + db;
  std::printf("coordinator_load: %u hardware threads (%s); store %s; %.1f s per run; "
              "heartbeat %s; report batch %s\n",
              std::thread::hardware_concurrency(), CpuModel().c_str(),
              store.c_str(), seconds,
              no_heartbeat ? "off" : "1 per cycle",
              report_batch > 0 ? std::to_string(report_batch).c_str() : "whole shard");

  std::vector<LoadResult> results;
  int rc = 0;
  for (const LoadConfig& shape : shapes) {
    for (Transport t : transports) {
      for (int w : workers) {
        LoadConfig c = shape;
        c.workers = w;
        c.seconds = seconds;
        c.report_batch = report_batch;
        c.heartbeat = !no_heartbeat;
        c.prediction_bytes = prediction_bytes;
        c.samples = samples;
        c.db = db;
        c.transport = t;
        c.grpc_min_pollers = min_pollers;
        c.grpc_max_pollers = max_pollers;
        Result<LoadResult> r = RunLoad(c, temp_dir);
        if (!r.ok()) {
          std::fprintf(stderr, "coordinator_load: run %s (%s, %d workers) failed: %s\n",
                       c.label.c_str(), TransportName(t), w, r.status().ToString().c_str());
          rc = 2;
          continue;
        }
        std::printf("  run %-6s %-6s W=%-2d %s: %lld shards (submit %.2f s), %.2f s, %lld cycles, "
                    "%lld rows, %lld commits -> %s%s\n",
                    c.label.c_str(), TransportName(t), w, Shape(*r).c_str(),
                    static_cast<long long>(r->shards), r->submit_s, r->elapsed_s,
                    static_cast<long long>(r->cycles), static_cast<long long>(r->rows_stored),
                    static_cast<long long>(r->writer.transactions),
                    r->verified ? "OK" : "FAIL: ", r->verified ? "" : r->verify_message.c_str());
        std::fflush(stdout);
        if (!r->verified && rc == 0) rc = 1;
        results.push_back(std::move(*r));
      }
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(temp_dir, ec);

  PrintTable(results);
  if (markdown) PrintMarkdown(results);
  PrintTargets(results);
  bool all_ok = !results.empty();
  for (const LoadResult& r : results) all_ok = all_ok && r.verified;
  std::printf("\nverification (store rows == rows stored == rows sent, shards done == "
              "completions): %s\n",
              all_ok ? "OK" : "FAIL");
  return rc;
}

}  // namespace
}  // namespace kvfunda::bench

int main(int argc, char** argv) { return kvfunda::bench::Main(argc, argv); }
