#include "coordinator/base/sha256.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

namespace kvfunda {
namespace {

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

MdCtx NewCtx() {
  MdCtx ctx(EVP_MD_CTX_new());
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  return ctx;
}

std::string Finish(EVP_MD_CTX* ctx) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md.data(), &len);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

Status HashFileInto(EVP_MD_CTX* ctx, const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return Status::Io("cannot read " + p.string());
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    std::streamsize n = in.gcount();
    if (n > 0) EVP_DigestUpdate(ctx, buf.data(), static_cast<size_t>(n));
  }
  if (in.bad()) return Status::Io("error reading " + p.string());
  return Status::Ok();
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  MdCtx ctx = NewCtx();
  EVP_DigestUpdate(ctx.get(), data.data(), data.size());
  return Finish(ctx.get());
}

Result<std::string> Sha256Path(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return Status::Io("cannot read " + path + ": no such file or folder");
  MdCtx ctx = NewCtx();
  if (fs::is_directory(st)) {
    std::vector<fs::path> files;
    for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      if (it->is_regular_file()) files.push_back(fs::relative(it->path(), path));
    }
    if (ec) return Status::Io("cannot list " + path + ": " + ec.message());
    std::sort(files.begin(), files.end());
    for (const auto& rel : files) {
      std::string name = rel.generic_string();
      EVP_DigestUpdate(ctx.get(), name.data(), name.size() + 1);  // include the NUL
      KVF_RETURN_IF_ERROR(HashFileInto(ctx.get(), fs::path(path) / rel));
    }
  } else {
    KVF_RETURN_IF_ERROR(HashFileInto(ctx.get(), path));
  }
  return Finish(ctx.get());
}

}  // namespace kvfunda
