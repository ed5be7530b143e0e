// Helpers of the tokenizer tests: where the reference fixtures are, and how each
// tokenizer under test is built (HF tokenizer.json and GPT-2 files from the shared
// folder; SmolLM2's GGUF vocabulary from its compact fixture; a GGUF "llama"
// vocabulary made from the Llama-2 tokenizer.json). Loaded tokenizers are cached
// for the test binary's lifetime (tests only; single-threaded gtest).
#pragma once

#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "test_support.h"
#include "worker/model/bpe_tokenizer.h"

namespace kvfunda::testing {

inline std::string TokenizerFixture(const std::string& name) {
  return SourceDir() + "/tests/tokenizer/fixtures/" + name;
}

inline std::string SharedTokenizer(const std::string& name) {
  return SharedDir() + "/tokenizers/" + name + "/tokenizer.json";
}

inline nlohmann::json ReadJsonFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
}

// SmolLM2's vocabulary rebuilt from smollm2_vocab.json: the CONTROL tokens, the
// byte alphabet, then each merge's result unless already present (the fixture
// script checked that this gives the GGUF token list).
inline GgufVocab SmolLm2Vocab() {
  const nlohmann::json j = ReadJsonFile(TokenizerFixture("smollm2_vocab.json"));
  GgufVocab v;
  v.source = TokenizerFixture("smollm2_vocab.json");
  v.model = j.value("model", "");
  v.pre = j.value("pre", "");
  v.bos_id = j.value("bos_id", -1);
  v.eos_id = j.value("eos_id", -1);
  std::map<std::string, int> seen;
  auto add = [&](const std::string& t, int32_t type) {
    if (seen.emplace(t, static_cast<int>(v.tokens.size())).second) {
      v.tokens.push_back(t);
      v.token_types.push_back(type);
    }
  };
  for (const auto& t : j["control"]) add(t.get<std::string>(), 3);
  for (const auto& t : j["alphabet"]) add(t.get<std::string>(), 1);
  for (const auto& m : j["merges"]) {
    std::string s = m.get<std::string>();
    v.merges.push_back(s);
    s.erase(s.find(' ', 1), 1);
    add(s, 1);
  }
  return v;
}

// A GGUF "llama" vocabulary (SentencePiece, scores) made from the Llama-2
// tokenizer.json. HF's converter wrote the merges in the order of the SentencePiece
// scores of their results, so a piece's score here is minus the rank of the first
// merge that makes it (pieces no merge makes get -1e9, byte and control tokens 0, as
// in the .model files); <unk> is type 2, the other added tokens 3, <0xXX> type 6.
inline GgufVocab Llama2SpmVocab() {
  const nlohmann::json j = ReadJsonFile(SharedTokenizer("llama2"));
  GgufVocab v;
  v.source = SharedTokenizer("llama2") + " (as a GGUF llama vocabulary)";
  v.model = "llama";
  const auto& vocab = j["model"]["vocab"];
  v.tokens.resize(vocab.size());
  for (const auto& [piece, id] : vocab.items()) v.tokens[id.get<size_t>()] = piece;
  std::map<std::string, float> merge_score;
  const auto& merges = j["model"]["merges"];
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    std::string m = merges[rank].get<std::string>();
    m.erase(m.find(' ', 1), 1);
    merge_score.emplace(m, -static_cast<float>(rank));
  }
  v.scores.resize(v.tokens.size());
  v.token_types.assign(v.tokens.size(), 1);
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    const std::string& t = v.tokens[i];
    const bool byte = t.size() == 6 && t.rfind("<0x", 0) == 0 && t[5] == '>';
    if (byte) v.token_types[i] = 6;
    const auto it = merge_score.find(t);
    v.scores[i] = byte ? 0.0f : it != merge_score.end() ? it->second : -1e9f;
  }
  for (const auto& a : j["added_tokens"]) {
    const auto id = a["id"].get<size_t>();
    v.token_types[id] = a["content"] == "<unk>" ? 2 : 3;
    v.scores[id] = 0.0f;
  }
  v.unk_id = 0;
  v.bos_id = 1;
  v.eos_id = 2;
  return v;
}

// The tokenizer named `name` (llama2, llama3, qwen3, gpt2, smollm2, llama2_spm),
// loaded once. Null (with the error in *error) when loading failed.
inline const BpeTokenizer* TestTokenizer(const std::string& name, std::string* error) {
  static std::map<std::string, std::unique_ptr<BpeTokenizer>> cache;
  if (auto it = cache.find(name); it != cache.end()) return it->second.get();
  Result<std::unique_ptr<BpeTokenizer>> r = Status::NotFound("unknown test tokenizer " + name);
  if (name == "gpt2") {
    r = BpeTokenizer::FromGpt2Files(SharedDir() + "/tokenizers/gpt2/encoder.json",
                                    SharedDir() + "/tokenizers/gpt2/vocab.bpe");
  } else if (name == "smollm2") {
    r = BpeTokenizer::FromGguf(SmolLm2Vocab());
  } else if (name == "llama2_spm") {
    r = BpeTokenizer::FromGguf(Llama2SpmVocab());
  } else {
    r = BpeTokenizer::FromHfJson(SharedTokenizer(name));
  }
  if (!r.ok()) {
    *error = r.status().ToString();
    return nullptr;
  }
  return (cache[name] = std::move(r).value()).get();
}

}  // namespace kvfunda::testing
