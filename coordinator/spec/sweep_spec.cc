// ParseSweepSpec(): YAML/JSON text -> validated SweepSpec; SweepSpecToJson().
#include "coordinator/spec/sweep_spec.h"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <filesystem>
#include <limits>
#include <span>
#include <string_view>
#include <system_error>
#include <utility>

#include "coordinator/spec/yaml_reader.h"
#include "worker/compression/method_catalog.h"
#include "worker/tasks/task_catalog.h"

namespace kvfunda {
namespace {

using spec_internal::FieldMap;
using spec_internal::MapField;
using spec_internal::YamlReader;

// Keys accepted in each map of a spec; SweepSpecAllowedKeys() exposes them.
constexpr std::string_view kTopKeys[] = {"name",         "models",   "methods",    "ratios",
                                         "tasks",        "limit",    "shard_size", "seed",
                                         "max_attempts", "decoding", "data_dir"};
constexpr std::string_view kModelKeys[] = {"id", "path", "type"};
constexpr std::string_view kMethodKeys[] = {"name", "params"};
constexpr std::string_view kTaskKeys[] = {"name", "shots", "limit", "params"};
constexpr std::string_view kDecodingKeys[] = {"max_new_tokens", "temperature", "top_p"};
constexpr std::string_view kModelTypes[] = {"instruct", "base", "reasoning"};

constexpr int64_t kMaxInt32 = std::numeric_limits<int32_t>::max();
constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();

std::string JoinNames(std::span<const std::string_view> names) {
  std::string out;
  for (std::string_view n : names) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::vector<std::string_view> views(names.begin(), names.end());
  return JoinNames(std::span<const std::string_view>(views));
}

std::vector<std::string> ToStrings(std::span<const std::string_view> names) {
  return std::vector<std::string>(names.begin(), names.end());
}

// [A-Za-z0-9._-]{1,max_len}, plus the characters in `extra`.
bool IsIdentifier(const std::string& s, size_t max_len, std::string_view extra) {
  if (s.empty() || s.size() > max_len) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-' || extra.find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// Checks path readability; a relative path is taken against the current directory.
Status CheckReadable(const std::string& path) {
  if (::access(path.c_str(), R_OK) == 0) return Status::Ok();
  const std::string reason = std::error_code(errno, std::generic_category()).message();
  std::string where;
  if (!std::filesystem::path(path).is_absolute()) {
    std::error_code ec;
    const std::filesystem::path cwd = std::filesystem::current_path(ec);
    if (!ec) where = " (relative to " + cwd.string() + ")";
  }
  return Status::BadInput("cannot read '" + path + "'" + where + ": " + reason);
}

class SpecParser {
 public:
  SpecParser(std::string source, const SpecOptions& options)
      : reader_(std::move(source)), options_(options) {}

  Result<SweepSpec> Parse(const YAML::Node& root);

 private:
  // An integer in [min, max].
  Result<int64_t> ReadIntInRange(const YAML::Node& node, const std::string& path, int64_t min,
                                 int64_t max) const;
  // An integer in [1, max]; below 1 is "must be a positive integer".
  Result<int64_t> ReadPositive(const YAML::Node& node, const std::string& path, int64_t max) const;
  Status ParseModels(const YAML::Node& node, SweepSpec* spec) const;
  Status ParseMethods(const YAML::Node& node, SweepSpec* spec) const;
  Status ParseRatios(const YAML::Node& node, SweepSpec* spec) const;
  Status ParseTasks(const YAML::Node& node, SweepSpec* spec) const;
  Status ParseTask(const YAML::Node& node, const std::string& path, TaskEntry* task) const;
  Status ParseDecoding(const YAML::Node& node, DecodingSpec* decoding) const;
  // Canonical params of a catalog entry; errors carry the line of the offending key.
  Result<nlohmann::json> ParseParams(const MapField* field, const std::string& path,
                                     const std::vector<ParamSpec>& params) const;

  YamlReader reader_;
  SpecOptions options_;
};

Result<int64_t> SpecParser::ReadIntInRange(const YAML::Node& node, const std::string& path,
                                           int64_t min, int64_t max) const {
  KVF_ASSIGN_OR_RETURN(int64_t v, reader_.ReadInt(node, path));
  if (v < min || v > max) {
    return reader_.Error(
        node, path,
        node.Scalar() + " is outside [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return v;
}

Result<int64_t> SpecParser::ReadPositive(const YAML::Node& node, const std::string& path,
                                         int64_t max) const {
  KVF_ASSIGN_OR_RETURN(int64_t v, reader_.ReadInt(node, path));
  if (v < 1) return reader_.Error(node, path, "must be a positive integer, got " + node.Scalar());
  if (v > max) {
    return reader_.Error(node, path,
                         node.Scalar() + " is too large (at most " + std::to_string(max) + ")");
  }
  return v;
}

Result<SweepSpec> SpecParser::Parse(const YAML::Node& root) {
  if (!root.IsMap()) {
    return reader_.Error(root, "",
                         "a sweep spec must be a map with the keys " + JoinNames(kTopKeys));
  }
  KVF_ASSIGN_OR_RETURN(FieldMap top, reader_.ReadMap(root, "", kTopKeys));
  SweepSpec spec;

  const MapField* name = top.Find("name");
  if (name == nullptr) return reader_.Error(root, "name", "required key is missing");
  KVF_ASSIGN_OR_RETURN(spec.name, reader_.ReadString(name->value, "name"));
  if (!IsIdentifier(spec.name, 100, "")) {
    return reader_.Error(name->value, "name",
                         "'" + spec.name + "' must be 1-100 characters of A-Z a-z 0-9 . _ -");
  }

  const MapField* models = top.Find("models");
  if (models == nullptr) return reader_.Error(root, "models", "required key is missing");
  KVF_RETURN_IF_ERROR(ParseModels(models->value, &spec));

  if (const MapField* f = top.Find("methods")) KVF_RETURN_IF_ERROR(ParseMethods(f->value, &spec));

  const MapField* ratios = top.Find("ratios");
  if (ratios != nullptr) KVF_RETURN_IF_ERROR(ParseRatios(ratios->value, &spec));
  if (!spec.methods.empty() && spec.ratios.empty()) {
    const YAML::Node& at = ratios != nullptr ? ratios->value : root;
    return reader_.Error(at, "ratios",
                         "at least one ratio is required when methods other than full are "
                         "listed (method '" +
                             spec.methods.front().name + "')");
  }

  const MapField* tasks = top.Find("tasks");
  if (tasks == nullptr) return reader_.Error(root, "tasks", "required key is missing");
  KVF_RETURN_IF_ERROR(ParseTasks(tasks->value, &spec));

  if (const MapField* f = top.Find("limit")) {
    KVF_ASSIGN_OR_RETURN(spec.limit, ReadPositive(f->value, "limit", kMaxInt64));
  }
  if (const MapField* f = top.Find("shard_size")) {
    KVF_ASSIGN_OR_RETURN(int64_t v, ReadPositive(f->value, "shard_size", kMaxInt32));
    spec.shard_size = static_cast<int>(v);
  }
  if (const MapField* f = top.Find("seed")) {
    KVF_ASSIGN_OR_RETURN(int64_t v, ReadIntInRange(f->value, "seed", 0, kMaxInt64));
    spec.seed = static_cast<uint64_t>(v);
  }
  if (const MapField* f = top.Find("max_attempts")) {
    KVF_ASSIGN_OR_RETURN(int64_t v, ReadIntInRange(f->value, "max_attempts", 1, 100));
    spec.max_attempts = static_cast<int>(v);
  }
  if (const MapField* f = top.Find("decoding")) {
    KVF_RETURN_IF_ERROR(ParseDecoding(f->value, &spec.decoding));
  }
  if (const MapField* f = top.Find("data_dir")) {
    KVF_ASSIGN_OR_RETURN(spec.data_dir, reader_.ReadString(f->value, "data_dir"));
  }
  return spec;
}

Status SpecParser::ParseModels(const YAML::Node& node, SweepSpec* spec) const {
  KVF_RETURN_IF_ERROR(reader_.RequireList(node, "models"));
  if (node.size() == 0) return reader_.Error(node, "models", "at least one model is required");
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string path = YamlReader::Index("models", i);
    KVF_ASSIGN_OR_RETURN(FieldMap m, reader_.ReadMap(node[i], path, kModelKeys));
    ModelEntry model;

    const MapField* id = m.Find("id");
    if (id == nullptr) return reader_.Error(node[i], path + ".id", "required key is missing");
    KVF_ASSIGN_OR_RETURN(model.id, reader_.ReadString(id->value, path + ".id"));
    if (!IsIdentifier(model.id, 100, "/:")) {
      return reader_.Error(id->value, path + ".id",
                           "'" + model.id + "' must be 1-100 characters of A-Z a-z 0-9 . _ - / :");
    }
    for (size_t j = 0; j < spec->models.size(); ++j) {
      if (spec->models[j].id == model.id) {
        return reader_.Error(
            id->value, path + ".id",
            "duplicate model id '" + model.id + "' (also " + YamlReader::Index("models", j) + ")");
      }
    }

    const MapField* p = m.Find("path");
    if (p == nullptr) return reader_.Error(node[i], path + ".path", "required key is missing");
    KVF_ASSIGN_OR_RETURN(model.path, reader_.ReadString(p->value, path + ".path"));
    if (model.path.empty()) return reader_.Error(p->value, path + ".path", "must not be empty");
    if (options_.check_model_paths) {
      Status readable = CheckReadable(model.path);
      if (!readable.ok()) return reader_.Error(p->value, path + ".path", readable.message());
    }

    if (const MapField* t = m.Find("type")) {
      KVF_ASSIGN_OR_RETURN(model.type, reader_.ReadString(t->value, path + ".type"));
      bool known = false;
      for (std::string_view k : kModelTypes) known = known || k == model.type;
      if (!known) {
        return reader_.Error(t->value, path + ".type",
                             "'" + model.type + "' is not one of: " + JoinNames(kModelTypes));
      }
    }
    spec->models.push_back(std::move(model));
  }
  return Status::Ok();
}

Result<nlohmann::json> SpecParser::ParseParams(const MapField* field, const std::string& path,
                                               const std::vector<ParamSpec>& params) const {
  nlohmann::json given = nullptr;
  if (field != nullptr) {
    const std::string params_path = path + ".params";
    if (field->value.IsMap()) {
      // Check key by key first, so that an error carries the line of its key.
      KVF_ASSIGN_OR_RETURN(FieldMap keys, reader_.ReadMap(field->value, params_path, {}));
      for (const MapField& k : keys.fields()) {
        KVF_ASSIGN_OR_RETURN(nlohmann::json value,
                             reader_.ToJson(k.value, YamlReader::Child(params_path, k.key)));
        auto one = CanonicalParams(params, nlohmann::json{{k.key, value}});
        if (!one.ok()) return reader_.Error(k.key_node, params_path, one.status().message());
      }
    }
    KVF_ASSIGN_OR_RETURN(given, reader_.ToJson(field->value, params_path));
    auto all = CanonicalParams(params, given);
    if (!all.ok()) return reader_.Error(field->value, params_path, all.status().message());
    return std::move(all).value();
  }
  auto defaults = CanonicalParams(params, given);
  if (!defaults.ok()) return Status::Internal(path + ": " + defaults.status().message());
  return std::move(defaults).value();
}

Status SpecParser::ParseMethods(const YAML::Node& node, SweepSpec* spec) const {
  KVF_RETURN_IF_ERROR(reader_.RequireList(node, "methods"));
  std::vector<std::string> seen;
  std::vector<std::string> known;
  for (const MethodDescriptor& m : AllMethods()) known.push_back(m.name);
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string path = YamlReader::Index("methods", i);
    const YAML::Node item = node[i];
    FieldMap fields;
    YAML::Node name_node = item;
    if (item.IsMap()) {
      KVF_ASSIGN_OR_RETURN(fields, reader_.ReadMap(item, path, kMethodKeys));
      const MapField* n = fields.Find("name");
      if (n == nullptr) return reader_.Error(item, path + ".name", "required key is missing");
      name_node = n->value;
    } else if (!item.IsScalar()) {
      return reader_.Error(item, path, "expected a method name or a map {name, params}");
    }
    KVF_ASSIGN_OR_RETURN(std::string name, reader_.ReadString(name_node, path));
    const MethodDescriptor* method = FindMethod(name);
    if (method == nullptr) {
      return reader_.Error(name_node, path,
                           "unknown method '" + name + "' (known: " + JoinNames(known) + ")");
    }
    for (const std::string& s : seen) {
      if (s == name) return reader_.Error(name_node, path, "duplicate method '" + name + "'");
    }
    seen.push_back(name);
    KVF_ASSIGN_OR_RETURN(nlohmann::json params,
                         ParseParams(fields.Find("params"), path, method->params));
    // `full` is the implicit baseline: listing it is allowed and adds nothing.
    if (!method->uses_ratio) continue;
    spec->methods.push_back(MethodEntry{name, std::move(params)});
  }
  return Status::Ok();
}

Status SpecParser::ParseRatios(const YAML::Node& node, SweepSpec* spec) const {
  KVF_RETURN_IF_ERROR(reader_.RequireList(node, "ratios"));
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string path = YamlReader::Index("ratios", i);
    KVF_ASSIGN_OR_RETURN(double r, reader_.ReadDouble(node[i], path));
    if (!(r > 0.0 && r <= 1.0)) {
      return reader_.Error(node[i], path, node[i].Scalar() + " is outside (0, 1]");
    }
    for (size_t j = 0; j < spec->ratios.size(); ++j) {
      if (spec->ratios[j] == r) {
        return reader_.Error(node[i], path,
                             "duplicate ratio " + node[i].Scalar() + " (also " +
                                 YamlReader::Index("ratios", j) + ")");
      }
    }
    spec->ratios.push_back(r);
  }
  return Status::Ok();
}

Status SpecParser::ParseTasks(const YAML::Node& node, SweepSpec* spec) const {
  KVF_RETURN_IF_ERROR(reader_.RequireList(node, "tasks"));
  if (node.size() == 0) return reader_.Error(node, "tasks", "at least one task is required");
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string path = YamlReader::Index("tasks", i);
    TaskEntry task;
    KVF_RETURN_IF_ERROR(ParseTask(node[i], path, &task));
    for (size_t j = 0; j < spec->tasks.size(); ++j) {
      if (spec->tasks[j].name == task.name) {
        return reader_.Error(node[i], path,
                             "duplicate task '" + task.name + "' (also " +
                                 YamlReader::Index("tasks", j) + "); list its shots in one entry");
      }
    }
    spec->tasks.push_back(std::move(task));
  }
  return Status::Ok();
}

Status SpecParser::ParseTask(const YAML::Node& item, const std::string& path,
                             TaskEntry* task) const {
  FieldMap fields;
  YAML::Node name_node = item;
  std::string name_path = path;
  if (item.IsMap()) {
    KVF_ASSIGN_OR_RETURN(fields, reader_.ReadMap(item, path, kTaskKeys));
    const MapField* n = fields.Find("name");
    if (n == nullptr) return reader_.Error(item, path + ".name", "required key is missing");
    name_node = n->value;
    name_path = path + ".name";
  } else if (!item.IsScalar()) {
    return reader_.Error(item, path, "expected a task name or a map {name, shots, limit, params}");
  }
  KVF_ASSIGN_OR_RETURN(task->name, reader_.ReadString(name_node, name_path));
  const TaskDescriptor* desc = FindTask(task->name);
  if (desc == nullptr) {
    std::vector<std::string> known;
    for (const TaskDescriptor& t : AllTasks()) known.push_back(t.name);
    return reader_.Error(name_node, name_path,
                         "unknown task '" + task->name + "' (known: " + JoinNames(known) + ")");
  }

  std::string allowed_text;
  for (int s : desc->allowed_shots) {
    allowed_text += (allowed_text.empty() ? "" : ", ") + std::to_string(s);
  }
  if (const MapField* shots = fields.Find("shots")) {
    const std::string shots_path = path + ".shots";
    std::vector<std::pair<YAML::Node, std::string>> items;  // node, its path
    if (shots->value.IsSequence()) {
      if (shots->value.size() == 0) {
        return reader_.Error(shots->value, shots_path, "at least one shot count is required");
      }
      for (size_t k = 0; k < shots->value.size(); ++k) {
        items.emplace_back(shots->value[k], YamlReader::Index(shots_path, k));
      }
    } else {
      items.emplace_back(shots->value, shots_path);
    }
    for (const auto& [shot_node, shot_path] : items) {
      KVF_ASSIGN_OR_RETURN(int64_t s, reader_.ReadInt(shot_node, shot_path));
      if (s < 0 || s > 1024) {
        return reader_.Error(shot_node, shot_path, shot_node.Scalar() + " is outside [0, 1024]");
      }
      const int shot = static_cast<int>(s);
      if (!desc->allowed_shots.empty()) {
        bool allowed = false;
        for (int a : desc->allowed_shots) allowed = allowed || a == shot;
        if (!allowed) {
          return reader_.Error(shot_node, shot_path,
                               std::to_string(shot) + " shots is not allowed for task '" +
                                   task->name + "' (allowed: " + allowed_text + ")");
        }
      }
      for (int seen : task->shots) {
        if (seen == shot) {
          return reader_.Error(shot_node, shot_path, "duplicate shots " + std::to_string(shot));
        }
      }
      task->shots.push_back(shot);
    }
  } else {
    // Default: the task's first allowed count, or zero-shot when any count is allowed.
    task->shots.push_back(desc->allowed_shots.empty() ? 0 : desc->allowed_shots.front());
  }

  if (const MapField* limit = fields.Find("limit")) {
    KVF_ASSIGN_OR_RETURN(task->limit, ReadPositive(limit->value, path + ".limit", kMaxInt64));
  }
  KVF_ASSIGN_OR_RETURN(task->params, ParseParams(fields.Find("params"), path, desc->params));
  return Status::Ok();
}

Status SpecParser::ParseDecoding(const YAML::Node& node, DecodingSpec* decoding) const {
  KVF_ASSIGN_OR_RETURN(FieldMap d, reader_.ReadMap(node, "decoding", kDecodingKeys));
  if (const MapField* f = d.Find("max_new_tokens")) {
    KVF_ASSIGN_OR_RETURN(int64_t v, ReadPositive(f->value, "decoding.max_new_tokens", 1 << 20));
    decoding->max_new_tokens = static_cast<int>(v);
  }
  if (const MapField* f = d.Find("temperature")) {
    KVF_ASSIGN_OR_RETURN(double v, reader_.ReadDouble(f->value, "decoding.temperature"));
    if (v < 0) {
      return reader_.Error(f->value, "decoding.temperature",
                           f->value.Scalar() + " is negative (0 = greedy)");
    }
    decoding->temperature = v;
  }
  if (const MapField* f = d.Find("top_p")) {
    KVF_ASSIGN_OR_RETURN(double v, reader_.ReadDouble(f->value, "decoding.top_p"));
    if (!(v > 0.0 && v <= 1.0)) {
      return reader_.Error(f->value, "decoding.top_p", f->value.Scalar() + " is outside (0, 1]");
    }
    decoding->top_p = v;
  }
  return Status::Ok();
}

// 1-based line of a byte offset in `text`.
int LineOfOffset(std::string_view text, size_t offset) {
  int line = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) line += text[i] == '\n';
  return line;
}

// nlohmann's "[json.exception.parse_error.101] parse error at line 3, column 5: X" -> "X".
std::string JsonProblem(const std::string& what) {
  const size_t column = what.find("column ");
  if (column != std::string::npos) {
    const size_t colon = what.find(": ", column);
    if (colon != std::string::npos) return what.substr(colon + 2);
  }
  return what;
}

}  // namespace

const std::map<std::string, std::vector<std::string>>& SweepSpecAllowedKeys() {
  static const std::map<std::string, std::vector<std::string>> keys = {
      {"", ToStrings(kTopKeys)},
      {"models[]", ToStrings(kModelKeys)},
      {"methods[]", ToStrings(kMethodKeys)},
      {"tasks[]", ToStrings(kTaskKeys)},
      {"decoding", ToStrings(kDecodingKeys)},
  };
  return keys;
}

Result<SweepSpec> ParseSweepSpec(std::string_view text, std::string_view source_name,
                                 const SpecOptions& options) {
  const std::string source(source_name);
  const YamlReader reader(source);
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return reader.ErrorAtLine(1, "", "the spec is empty");

  if (text[first] == '{') {
    // JSON: check strict syntax first (YAML would accept more), then read it as YAML
    // so that every later message carries a line.
    try {
      [[maybe_unused]] const nlohmann::json parsed = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      return reader.ErrorAtLine(LineOfOffset(text, e.byte == 0 ? 0 : e.byte - 1),
                                "JSON syntax error", JsonProblem(e.what()));
    }
  }

  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) {
      return Status::BadInput(source + ": YAML syntax error: " + e.msg);
    }
    return reader.ErrorAtLine(e.mark.line + 1, "YAML syntax error", e.msg);
  }
  if (docs.empty() || docs[0].IsNull()) return reader.ErrorAtLine(1, "", "the spec is empty");
  if (docs.size() > 1) {
    return reader.Error(docs[1], "",
                        "a spec is one YAML document; found " + std::to_string(docs.size()));
  }
  try {
    SpecParser parser(source, options);
    return parser.Parse(docs[0]);
  } catch (const YAML::Exception& e) {
    // Defensive: the reader avoids throwing accessors; report rather than crash.
    return reader.ErrorAtLine(e.mark.is_null() ? 1 : e.mark.line + 1, "", e.msg);
  }
}

nlohmann::json SweepSpecToJson(const SweepSpec& spec) {
  nlohmann::json out = nlohmann::json::object();
  out["name"] = spec.name;
  nlohmann::json models = nlohmann::json::array();
  for (const ModelEntry& m : spec.models) {
    models.push_back({{"id", m.id}, {"path", m.path}, {"type", m.type}});
  }
  out["models"] = std::move(models);
  nlohmann::json methods = nlohmann::json::array();
  for (const MethodEntry& m : spec.methods) {
    methods.push_back(
        {{"name", m.name}, {"params", m.params.is_null() ? nlohmann::json::object() : m.params}});
  }
  out["methods"] = std::move(methods);
  out["ratios"] = spec.ratios;
  nlohmann::json tasks = nlohmann::json::array();
  for (const TaskEntry& t : spec.tasks) {
    nlohmann::json task = {{"name", t.name},
                           {"shots", t.shots},
                           {"params", t.params.is_null() ? nlohmann::json::object() : t.params}};
    if (t.limit) task["limit"] = *t.limit;
    tasks.push_back(std::move(task));
  }
  out["tasks"] = std::move(tasks);
  if (spec.limit) out["limit"] = *spec.limit;
  out["shard_size"] = spec.shard_size;
  out["seed"] = spec.seed;
  out["max_attempts"] = spec.max_attempts;
  out["decoding"] = {{"max_new_tokens", spec.decoding.max_new_tokens},
                     {"temperature", spec.decoding.temperature},
                     {"top_p", spec.decoding.top_p}};
  out["data_dir"] = spec.data_dir;
  return out;
}

}  // namespace kvfunda
