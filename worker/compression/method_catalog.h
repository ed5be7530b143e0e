// Method catalog: the compression methods a sweep may name, with their parameters.
//
// This is the torch-free description that the coordinator uses to validate a spec
// and to build cell identities; the implementations live beside it
// (worker/compression/*_policy.h) and are created by MakePolicy().
// Threading: immutable after static initialisation; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "coordinator/base/status.h"

namespace kvfunda {

struct ParamSpec {
  enum class Type { kInt, kDouble, kBool, kString };
  std::string name;
  Type type = Type::kInt;
  nlohmann::json default_value;
  double min = 0, max = 0;            // inclusive range for numbers (ignored when min > max)
  std::vector<std::string> choices;   // allowed values for strings (empty = any)
  std::string doc;
};

struct MethodDescriptor {
  std::string name;
  std::string summary;
  std::vector<ParamSpec> params;
  bool uses_ratio = true;  // false for `full`
};

const std::vector<MethodDescriptor>& AllMethods();
// nullptr when unknown.
const MethodDescriptor* FindMethod(std::string_view name);

// Checks `given` (an object, possibly empty or null) against `params`: rejects
// unknown keys, wrong types and out-of-range values (bad-input naming the key),
// fills in defaults, and returns the canonical object (keys sorted).
Result<nlohmann::json> CanonicalParams(const std::vector<ParamSpec>& params,
                                       const nlohmann::json& given);

}  // namespace kvfunda
