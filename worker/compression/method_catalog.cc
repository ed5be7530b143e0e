// Method catalog: descriptors of the compression methods and CanonicalParams().
// Adding a method is one entry in AllMethods() (plus its policy class, created by
// MakePolicy() in the policy factory).
#include "worker/compression/method_catalog.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>

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
