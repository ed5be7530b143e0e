#include "worker/model/unicode_split.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace kvfunda {
namespace {

pcre2_code* AsCode(void* p) { return static_cast<pcre2_code*>(p); }

std::string PcreMessage(int code) {
  PCRE2_UCHAR buf[256];
  const int n = pcre2_get_error_message(code, buf, sizeof(buf));
  return n < 0 ? "PCRE2 error " + std::to_string(code) : std::string(reinterpret_cast<char*>(buf));
}

}  // namespace

Result<std::unique_ptr<RegexSplitter>> RegexSplitter::Compile(std::string_view pattern,
                                                              bool literal) {
  std::unique_ptr<RegexSplitter> s(new RegexSplitter());
  s->pattern_ = std::string(pattern);
  uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;
  if (literal) options |= PCRE2_LITERAL;
  int err = 0;
  PCRE2_SIZE err_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   options, &err, &err_offset, nullptr);
  if (code == nullptr) {
    return Status::InvalidArgument("regex /" + s->pattern_ + "/ at offset " +
                                   std::to_string(err_offset) + ": " + PcreMessage(err));
  }
  s->code_ = code;
  s->jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  return s;
}

RegexSplitter::~RegexSplitter() {
  if (code_ != nullptr) pcre2_code_free(AsCode(code_));
}

Status RegexSplitter::FindMatches(std::string_view text,
                                  std::vector<std::pair<size_t, size_t>>* out) const {
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(AsCode(code_), nullptr);
  if (md == nullptr) return Status::OutOfMemory("regex match data");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  Status status;
  while (pos <= text.size()) {
    const int rc = jit_ ? pcre2_jit_match(AsCode(code_), subject, text.size(), pos, 0, md, nullptr)
                        : pcre2_match(AsCode(code_), subject, text.size(), pos, 0, md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      status = Status::Internal("regex /" + pattern_ + "/: " + PcreMessage(rc));
      break;
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t begin = ov[0], end = ov[1];
    if (end > begin) {
      out->emplace_back(begin, end);
      pos = end;
    } else {
      // An empty match: step over one whole character.
      size_t next = begin + 1;
      while (next < text.size() && (static_cast<unsigned char>(text[next]) & 0xC0) == 0x80) ++next;
      pos = next;
    }
  }
  pcre2_match_data_free(md);
  return status;
}

}  // namespace kvfunda
