// Method catalog: descriptors of the compression methods and CanonicalParams().
// Adding a method is one entry in AllMethods() (plus its policy class, created by
// MakePolicy() in the policy factory).
#include "worker/compression/method_catalog.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <utility>

namespace kvfunda {
namespace {

// 1000000 -> "1000000" (not "1e+06"); 0.5 -> "0.5".
std::string FormatNumber(double v) {
  if (std::abs(v) < 9e15 && v == std::floor(v)) {
    return std::to_string(static_cast<int64_t>(v));
  }
  std::ostringstream out;
  out << v;
  return out.str();
}

std::string KnownNames(const std::vector<ParamSpec>& params) {
  if (params.empty()) return "none";
  std::string out;
  for (const ParamSpec& p : params) {
    if (!out.empty()) out += ", ";
    out += p.name;
  }
  return out;
}

std::string_view TypeWord(ParamSpec::Type type) {
  switch (type) {
    case ParamSpec::Type::kInt:
      return "an integer";
    case ParamSpec::Type::kDouble:
      return "a number";
    case ParamSpec::Type::kBool:
      return "true or false";
    case ParamSpec::Type::kString:
      return "a string";
  }
  return "a value";
}

// Checks one value against its spec; returns the canonical value.
Result<nlohmann::json> CanonicalValue(const ParamSpec& spec, const nlohmann::json& value) {
  const std::string prefix = "parameter '" + spec.name + "': ";
  auto wrong_type = [&]() {
    return Status::BadInput(prefix + "expected " + std::string(TypeWord(spec.type)) + ", got " +
                            value.dump());
  };
  const bool has_range = spec.min <= spec.max;
  auto out_of_range = [&]() {
    return Status::BadInput(prefix + value.dump() + " is outside [" + FormatNumber(spec.min) +
                            ", " + FormatNumber(spec.max) + "]");
  };
  switch (spec.type) {
    case ParamSpec::Type::kInt: {
      if (!value.is_number_integer()) return wrong_type();
      if (value.is_number_unsigned() &&
          value.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return out_of_range();
      }
      const int64_t v = value.get<int64_t>();
      if (has_range && (static_cast<double>(v) < spec.min || static_cast<double>(v) > spec.max)) {
        return out_of_range();
      }
      return nlohmann::json(v);
    }
    case ParamSpec::Type::kDouble: {
      if (!value.is_number()) return wrong_type();
      const double v = value.get<double>();
      if (!std::isfinite(v)) return wrong_type();
      if (has_range && (v < spec.min || v > spec.max)) return out_of_range();
      return nlohmann::json(v);  // integers become doubles: one canonical form
    }
    case ParamSpec::Type::kBool:
      if (!value.is_boolean()) return wrong_type();
      return value;
    case ParamSpec::Type::kString: {
      if (!value.is_string()) return wrong_type();
      if (spec.choices.empty()) return value;
      const std::string& s = value.get_ref<const std::string&>();
      for (const std::string& c : spec.choices) {
        if (c == s) return value;
      }
      std::string allowed;
      for (const std::string& c : spec.choices) allowed += (allowed.empty() ? "" : ", ") + c;
      return Status::BadInput(prefix + "'" + s + "' is not one of: " + allowed);
    }
  }
  return Status::Internal(prefix + "unknown parameter type");
}

ParamSpec IntSpec(std::string name, int64_t def, double min, double max, std::string doc) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = ParamSpec::Type::kInt;
  p.default_value = def;
  p.min = min;
  p.max = max;
  p.doc = std::move(doc);
  return p;
}

ParamSpec DoubleSpec(std::string name, double def, double min, double max, std::string doc) {
  ParamSpec p = IntSpec(std::move(name), 0, min, max, std::move(doc));
  p.type = ParamSpec::Type::kDouble;
  p.default_value = def;
  return p;
}

ParamSpec BoolSpec(std::string name, bool def, std::string doc) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = ParamSpec::Type::kBool;
  p.default_value = def;
  p.min = 1;  // no numeric range
  p.max = 0;
  p.doc = std::move(doc);
  return p;
}

ParamSpec ChoiceSpec(std::string name, std::string def, std::vector<std::string> choices,
                     std::string doc) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = ParamSpec::Type::kString;
  p.default_value = std::move(def);
  p.choices = std::move(choices);
  p.min = 1;  // no numeric range
  p.max = 0;
  p.doc = std::move(doc);
  return p;
}

// The observation window of the SnapKV family.
ParamSpec WindowSpec() {
  return IntSpec("window", 8, 1, 1048576,
                 "observation window w: the last w prompt queries score the prefix and the last "
                 "w prompt tokens are always kept");
}

// Pooling, granularity and group reduction shared by the score-based methods.
void AddScoringSpecs(MethodDescriptor& m, int64_t kernel, const std::string& reduce,
                     const std::string& granularity) {
  m.params.push_back(IntSpec("kernel", kernel, 1, 1023,
                             "1-D pooling kernel over positions (odd; stride 1, padding "
                             "kernel/2; 1 = no pooling)"));
  m.params.push_back(ChoiceSpec("pooling", "max", {"max", "avg"},
                                "pooling type (avg counts the zero padding, as avg_pool1d)"));
  m.params.push_back(ChoiceSpec("granularity", granularity, {"kv_head", "layer"},
                                "selection unit: one kept set per KV head, or one per layer "
                                "shared by all its KV heads"));
  m.params.push_back(ChoiceSpec("group_reduce", reduce, {"sum", "mean", "max"},
                                "how the query heads' scores of a unit are combined (sum and "
                                "mean rank alike)"));
}

std::vector<MethodDescriptor> BuildMethods() {
  std::vector<MethodDescriptor> methods;
  {
    MethodDescriptor full;
    full.name = "full";
    full.summary = "Full KV cache (no compression): the baseline of every (model, task, shots).";
    full.uses_ratio = false;
    methods.push_back(std::move(full));
  }
  {
    MethodDescriptor streaming;
    streaming.name = "streamingllm";
    streaming.summary =
        "StreamingLLM: keeps the first `sinks` attention-sink tokens plus the most recent "
        "window; ratio = fraction of the prompt KV kept.";
    streaming.uses_ratio = true;
    ParamSpec sinks;
    sinks.name = "sinks";
    sinks.type = ParamSpec::Type::kInt;
    sinks.default_value = 4;
    sinks.min = 0;
    sinks.max = 1024;
    sinks.doc = "attention-sink tokens always kept";
    streaming.params.push_back(std::move(sinks));
    methods.push_back(std::move(streaming));
  }
  {
    MethodDescriptor h2o;
    h2o.name = "h2o";
    h2o.summary =
        "H2O (prefill-only, KVCache-Factory): keeps the heavy hitters by attention column sums "
        "over all prompt queries plus the most recent tokens.";
    h2o.params.push_back(IntSpec("recent", 8, 0, 1048576,
                                 "recent window: the last `recent` prompt tokens are always kept"));
    h2o.params.push_back(ChoiceSpec("granularity", "kv_head", {"kv_head", "layer"},
                                    "selection unit: one kept set per KV head, or one per layer "
                                    "shared by all its KV heads"));
    h2o.params.push_back(ChoiceSpec("group_reduce", "sum", {"sum", "mean", "max"},
                                    "how the query heads' scores of a unit are combined (sum and "
                                    "mean rank alike)"));
    methods.push_back(std::move(h2o));
  }
  {
    MethodDescriptor snapkv;
    snapkv.name = "snapkv";
    snapkv.summary =
        "SnapKV (prefill-only): scores the prefix by the pooled attention of the last `window` "
        "queries, keeps the top tokens per unit plus the window.";
    snapkv.params.push_back(WindowSpec());
    AddScoringSpecs(snapkv, 7, "mean", "kv_head");
    methods.push_back(std::move(snapkv));
  }
  {
    MethodDescriptor pyramid;
    pyramid.name = "pyramidkv";
    pyramid.summary =
        "PyramidKV (prefill-only): SnapKV scoring with an arithmetic per-layer budget, largest "
        "at the bottom layer, averaging the ratio's budget.";
    pyramid.params.push_back(WindowSpec());
    AddScoringSpecs(pyramid, 7, "mean", "kv_head");
    pyramid.params.push_back(DoubleSpec("beta", 20.0, 1.0, 1000000.0,
                                        "pyramid steepness: the top layer keeps floor(C / beta) "
                                        "prefix tokens, C = budget - window"));
    pyramid.params.push_back(BoolSpec("legacy_uniform", false,
                                      "KVCache-Factory quirk: uniform SnapKV budgets when the "
                                      "prompt is shorter than 2C"));
    methods.push_back(std::move(pyramid));
  }
  {
    MethodDescriptor chunk;
    chunk.name = "chunkkv";
    chunk.summary =
        "ChunkKV (prefill-only): keeps whole chunks of the prefix ranked by window attention "
        "(shared by the heads of a layer), plus the window; optional layer-wise index reuse.";
    chunk.params.push_back(WindowSpec());
    chunk.params.push_back(IntSpec("chunk_size", 10, 1, 1048576, "tokens per chunk"));
    AddScoringSpecs(chunk, 1, "sum", "layer");
    chunk.params.push_back(IntSpec("reuse_layers", 1, 1, 1024,
                                   "layer-wise index reuse: the first layer of each block of "
                                   "this many layers selects, the others reuse (1 = off)"));
    chunk.params.push_back(BoolSpec("partial_chunk", true,
                                    "cut the first chunk that does not fit so exactly "
                                    "budget - window prefix tokens are kept"));
    methods.push_back(std::move(chunk));
  }
  return methods;
}

}  // namespace

const std::vector<MethodDescriptor>& AllMethods() {
  static const std::vector<MethodDescriptor> methods = BuildMethods();
  return methods;
}

const MethodDescriptor* FindMethod(std::string_view name) {
  for (const MethodDescriptor& m : AllMethods()) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

Result<nlohmann::json> CanonicalParams(const std::vector<ParamSpec>& params,
                                       const nlohmann::json& given) {
  if (!given.is_null() && !given.is_object()) {
    return Status::BadInput("parameters must be a map of name: value, got " + given.dump());
  }
  nlohmann::json out = nlohmann::json::object();
  if (given.is_object()) {
    for (const auto& [key, value] : given.items()) {
      const ParamSpec* spec = nullptr;
      for (const ParamSpec& p : params) {
        if (p.name == key) spec = &p;
      }
      if (spec == nullptr) {
        return Status::BadInput("unknown parameter '" + key + "' (known: " + KnownNames(params) +
                                ")");
      }
      KVF_ASSIGN_OR_RETURN(out[key], CanonicalValue(*spec, value));
    }
  }
  for (const ParamSpec& p : params) {
    if (!out.contains(p.name)) {
      // Defaults go through the same check, so a bad catalog entry is caught too.
      auto canonical = CanonicalValue(p, p.default_value);
      if (!canonical.ok()) {
        return Status::Internal("catalog default of " + canonical.status().message());
      }
      out[p.name] = std::move(canonical).value();
    }
  }
  return out;
}

}  // namespace kvfunda
