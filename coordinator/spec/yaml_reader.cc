#include "coordinator/spec/yaml_reader.h"

#include <charconv>
#include <cmath>
#include <utility>

namespace kvfunda::spec_internal {
namespace {

// yaml-cpp tags a quoted scalar "!" (non-specific) and a plain one "?".
bool IsQuoted(const YAML::Node& node) { return node.IsScalar() && node.Tag() == "!"; }

bool IsPlainNull(const YAML::Node& node) {
  if (node.IsNull()) return true;
  if (!node.IsScalar() || IsQuoted(node)) return false;
  const std::string& s = node.Scalar();
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

bool IsPlainBool(const YAML::Node& node, bool* value) {
  if (!node.IsScalar() || IsQuoted(node)) return false;
  const std::string& s = node.Scalar();
  if (s == "true" || s == "True" || s == "TRUE") {
    *value = true;
    return true;
  }
  if (s == "false" || s == "False" || s == "FALSE") {
    *value = false;
    return true;
  }
  return false;
}

// Integer syntax of the YAML core schema (decimal only): [-+]?[0-9]+.
bool HasIntSyntax(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Float syntax: digits with optional '.', exponent; no inf/nan, no hex.
bool HasFloatSyntax(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  bool digit = false;
  for (char c : s) {
    if (c >= '0' && c <= '9') {
      digit = true;
    } else if (c != '.' && c != 'e' && c != 'E' && c != '-' && c != '+') {
      return false;
    }
  }
  return digit;
}

std::string_view StripPlus(std::string_view s) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  return s;
}

}  // namespace

const MapField* FieldMap::Find(std::string_view key) const {
  for (const MapField& f : fields_) {
    if (f.key == key) return &f;
  }
  return nullptr;
}

int YamlReader::LineOf(const YAML::Node& node) const {
  if (node.IsNull()) {
    for (const auto& [value, line] : null_value_lines_) {
      if (value.is(node)) return line;
    }
  }
  return node.Mark().line + 1;
}

Status YamlReader::Error(const YAML::Node& at, std::string_view path,
                         std::string_view problem) const {
  return ErrorAtLine(LineOf(at), path, problem);
}

Status YamlReader::ErrorAtLine(int line, std::string_view path, std::string_view problem) const {
  std::string msg = source_ + ":" + std::to_string(line < 1 ? 1 : line) + ": ";
  msg += path.empty() ? std::string("(top level)") : std::string(path);
  msg += ": ";
  msg += problem;
  return Status::BadInput(std::move(msg));
}

std::string YamlReader::Child(std::string_view path, std::string_view key) {
  if (path.empty()) return std::string(key);
  return std::string(path) + "." + std::string(key);
}

std::string YamlReader::Index(std::string_view path, size_t i) {
  return std::string(path) + "[" + std::to_string(i) + "]";
}

std::string YamlReader::Describe(const YAML::Node& node) {
  if (node.IsMap()) return "a map";
  if (node.IsSequence()) return "a list";
  if (IsPlainNull(node)) return "nothing (null)";
  if (IsQuoted(node)) return "the quoted string \"" + node.Scalar() + "\"";
  return "'" + node.Scalar() + "'";
}

Result<FieldMap> YamlReader::ReadMap(const YAML::Node& node, std::string_view path,
                                     std::span<const std::string_view> allowed) const {
  if (!node.IsMap()) {
    return Error(node, path, "expected a map of keys, got " + Describe(node));
  }
  std::vector<MapField> fields;
  for (auto it = node.begin(); it != node.end(); ++it) {
    const YAML::Node key = it->first;
    if (!key.IsScalar())
      return Error(key, path, "a key must be a plain name, got " + Describe(key));
    MapField field{key.Scalar(), key, it->second};
    const std::string key_path = Child(path, field.key);
    for (const MapField& seen : fields) {
      if (seen.key == field.key) {
        return Error(key, key_path,
                     "duplicate key (first at line " + std::to_string(LineOf(seen.key_node)) + ")");
      }
    }
    if (!allowed.empty()) {
      bool known = false;
      for (std::string_view a : allowed) known = known || a == field.key;
      if (!known) {
        std::string list;
        for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        return Error(key, key_path, "unknown key (allowed: " + list + ")");
      }
    }
    if (field.value.IsNull()) null_value_lines_.emplace_back(field.value, LineOf(key));
    fields.push_back(std::move(field));
  }
  return FieldMap(node, std::move(fields));
}

Status YamlReader::RequireList(const YAML::Node& node, std::string_view path) const {
  if (node.IsSequence()) return Status::Ok();
  return Error(node, path, "expected a list, got " + Describe(node));
}

Result<int64_t> YamlReader::ReadInt(const YAML::Node& node, std::string_view path) const {
  if (!node.IsScalar() || IsQuoted(node) || !HasIntSyntax(node.Scalar())) {
    return Error(node, path, "expected an integer, got " + Describe(node));
  }
  const std::string_view s = StripPlus(node.Scalar());
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) {
    return Error(node, path, node.Scalar() + " does not fit in a 64-bit integer");
  }
  return v;
}

Result<double> YamlReader::ReadDouble(const YAML::Node& node, std::string_view path) const {
  if (!node.IsScalar() || IsQuoted(node) || !HasFloatSyntax(node.Scalar())) {
    return Error(node, path, "expected a number, got " + Describe(node));
  }
  const std::string_view s = StripPlus(node.Scalar());
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(v)) {
    return Error(node, path, "expected a finite number, got " + Describe(node));
  }
  return v;
}

Result<std::string> YamlReader::ReadString(const YAML::Node& node, std::string_view path) const {
  if (!node.IsScalar() || IsPlainNull(node)) {
    return Error(node, path, "expected a string, got " + Describe(node));
  }
  return node.Scalar();
}

Result<nlohmann::json> YamlReader::ToJson(const YAML::Node& node, std::string_view path) const {
  if (IsPlainNull(node)) return nlohmann::json(nullptr);
  if (node.IsMap()) {
    KVF_ASSIGN_OR_RETURN(FieldMap map, ReadMap(node, path, {}));
    nlohmann::json out = nlohmann::json::object();
    for (const MapField& f : map.fields()) {
      KVF_ASSIGN_OR_RETURN(out[f.key], ToJson(f.value, Child(path, f.key)));
    }
    return out;
  }
  if (node.IsSequence()) {
    nlohmann::json out = nlohmann::json::array();
    for (size_t i = 0; i < node.size(); ++i) {
      KVF_ASSIGN_OR_RETURN(nlohmann::json item, ToJson(node[i], Index(path, i)));
      out.push_back(std::move(item));
    }
    return out;
  }
  if (IsQuoted(node)) return nlohmann::json(node.Scalar());
  bool b = false;
  if (IsPlainBool(node, &b)) return nlohmann::json(b);
  if (HasIntSyntax(node.Scalar())) {
    KVF_ASSIGN_OR_RETURN(int64_t v, ReadInt(node, path));
    return nlohmann::json(v);
  }
  if (HasFloatSyntax(node.Scalar())) {
    double v = 0;
    const std::string_view s = StripPlus(node.Scalar());
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && ptr == s.data() + s.size() && std::isfinite(v)) {
      return nlohmann::json(v);
    }
  }
  return nlohmann::json(node.Scalar());
}

}  // namespace kvfunda::spec_internal
