// Migrations: the numbered schema changes (schemas/NNN_name.sql) and their
// application to a database.
//
// The version of a database is MAX(version) of its schema_version table (0 when
// the table does not exist). Each pending migration runs in its own IMMEDIATE
// transaction together with its schema_version row, so a failure leaves the
// database at the previous version; two processes opening the same file at once
// cannot both apply a migration (the version is re-read inside the transaction).
// A database newer than the binary's newest migration is refused.
//
// Threading: free functions on a connection the caller owns exclusively.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "coordinator/base/status.h"
#include "coordinator/store/sqlite_db.h"

namespace kvfunda {

struct Migration {
  int version = 0;   // the file's number (001 -> 1)
  std::string name;  // the file name ("001_init.sql")
  std::string sql;
};

// The migrations embedded in the binary, sorted by version.
// Errors: corruption when a file name has no leading number or two share one.
Result<std::vector<Migration>> EmbeddedMigrations();

// The database's schema version (0 for an empty database). Errors: io.
Result<int> SchemaVersion(sqlite::SqliteDb& db);

// Applies every migration of `migrations` (sorted by version) newer than the
// database; `now_ms` is recorded as the time applied. Returns the version reached.
// Errors: invalid-argument when the database is newer than the newest migration
// (naming both versions); io when a migration fails (naming it).
Result<int> ApplyMigrations(sqlite::SqliteDb& db, const std::vector<Migration>& migrations,
                            int64_t now_ms);

}  // namespace kvfunda
