// SHA-256 helpers (OpenSSL's EVP digest): cell identities and model checksums.
// Threading: free functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "coordinator/base/status.h"

namespace kvfunda {

// Lower-case hex digest of `data`.
std::string Sha256Hex(std::string_view data);

// Digest of a file's bytes, or of a folder: every regular file below it, in
// sorted relative-path order, contributing its path and its bytes.
// Errors: io naming the path.
Result<std::string> Sha256Path(const std::string& path);

}  // namespace kvfunda
