#include "worker/model/bpe_tokenizer.h"

#include <algorithm>
#include <queue>
#include <utility>

#include "worker/model/tokenizer_json.h"
#include "worker/model/unicode_text.h"

namespace kvfunda {
namespace {

uint64_t PairKey(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

bool IsSingleCodePoint(std::string_view s, uint32_t* cp) {
  if (s.empty()) return false;
  size_t pos = 0;
  const size_t len = unicode::ValidSequenceLength(s, 0);
  if (len == 0 || len != s.size()) return false;
  *cp = unicode::NextCodePoint(s, &pos);
  return true;
}

void ReplaceAllIn(std::string* s, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  size_t pos = 0;
  while ((pos = s->find(from, pos)) != std::string::npos) {
    s->replace(pos, from.size(), to);
    pos += to.size();
  }
}

// A word character for single_word added tokens: ASCII alphanumerics, '_', and any
// non-ASCII byte (letters of other scripts).
bool IsWordByte(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x80 || (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') ||
         (u >= 'A' && u <= 'Z') || u == '_';
}

bool IsSpaceByte(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

Result<std::unique_ptr<BpeTokenizer>> BpeTokenizer::Create(const TokenizerSpec& spec) {
  const std::string& src = spec.source;
  if (spec.pieces.empty()) return Status::ModelLoad(src + ": the vocabulary is empty");
  std::unique_ptr<BpeTokenizer> t(new BpeTokenizer());
  t->spec_ = spec;
  t->spec_.pieces.clear();
  t->spec_.merges.clear();
  t->pieces_ = spec.pieces;
  const auto vocab = static_cast<int32_t>(t->pieces_.size());
  t->special_.assign(t->pieces_.size(), false);
  std::fill(std::begin(t->byte_ids_), std::end(t->byte_ids_), -1);
  t->ids_.reserve(t->pieces_.size() * 2);
  for (int32_t id = 0; id < vocab; ++id) {
    const std::string& p = t->pieces_[id];
    if (p.empty()) continue;
    t->ids_.emplace(p, id);  // the lowest id wins for duplicate pieces
    uint32_t cp;
    if (IsSingleCodePoint(p, &cp)) t->char_ids_.emplace(cp, id);
    const int b = unicode::ParseBytePiece(p);
    if (b >= 0 && t->byte_ids_[b] < 0) t->byte_ids_[b] = id;
  }
  if (spec.merge_by_score && spec.scores.size() != t->pieces_.size()) {
    return Status::ModelLoad(src + ": " + std::to_string(spec.scores.size()) + " scores for " +
                             std::to_string(vocab) + " tokens");
  }
  t->merges_.reserve(spec.merges.size() * 2);
  for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
    const auto& [a, b] = spec.merges[rank];
    const auto ia = t->ids_.find(a), ib = t->ids_.find(b), iab = t->ids_.find(a + b);
    if (ia == t->ids_.end() || ib == t->ids_.end() || iab == t->ids_.end()) {
      const std::string& missing = ia == t->ids_.end() ? a : ib == t->ids_.end() ? b : a + b;
      return Status::ModelLoad(src + ": merge " + std::to_string(rank) + " \"" + a + " " + b +
                               "\": \"" + missing + "\" is not in the vocabulary");
    }
    // HF builds its merge map from the list in order, so a repeated pair keeps the
    // later rank.
    t->merges_[PairKey(ia->second, ib->second)] = {static_cast<int32_t>(rank), iab->second};
  }
  if (!spec.unk_token.empty()) {
    const auto it = t->ids_.find(spec.unk_token);
    if (it == t->ids_.end()) {
      return Status::ModelLoad(src + ": unk_token \"" + spec.unk_token + "\" is not in the vocabulary");
    }
    t->unk_id_ = it->second;
  }
  for (const AddedTokenSpec& a : spec.added) {
    if (a.id < 0 || a.content.empty()) {
      return Status::ModelLoad(src + ": added token \"" + a.content + "\" has id " +
                               std::to_string(a.id) + " or empty content");
    }
    if (a.id >= static_cast<int32_t>(t->pieces_.size())) {
      t->pieces_.resize(a.id + 1);
      t->special_.resize(a.id + 1, false);
    }
    if (t->pieces_[a.id].empty()) t->pieces_[a.id] = a.content;
    t->special_[a.id] = a.special;
    t->ids_[a.content] = a.id;
    t->added_.push_back(a);
    t->added_first_byte_[static_cast<unsigned char>(a.content[0])] = true;
  }
  std::sort(t->added_.begin(), t->added_.end(),
            [](const AddedTokenSpec& x, const AddedTokenSpec& y) { return x.content < y.content; });
  const auto n = static_cast<int32_t>(t->pieces_.size());
  if (spec.bos_id >= n || spec.eos_id >= n) {
    return Status::ModelLoad(src + ": BOS " + std::to_string(spec.bos_id) + " / EOS " +
                             std::to_string(spec.eos_id) + " outside the vocabulary of " +
                             std::to_string(n));
  }
  t->bos_id_ = spec.bos_id;
  t->eos_id_ = spec.eos_id;
  t->add_bos_default_ = spec.add_bos_default && spec.bos_id >= 0;
  auto pre = PreTokenizer::Create(spec.normalizer, spec.pre_tokenizer);
  if (!pre.ok()) return Status::ModelLoad(src + ": " + pre.status().message());
  t->pre_ = std::move(pre).value();
  return t;
}

std::vector<BpeTokenizer::AddedMatch> BpeTokenizer::FindAddedTokens(std::string_view text) const {
  std::vector<AddedMatch> matches;
  if (added_.empty()) return matches;
  size_t pos = 0;
  while (pos < text.size()) {
    if (!added_first_byte_[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    // Longest added token starting at pos: binary-search the sorted contents.
    const AddedTokenSpec* best = nullptr;
    const std::string_view rest = text.substr(pos);
    auto it = std::lower_bound(added_.begin(), added_.end(), rest.substr(0, 1),
                               [](const AddedTokenSpec& a, std::string_view v) { return a.content < v; });
    for (; it != added_.end() && it->content[0] == rest[0]; ++it) {
      if (rest.substr(0, it->content.size()) != it->content) continue;
      if (it->single_word) {
        const size_t end = pos + it->content.size();
        if ((pos > 0 && IsWordByte(text[pos - 1])) || (end < text.size() && IsWordByte(text[end]))) {
          continue;
        }
      }
      if (best == nullptr || it->content.size() > best->content.size()) best = &*it;
    }
    if (best == nullptr) {
      ++pos;
      continue;
    }
    AddedMatch m{pos, pos + best->content.size(), best->id};
    if (best->lstrip) {
      const size_t floor = matches.empty() ? 0 : matches.back().end;
      while (m.begin > floor && IsSpaceByte(text[m.begin - 1])) --m.begin;
    }
    if (best->rstrip) {
      while (m.end < text.size() && IsSpaceByte(text[m.end])) ++m.end;
    }
    matches.push_back(m);
    pos = m.end;
  }
  return matches;
}

std::vector<int32_t> BpeTokenizer::Encode(std::string_view text, bool add_bos) const {
  std::vector<int32_t> out;
  if (add_bos && bos_id_ >= 0) out.push_back(bos_id_);
  const std::vector<AddedMatch> added = FindAddedTokens(text);
  std::vector<std::string> pieces;
  auto encode_segment = [&](size_t begin, size_t end) {
    if (end <= begin) return;
    pieces.clear();
    // A failing regex (PCRE2 limits) leaves the segment's pieces as they are; the
    // regexes in use have no nested quantifiers that could hit those limits.
    (void)pre_->Split(pre_->Normalize(text.substr(begin, end - begin)), begin == 0, &pieces);
    for (const std::string& piece : pieces) EncodePiece(piece, &out);
  };
  size_t pos = 0;
  for (const AddedMatch& m : added) {
    encode_segment(pos, m.begin);
    out.push_back(m.id);
    pos = m.end;
  }
  encode_segment(pos, text.size());
  return out;
}

void BpeTokenizer::EncodePiece(const std::string& piece, std::vector<int32_t>* out) const {
  if (spec_.merge_by_score) {
    EncodeByScore(piece, out);
    return;
  }
  if (spec_.ignore_merges) {
    const auto it = ids_.find(piece);
    if (it != ids_.end()) {
      out->push_back(it->second);
      return;
    }
  }
  // Initial symbols: one per char (HF BPE::merge_word).
  std::vector<int32_t> symbols;
  symbols.reserve(piece.size());
  size_t pos = 0;
  bool last_unk = false;
  while (pos < piece.size()) {
    const size_t start = pos;
    const uint32_t cp = unicode::NextCodePoint(piece, &pos);
    const auto it = char_ids_.find(cp);
    if (it != char_ids_.end() && unicode::ValidSequenceLength(piece, start) > 0) {
      symbols.push_back(it->second);
      last_unk = false;
      continue;
    }
    if (spec_.byte_fallback) {
      bool all = true;
      for (size_t i = start; i < pos; ++i) all = all && byte_ids_[static_cast<uint8_t>(piece[i])] >= 0;
      if (all) {
        for (size_t i = start; i < pos; ++i) symbols.push_back(byte_ids_[static_cast<uint8_t>(piece[i])]);
        last_unk = false;
        continue;
      }
    }
    if (unk_id_ >= 0) {
      if (!(spec_.fuse_unk && last_unk)) symbols.push_back(unk_id_);
      last_unk = true;
    }
  }
  MergeByRank(&symbols);
  out->insert(out->end(), symbols.begin(), symbols.end());
}

void BpeTokenizer::MergeByRank(std::vector<int32_t>* symbols) const {
  const int n = static_cast<int>(symbols->size());
  if (n < 2) return;
  std::vector<int32_t>& id = *symbols;
  std::vector<int> prev(n), next(n);
  for (int i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  std::vector<bool> alive(n, true);
  struct Cand {
    int32_t rank;
    int pos;
    int32_t merged;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> queue;
  auto push = [&](int left) {
    if (left < 0 || next[left] < 0) return;
    const auto it = merges_.find(PairKey(id[left], id[next[left]]));
    if (it != merges_.end()) queue.push({it->second.rank, left, it->second.merged_id});
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  while (!queue.empty()) {
    const Cand c = queue.top();
    queue.pop();
    if (!alive[c.pos] || next[c.pos] < 0) continue;
    const int right = next[c.pos];
    const auto it = merges_.find(PairKey(id[c.pos], id[right]));
    if (it == merges_.end() || it->second.merged_id != c.merged) continue;  // stale
    id[c.pos] = c.merged;
    alive[right] = false;
    next[c.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.pos;
    push(prev[c.pos]);
    push(c.pos);
  }
  size_t w = 0;
  for (int i = 0; i < n; ++i) {
    if (alive[i]) id[w++] = id[i];
  }
  id.resize(w);
}

void BpeTokenizer::EncodeByScore(const std::string& piece, std::vector<int32_t>* out) const {
  // llama.cpp's SPM session: symbols are UTF-8 chars (text spans); the adjacent pair
  // whose concatenation is the highest-scoring piece merges first (leftmost on ties).
  struct Sym {
    size_t begin, len;
    int prev, next;
  };
  std::vector<Sym> syms;
  size_t pos = 0;
  while (pos < piece.size()) {
    const size_t start = pos;
    const size_t len = unicode::ValidSequenceLength(piece, pos);
    pos += len == 0 ? 1 : len;
    const int idx = static_cast<int>(syms.size());
    syms.push_back({start, pos - start, idx - 1, -1});
    if (idx > 0) syms[idx - 1].next = idx;
  }
  struct Cand {
    float score;
    int left;
    size_t len;
    bool operator<(const Cand& o) const {  // max-heap: higher score, then lower left
      return score != o.score ? score < o.score : left > o.left;
    }
  };
  std::priority_queue<Cand> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const size_t len = syms[left].len + syms[right].len;
    const auto it = ids_.find(piece.substr(syms[left].begin, len));
    if (it == ids_.end() || it->second >= static_cast<int32_t>(spec_.scores.size())) return;
    queue.push({spec_.scores[it->second], left, len});
  };
  for (size_t i = 1; i < syms.size(); ++i) try_add(static_cast<int>(i) - 1, static_cast<int>(i));
  while (!queue.empty()) {
    const Cand c = queue.top();
    queue.pop();
    Sym& left = syms[c.left];
    if (left.len == 0 || left.next < 0) continue;
    Sym& right = syms[left.next];
    if (left.len + right.len != c.len) continue;  // stale
    left.len += right.len;
    right.len = 0;
    left.next = right.next;
    if (right.next >= 0) syms[right.next].prev = c.left;
    try_add(left.prev, c.left);
    try_add(c.left, left.next);
  }
  for (int i = syms.empty() ? -1 : 0; i >= 0; i = syms[i].next) {
    const std::string text = piece.substr(syms[i].begin, syms[i].len);
    const auto it = ids_.find(text);
    if (it != ids_.end()) {
      out->push_back(it->second);
      continue;
    }
    for (const char ch : text) {  // byte fallback, else unk
      const int32_t b = byte_ids_[static_cast<uint8_t>(ch)];
      if (b >= 0) out->push_back(b);
      else if (unk_id_ >= 0) out->push_back(unk_id_);
    }
  }
}

std::string BpeTokenizer::Decode(const std::vector<int32_t>& ids) const {
  return Decode(ids, /*skip_special=*/true);
}

std::string BpeTokenizer::Decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const int32_t id : ids) {
    if (id < 0 || id >= static_cast<int32_t>(pieces_.size())) continue;
    if (skip_special && special_[id]) continue;
    tokens.push_back(pieces_[id]);
  }
  return RunDecoder(std::move(tokens), /*lossy=*/true);
}

std::string BpeTokenizer::RunDecoder(std::vector<std::string> tokens, bool lossy) const {
  if (spec_.decoder.empty()) {
    std::string joined;
    for (size_t i = 0; i < tokens.size(); ++i) joined += (i ? " " : "") + tokens[i];
    return joined;
  }
  for (const DecoderStep& step : spec_.decoder) {
    switch (step.kind) {
      case DecoderStep::Kind::kByteLevel: {
        std::string bytes;
        for (const std::string& t : tokens) {
          std::string tb;
          bool all = true;
          size_t pos = 0;
          while (pos < t.size() && all) {
            const int b = unicode::CharToByte(unicode::NextCodePoint(t, &pos));
            if (b < 0) all = false;
            else tb.push_back(static_cast<char>(b));
          }
          bytes += all ? tb : t;
        }
        tokens.assign(1, lossy ? unicode::Utf8Lossy(bytes) : bytes);
        break;
      }
      case DecoderStep::Kind::kReplace:
        for (std::string& t : tokens) ReplaceAllIn(&t, step.pattern, step.content);
        break;
      case DecoderStep::Kind::kByteFallback: {
        std::vector<std::string> out;
        std::string run;
        size_t run_count = 0;
        auto flush = [&] {
          if (run_count == 0) return;
          if (!lossy || unicode::Utf8Lossy(run) == run) {
            out.push_back(run);
          } else {
            for (size_t i = 0; i < run_count; ++i) out.emplace_back("\xEF\xBF\xBD");
          }
          run.clear();
          run_count = 0;
        };
        for (std::string& t : tokens) {
          const int b = unicode::ParseBytePiece(t);
          if (b >= 0) {
            run.push_back(static_cast<char>(b));
            ++run_count;
          } else {
            flush();
            out.push_back(std::move(t));
          }
        }
        flush();
        tokens = std::move(out);
        break;
      }
      case DecoderStep::Kind::kFuse: {
        std::string joined;
        for (const std::string& t : tokens) joined += t;
        tokens.assign(1, std::move(joined));
        break;
      }
      case DecoderStep::Kind::kStrip:
        for (std::string& t : tokens) {
          if (step.content.empty()) continue;
          for (int i = 0; i < step.start && t.compare(0, step.content.size(), step.content) == 0; ++i) {
            t.erase(0, step.content.size());
          }
          for (int i = 0; i < step.stop && t.size() >= step.content.size() &&
                          t.compare(t.size() - step.content.size(), step.content.size(), step.content) == 0;
               ++i) {
            t.erase(t.size() - step.content.size());
          }
        }
        break;
      case DecoderStep::Kind::kMetaspace:
        // As HF: in the first token every replacement char is dropped (unless the
        // prepend scheme is never); elsewhere each becomes a space.
        for (size_t i = 0; i < tokens.size(); ++i) {
          const bool drop = i == 0 && step.prepend != PreTokenizerStep::Prepend::kNever;
          ReplaceAllIn(&tokens[i], step.pattern, drop ? "" : " ");
        }
        break;
    }
  }
  std::string joined;
  for (const std::string& t : tokens) joined += t;
  return joined;
}

std::string BpeTokenizer::Piece(int32_t id) const {
  if (id < 0 || id >= static_cast<int32_t>(pieces_.size())) return "";
  return pieces_[id];
}

bool BpeTokenizer::is_special(int32_t id) const {
  return id >= 0 && id < static_cast<int32_t>(special_.size()) && special_[id];
}

int32_t BpeTokenizer::TokenId(std::string_view piece) const {
  const auto it = ids_.find(std::string(piece));
  return it == ids_.end() ? -1 : it->second;
}

std::string BpeTokenizer::TokenBytes(int32_t id, bool first, bool skip_special) const {
  if (id < 0 || id >= static_cast<int32_t>(pieces_.size())) return "";
  if (skip_special && special_[id]) return "";
  // A first-position Strip / Metaspace applies only to the first token; for a later
  // token, decode it behind a sentinel token so those steps see it in place.
  if (first) return RunDecoder({pieces_[id]}, /*lossy=*/false);
  const std::string sentinel = "x";
  std::string both = RunDecoder({sentinel, pieces_[id]}, /*lossy=*/false);
  return both.compare(0, sentinel.size(), sentinel) == 0 ? both.substr(sentinel.size()) : both;
}

std::string StreamDecoder::Push(int32_t id) {
  if (id < 0 || id >= tokenizer_.vocab_size() || (skip_special_ && tokenizer_.is_special(id))) {
    return "";  // as Decode(): produces no text and is not "the first token"
  }
  const std::string bytes = tokenizer_.TokenBytes(id, first_, skip_special_);
  first_ = false;
  pending_ += bytes;
  const size_t n = unicode::CompletePrefixLength(pending_);
  std::string out = unicode::Utf8Lossy(std::string_view(pending_).substr(0, n));
  pending_.erase(0, n);
  return out;
}

std::string StreamDecoder::Finish() {
  std::string out = unicode::Utf8Lossy(pending_);
  pending_.clear();
  return out;
}

}  // namespace kvfunda

namespace kvfunda {

Result<std::unique_ptr<BpeTokenizer>> BpeTokenizer::FromHfJson(const std::string& path) {
  KVF_ASSIGN_OR_RETURN(TokenizerSpec spec, ReadHfTokenizerSpec(path));
  return Create(spec);
}

Result<std::unique_ptr<BpeTokenizer>> BpeTokenizer::FromGpt2Files(const std::string& encoder_json_path,
                                                                  const std::string& vocab_bpe_path) {
  KVF_ASSIGN_OR_RETURN(TokenizerSpec spec, ReadGpt2Spec(encoder_json_path, vocab_bpe_path));
  return Create(spec);
}

Result<std::unique_ptr<BpeTokenizer>> BpeTokenizer::FromGguf(const GgufVocab& vocab) {
  KVF_ASSIGN_OR_RETURN(TokenizerSpec spec, GgufTokenizerSpec(vocab));
  return Create(spec);
}

namespace {
Result<std::unique_ptr<Tokenizer>> AsTokenizer(Result<std::unique_ptr<BpeTokenizer>> r) {
  if (!r.ok()) return r.status();
  return std::unique_ptr<Tokenizer>(std::move(r).value());
}
}  // namespace

Result<std::unique_ptr<Tokenizer>> LoadHfTokenizer(const std::string& path) {
  return AsTokenizer(BpeTokenizer::FromHfJson(path));
}

Result<std::unique_ptr<Tokenizer>> LoadGpt2Tokenizer(const std::string& encoder_json_path,
                                                     const std::string& vocab_bpe_path) {
  return AsTokenizer(BpeTokenizer::FromGpt2Files(encoder_json_path, vocab_bpe_path));
}

Result<std::unique_ptr<Tokenizer>> MakeGgufTokenizer(const GgufVocab& vocab) {
  return AsTokenizer(BpeTokenizer::FromGguf(vocab));
}

}  // namespace kvfunda
