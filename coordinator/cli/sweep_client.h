// SweepClient: the CLI's access to sweeps, either through a live coordinator
// (gRPC SweepService) or, for `status` and `results`, straight from a database
// file (read-only) when no coordinator address is given.
// Threading: thread-compatible; used by one CLI command.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "coordinator/base/status.h"
#include "proto/kvfunda.pb.h"

namespace kvfunda::cli {

struct SweepSource {
  std::string coordinator;  // "host:port"; empty = read `db`
  std::string db = "kvfunda.db";
  std::string token;
};

class SweepClient {
 public:
  virtual ~SweepClient() = default;
  virtual Result<std::vector<v1::SweepStatus>> List() = 0;
  virtual Result<v1::SweepStatus> Get(const std::string& sweep_id) = 0;
  virtual Result<v1::SweepResults> Results(const std::string& sweep_id) = 0;
};

// Errors: io when the database cannot be opened (names the file).
Result<std::unique_ptr<SweepClient>> OpenSweepClient(const SweepSource& source);

// "done", "running", ... for a sweep state.
std::string StateLabel(v1::SweepState state);
// The status table `kvfunda status` prints.
std::string FormatStatusTable(const std::vector<v1::SweepStatus>& sweeps);

}  // namespace kvfunda::cli
