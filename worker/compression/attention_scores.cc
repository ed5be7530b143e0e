#include "worker/compression/attention_scores.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <utility>

#include <ATen/core/Tensor.h>

namespace kvfunda {
namespace {

std::string Str(int64_t v) { return std::to_string(v); }

// The statistics tensor of `layer` as a contiguous CPU fp32 tensor.
Result<at::Tensor> LayerStat(const std::vector<at::Tensor>& per_layer, int layer,
                             const std::string& what) {
  if (layer < 0 || static_cast<size_t>(layer) >= per_layer.size()) {
    return Status::BadInput("prefill statistics have no " + what + " for layer " + Str(layer) +
                            " (" + Str(static_cast<int64_t>(per_layer.size())) + " layers)");
  }
  const at::Tensor& t = per_layer[static_cast<size_t>(layer)];
  if (!t.defined()) return Status::BadInput(what + " of layer " + Str(layer) + " is undefined");
  return t.to(at::kFloat).cpu().contiguous();
}

std::string ShapeString(const at::Tensor& t) {
  std::string out = "[";
  for (int64_t i = 0; i < t.dim(); ++i) out += (i ? ", " : "") + Str(t.size(i));
  return out + "]";
}

}  // namespace

Status CheckPlanInput(const CompressionInput& input, const std::string& method) {
  if (input.config == nullptr) return Status::BadInput(method + ": no model config");
  const ModelConfig& c = *input.config;
  if (c.n_layers < 1 || c.n_heads < 1 || c.n_kv_heads < 1 || c.n_heads % c.n_kv_heads != 0) {
    return Status::BadInput(method + ": bad model shape (" + Str(c.n_layers) + " layers, " +
                            Str(c.n_heads) + " heads, " + Str(c.n_kv_heads) + " KV heads)");
  }
  if (input.prompt_len < 1) return Status::BadInput(method + ": empty prompt");
  if (input.budget < 1 || input.budget > input.prompt_len) {
    return Status::BadInput(method + ": budget " + Str(input.budget) + " is outside [1, " +
                            Str(input.prompt_len) + "]");
  }
  return Status::Ok();
}

Result<UnitScores> WindowPrefixScores(const CompressionInput& input, int layer, int32_t window) {
  const int32_t len = input.prompt_len;
  if (window < 1 || window >= len) {
    return Status::BadInput("window " + Str(window) + " is outside [1, " + Str(len) + ")");
  }
  if (input.stats == nullptr) return Status::BadInput("no prefill statistics");
  KVF_ASSIGN_OR_RETURN(at::Tensor attn,
                       LayerStat(input.stats->window_attention, layer, "window attention"));
  const int64_t heads = input.config->n_heads;
  if (attn.dim() != 3 || attn.size(0) != heads || attn.size(2) != len || attn.size(1) < window) {
    return Status::BadInput("window attention of layer " + Str(layer) + " has shape " +
                            ShapeString(attn) + " where [" + Str(heads) + ", >=" + Str(window) +
                            ", " + Str(len) + "] is needed");
  }
  const int64_t rows = attn.size(1);
  const int32_t prefix = len - window;
  const float* data = attn.data_ptr<float>();
  UnitScores out(static_cast<size_t>(heads), std::vector<float>(static_cast<size_t>(prefix), 0.f));
  for (int64_t h = 0; h < heads; ++h) {
    std::vector<float>& s = out[static_cast<size_t>(h)];
    for (int64_t r = rows - window; r < rows; ++r) {
      const float* row = data + (h * rows + r) * len;
      for (int32_t t = 0; t < prefix; ++t) s[static_cast<size_t>(t)] += row[t];
    }
  }
  return out;
}

Result<UnitScores> ColumnSumPrefixScores(const CompressionInput& input, int layer,
                                         int32_t prefix_len) {
  const int32_t len = input.prompt_len;
  if (prefix_len < 1 || prefix_len > len) {
    return Status::BadInput("prefix " + Str(prefix_len) + " is outside [1, " + Str(len) + "]");
  }
  if (input.stats == nullptr) return Status::BadInput("no prefill statistics");
  KVF_ASSIGN_OR_RETURN(at::Tensor sums, LayerStat(input.stats->column_sums, layer, "column sums"));
  const int64_t heads = input.config->n_heads;
  if (sums.dim() != 2 || sums.size(0) != heads || sums.size(1) != len) {
    return Status::BadInput("column sums of layer " + Str(layer) + " do not have shape [" +
                            Str(heads) + ", " + Str(len) + "]");
  }
  const float* data = sums.data_ptr<float>();
  UnitScores out(static_cast<size_t>(heads));
  for (int64_t h = 0; h < heads; ++h) {
    out[static_cast<size_t>(h)].assign(data + h * len, data + h * len + prefix_len);
  }
  return out;
}

std::vector<float> Pool1d(const std::vector<float>& scores, int32_t kernel, Pooling pooling) {
  if (kernel <= 1) return scores;
  const int64_t n = static_cast<int64_t>(scores.size());
  const int64_t half = kernel / 2;
  std::vector<float> out(scores.size());
  for (int64_t t = 0; t < n; ++t) {
    const int64_t lo = std::max<int64_t>(0, t - half);
    const int64_t hi = std::min<int64_t>(n - 1, t + half);
    if (pooling == Pooling::kMax) {
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t i = lo; i <= hi; ++i) m = std::max(m, scores[static_cast<size_t>(i)]);
      out[static_cast<size_t>(t)] = m;
    } else {
      float sum = 0.f;
      for (int64_t i = lo; i <= hi; ++i) sum += scores[static_cast<size_t>(i)];
      out[static_cast<size_t>(t)] = sum / static_cast<float>(kernel);
    }
  }
  return out;
}

UnitScores ToUnitScores(const UnitScores& head_scores, int n_kv_heads,
                        const ScoringOptions& options) {
  const size_t heads = head_scores.size();
  const size_t n = heads == 0 ? 0 : head_scores[0].size();
  const size_t units =
      options.granularity == Granularity::kLayer ? 1 : static_cast<size_t>(n_kv_heads);
  const size_t group = heads / units;
  UnitScores out(units);
  for (size_t u = 0; u < units; ++u) {
    std::vector<float>& acc = out[u];
    for (size_t g = 0; g < group; ++g) {
      const std::vector<float> pooled =
          Pool1d(head_scores[u * group + g], options.kernel, options.pooling);
      if (g == 0) {
        acc = pooled;
        continue;
      }
      for (size_t t = 0; t < n; ++t) {
        acc[t] = options.group_reduce == GroupReduce::kMax ? std::max(acc[t], pooled[t])
                                                           : acc[t] + pooled[t];
      }
    }
    if (options.group_reduce == GroupReduce::kMean && group > 1) {
      for (float& v : acc) v /= static_cast<float>(group);
    }
  }
  return out;
}

std::vector<int32_t> TopKPositions(const std::vector<float>& scores, int32_t k) {
  std::vector<int32_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  const auto better = [&](int32_t a, int32_t b) {
    const float sa = scores[static_cast<size_t>(a)];
    const float sb = scores[static_cast<size_t>(b)];
    return sa > sb || (sa == sb && a < b);
  };
  if (static_cast<size_t>(k) < order.size()) {
    std::nth_element(order.begin(), order.begin() + k, order.end(), better);
    order.resize(static_cast<size_t>(k));
  }
  std::sort(order.begin(), order.end());
  return order;
}

std::vector<int32_t> PositionRange(int32_t first, int32_t count) {
  std::vector<int32_t> out(static_cast<size_t>(std::max(count, 0)));
  std::iota(out.begin(), out.end(), first);
  return out;
}

std::vector<std::vector<int32_t>> UnitsToHeads(std::vector<std::vector<int32_t>> units,
                                               int n_kv_heads) {
  if (units.size() == static_cast<size_t>(n_kv_heads)) return units;
  return std::vector<std::vector<int32_t>>(static_cast<size_t>(n_kv_heads), units.at(0));
}

KeepPlan UniformPlan(const ModelConfig& config, const std::vector<int32_t>& kept) {
  KeepPlan plan;
  plan.kept.assign(static_cast<size_t>(config.n_layers),
                   std::vector<std::vector<int32_t>>(static_cast<size_t>(config.n_kv_heads), kept));
  return plan;
}

Result<int32_t> IntParam(const nlohmann::json& params, const std::string& key,
                         const std::string& method, int64_t min, int64_t max) {
  if (!params.is_object() || !params.contains(key) || !params[key].is_number_integer()) {
    return Status::BadInput(method + ": params." + key + " must be an integer");
  }
  const int64_t v = params[key].get<int64_t>();
  if (v < min || v > max) {
    return Status::BadInput(method + ": params." + key + " = " + Str(v) + " is outside [" +
                            Str(min) + ", " + Str(max) + "]");
  }
  return static_cast<int32_t>(v);
}

Result<double> DoubleParam(const nlohmann::json& params, const std::string& key,
                           const std::string& method, double min, double max) {
  if (!params.is_object() || !params.contains(key) || !params[key].is_number()) {
    return Status::BadInput(method + ": params." + key + " must be a number");
  }
  const double v = params[key].get<double>();
  if (!(v >= min && v <= max)) {
    return Status::BadInput(method + ": params." + key + " = " + params[key].dump() +
                            " is out of range");
  }
  return v;
}

Result<bool> BoolParam(const nlohmann::json& params, const std::string& key,
                       const std::string& method) {
  if (!params.is_object() || !params.contains(key) || !params[key].is_boolean()) {
    return Status::BadInput(method + ": params." + key + " must be true or false");
  }
  return params[key].get<bool>();
}

namespace {

Result<std::string> StringParam(const nlohmann::json& params, const std::string& key,
                                const std::string& method) {
  if (!params.is_object() || !params.contains(key) || !params[key].is_string()) {
    return Status::BadInput(method + ": params." + key + " must be a string");
  }
  return params[key].get<std::string>();
}

}  // namespace

Result<ScoringOptions> ScoringParams(const nlohmann::json& params, const std::string& method) {
  ScoringOptions o;
  KVF_ASSIGN_OR_RETURN(o.kernel, IntParam(params, "kernel", method, 1, 1023));
  if (o.kernel % 2 == 0) {
    return Status::BadInput(method + ": params.kernel must be odd (same-length pooling), got " +
                            Str(o.kernel));
  }
  KVF_ASSIGN_OR_RETURN(const std::string pooling, StringParam(params, "pooling", method));
  if (pooling == "max") {
    o.pooling = Pooling::kMax;
  } else if (pooling == "avg") {
    o.pooling = Pooling::kAvg;
  } else {
    return Status::BadInput(method + ": params.pooling must be max or avg, got " + pooling);
  }
  KVF_ASSIGN_OR_RETURN(const std::string granularity, StringParam(params, "granularity", method));
  if (granularity == "kv_head") {
    o.granularity = Granularity::kKvHead;
  } else if (granularity == "layer") {
    o.granularity = Granularity::kLayer;
  } else {
    return Status::BadInput(method + ": params.granularity must be kv_head or layer, got " +
                            granularity);
  }
  KVF_ASSIGN_OR_RETURN(const std::string reduce, StringParam(params, "group_reduce", method));
  if (reduce == "sum") {
    o.group_reduce = GroupReduce::kSum;
  } else if (reduce == "mean") {
    o.group_reduce = GroupReduce::kMean;
  } else if (reduce == "max") {
    o.group_reduce = GroupReduce::kMax;
  } else {
    return Status::BadInput(method + ": params.group_reduce must be sum, mean or max, got " +
                            reduce);
  }
  return o;
}

std::string PoolingName(Pooling pooling) { return pooling == Pooling::kMax ? "max" : "avg"; }

std::string GroupReduceName(GroupReduce reduce) {
  switch (reduce) {
    case GroupReduce::kSum:
      return "sum";
    case GroupReduce::kMean:
      return "mean";
    case GroupReduce::kMax:
      return "max";
  }
  return "?";
}

std::string GranularityName(Granularity granularity) {
  return granularity == Granularity::kLayer ? "layer" : "kv_head";
}

}  // namespace kvfunda
