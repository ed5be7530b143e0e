#include "coordinator/core/model_checksums.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "coordinator/base/sha256.h"

namespace kvfunda {
namespace {

struct Fingerprint {
  int64_t size = 0;
  int64_t mtime_ns = 0;
};

Result<Fingerprint> StatPath(const std::string& path) {
  auto stat_one = [](const std::string& p, Fingerprint& fp) -> bool {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return false;
    int64_t ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    fp.mtime_ns = std::max(fp.mtime_ns, ns);
    if (S_ISREG(st.st_mode)) fp.size += static_cast<int64_t>(st.st_size);
    return true;
  };
  Fingerprint fp;
  if (!stat_one(path, fp)) return Status::ModelLoad("cannot read model path " + path);
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (!stat_one(it->path().string(), fp)) {
        return Status::ModelLoad("cannot read " + it->path().string());
      }
    }
    if (ec) return Status::ModelLoad("cannot list model folder " + path + ": " + ec.message());
  }
  return fp;
}

}  // namespace

Result<std::string> ModelChecksums::Get(const std::string& path) {
  std::error_code ec;
  std::string key = std::filesystem::absolute(path, ec).lexically_normal().string();
  if (ec) key = path;
  KVF_ASSIGN_OR_RETURN(Fingerprint fp, StatPath(key));
  KVF_ASSIGN_OR_RETURN(auto cached, store_.CachedChecksum(key, fp.size, fp.mtime_ns));
  if (cached) return *cached;
  Result<std::string> sum = Sha256Path(key);
  if (!sum.ok()) return Status::ModelLoad(sum.status().message());
  WriteBatch batch;
  const std::string digest = *sum;
  const int64_t now = clock_.NowMs();
  batch.extra = [key, fp, digest, now](WriteTxn& txn) {
    return txn.PutModelChecksum(key, fp.size, fp.mtime_ns, digest, now);
  };
  writer_.Post(std::move(batch));
  return digest;
}

}  // namespace kvfunda
