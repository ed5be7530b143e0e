#include "worker/shard_evaluator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <memory>
#include <new>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

#include "worker/cell_decoder.h"
#include "worker/compression/compression_policy.h"
#include "worker/compression/full_policy.h"
#include "worker/model/model.h"
#include "worker/tasks/task.h"
#include "worker/tasks/token_sampler.h"

namespace kvfunda {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Salt of the decoding RNG streams (one stream per sample, shared by its cells).
constexpr uint64_t kDecodeSalt = 0xDEC0'DE01ull;

double MsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - start).count();
}

// One cell of the shard, ready to run.
struct CellPlan {
  int index = 0;  // into shard.cells
  const v1::Cell* cell = nullptr;
  std::unique_ptr<CompressionPolicy> policy;
  bool is_full = false;  // the `full` method: its row is the reference run itself
};

// The shard's cells and task, parsed and checked before any model work.
struct ShardPlan {
  std::vector<CellPlan> cells;
  std::unique_ptr<Task> task;
  std::set<std::pair<int, int64_t>> done;  // (cell index, sample)
  DecodeSettings decode;
};

Result<nlohmann::json> ParseJsonObject(const std::string& text, const std::string& what) {
  if (text.empty()) return nlohmann::json::object();
  nlohmann::json value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return Status::BadInput(what + " is not valid JSON");
  if (value.is_null()) return nlohmann::json::object();
  if (!value.is_object()) return Status::BadInput(what + " must be a JSON object");
  return value;
}

Result<ShardPlan> PlanShard(const v1::ShardAssignment& shard, const EvaluatorOptions& options) {
  ShardPlan plan;
  if (options.max_batch < 1) {
    return Status::BadInput("evaluator max_batch must be >= 1, got " +
                            std::to_string(options.max_batch));
  }
  const v1::Decoding& d = shard.decoding();
  if (d.max_new_tokens() < 1) {
    return Status::BadInput("decoding.max_new_tokens must be >= 1, got " +
                            std::to_string(d.max_new_tokens()));
  }
  if (!(d.temperature() >= 0) || !std::isfinite(d.temperature())) {
    return Status::BadInput("decoding.temperature must be >= 0");
  }
  if (d.temperature() > 0 && !(d.top_p() > 0 && d.top_p() <= 1)) {
    return Status::BadInput("decoding.top_p must be in (0, 1] when sampling, got " +
                            std::to_string(d.top_p()));
  }
  plan.decode.max_new_tokens = d.max_new_tokens();
  plan.decode.temperature = d.temperature();
  plan.decode.top_p = d.temperature() > 0 ? d.top_p() : 1.0;
  plan.decode.max_batch = options.max_batch;

  if (shard.sample_begin() < 0 || shard.sample_end() < shard.sample_begin()) {
    return Status::BadInput("shard sample range [" + std::to_string(shard.sample_begin()) + ", " +
                            std::to_string(shard.sample_end()) + ") is invalid");
  }
  if (shard.cells_size() == 0) return Status::BadInput("shard has no cells");
  for (int i = 0; i < shard.cells_size(); ++i) {
    const v1::Cell& cell = shard.cells(i);
    const std::string where = "cell " + std::to_string(i) + " (" + cell.method() + ")";
    if (!(cell.ratio() > 0 && cell.ratio() <= 1)) {
      return Status::BadInput(where + ": ratio " + std::to_string(cell.ratio()) +
                              " is outside (0, 1]");
    }
    KVF_ASSIGN_OR_RETURN(nlohmann::json params,
                         ParseJsonObject(cell.params_json(), where + ": params_json"));
    Result<std::unique_ptr<CompressionPolicy>> policy = MakePolicy(cell.method(), params);
    if (!policy.ok()) return policy.status().WithContext(where);
    CellPlan cp;
    cp.index = i;
    cp.cell = &cell;
    cp.policy = std::move(policy).value();
    cp.is_full = cell.method() == "full";
    plan.cells.push_back(std::move(cp));
  }
  for (const auto& done : shard.done()) {
    if (done.cell_index() < 0 || done.cell_index() >= shard.cells_size()) {
      return Status::BadInput("done entry names cell " + std::to_string(done.cell_index()) +
                              " of " + std::to_string(shard.cells_size()));
    }
    plan.done.insert({done.cell_index(), done.sample_idx()});
  }

  // task_params_json: the task's canonical params; the reserved keys "seed" (the
  // sweep's seed; default decoding.seed) and "data_dir" go to the TaskContext.
  KVF_ASSIGN_OR_RETURN(nlohmann::json task_params,
                       ParseJsonObject(shard.task_params_json(), "task_params_json"));
  TaskContext context;
  context.seed = d.seed();
  if (task_params.contains("seed")) {
    if (!task_params["seed"].is_number_unsigned()) {
      return Status::BadInput("task_params_json.seed must be a non-negative integer");
    }
    context.seed = task_params["seed"].get<uint64_t>();
    task_params.erase("seed");
  }
  if (task_params.contains("data_dir")) {
    if (!task_params["data_dir"].is_string()) {
      return Status::BadInput("task_params_json.data_dir must be a string");
    }
    context.data_dir = task_params["data_dir"].get<std::string>();
    task_params.erase("data_dir");
  }
  Result<std::unique_ptr<Task>> task = MakeTask(shard.task(), task_params, context);
  if (!task.ok()) return task.status();
  plan.task = std::move(task).value();
  plan.decode.seed = d.seed();  // per sample: DeriveSeed(seed, sample, kDecodeSalt)
  return plan;
}

// What Prefill() must compute for `cells`: the union of their requests.
PrefillStatsRequest StatsUnion(const std::vector<const CellPlan*>& cells) {
  PrefillStatsRequest out;
  bool first = true;
  for (const CellPlan* cp : cells) {
    const PrefillStatsRequest r = cp->policy->stats_needed();
    out.column_sums = out.column_sums || r.column_sums;
    out.window = std::max(out.window, r.window);
    out.block = first ? r.block : std::min(out.block, r.block);
    first = false;
  }
  return out;
}

int64_t CountEntries(const KeepPlan& plan) {
  int64_t n = 0;
  for (const auto& layer : plan.kept) {
    for (const auto& head : layer) n += static_cast<int64_t>(head.size());
  }
  return n;
}

// Keeps exceptions from crossing Run(): OOM becomes out-of-memory.
Status FromException(const std::string& what, bool torch) {
  if (what.find("out of memory") != std::string::npos ||
      what.find("not enough memory") != std::string::npos) {
    return Status::OutOfMemory(what);
  }
  return Status::BadInput(std::string(torch ? "libtorch error: " : "error: ") + what);
}

// Errors leave Run() with a FailShard kind (or cancelled).
Status ToFailKind(const Status& s) {
  switch (s.code()) {
    case Status::Code::kOk:
    case Status::Code::kTransient:
    case Status::Code::kModelLoad:
    case Status::Code::kBadInput:
    case Status::Code::kOutOfMemory:
    case Status::Code::kCancelled:
      return s;
    case Status::Code::kIo:
      return Status::Transient(s.ToString());
    default:
      return Status::BadInput(s.ToString());
  }
}

// Evaluates one sample: one prefill, the reference, every pending cell.
class SampleRun {
 public:
  SampleRun(Model& model, const v1::ShardAssignment& shard, const ShardPlan& plan)
      : model_(model), shard_(shard), plan_(plan) {}

  Result<std::vector<v1::SampleResult>> Evaluate(int64_t sample_idx,
                                                 const std::vector<const CellPlan*>& pending);

 private:
  v1::SampleResult MakeRow(const CellPlan& cp, const CellRun& run, const CellRun& reference,
                           nlohmann::json detail) const;

  Model& model_;
  const v1::ShardAssignment& shard_;
  const ShardPlan& plan_;
  int64_t sample_idx_ = 0;
  TaskSample sample_;
  double prefill_ms_ = 0;
};

Result<std::vector<v1::SampleResult>> SampleRun::Evaluate(
    int64_t sample_idx, const std::vector<const CellPlan*>& pending) {
  sample_idx_ = sample_idx;
  KVF_ASSIGN_OR_RETURN(sample_, plan_.task->MakeSample(model_, sample_idx, shard_.shots()));
  const int64_t prompt_len = static_cast<int64_t>(sample_.prompt_tokens.size());
  if (prompt_len < 1) {
    return Status::BadInput("sample " + std::to_string(sample_idx) + ": empty prompt");
  }
  if (prompt_len + plan_.decode.max_new_tokens > model_.config().max_context) {
    return Status::BadInput("sample " + std::to_string(sample_idx) + ": prompt of " +
                            std::to_string(prompt_len) + " tokens + max_new_tokens " +
                            std::to_string(plan_.decode.max_new_tokens) +
                            " exceeds the model's context of " +
                            std::to_string(model_.config().max_context));
  }

  const auto prefill_start = SteadyClock::now();
  KVF_ASSIGN_OR_RETURN(PrefillOutput prefill,
                       model_.Prefill(sample_.prompt_tokens, StatsUnion(pending)));
  prefill_ms_ = MsSince(prefill_start);
  const int32_t len = static_cast<int32_t>(prompt_len);

  DecodeSettings settings = plan_.decode;
  settings.seed = DeriveSeed(plan_.decode.seed, static_cast<uint64_t>(sample_idx), kDecodeSalt);
  CellDecoder decoder(model_, settings);

  // The full-cache reference, from a compact copy of the prefill cache.
  CompressionInput input;
  input.config = &model_.config();
  input.prompt_len = len;
  input.ratio = 1.0;
  input.budget = len;
  input.stats = &prefill.stats;
  input.shots = sample_.shots;
  KVF_ASSIGN_OR_RETURN(KeepPlan full_plan, FullPolicy().Plan(input));
  KVF_ASSIGN_OR_RETURN(KvCache full_copy,
                       ApplyKeepPlan(prefill.cache, full_plan, settings.max_new_tokens));
  KVF_ASSIGN_OR_RETURN(CellRun reference,
                       decoder.DecodeReference(std::move(full_copy), prefill.last_logits));
  const int64_t prompt_entries = CountEntries(full_plan);

  // rows[i] belongs to pending[i] (the shard's cell order).
  std::vector<v1::SampleResult> rows(pending.size());
  std::vector<size_t> compressed;  // positions in `pending`
  for (size_t i = 0; i < pending.size(); ++i) {
    const CellPlan& cp = *pending[i];
    if (!cp.is_full) {
      compressed.push_back(i);
      continue;
    }
    // The drill-down reads the prompt from the baseline row only.
    rows[i] = MakeRow(cp, reference, reference,
                      {{"budget", len},
                       {"kept_entries", prompt_entries},
                       {"prompt_entries", prompt_entries},
                       {"compress_ms", 0.0},
                       {"prompt", sample_.prompt_text}});
  }

  // Compressed cells, max_batch at a time (their caches exist only for their batch).
  const size_t batch = static_cast<size_t>(settings.max_batch);
  for (size_t begin = 0; begin < compressed.size(); begin += batch) {
    const size_t end = std::min(compressed.size(), begin + batch);
    std::vector<KvCache> caches;
    std::vector<nlohmann::json> details;
    for (size_t i = begin; i < end; ++i) {
      const CellPlan& cp = *pending[compressed[i]];
      const auto start = SteadyClock::now();
      input.ratio = cp.cell->ratio();
      input.budget = BudgetForRatio(cp.cell->ratio(), len);
      Result<KeepPlan> keep = cp.policy->Plan(input);
      if (!keep.ok()) {
        return keep.status().WithContext("cell " + std::to_string(cp.index) + ", sample " +
                                         std::to_string(sample_idx));
      }
      KVF_ASSIGN_OR_RETURN(KvCache cache,
                           ApplyKeepPlan(prefill.cache, keep.value(), settings.max_new_tokens));
      caches.push_back(std::move(cache));
      details.push_back({{"budget", input.budget},
                         {"kept_entries", CountEntries(keep.value())},
                         {"prompt_entries", prompt_entries},
                         {"compress_ms", MsSince(start)}});
    }
    KVF_ASSIGN_OR_RETURN(std::vector<CellRun> runs,
                         decoder.DecodeCells(std::move(caches), prefill.last_logits, reference));
    for (size_t i = begin; i < end; ++i) {
      rows[compressed[i]] = MakeRow(*pending[compressed[i]], runs[i - begin], reference,
                                    std::move(details[i - begin]));
    }
  }
  return rows;
}

v1::SampleResult SampleRun::MakeRow(const CellPlan& cp, const CellRun& run,
                                    const CellRun& reference, nlohmann::json detail) const {
  const SampleScore score = plan_.task->Score(sample_, run.generation, reference.generation);
  v1::SampleResult row;
  row.set_cell_id(cp.cell->cell_id());
  row.set_sample_idx(sample_idx_);
  row.set_score(score.score);
  auto& metrics = *row.mutable_metrics();
  for (const auto& [key, value] : score.metrics) metrics[key] = value;
  // Generic fidelity against the full cache, for every task.
  const std::vector<int32_t>& out = run.generation.tokens;
  const std::vector<int32_t>& ref = reference.generation.tokens;
  size_t agree = 0;
  while (agree < std::min(out.size(), ref.size()) && out[agree] == ref[agree]) ++agree;
  metrics["kl_mean"] = run.kl_mean;
  metrics["prefix_agree"] = static_cast<double>(agree);
  metrics["exact_match"] = out == ref ? 1.0 : 0.0;
  row.set_prediction(run.generation.text);
  row.set_reference(sample_.reference.empty() ? reference.generation.text : sample_.reference);
  row.set_prompt_tokens(static_cast<int32_t>(sample_.prompt_tokens.size()));
  row.set_output_tokens(static_cast<int32_t>(out.size()));
  row.set_kv_bytes_peak(run.kv_bytes_peak);
  row.set_kv_bytes_final(run.kv_bytes_final);
  row.set_prefill_ms(prefill_ms_);
  row.set_decode_ms(run.decode_ms);
  detail["method"] = cp.cell->method();
  detail["ratio"] = cp.cell->ratio();
  detail["hit_max_new_tokens"] = run.generation.hit_max_new_tokens;
  detail["task"] = score.detail;
  row.set_detail_json(detail.dump());
  return row;
}

// Run() without the exception boundary.
Status RunShard(ModelCache& models, const EvaluatorOptions& options,
                const v1::ShardAssignment& shard, ResultSink& sink) {
  KVF_ASSIGN_OR_RETURN(ShardPlan plan, PlanShard(shard, options));
  Model* model = nullptr;
  int64_t samples_done = 0;
  for (int64_t s = shard.sample_begin(); s < shard.sample_end(); ++s) {
    std::vector<const CellPlan*> pending;
    for (const CellPlan& cp : plan.cells) {
      if (!plan.done.contains({cp.index, s})) pending.push_back(&cp);
    }
    if (!pending.empty()) {
      if (model == nullptr) {  // loaded only when some pair is left to evaluate
        KVF_ASSIGN_OR_RETURN(model, models.Get(shard.model().path(), shard.model().checksum()));
      }
      SampleRun run(*model, shard, plan);
      KVF_ASSIGN_OR_RETURN(std::vector<v1::SampleResult> rows, run.Evaluate(s, pending));
      KVF_RETURN_IF_ERROR(sink.Report(std::move(rows)));
    }
    sink.Progress(++samples_done);
    if (sink.ShouldStop()) {
      return Status::Cancelled("stopped after " + std::to_string(samples_done) + " of " +
                               std::to_string(shard.sample_end() - shard.sample_begin()) +
                               " samples");
    }
  }
  return Status::Ok();
}

}  // namespace

ModelCache::ModelCache(int num_threads) : num_threads_(num_threads) {}
ModelCache::~ModelCache() = default;

Result<Model*> ModelCache::Get(const std::string& path, const std::string& checksum) {
  if (model_ != nullptr && path == path_ && checksum == checksum_) return model_.get();
  // Drop the previous model first: two models may not fit together.
  model_.reset();
  path_.clear();
  checksum_.clear();
  ModelLoadOptions options;
  options.num_threads = num_threads_;
  auto load = [&]() -> Result<std::unique_ptr<Model>> {
    try {
      return LoadModel(path, options);
    } catch (const std::bad_alloc&) {
      return Status::OutOfMemory("loading " + path + ": host allocation failed");
    } catch (const std::exception& e) {  // libtorch throws; this is the boundary
      return Status::ModelLoad(std::string("loading ") + path + ": " + e.what());
    }
  };
  Result<std::unique_ptr<Model>> loaded = load();
  if (!loaded.ok()) {
    const Status& s = loaded.status();
    if (s.code() == Status::Code::kModelLoad) return s;
    if (s.code() == Status::Code::kOutOfMemory) return s;
    return Status::ModelLoad(s.ToString()).WithContext("loading " + path);
  }
  model_ = std::move(loaded).value();
  path_ = path;
  checksum_ = checksum;
  return model_.get();
}

ShardEvaluator::ShardEvaluator(ModelCache& models, EvaluatorOptions options)
    : models_(models), options_(options) {}

Status ShardEvaluator::Run(const v1::ShardAssignment& shard, ResultSink& sink) {
  Status status;
  try {
    status = RunShard(models_, options_, shard, sink);
  } catch (const std::bad_alloc&) {
    status = Status::OutOfMemory("host allocation failed");
  } catch (const c10::Error& e) {
    status = FromException(e.what_without_backtrace(), /*torch=*/true);
  } catch (const std::exception& e) {
    status = FromException(e.what(), /*torch=*/false);
  }
  if (status.ok() || status.code() == Status::Code::kCancelled) return status;
  return ToFailKind(status).WithContext("shard " + std::to_string(shard.shard_id()));
}

}  // namespace kvfunda
