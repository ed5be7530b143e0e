// sweep_speedup: the study grid evaluated two ways side by side in one run.
//
//   a) ours: one ShardEvaluator::Run over a shard carrying every cell, so each
//      sample is prefilled once and all cells decode from that prefill (batched);
//   b) per-cell, as the anchor tools do it: for each cell a fresh ModelCache (the
//      model is loaded again) and a shard carrying only that cell. The evaluator
//      always decodes the full-cache reference too (for the fidelity metrics), so
//      one per-cell run = load + prefill + full-cache decode + the cell's decode,
//      which is what a per-cell tool that reports fidelity has to do.
//
// The grid: full + {streamingllm, h2o, snapkv, pyramidkv, chunkkv} x {0.9, 0.5,
// 0.3, 0.2, 0.1} = 26 cells, each method with its catalog defaults, on the
// `fidelity` task (GSM8K/MMLU tasks and ShotKV do not exist yet). Prints both wall
// times, their ratio and the model load time, and checks that every (cell, sample)
// prediction of (b) equals that of (a). Exit status: 0 OK, 1 on a mismatch or a
// missing row, 2 on an error.
//
// Single-threaded driver; the model uses --threads intra-op threads.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "coordinator/base/status.h"
#include "proto/kvfunda.pb.h"
#include "worker/compression/method_catalog.h"
#include "worker/shard_evaluator.h"
#include "worker/tasks/task.h"

namespace kvfunda::bench {
namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Collects every reported row.
class VectorSink final : public ResultSink {
 public:
  Status Report(std::vector<v1::SampleResult> batch) override {
    for (auto& row : batch) rows.push_back(std::move(row));
    return Status::Ok();
  }
  void Progress(int64_t /*samples_done*/) override {}
  bool ShouldStop() override { return false; }

  std::vector<v1::SampleResult> rows;
};

struct Options {
  std::string model;
  int samples = 2;
  int prompt_tokens = 256;
  int max_new_tokens = 16;
  int threads = 2;
  int max_batch = 16;
};

struct GridCell {
  std::string method;
  double ratio = 1.0;
};

std::vector<GridCell> Grid() {
  std::vector<GridCell> grid = {{"full", 1.0}};
  for (const char* method : {"streamingllm", "h2o", "snapkv", "pyramidkv", "chunkkv"}) {
    for (double ratio : {0.9, 0.5, 0.3, 0.2, 0.1}) grid.push_back({method, ratio});
  }
  return grid;
}

// One v1::Cell with the method's canonical (default) params. Errors: bad-input
// for an unknown method.
Result<v1::Cell> MakeCell(const GridCell& g) {
  const MethodDescriptor* method = FindMethod(g.method);
  if (method == nullptr) return Status::BadInput("unknown method " + g.method);
  KVF_ASSIGN_OR_RETURN(nlohmann::json params,
                       CanonicalParams(method->params, nlohmann::json::object()));
  v1::Cell cell;
  char ratio[32];
  std::snprintf(ratio, sizeof ratio, "%.2f", g.ratio);
  cell.set_cell_id(g.method + "@" + ratio);
  cell.set_model_id("bench-model");
  cell.set_method(g.method);
  cell.set_params_json(params.dump());
  cell.set_ratio(g.ratio);
  cell.set_task("fidelity");
  cell.set_shots(0);
  return cell;
}

v1::ShardAssignment MakeShard(const Options& options, const std::vector<v1::Cell>& cells) {
  v1::ShardAssignment shard;
  shard.set_shard_id(1);
  shard.mutable_model()->set_id("bench-model");
  shard.mutable_model()->set_path(options.model);
  shard.mutable_model()->set_checksum("bench-checksum");
  shard.set_task("fidelity");
  shard.set_shots(0);
  shard.set_sample_begin(0);
  shard.set_sample_end(options.samples);
  for (const v1::Cell& cell : cells) *shard.add_cells() = cell;
  shard.mutable_decoding()->set_max_new_tokens(options.max_new_tokens);
  shard.mutable_decoding()->set_temperature(0.0);
  shard.mutable_decoding()->set_top_p(1.0);
  shard.mutable_decoding()->set_seed(1234);
  const nlohmann::json task_params = {{"num_samples", options.samples},
                                      {"prompt_tokens", options.prompt_tokens},
                                      {"prompt_temperature", 1.0},
                                      {"seed", 1234}};
  shard.set_task_params_json(task_params.dump());
  return shard;
}

// Wall time of one mode, split into model loading and evaluation.
struct Timing {
  double load_ms = 0;
  double eval_ms = 0;
  double total() const { return load_ms + eval_ms; }
};

// Loads the model into a fresh cache (timed), then runs `shard` on it (timed).
Status RunFresh(const Options& options, const v1::ShardAssignment& shard, VectorSink& sink,
                Timing& timing) {
  ModelCache models(options.threads);
  const Clock::time_point load_start = Clock::now();
  KVF_RETURN_IF_ERROR(models.Get(shard.model().path(), shard.model().checksum()).status());
  timing.load_ms += MsSince(load_start);
  ShardEvaluator evaluator(models, EvaluatorOptions{.max_batch = options.max_batch});
  const Clock::time_point eval_start = Clock::now();
  KVF_RETURN_IF_ERROR(evaluator.Run(shard, sink));  // reuses the loaded model
  timing.eval_ms += MsSince(eval_start);
  return Status::Ok();
}

// Mean wall time of writing one fidelity prompt (the task samples it with the
// model; a GSM8K/MMLU prompt would only be tokenized). Both modes pay it once per
// run and sample, so it is reported so that it can be taken out of the ratio.
Result<double> PromptWritingMs(const Options& options, const v1::ShardAssignment& shard) {
  ModelCache models(options.threads);
  KVF_ASSIGN_OR_RETURN(Model * model,
                       models.Get(shard.model().path(), shard.model().checksum()));
  nlohmann::json params = nlohmann::json::parse(shard.task_params_json());
  const uint64_t seed = params.at("seed").get<uint64_t>();
  params.erase("seed");
  KVF_ASSIGN_OR_RETURN(std::unique_ptr<Task> task,
                       MakeTask("fidelity", params, TaskContext{.data_dir = "", .seed = seed}));
  const Clock::time_point start = Clock::now();
  for (int i = 0; i < options.samples; ++i) {
    KVF_RETURN_IF_ERROR(task->MakeSample(*model, i, 0).status());
  }
  return MsSince(start) / options.samples;
}

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

// The default model: the SmolLM2 GGUF in <repo>/models, else stories260K.
std::string DefaultModel() {
  const std::string smol =
      std::string(KVFUNDA_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
  if (std::filesystem::exists(smol)) return smol;
  const std::string stories =
      std::string(KVFUNDA_SHARED_DIR_DEFAULT) + "/models/stories260K/stories260K.bin";
  std::printf("note: %s is absent; falling back to %s\n", smol.c_str(), stories.c_str());
  return stories;
}

int Main(const Options& options) {
  std::vector<v1::Cell> cells;
  for (const GridCell& g : Grid()) {
    Result<v1::Cell> cell = MakeCell(g);
    if (!cell.ok()) {
      std::fprintf(stderr, "error: %s\n", cell.status().ToString().c_str());
      return 2;
    }
    cells.push_back(std::move(cell).value());
  }
  std::printf("machine: %s, %u hardware threads; model threads %d\n", CpuModel().c_str(),
              std::thread::hardware_concurrency(), options.threads);
  std::printf("model: %s\n", options.model.c_str());
  std::printf(
      "grid: %zu cells (full + 5 methods x 5 ratios; ShotKV arrives later in issue 4); task "
      "fidelity (GSM8K/MMLU prompts arrive with issue 5): %d samples x %d sampled prompt "
      "tokens, greedy, %d new tokens, max_batch %d\n",
      cells.size(), options.samples, options.prompt_tokens, options.max_new_tokens,
      options.max_batch);
  std::printf(
      "per-cell mode: per cell a fresh model load + a one-cell shard (prefill + full-cache "
      "reference decode for the fidelity metrics + the cell's decode)\n");
  std::fflush(stdout);

  VectorSink shared_sink;
  Timing shared;
  if (Status s = RunFresh(options, MakeShard(options, cells), shared_sink, shared); !s.ok()) {
    std::fprintf(stderr, "error (shared run): %s\n", s.ToString().c_str());
    return 2;
  }
  std::printf("ours (one shared-prefill run):  load %9.1f ms + eval %9.1f ms = %9.1f ms\n",
              shared.load_ms, shared.eval_ms, shared.total());
  std::fflush(stdout);

  VectorSink per_cell_sink;
  Timing per_cell;
  for (const v1::Cell& cell : cells) {
    if (Status s = RunFresh(options, MakeShard(options, {cell}), per_cell_sink, per_cell);
        !s.ok()) {
      std::fprintf(stderr, "error (per-cell run %s): %s\n", cell.cell_id().c_str(),
                   s.ToString().c_str());
      return 2;
    }
  }
  const double n = static_cast<double>(cells.size());
  Result<double> prompt_ms = PromptWritingMs(options, MakeShard(options, cells));
  if (!prompt_ms.ok()) {
    std::fprintf(stderr, "error (prompt timing): %s\n", prompt_ms.status().ToString().c_str());
    return 2;
  }
  const double shared_prompt_ms = *prompt_ms * options.samples;
  const double per_cell_prompt_ms = shared_prompt_ms * n;
  std::printf("per-cell (%zu runs):             load %9.1f ms + eval %9.1f ms = %9.1f ms\n",
              cells.size(), per_cell.load_ms, per_cell.eval_ms, per_cell.total());
  std::printf("model load: %.1f ms (shared run), %.1f ms mean per per-cell run\n",
              shared.load_ms, per_cell.load_ms / n);
  std::printf("speedup end to end (per-cell / ours): %.2fx\n", per_cell.total() / shared.total());
  std::printf("speedup excluding model loads:        %.2fx\n", per_cell.eval_ms / shared.eval_ms);
  std::printf(
      "fidelity prompt writing (model-sampled; a GSM8K/MMLU prompt is only tokenized): %.1f ms "
      "per sample, measured apart; in eval: ours %.1f ms, per-cell %.1f ms\n",
      *prompt_ms, shared_prompt_ms, per_cell_prompt_ms);
  std::printf("speedup excluding model loads and prompt writing: %.2fx\n",
              (per_cell.eval_ms - per_cell_prompt_ms) / (shared.eval_ms - shared_prompt_ms));

  std::map<std::pair<std::string, int64_t>, const v1::SampleResult*> by_key;
  for (const v1::SampleResult& row : shared_sink.rows) {
    by_key[{row.cell_id(), row.sample_idx()}] = &row;
  }
  const size_t expected = cells.size() * static_cast<size_t>(options.samples);
  int mismatches = 0;
  if (shared_sink.rows.size() != expected || per_cell_sink.rows.size() != expected) {
    std::printf("MISMATCH: rows shared %zu, per-cell %zu, expected %zu\n",
                shared_sink.rows.size(), per_cell_sink.rows.size(), expected);
    ++mismatches;
  }
  int diverged_from_full = 0;
  for (const v1::SampleResult& row : per_cell_sink.rows) {
    const auto it = by_key.find({row.cell_id(), row.sample_idx()});
    if (it == by_key.end()) {
      std::printf("MISMATCH: %s sample %lld missing from the shared run\n",
                  row.cell_id().c_str(), static_cast<long long>(row.sample_idx()));
      ++mismatches;
      continue;
    }
    if (it->second->prediction() != row.prediction()) {
      std::printf("MISMATCH: %s sample %lld: shared \"%s\" vs per-cell \"%s\"\n",
                  row.cell_id().c_str(), static_cast<long long>(row.sample_idx()),
                  it->second->prediction().c_str(), row.prediction().c_str());
      ++mismatches;
    }
    if (row.metrics().at("exact_match") == 0.0) ++diverged_from_full;
  }
  std::printf("outputs: %zu (cell, sample) pairs compared; %d differ from the full cache\n",
              per_cell_sink.rows.size(), diverged_from_full);
  std::printf("%s\n", mismatches == 0 ? "OK: per-cell predictions equal the shared-run ones"
                                      : "MISMATCH");
  return mismatches == 0 ? 0 : 1;
}

}  // namespace
}  // namespace kvfunda::bench

int main(int argc, char** argv) {
  kvfunda::bench::Options options;
  CLI::App app{"sweep_speedup: shared-prefill sweep vs per-cell evaluation"};
  app.add_option("--model", options.model, "model file (default: SmolLM2 GGUF, else stories260K)");
  app.add_option("--samples", options.samples, "fidelity samples")->check(CLI::PositiveNumber);
  app.add_option("--prompt-tokens", options.prompt_tokens, "sampled prompt tokens per sample")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-new-tokens", options.max_new_tokens, "decoded tokens per cell")
      ->check(CLI::PositiveNumber);
  app.add_option("--threads", options.threads, "model intra-op threads")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-batch", options.max_batch, "cells decoded together")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  if (options.model.empty()) options.model = kvfunda::bench::DefaultModel();
  return kvfunda::bench::Main(options);
}
