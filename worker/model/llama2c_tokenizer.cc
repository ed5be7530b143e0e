#include "worker/model/llama2c_tokenizer.h"

#include "worker/model/unicode_text.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <queue>
#include <system_error>

namespace kvfunda {
namespace {

constexpr int32_t kMaxPieceBytes = 1 << 12;
constexpr int32_t kMaxVocab = 1 << 21;
// run.c only merges pairs scoring above this.
constexpr float kMinMergeScore = -1e10f;

}  // namespace

Result<std::unique_ptr<Llama2cTokenizer>> Llama2cTokenizer::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::ModelLoad(path + ": cannot open the tokenizer file");
  int32_t max_token_length = 0;
  if (!in.read(reinterpret_cast<char*>(&max_token_length), sizeof(max_token_length))) {
    return Status::ModelLoad(path + ": tokenizer file is shorter than its 4-byte header");
  }
  if (max_token_length <= 0 || max_token_length > kMaxPieceBytes) {
    return Status::ModelLoad(path + ": max_token_length " + std::to_string(max_token_length) +
                             " is outside [1, " + std::to_string(kMaxPieceBytes) + "]");
  }
  std::unique_ptr<Llama2cTokenizer> t(new Llama2cTokenizer());
  while (true) {
    float score = 0;
    if (!in.read(reinterpret_cast<char*>(&score), sizeof(score))) {
      if (in.gcount() == 0) break;  // clean end of file
      return Status::ModelLoad(path + ": truncated entry for token " +
                               std::to_string(t->pieces_.size()));
    }
    const std::string where = path + ": token " + std::to_string(t->pieces_.size());
    int32_t len = 0;
    if (!in.read(reinterpret_cast<char*>(&len), sizeof(len))) {
      return Status::ModelLoad(where + ": truncated length");
    }
    if (len < 0 || len > kMaxPieceBytes) {
      return Status::ModelLoad(where + ": piece length " + std::to_string(len) + " is outside [0, " +
                               std::to_string(kMaxPieceBytes) + "]");
    }
    std::string piece(static_cast<size_t>(len), '\0');
    if (len > 0 && !in.read(piece.data(), len)) {
      return Status::ModelLoad(where + ": truncated piece");
    }
    if (t->pieces_.size() >= static_cast<size_t>(kMaxVocab)) {
      return Status::ModelLoad(path + ": more than " + std::to_string(kMaxVocab) + " tokens");
    }
    t->pieces_.push_back(std::move(piece));
    t->scores_.push_back(score);
  }
  if (t->pieces_.size() < 3) {
    return Status::ModelLoad(path + ": " + std::to_string(t->pieces_.size()) +
                             " tokens; a llama2.c tokenizer has at least <unk>, BOS and EOS");
  }
  std::fill(std::begin(t->byte_ids_), std::end(t->byte_ids_), kUnk);
  t->text_.reserve(t->pieces_.size());
  for (int32_t id = 0; id < static_cast<int32_t>(t->pieces_.size()); ++id) {
    const std::string& piece = t->pieces_[id];
    t->ids_.emplace(piece, id);  // keeps the lowest id for a duplicate piece
    const int byte = unicode::ParseBytePiece(piece);
    if (byte >= 0) {
      if (t->byte_ids_[byte] == kUnk) t->byte_ids_[byte] = id;
      t->text_.emplace_back(1, static_cast<char>(byte));
    } else {
      t->text_.push_back(piece);
    }
  }
  t->space_id_ = t->Lookup(" ");
  return t;
}

int32_t Llama2cTokenizer::Lookup(std::string_view piece) const {
  auto it = ids_.find(std::string(piece));
  return it == ids_.end() ? -1 : it->second;
}

std::vector<int32_t> Llama2cTokenizer::Encode(std::string_view text, bool add_bos) const {
  std::vector<int32_t> initial;
  if (!text.empty()) initial.push_back(space_id_ >= 0 ? space_id_ : byte_ids_[' ']);
  // One token per UTF-8 codepoint (at most 4 bytes), as run.c groups them.
  std::string buf;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c & 0xC0) != 0x80) buf.clear();
    buf.push_back(static_cast<char>(c));
    const bool next_is_continuation =
        i + 1 < text.size() && (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80;
    if (next_is_continuation && buf.size() < 4) continue;
    const int32_t id = Lookup(buf);
    if (id >= 0) {
      initial.push_back(id);
    } else {
      for (unsigned char b : buf) initial.push_back(byte_ids_[b]);
    }
    buf.clear();
  }

  // Best-pair merging with a heap over a linked list. Nodes keep their relative
  // order, so "smallest left index" is run.c's leftmost tie-break.
  const int n = static_cast<int>(initial.size());
  std::vector<int32_t> id(initial);
  std::vector<int> prev(n), next(n);
  std::vector<bool> alive(n, true);
  for (int i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Candidate {
    float score;
    int left, right;
    int32_t left_id, right_id, merged;
  };
  auto lower_priority = [](const Candidate& a, const Candidate& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(lower_priority)> heap(
      lower_priority);
  auto push_pair = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const int32_t merged = Lookup(pieces_[id[left]] + pieces_[id[right]]);
    if (merged < 0 || !(scores_[merged] > kMinMergeScore)) return;
    heap.push({scores_[merged], left, right, id[left], id[right], merged});
  };
  for (int i = 0; i + 1 < n; ++i) push_pair(i, i + 1);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    if (!alive[c.left] || !alive[c.right] || next[c.left] != c.right || id[c.left] != c.left_id ||
        id[c.right] != c.right_id) {
      continue;  // stale: one side was merged since this pair was queued
    }
    id[c.left] = c.merged;
    alive[c.right] = false;
    next[c.left] = next[c.right];
    if (next[c.right] >= 0) prev[next[c.right]] = c.left;
    push_pair(prev[c.left], c.left);
    push_pair(c.left, next[c.left]);
  }

  std::vector<int32_t> out;
  out.reserve(static_cast<size_t>(n) + 1);
  if (add_bos) out.push_back(kBos);
  for (int i = n > 0 ? 0 : -1; i >= 0; i = next[i]) out.push_back(id[i]);
  return out;
}

std::string Llama2cTokenizer::Decode(const std::vector<int32_t>& ids) const {
  std::string out;
  int32_t prev = -1;
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size()) {
      prev = id;
      continue;
    }
    if (id != kUnk && id != kBos && id != kEos) {
      const std::string& piece = pieces_[id];
      // run.c: after BOS, SentencePiece drops the piece's leading space.
      if (prev == kBos && !piece.empty() && piece[0] == ' ') {
        out.append(text_[id], 1);
      } else {
        out.append(text_[id]);
      }
    }
    prev = id;
  }
  return out;
}

std::string Llama2cTokenizer::Piece(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return "";
  return pieces_[id];
}

Result<std::string> FindLlama2cTokenizer(const std::string& model_path) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(model_path).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (fs::is_regular_file(dir / "tokenizer.bin", ec)) return (dir / "tokenizer.bin").string();
  std::vector<std::string> found;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() >= 7 && name.compare(0, 3, "tok") == 0 &&
        name.compare(name.size() - 4, 4, ".bin") == 0 && it->is_regular_file(ec)) {
      found.push_back(it->path().string());
    }
  }
  if (ec) return Status::ModelLoad(model_path + ": cannot list " + dir.string() + ": " + ec.message());
  std::sort(found.begin(), found.end());
  if (found.size() == 1) return found[0];
  if (found.empty()) {
    return Status::ModelLoad(model_path + ": no tokenizer beside the checkpoint (expected " +
                             (dir / "tokenizer.bin").string() + " or one tok*.bin)");
  }
  std::string list;
  for (const auto& f : found) list += (list.empty() ? "" : ", ") + f;
  return Status::ModelLoad(model_path + ": several tokenizer files beside the checkpoint (" + list +
                           "); name the right one tokenizer.bin");
}

}  // namespace kvfunda
