#include "worker/cell_decoder.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <utility>

#include "worker/tasks/token_sampler.h"

namespace kvfunda {
namespace {

using SteadyClock = std::chrono::steady_clock;

double MsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - start).count();
}

std::vector<double> LogSoftmax(std::span<const double> logits) {
  double max_logit = -std::numeric_limits<double>::infinity();
  for (double x : logits) max_logit = std::max(max_logit, x);
  double sum = 0;
  for (double x : logits) sum += std::exp(x - max_logit);
  const double log_z = max_logit + std::log(sum);
  std::vector<double> out(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) out[i] = logits[i] - log_z;
  return out;
}

// KL(p || q) in nats from log-probabilities of equal length.
double KlDivergence(const std::vector<double>& log_p, const std::vector<double>& log_q) {
  double kl = 0;
  for (size_t i = 0; i < log_p.size(); ++i) {
    if (std::isinf(log_p[i])) continue;  // p_i = 0 contributes nothing
    kl += std::exp(log_p[i]) * (log_p[i] - log_q[i]);
  }
  return kl;
}

// One sequence being decoded: a cell's own continuation ("free"), or a copy of a
// cell's cache teacher-forced along the reference after the cell diverged.
struct Lane {
  size_t cell = 0;
  bool teacher = false;
  std::unique_ptr<KvCache> cache;
  int32_t pending = -1;  // token fed at the next step; -1 once finished
  int32_t next_k = 1;    // 1-based index of the prediction the next logits make
  bool agreeing = true;  // free lanes: every token so far equals the reference's
  std::mt19937_64 rng;
};

struct CellState {
  CellRun run;
  double kl_sum = 0;
  int32_t kl_count = 0;
};

// The decoding of one batch of caches: lanes, per-cell results, the reference.
class LaneSet {
 public:
  LaneSet(Model& model, const DecodeSettings& settings, const CellRun* reference)
      : model_(model),
        settings_(settings),
        sampler_(settings.temperature, settings.top_p),
        reference_(reference),
        eos_(model.tokenizer().eos_id()) {
    if (reference_ != nullptr) ref_steps_ = static_cast<int32_t>(reference_->log_probs.size());
  }

  Result<std::vector<CellRun>> Run(std::vector<KvCache> caches, const at::Tensor& prefill_logits);

 private:
  // The reference's k-th prediction (1-based): its k-th token, or EOS after the last.
  int32_t RefToken(int32_t k) const {
    const std::vector<int32_t>& tokens = reference_->generation.tokens;
    return k <= static_cast<int32_t>(tokens.size()) ? tokens[static_cast<size_t>(k - 1)] : eos_;
  }
  // Applies the logits of `lane`'s next prediction; may add a teacher lane to forks_.
  void Consume(Lane& lane, std::span<const double> logits);
  Status Step(const std::vector<size_t>& chunk);

  Model& model_;
  const DecodeSettings& settings_;
  const TokenSampler sampler_;
  const CellRun* const reference_;  // null while decoding the reference itself
  const int32_t eos_;
  int32_t ref_steps_ = 0;
  std::vector<CellState> cells_;
  std::vector<Lane> lanes_;
  std::vector<Lane> forks_;
};

void LaneSet::Consume(Lane& lane, std::span<const double> logits) {
  const int32_t k = lane.next_k;
  CellState& cell = cells_[lane.cell];
  if (lane.teacher) {
    cell.kl_sum += KlDivergence(reference_->log_probs[static_cast<size_t>(k - 1)], LogSoftmax(logits));
    ++cell.kl_count;
    if (k < ref_steps_) {
      lane.pending = RefToken(k);
      lane.next_k = k + 1;
    } else {
      lane.pending = -1;
    }
    return;
  }

  if (reference_ == nullptr) {
    cell.run.log_probs.push_back(LogSoftmax(logits));
  } else if (lane.agreeing && k <= ref_steps_) {
    cell.kl_sum += KlDivergence(reference_->log_probs[static_cast<size_t>(k - 1)], LogSoftmax(logits));
    ++cell.kl_count;
  }
  const int32_t token = sampler_.Choose(logits, lane.rng);
  if (reference_ != nullptr && lane.agreeing && (k > ref_steps_ || token != RefToken(k))) {
    lane.agreeing = false;
    if (k < ref_steps_) {
      // From here the cell's own continuation leaves the reference: a copy of its
      // cache (which holds exactly the reference's first k - 1 tokens) follows it.
      Lane teacher;
      teacher.cell = lane.cell;
      teacher.teacher = true;
      teacher.cache = std::make_unique<KvCache>(lane.cache->Clone());
      teacher.pending = RefToken(k);
      teacher.next_k = k + 1;
      forks_.push_back(std::move(teacher));
    }
  }
  Generation& gen = cell.run.generation;
  if (token == eos_) {
    lane.pending = -1;
    gen.hit_max_new_tokens = false;
    return;
  }
  gen.tokens.push_back(token);
  if (static_cast<int32_t>(gen.tokens.size()) >= settings_.max_new_tokens) {
    lane.pending = -1;
    gen.hit_max_new_tokens = true;
    return;
  }
  lane.pending = token;
  lane.next_k = k + 1;
}

Status LaneSet::Step(const std::vector<size_t>& chunk) {
  std::vector<KvCache*> caches;
  std::vector<int32_t> tokens;
  for (size_t i : chunk) {
    caches.push_back(lanes_[i].cache.get());
    tokens.push_back(lanes_[i].pending);
  }
  const auto start = SteadyClock::now();
  KVF_ASSIGN_OR_RETURN(at::Tensor logits, model_.DecodeStep(caches, tokens));
  if (logits.dim() != 2 || logits.size(0) != static_cast<int64_t>(chunk.size())) {
    return Status::Internal("DecodeStep returned logits of the wrong shape for a batch of " +
                            std::to_string(chunk.size()));
  }
  const at::Tensor host = logits.to(at::kCPU, at::kDouble).contiguous();
  const double share = MsSince(start) / static_cast<double>(chunk.size());
  const double* data = host.data_ptr<double>();
  const size_t vocab = static_cast<size_t>(host.size(1));
  for (size_t j = 0; j < chunk.size(); ++j) {
    Lane& lane = lanes_[chunk[j]];
    cells_[lane.cell].run.decode_ms += share;
    lane.cache->NotePeak();
    Consume(lane, std::span<const double>(data + j * vocab, vocab));
  }
  return Status::Ok();
}

Result<std::vector<CellRun>> LaneSet::Run(std::vector<KvCache> caches,
                                          const at::Tensor& prefill_logits) {
  if (settings_.max_new_tokens < 1 || settings_.max_batch < 1 ||
      !(settings_.temperature >= 0) ||
      (settings_.temperature > 0 && !(settings_.top_p > 0 && settings_.top_p <= 1))) {
    return Status::InvalidArgument("decode settings out of range");
  }
  if (reference_ != nullptr && ref_steps_ < 1) {
    return Status::InvalidArgument("the reference run has no predictions");
  }
  const at::Tensor first = prefill_logits.reshape({-1}).to(at::kCPU, at::kDouble).contiguous();
  const std::span<const double> first_logits(first.data_ptr<double>(),
                                             static_cast<size_t>(first.numel()));

  cells_.assign(caches.size(), CellState{});
  for (size_t i = 0; i < caches.size(); ++i) {
    Lane lane;
    lane.cell = i;
    lane.cache = std::make_unique<KvCache>(std::move(caches[i]));
    lane.cache->NotePeak();
    lane.rng.seed(settings_.seed);
    lanes_.push_back(std::move(lane));
  }
  caches.clear();

  auto retire_finished = [&] {
    for (Lane& lane : lanes_) {
      if (lane.pending >= 0 || lane.cache == nullptr) continue;
      if (!lane.teacher) {
        CellRun& run = cells_[lane.cell].run;
        run.kv_bytes_peak = lane.cache->peak_bytes();
        run.kv_bytes_final = lane.cache->BytesAllocated();
      }
      lane.cache.reset();  // frees the cache now, not at the end of the batch
    }
    std::erase_if(lanes_, [](const Lane& lane) { return lane.cache == nullptr; });
    for (Lane& fork : forks_) lanes_.push_back(std::move(fork));
    forks_.clear();
  };

  // Every cell's first token comes from the full prefill logits.
  for (Lane& lane : lanes_) Consume(lane, first_logits);
  retire_finished();
  while (!lanes_.empty()) {
    const size_t batch = static_cast<size_t>(settings_.max_batch);
    for (size_t begin = 0; begin < lanes_.size(); begin += batch) {
      std::vector<size_t> chunk;
      for (size_t i = begin; i < std::min(lanes_.size(), begin + batch); ++i) chunk.push_back(i);
      KVF_RETURN_IF_ERROR(Step(chunk));
    }
    retire_finished();
  }

  std::vector<CellRun> runs;
  runs.reserve(cells_.size());
  for (CellState& cell : cells_) {
    if (reference_ != nullptr) {
      if (cell.kl_count != ref_steps_) {
        return Status::Internal("KL measured at " + std::to_string(cell.kl_count) + " of " +
                                std::to_string(ref_steps_) + " reference positions");
      }
      cell.run.kl_mean = cell.kl_sum / static_cast<double>(ref_steps_);
    }
    cell.run.generation.text = model_.tokenizer().Decode(cell.run.generation.tokens);
    runs.push_back(std::move(cell.run));
  }
  return runs;
}

}  // namespace

CellDecoder::CellDecoder(Model& model, DecodeSettings settings)
    : model_(model), settings_(settings) {}

Result<CellRun> CellDecoder::DecodeReference(KvCache cache, const at::Tensor& prefill_logits) {
  std::vector<KvCache> caches;
  caches.push_back(std::move(cache));
  KVF_ASSIGN_OR_RETURN(std::vector<CellRun> runs, Run(std::move(caches), prefill_logits, nullptr));
  return std::move(runs.front());
}

Result<std::vector<CellRun>> CellDecoder::DecodeCells(std::vector<KvCache> caches,
                                                      const at::Tensor& prefill_logits,
                                                      const CellRun& reference) {
  return Run(std::move(caches), prefill_logits, &reference);
}

Result<std::vector<CellRun>> CellDecoder::Run(std::vector<KvCache> caches,
                                              const at::Tensor& prefill_logits,
                                              const CellRun* reference) {
  LaneSet lanes(model_, settings_, reference);
  return lanes.Run(std::move(caches), prefill_logits);
}

}  // namespace kvfunda
