// ModelChecksums: the sha256 of a model file or folder, cached in the store.
//
// A checksum is part of every cell's identity, so it is computed at submit. A
// multi-GB model takes seconds to hash; the model_checksums table keeps each
// path's digest together with its size and mtime (for a folder: the total size
// and the newest mtime of everything below it, folders included) and the digest
// is recomputed only when those change.
//
// Ownership: the SweepManager owns one; borrows the Store and the ResultWriter.
// Threading: thread-safe (two submits of the same new model may both hash it).
#pragma once

#include <string>

#include "coordinator/base/clock.h"
#include "coordinator/base/status.h"
#include "coordinator/core/result_writer.h"
#include "coordinator/store/store.h"

namespace kvfunda {

class ModelChecksums {
 public:
  ModelChecksums(Store& store, ResultWriter& writer, const Clock& clock)
      : store_(store), writer_(writer), clock_(clock) {}

  // Hex sha256 of `path` (see Sha256Path). Errors: model-load when the path
  // cannot be read (naming it); io from the store.
  Result<std::string> Get(const std::string& path);

 private:
  Store& store_;
  ResultWriter& writer_;
  const Clock& clock_;
};

}  // namespace kvfunda
