#include "worker/model/pre_tokenizer.h"

#include <utility>

#include "worker/model/unicode_text.h"

namespace kvfunda {
namespace {

using Span = std::pair<size_t, size_t>;
using Behavior = PreTokenizerStep::Behavior;

void ReplaceAll(std::string* s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::string out;
  out.reserve(s->size());
  size_t pos = 0;
  while (true) {
    const size_t hit = s->find(from, pos);
    if (hit == std::string::npos) break;
    out.append(*s, pos, hit - pos);
    out.append(to);
    pos = hit + from.size();
  }
  out.append(*s, pos, std::string::npos);
  *s = std::move(out);
}

// Cuts `text` by the regex `matches` per HF's SplitDelimiterBehavior; the
// "delimiters" are the matches, or the gaps when `invert`.
void CutByMatches(const std::string& text, const std::vector<Span>& matches, bool invert,
                  Behavior behavior, std::vector<std::string>* out) {
  // All spans of text, each flagged whether it is a delimiter.
  std::vector<std::pair<Span, bool>> spans;
  size_t pos = 0;
  for (const Span& m : matches) {
    if (m.first > pos) spans.push_back({{pos, m.first}, invert});
    spans.push_back({m, !invert});
    pos = m.second;
  }
  if (pos < text.size()) spans.push_back({{pos, text.size()}, invert});

  std::string pending;  // kMergedWithNext: a delimiter waiting for what follows
  std::vector<std::string> pieces;
  bool prev_delim = false;
  for (const auto& [span, is_delim] : spans) {
    std::string part = text.substr(span.first, span.second - span.first);
    switch (behavior) {
      case Behavior::kIsolated:
        pieces.push_back(std::move(part));
        break;
      case Behavior::kRemoved:
        if (!is_delim) pieces.push_back(std::move(part));
        break;
      case Behavior::kMergedWithPrevious:
        // HF: a delimiter joins the span before it unless that span is a delimiter too.
        if (is_delim && !prev_delim && !pieces.empty()) {
          pieces.back() += part;
        } else {
          pieces.push_back(std::move(part));
        }
        break;
      case Behavior::kMergedWithNext:
        if (is_delim) {
          if (!pending.empty()) pieces.push_back(std::move(pending));
          pending = std::move(part);
        } else {
          pieces.push_back(pending + part);
          pending.clear();
        }
        break;
    }
    prev_delim = is_delim;
  }
  if (!pending.empty()) pieces.push_back(std::move(pending));
  for (std::string& p : pieces) {
    if (!p.empty()) out->push_back(std::move(p));
  }
}

}  // namespace

Result<std::unique_ptr<PreTokenizer>> PreTokenizer::Create(
    std::vector<NormalizerStep> normalizer, std::vector<PreTokenizerStep> pre_tokenizer) {
  std::unique_ptr<PreTokenizer> p(new PreTokenizer());
  p->normalizer_ = std::move(normalizer);
  p->steps_ = std::move(pre_tokenizer);
  for (const PreTokenizerStep& step : p->steps_) {
    std::unique_ptr<RegexSplitter> regex;
    switch (step.kind) {
      case PreTokenizerStep::Kind::kSplit: {
        KVF_ASSIGN_OR_RETURN(regex, RegexSplitter::Compile(step.pattern, step.literal));
        break;
      }
      case PreTokenizerStep::Kind::kByteLevel:
        p->byte_level_ = true;
        if (step.use_regex) {
          KVF_ASSIGN_OR_RETURN(regex, RegexSplitter::Compile(
              step.pattern.empty() ? kGpt2SplitPattern : step.pattern, false));
        }
        break;
      case PreTokenizerStep::Kind::kDigits: {
        KVF_ASSIGN_OR_RETURN(regex,
                             RegexSplitter::Compile(step.individual_digits ? R"(\p{N})" : R"(\p{N}+)",
                                                    false));
        break;
      }
      case PreTokenizerStep::Kind::kMetaspace:
        break;
    }
    p->regexes_.push_back(std::move(regex));
  }
  return p;
}

std::string PreTokenizer::Normalize(std::string_view segment) const {
  std::string s(segment);
  for (const NormalizerStep& step : normalizer_) {
    switch (step.kind) {
      case NormalizerStep::Kind::kNfc:
        s = unicode::Nfc(s);
        break;
      case NormalizerStep::Kind::kPrepend:
        if (!s.empty()) s.insert(0, step.content);
        break;
      case NormalizerStep::Kind::kReplace:
        ReplaceAll(&s, step.pattern, step.content);
        break;
    }
  }
  return s;
}

Status PreTokenizer::ApplyStep(size_t index, const std::string& piece, bool first_piece,
                               std::vector<std::string>* out) const {
  const PreTokenizerStep& step = steps_[index];
  const RegexSplitter* regex = regexes_[index].get();
  std::vector<Span> matches;
  switch (step.kind) {
    case PreTokenizerStep::Kind::kSplit:
    case PreTokenizerStep::Kind::kDigits: {
      KVF_RETURN_IF_ERROR(regex->FindMatches(piece, &matches));
      CutByMatches(piece, matches, step.kind == PreTokenizerStep::Kind::kSplit && step.invert,
                   step.kind == PreTokenizerStep::Kind::kSplit ? step.behavior : Behavior::kIsolated,
                   out);
      return Status::Ok();
    }
    case PreTokenizerStep::Kind::kByteLevel: {
      std::string text = piece;
      if (step.add_prefix_space && (text.empty() || text[0] != ' ')) text.insert(0, " ");
      std::vector<std::string> parts;
      if (regex != nullptr) {
        KVF_RETURN_IF_ERROR(regex->FindMatches(text, &matches));
        CutByMatches(text, matches, false, Behavior::kIsolated, &parts);
      } else {
        parts.push_back(std::move(text));
      }
      for (const std::string& part : parts) out->push_back(unicode::BytesToByteLevel(part));
      return Status::Ok();
    }
    case PreTokenizerStep::Kind::kMetaspace: {
      std::string text = piece;
      ReplaceAll(&text, " ", step.replacement);
      const bool starts = text.compare(0, step.replacement.size(), step.replacement) == 0;
      if (!starts && (step.prepend == PreTokenizerStep::Prepend::kAlways ||
                      (step.prepend == PreTokenizerStep::Prepend::kFirst && first_piece))) {
        text.insert(0, step.replacement);
      }
      if (!step.split) {
        out->push_back(std::move(text));
        return Status::Ok();
      }
      size_t pos = 0;
      while (true) {
        const size_t hit = text.find(step.replacement, pos);
        if (hit == std::string::npos) break;
        matches.push_back({hit, hit + step.replacement.size()});
        pos = hit + step.replacement.size();
      }
      CutByMatches(text, matches, false, Behavior::kMergedWithNext, out);
      return Status::Ok();
    }
  }
  return Status::Internal("unknown pre-tokenizer step");
}

Status PreTokenizer::Split(std::string normalized, bool at_start,
                           std::vector<std::string>* pieces) const {
  if (normalized.empty()) return Status::Ok();
  std::vector<std::string> current;
  current.push_back(std::move(normalized));
  for (size_t i = 0; i < steps_.size(); ++i) {
    std::vector<std::string> next;
    for (size_t j = 0; j < current.size(); ++j) {
      KVF_RETURN_IF_ERROR(ApplyStep(i, current[j], at_start && j == 0, &next));
    }
    current = std::move(next);
  }
  for (std::string& p : current) {
    if (!p.empty()) pieces->push_back(std::move(p));
  }
  return Status::Ok();
}

}  // namespace kvfunda
