// YamlReader: typed, strict reading of yaml-cpp nodes for the sweep-spec parser.
//
// Internal to coordinator/spec/. yaml-cpp keeps every scalar as text and silently
// keeps one of two duplicate keys; this reader adds what a validator needs: maps
// read with duplicate- and unknown-key detection, scalars converted with YAML
// core-schema typing (a quoted scalar is always a string), and error Statuses in
// the one format every spec message uses:
//   "<source>:<line>: <field path>: <problem>"   e.g. "sweep.yaml:7: ratios[2]: 1.5 is outside (0,
//   1]"
// Lines are 1-based (yaml-cpp marks are 0-based).
//
// Threading: thread-compatible; use one YamlReader per parse.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "coordinator/base/status.h"

namespace kvfunda::spec_internal {

// One key of a map, in document order.
struct MapField {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
};

// The keys of one map, validated (no duplicates, all allowed).
class FieldMap {
 public:
  FieldMap() = default;
  FieldMap(YAML::Node map, std::vector<MapField> fields)
      : map_(std::move(map)), fields_(std::move(fields)) {}
  // nullptr when `key` is absent.
  const MapField* Find(std::string_view key) const;
  // The map node itself (for the line of "required key is missing").
  const YAML::Node& node() const { return map_; }
  const std::vector<MapField>& fields() const { return fields_; }

 private:
  YAML::Node map_;
  std::vector<MapField> fields_;
};

class YamlReader {
 public:
  explicit YamlReader(std::string source) : source_(std::move(source)) {}

  // bad-input "<source>:<line of at>: <path>: <problem>". `at` must be a valid node.
  Status Error(const YAML::Node& at, std::string_view path, std::string_view problem) const;
  // Same with an explicit 1-based line.
  Status ErrorAtLine(int line, std::string_view path, std::string_view problem) const;

  // Reads a map. Errors: not a map; a key that is not a scalar; a duplicate key
  // ("duplicate key (first at line N)"); a key not in `allowed` ("unknown key
  // (allowed: ...)"). An empty `allowed` accepts any key. `path` is the map's own
  // field path ("" for the top level); a key's path is path + "." + key.
  Result<FieldMap> ReadMap(const YAML::Node& node, std::string_view path,
                           std::span<const std::string_view> allowed) const;

  // Checks that `node` is a list (a YAML sequence).
  Status RequireList(const YAML::Node& node, std::string_view path) const;

  // Scalars. Errors name the field and show the value as written.
  Result<int64_t> ReadInt(const YAML::Node& node, std::string_view path) const;
  Result<double> ReadDouble(const YAML::Node& node, std::string_view path) const;  // finite
  Result<std::string> ReadString(const YAML::Node& node, std::string_view path) const;

  // Any node as JSON: plain scalars typed by the YAML core schema (null, bool,
  // int, float, else string), quoted scalars as strings, maps checked for
  // duplicate keys.
  Result<nlohmann::json> ToJson(const YAML::Node& node, std::string_view path) const;

  // Path helpers: Child("models[0]", "path") = "models[0].path"; Index("ratios", 2) = "ratios[2]".
  static std::string Child(std::string_view path, std::string_view key);
  static std::string Index(std::string_view path, size_t i);
  // 1-based line of `node`. yaml-cpp marks an empty value ("name:") at the next
  // token, so for a null value read by ReadMap the line of its key is used.
  int LineOf(const YAML::Node& node) const;

 private:
  // "'abc'", "a map", "a list", "the quoted string \"0.5\"".
  static std::string Describe(const YAML::Node& node);

  std::string source_;
  // Null values seen by ReadMap and the line of their key. Mutable: a cache of
  // positions, not part of the reader's observable state.
  mutable std::vector<std::pair<YAML::Node, int>> null_value_lines_;
};

}  // namespace kvfunda::spec_internal
