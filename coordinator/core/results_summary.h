// ResultsSummary: per-cell aggregates of a sweep's stored results — the table
// `kvfunda results` prints and the GetResults RPC returns.
//
// Every number is a plain mean over the samples stored for that cell within the
// sweep's sample range, so each one traces back to those rows.
// Threading: free function; uses the store's read connection (thread-safe).
#pragma once

#include <cstdint>
#include <string>

#include "coordinator/base/status.h"
#include "coordinator/store/store.h"
#include "proto/kvfunda.pb.h"

namespace kvfunda {

// The sweep's cells in order with their aggregates (status is left empty).
// Errors: not-found for an unknown sweep, io.
Result<v1::SweepResults> SummarizeResults(Store& store, int64_t sweep_id);

// A printable table (one line per cell) or CSV (a header line, then one row per cell).
std::string FormatResultsTable(const v1::SweepResults& results);
std::string FormatResultsCsv(const v1::SweepResults& results);

}  // namespace kvfunda
