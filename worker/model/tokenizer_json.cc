#include "worker/model/tokenizer_json.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "worker/model/unicode_split.h"

namespace kvfunda {
namespace {

using json = nlohmann::json;
constexpr int64_t kMaxVocab = 1 << 22;
const char* const kSpmSpace = "\xE2\x96\x81";  // U+2581

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::ModelLoad(path + ": cannot open the file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<json> ReadJson(const std::string& path) {
  KVF_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::ModelLoad(path + ": not valid JSON");
  return j;
}

// Reader of one JSON file: every error names the file and the key path.
class JsonReader {
 public:
  explicit JsonReader(std::string path) : path_(std::move(path)) {}

  Status Error(const std::string& where, const std::string& what) const {
    return Status::ModelLoad(path_ + ": " + where + ": " + what);
  }
  // The string at j[key]; `fallback` when absent or null.
  Result<std::string> String(const json& j, const char* key, const std::string& where,
                             const std::string& fallback = "") const {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_string()) return Error(where + "." + key, "expected a string");
    return it->get<std::string>();
  }
  Result<bool> Bool(const json& j, const char* key, const std::string& where, bool fallback) const {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) return Error(where + "." + key, "expected true or false");
    return it->get<bool>();
  }
  Result<int> Int(const json& j, const char* key, const std::string& where, int fallback) const {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_number_integer()) return Error(where + "." + key, "expected an integer");
    return it->get<int>();
  }
  // The literal of a {"String": s} pattern; regex patterns are refused.
  Result<std::string> LiteralPattern(const json& j, const std::string& where) const {
    const auto it = j.find("pattern");
    if (it == j.end() || !it->is_object()) return Error(where + ".pattern", "missing");
    if (it->contains("String") && (*it)["String"].is_string()) return (*it)["String"].get<std::string>();
    return Error(where + ".pattern", "only {\"String\": ...} patterns are supported here");
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Result<PreTokenizerStep::Prepend> ParsePrependScheme(const JsonReader& r, const json& j,
                                                     const std::string& where) {
  using P = PreTokenizerStep::Prepend;
  if (j.contains("prepend_scheme") && j["prepend_scheme"].is_string()) {
    const std::string s = j["prepend_scheme"].get<std::string>();
    if (s == "always") return P::kAlways;
    if (s == "first") return P::kFirst;
    if (s == "never") return P::kNever;
    return r.Error(where + ".prepend_scheme", "unknown value \"" + s + "\"");
  }
  KVF_ASSIGN_OR_RETURN(bool add, r.Bool(j, "add_prefix_space", where, true));
  return add ? P::kAlways : P::kNever;
}

Status ParseNormalizer(const JsonReader& r, const json& j, const std::string& where,
                       std::vector<NormalizerStep>* out) {
  if (j.is_null()) return Status::Ok();
  if (!j.is_object()) return r.Error(where, "expected an object");
  KVF_ASSIGN_OR_RETURN(std::string type, r.String(j, "type", where));
  NormalizerStep step;
  if (type == "Sequence") {
    const auto it = j.find("normalizers");
    if (it == j.end() || !it->is_array()) return r.Error(where + ".normalizers", "expected a list");
    for (size_t i = 0; i < it->size(); ++i) {
      KVF_RETURN_IF_ERROR(ParseNormalizer(r, (*it)[i], where + ".normalizers[" + std::to_string(i) + "]", out));
    }
    return Status::Ok();
  } else if (type == "NFC") {
    step.kind = NormalizerStep::Kind::kNfc;
  } else if (type == "Prepend") {
    step.kind = NormalizerStep::Kind::kPrepend;
    KVF_ASSIGN_OR_RETURN(step.content, r.String(j, "prepend", where));
  } else if (type == "Replace") {
    step.kind = NormalizerStep::Kind::kReplace;
    KVF_ASSIGN_OR_RETURN(step.pattern, r.LiteralPattern(j, where));
    KVF_ASSIGN_OR_RETURN(step.content, r.String(j, "content", where));
  } else {
    return r.Error(where, "normalizer type \"" + type + "\" is not supported");
  }
  out->push_back(std::move(step));
  return Status::Ok();
}

Status ParsePreTokenizer(const JsonReader& r, const json& j, const std::string& where,
                         std::vector<PreTokenizerStep>* out) {
  if (j.is_null()) return Status::Ok();
  if (!j.is_object()) return r.Error(where, "expected an object");
  KVF_ASSIGN_OR_RETURN(std::string type, r.String(j, "type", where));
  PreTokenizerStep step;
  if (type == "Sequence") {
    const auto it = j.find("pretokenizers");
    if (it == j.end() || !it->is_array()) return r.Error(where + ".pretokenizers", "expected a list");
    for (size_t i = 0; i < it->size(); ++i) {
      KVF_RETURN_IF_ERROR(
          ParsePreTokenizer(r, (*it)[i], where + ".pretokenizers[" + std::to_string(i) + "]", out));
    }
    return Status::Ok();
  } else if (type == "Split") {
    step.kind = PreTokenizerStep::Kind::kSplit;
    const auto p = j.find("pattern");
    if (p == j.end() || !p->is_object()) return r.Error(where + ".pattern", "missing");
    if (p->contains("Regex") && (*p)["Regex"].is_string()) {
      step.pattern = (*p)["Regex"].get<std::string>();
    } else if (p->contains("String") && (*p)["String"].is_string()) {
      step.pattern = (*p)["String"].get<std::string>();
      step.literal = true;
    } else {
      return r.Error(where + ".pattern", "expected {\"Regex\": ...} or {\"String\": ...}");
    }
    KVF_ASSIGN_OR_RETURN(step.invert, r.Bool(j, "invert", where, false));
    KVF_ASSIGN_OR_RETURN(std::string behavior, r.String(j, "behavior", where, "Isolated"));
    using B = PreTokenizerStep::Behavior;
    if (behavior == "Isolated") step.behavior = B::kIsolated;
    else if (behavior == "Removed") step.behavior = B::kRemoved;
    else if (behavior == "MergedWithPrevious") step.behavior = B::kMergedWithPrevious;
    else if (behavior == "MergedWithNext") step.behavior = B::kMergedWithNext;
    else return r.Error(where + ".behavior", "\"" + behavior + "\" is not supported");
  } else if (type == "ByteLevel") {
    step.kind = PreTokenizerStep::Kind::kByteLevel;
    KVF_ASSIGN_OR_RETURN(step.add_prefix_space, r.Bool(j, "add_prefix_space", where, false));
    KVF_ASSIGN_OR_RETURN(step.use_regex, r.Bool(j, "use_regex", where, true));
    step.pattern = std::string(kGpt2SplitPattern);
  } else if (type == "Digits") {
    step.kind = PreTokenizerStep::Kind::kDigits;
    KVF_ASSIGN_OR_RETURN(step.individual_digits, r.Bool(j, "individual_digits", where, false));
  } else if (type == "Metaspace") {
    step.kind = PreTokenizerStep::Kind::kMetaspace;
    KVF_ASSIGN_OR_RETURN(step.replacement, r.String(j, "replacement", where, kSpmSpace));
    KVF_ASSIGN_OR_RETURN(step.prepend, ParsePrependScheme(r, j, where));
    KVF_ASSIGN_OR_RETURN(step.split, r.Bool(j, "split", where, true));
  } else {
    return r.Error(where, "pre-tokenizer type \"" + type + "\" is not supported");
  }
  out->push_back(std::move(step));
  return Status::Ok();
}

Status ParseDecoder(const JsonReader& r, const json& j, const std::string& where,
                    std::vector<DecoderStep>* out) {
  if (j.is_null()) return Status::Ok();
  if (!j.is_object()) return r.Error(where, "expected an object");
  KVF_ASSIGN_OR_RETURN(std::string type, r.String(j, "type", where));
  DecoderStep step;
  using K = DecoderStep::Kind;
  if (type == "Sequence") {
    const auto it = j.find("decoders");
    if (it == j.end() || !it->is_array()) return r.Error(where + ".decoders", "expected a list");
    for (size_t i = 0; i < it->size(); ++i) {
      KVF_RETURN_IF_ERROR(ParseDecoder(r, (*it)[i], where + ".decoders[" + std::to_string(i) + "]", out));
    }
    return Status::Ok();
  } else if (type == "ByteLevel") {
    step.kind = K::kByteLevel;
  } else if (type == "Replace") {
    step.kind = K::kReplace;
    KVF_ASSIGN_OR_RETURN(step.pattern, r.LiteralPattern(j, where));
    KVF_ASSIGN_OR_RETURN(step.content, r.String(j, "content", where));
  } else if (type == "ByteFallback") {
    step.kind = K::kByteFallback;
  } else if (type == "Fuse") {
    step.kind = K::kFuse;
  } else if (type == "Strip") {
    step.kind = K::kStrip;
    KVF_ASSIGN_OR_RETURN(step.content, r.String(j, "content", where, " "));
    KVF_ASSIGN_OR_RETURN(step.start, r.Int(j, "start", where, 0));
    KVF_ASSIGN_OR_RETURN(step.stop, r.Int(j, "stop", where, 0));
  } else if (type == "Metaspace") {
    step.kind = K::kMetaspace;
    KVF_ASSIGN_OR_RETURN(step.pattern, r.String(j, "replacement", where, kSpmSpace));
    KVF_ASSIGN_OR_RETURN(step.prepend, ParsePrependScheme(r, j, where));
  } else {
    return r.Error(where, "decoder type \"" + type + "\" is not supported");
  }
  out->push_back(std::move(step));
  return Status::Ok();
}

// The BOS a TemplateProcessing post-processor puts before the sequence, or -1.
Result<int32_t> TemplateBos(const JsonReader& r, const json& j, const std::string& where) {
  if (!j.is_object()) return -1;
  const std::string type = j.value("type", "");
  if (type == "Sequence" && j.contains("processors") && j["processors"].is_array()) {
    for (size_t i = 0; i < j["processors"].size(); ++i) {
      KVF_ASSIGN_OR_RETURN(int32_t bos, TemplateBos(r, j["processors"][i],
                                                    where + ".processors[" + std::to_string(i) + "]"));
      if (bos >= 0) return bos;
    }
    return -1;
  }
  if (type != "TemplateProcessing") return -1;
  const auto single = j.find("single");
  if (single == j.end() || !single->is_array() || single->empty()) return -1;
  const json& first = (*single)[0];
  if (!first.contains("SpecialToken")) return -1;
  const std::string name = first["SpecialToken"].value("id", "");
  const auto specials = j.find("special_tokens");
  if (specials == j.end() || !specials->contains(name)) {
    return r.Error(where + ".single[0]", "special token \"" + name + "\" has no entry in special_tokens");
  }
  const json& ids = (*specials)[name]["ids"];
  if (!ids.is_array() || ids.empty() || !ids[0].is_number_integer()) {
    return r.Error(where + ".special_tokens." + name, "expected a non-empty list of ids");
  }
  return ids[0].get<int32_t>();
}

// bos_token / eos_token of a tokenizer_config.json: a string or {"content": ...}.
std::string ConfigToken(const json& config, const char* key) {
  const auto it = config.find(key);
  if (it == config.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    return (*it)["content"].get<std::string>();
  }
  return "";
}

int32_t FindId(const TokenizerSpec& spec, const std::string& content) {
  if (content.empty()) return -1;
  for (const AddedTokenSpec& a : spec.added) {
    if (a.content == content) return a.id;
  }
  for (size_t i = 0; i < spec.pieces.size(); ++i) {
    if (spec.pieces[i] == content) return static_cast<int32_t>(i);
  }
  return -1;
}

Status ParseMerge(const JsonReader& r, const json& m, size_t i, TokenizerSpec* spec) {
  const std::string where = "model.merges[" + std::to_string(i) + "]";
  if (m.is_string()) {
    const std::string s = m.get<std::string>();
    const size_t space = s.find(' ', 1);
    if (space == std::string::npos || space + 1 >= s.size()) {
      return r.Error(where, "\"" + s + "\" is not two pieces separated by a space");
    }
    spec->merges.emplace_back(s.substr(0, space), s.substr(space + 1));
  } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
    spec->merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
  } else {
    return r.Error(where, "expected \"a b\" or [\"a\", \"b\"]");
  }
  return Status::Ok();
}

}  // namespace

Result<TokenizerSpec> ReadHfTokenizerSpec(const std::string& path) {
  KVF_ASSIGN_OR_RETURN(json j, ReadJson(path));
  const JsonReader r(path);
  if (!j.is_object()) return r.Error("top level", "expected an object");
  TokenizerSpec spec;
  spec.source = path;
  const auto model_it = j.find("model");
  if (model_it == j.end() || !model_it->is_object()) return r.Error("model", "missing");
  const json& model = *model_it;
  KVF_ASSIGN_OR_RETURN(std::string type, r.String(model, "type", "model", "BPE"));
  if (type != "BPE") return r.Error("model.type", "\"" + type + "\" is not supported (only BPE)");
  const auto vocab = model.find("vocab");
  if (vocab == model.end() || !vocab->is_object()) return r.Error("model.vocab", "missing");
  for (const auto& [piece, id] : vocab->items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= kMaxVocab) {
      return r.Error("model.vocab[\"" + piece + "\"]", "id must be an integer in [0, " +
                                                         std::to_string(kMaxVocab) + ")");
    }
    const auto i = static_cast<size_t>(id.get<int64_t>());
    if (i >= spec.pieces.size()) spec.pieces.resize(i + 1);
    spec.pieces[i] = piece;
  }
  const auto merges = model.find("merges");
  if (merges == model.end() || !merges->is_array()) return r.Error("model.merges", "missing");
  spec.merges.reserve(merges->size());
  for (size_t i = 0; i < merges->size(); ++i) KVF_RETURN_IF_ERROR(ParseMerge(r, (*merges)[i], i, &spec));
  KVF_ASSIGN_OR_RETURN(spec.unk_token, r.String(model, "unk_token", "model"));
  KVF_ASSIGN_OR_RETURN(spec.byte_fallback, r.Bool(model, "byte_fallback", "model", false));
  KVF_ASSIGN_OR_RETURN(spec.fuse_unk, r.Bool(model, "fuse_unk", "model", false));
  KVF_ASSIGN_OR_RETURN(spec.ignore_merges, r.Bool(model, "ignore_merges", "model", false));
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    KVF_ASSIGN_OR_RETURN(std::string affix, r.String(model, key, "model"));
    if (!affix.empty()) return r.Error(std::string("model.") + key, "\"" + affix + "\" is not supported");
  }

  if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
    const json& added = j["added_tokens"];
    if (!added.is_array()) return r.Error("added_tokens", "expected a list");
    for (size_t i = 0; i < added.size(); ++i) {
      const std::string where = "added_tokens[" + std::to_string(i) + "]";
      const json& a = added[i];
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer()) {
        return r.Error(where, "expected an object with an integer id");
      }
      AddedTokenSpec t;
      t.id = a["id"].get<int32_t>();
      if (t.id < 0 || t.id >= kMaxVocab) return r.Error(where + ".id", "out of range");
      KVF_ASSIGN_OR_RETURN(t.content, r.String(a, "content", where));
      if (t.content.empty()) return r.Error(where + ".content", "empty");
      KVF_ASSIGN_OR_RETURN(t.special, r.Bool(a, "special", where, false));
      KVF_ASSIGN_OR_RETURN(t.lstrip, r.Bool(a, "lstrip", where, false));
      KVF_ASSIGN_OR_RETURN(t.rstrip, r.Bool(a, "rstrip", where, false));
      KVF_ASSIGN_OR_RETURN(t.single_word, r.Bool(a, "single_word", where, false));
      spec.added.push_back(std::move(t));
    }
  }
  KVF_RETURN_IF_ERROR(ParseNormalizer(r, j.value("normalizer", json()), "normalizer", &spec.normalizer));
  KVF_RETURN_IF_ERROR(
      ParsePreTokenizer(r, j.value("pre_tokenizer", json()), "pre_tokenizer", &spec.pre_tokenizer));
  KVF_RETURN_IF_ERROR(ParseDecoder(r, j.value("decoder", json()), "decoder", &spec.decoder));
  KVF_ASSIGN_OR_RETURN(spec.bos_id, TemplateBos(r, j.value("post_processor", json()), "post_processor"));
  spec.add_bos_default = spec.bos_id >= 0;

  // tokenizer_config.json beside it names BOS / EOS (optional file).
  const std::filesystem::path config_path =
      std::filesystem::path(path).parent_path() / "tokenizer_config.json";
  std::error_code ec;
  if (std::filesystem::exists(config_path, ec)) {
    KVF_ASSIGN_OR_RETURN(json config, ReadJson(config_path.string()));
    if (config.is_object()) {
      if (spec.bos_id < 0) spec.bos_id = FindId(spec, ConfigToken(config, "bos_token"));
      spec.eos_id = FindId(spec, ConfigToken(config, "eos_token"));
      if (config.contains("add_bos_token") && config["add_bos_token"].is_boolean()) {
        spec.add_bos_default = config["add_bos_token"].get<bool>() && spec.bos_id >= 0;
      }
    }
  }
  return spec;
}

Result<TokenizerSpec> ReadGpt2Spec(const std::string& encoder_json_path,
                                   const std::string& vocab_bpe_path) {
  KVF_ASSIGN_OR_RETURN(json enc, ReadJson(encoder_json_path));
  const JsonReader r(encoder_json_path);
  if (!enc.is_object() || enc.empty()) return r.Error("top level", "expected a piece -> id object");
  TokenizerSpec spec;
  spec.source = encoder_json_path;
  for (const auto& [piece, id] : enc.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= kMaxVocab) {
      return r.Error("\"" + piece + "\"", "id must be an integer in [0, " + std::to_string(kMaxVocab) + ")");
    }
    const auto i = static_cast<size_t>(id.get<int64_t>());
    if (i >= spec.pieces.size()) spec.pieces.resize(i + 1);
    spec.pieces[i] = piece;
  }
  KVF_ASSIGN_OR_RETURN(std::string bpe, ReadFile(vocab_bpe_path));
  std::istringstream lines(bpe);
  std::string line;
  size_t line_no = 0;
  while (std::getline(lines, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_no == 1 && line.rfind("#version", 0) == 0)) continue;
    const size_t space = line.find(' ', 1);
    if (space == std::string::npos || space + 1 >= line.size()) {
      return Status::ModelLoad(vocab_bpe_path + ":" + std::to_string(line_no) + ": \"" + line +
                               "\" is not two pieces separated by a space");
    }
    spec.merges.emplace_back(line.substr(0, space), line.substr(space + 1));
  }
  PreTokenizerStep byte_level;
  byte_level.kind = PreTokenizerStep::Kind::kByteLevel;
  byte_level.pattern = std::string(kGpt2SplitPattern);
  spec.pre_tokenizer.push_back(byte_level);
  spec.decoder.push_back(DecoderStep{});  // ByteLevel
  const int32_t eot = FindId(spec, "<|endoftext|>");
  if (eot >= 0) {
    spec.added.push_back(AddedTokenSpec{eot, "<|endoftext|>", true, false, false, false});
    spec.bos_id = spec.eos_id = eot;
  }
  return spec;
}

Result<TokenizerSpec> GgufTokenizerSpec(const GgufVocab& v) {
  const std::string& src = v.source;
  TokenizerSpec spec;
  spec.source = src;
  const size_t n = v.tokens.size();
  if (n == 0) return Status::ModelLoad(src + ": tokenizer.ggml.tokens is empty");
  if (!v.token_types.empty() && v.token_types.size() != n) {
    return Status::ModelLoad(src + ": " + std::to_string(v.token_types.size()) +
                             " token types for " + std::to_string(n) + " tokens");
  }
  spec.pieces = v.tokens;
  spec.bos_id = v.bos_id;
  spec.eos_id = v.eos_id;
  for (size_t i = 0; i < n && !v.token_types.empty(); ++i) {
    const int32_t type = v.token_types[i];
    if (type == 2 || type == 3 || type == 4) {  // unknown, control, user-defined
      if (v.tokens[i].empty()) continue;
      spec.added.push_back(AddedTokenSpec{static_cast<int32_t>(i), v.tokens[i], type != 4, false,
                                          false, false});
    }
  }
  if (v.model == "gpt2") {
    if (v.merges.empty()) return Status::ModelLoad(src + ": tokenizer.ggml.merges is missing");
    for (size_t i = 0; i < v.merges.size(); ++i) {
      const std::string& m = v.merges[i];
      const size_t space = m.find(' ', 1);
      if (space == std::string::npos || space + 1 >= m.size()) {
        return Status::ModelLoad(src + ": tokenizer.ggml.merges[" + std::to_string(i) + "] \"" + m +
                                 "\" is not two pieces separated by a space");
      }
      spec.merges.emplace_back(m.substr(0, space), m.substr(space + 1));
    }
    PreTokenizerStep split, byte_level;
    split.kind = PreTokenizerStep::Kind::kSplit;
    byte_level.kind = PreTokenizerStep::Kind::kByteLevel;
    byte_level.pattern = std::string(kGpt2SplitPattern);
    const std::string pre = v.pre.empty() ? "default" : v.pre;
    if (pre == "default" || pre == "gpt-2" || pre == "gpt2") {
      spec.pre_tokenizer = {byte_level};
    } else if (pre == "llama-bpe" || pre == "llama3" || pre == "qwen2") {
      split.pattern = std::string(pre == "qwen2" ? kQwen2SplitPattern : kLlama3SplitPattern);
      byte_level.use_regex = false;
      spec.pre_tokenizer = {split, byte_level};
      spec.ignore_merges = pre != "qwen2";
      if (pre == "qwen2") spec.normalizer.push_back(NormalizerStep{});  // NFC
    } else if (pre == "smollm") {
      PreTokenizerStep digits;
      digits.kind = PreTokenizerStep::Kind::kDigits;
      digits.individual_digits = true;
      spec.pre_tokenizer = {digits, byte_level};
    } else {
      return Status::ModelLoad(src + ": tokenizer.ggml.pre \"" + pre + "\" is not supported "
                               "(default, gpt-2, llama-bpe, llama3, qwen2, smollm)");
    }
    spec.decoder.push_back(DecoderStep{});  // ByteLevel
    spec.add_bos_default = v.add_bos.value_or(false);
  } else if (v.model == "llama") {
    if (v.scores.size() != n) {
      return Status::ModelLoad(src + ": " + std::to_string(v.scores.size()) +
                               " tokenizer.ggml.scores for " + std::to_string(n) + " tokens");
    }
    spec.merge_by_score = true;
    spec.scores = v.scores;
    spec.byte_fallback = true;
    spec.fuse_unk = true;
    int32_t unk = v.unk_id;
    for (size_t i = 0; unk < 0 && i < v.token_types.size(); ++i) {
      if (v.token_types[i] == 2) unk = static_cast<int32_t>(i);
    }
    if (unk >= static_cast<int32_t>(n)) {
      return Status::ModelLoad(src + ": unknown_token_id " + std::to_string(unk) + " out of range");
    }
    if (unk >= 0) spec.unk_token = v.tokens[unk];
    const bool prefix = v.add_space_prefix.value_or(true);
    if (prefix) {
      spec.normalizer.push_back({NormalizerStep::Kind::kPrepend, "", kSpmSpace});
    }
    spec.normalizer.push_back({NormalizerStep::Kind::kReplace, " ", kSpmSpace});
    spec.decoder.push_back({DecoderStep::Kind::kReplace, kSpmSpace, " ", 0, 0, {}});
    spec.decoder.push_back({DecoderStep::Kind::kByteFallback, "", "", 0, 0, {}});
    spec.decoder.push_back({DecoderStep::Kind::kFuse, "", "", 0, 0, {}});
    if (prefix) spec.decoder.push_back({DecoderStep::Kind::kStrip, "", " ", 1, 0, {}});
    spec.add_bos_default = v.add_bos.value_or(true);
  } else {
    return Status::ModelLoad(src + ": tokenizer.ggml.model \"" + v.model +
                             "\" is not supported (gpt2, llama)");
  }
  return spec;
}

}  // namespace kvfunda
