#include "coordinator/store/migrations.h"

#include <algorithm>
#include <cctype>

#include "coordinator/base/embedded.h"

namespace kvfunda {
namespace {

constexpr const char* kCreateVersionTable =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms INTEGER NOT NULL)";

Status TooNew(int have, int know) {
  return Status::InvalidArgument(
      "the database has schema version " + std::to_string(have) +
      " but this kvfunda knows versions up to " + std::to_string(know) +
      "; use a newer kvfunda binary (or another --db file)");
}

}  // namespace

Result<std::vector<Migration>> EmbeddedMigrations() {
  std::vector<Migration> out;
  const embedded::EmbeddedFile* files = embedded::migrations_files();
  for (size_t i = 0; i < embedded::migrations_count(); ++i) {
    std::string name = files[i].name;
    size_t digits = 0;
    while (digits < name.size() && std::isdigit(static_cast<unsigned char>(name[digits]))) {
      ++digits;
    }
    if (digits == 0) {
      return Status::Corruption("embedded migration " + name + " does not start with a number");
    }
    out.push_back({std::stoi(name.substr(0, digits)), name, std::string(files[i].view())});
  }
  std::sort(out.begin(), out.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  for (size_t i = 1; i < out.size(); ++i) {
    if (out[i].version == out[i - 1].version) {
      return Status::Corruption("migrations " + out[i - 1].name + " and " + out[i].name +
                                " share version " + std::to_string(out[i].version));
    }
  }
  return out;
}

Result<int> SchemaVersion(sqlite::SqliteDb& db) {
  KVF_ASSIGN_OR_RETURN(auto exists,
                       db.Prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                  "name = 'schema_version'"));
  KVF_ASSIGN_OR_RETURN(bool has_table, exists->Step());
  if (!has_table) return 0;
  KVF_ASSIGN_OR_RETURN(auto q, db.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_version"));
  KVF_ASSIGN_OR_RETURN(bool row, q->Step());
  return row ? static_cast<int>(q->Int(0)) : 0;
}

Result<int> ApplyMigrations(sqlite::SqliteDb& db, const std::vector<Migration>& migrations,
                            int64_t now_ms) {
  const int newest = migrations.empty() ? 0 : migrations.back().version;
  KVF_ASSIGN_OR_RETURN(int version, SchemaVersion(db));
  if (version > newest) return TooNew(version, newest);
  for (const Migration& m : migrations) {
    if (m.version <= version) continue;
    KVF_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE", "starting migration " + m.name));
    auto apply = [&]() -> Result<bool> {
      KVF_RETURN_IF_ERROR(db.Exec(kCreateVersionTable, "creating schema_version"));
      // Another process may have migrated between our check and our lock.
      KVF_ASSIGN_OR_RETURN(int current, SchemaVersion(db));
      if (current > newest) return TooNew(current, newest);
      if (current >= m.version) return false;
      KVF_RETURN_IF_ERROR(db.Exec(m.sql, "applying migration " + m.name));
      KVF_ASSIGN_OR_RETURN(auto ins, db.Prepare("INSERT INTO schema_version (version, name, "
                                                "applied_ms) VALUES (?, ?, ?)"));
      ins->BindAll(m.version, m.name, now_ms);
      KVF_RETURN_IF_ERROR(ins->Run());
      return true;
    };
    Result<bool> applied = apply();
    if (!applied.ok()) {
      (void)db.Exec("ROLLBACK", "rolling back migration");
      return applied.status();
    }
    KVF_RETURN_IF_ERROR(db.Exec("COMMIT", "committing migration " + m.name));
    version = m.version;
  }
  return version;
}

}  // namespace kvfunda
