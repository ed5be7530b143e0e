// SqliteDb and Statement: thin RAII wrappers over one sqlite3 connection.
//
// SQLite result codes become kvfunda Status values here and nowhere else:
// SQLITE_FULL / SQLITE_IOERR / SQLITE_BUSY / anything else -> io, naming the
// operation and SQLite's message ("insert result: database or disk is full").
// Prepared statements are cached per connection by SQL text and reused.
//
// Threading: thread-compatible. A SqliteDb (and its statements) is used by one
// thread at a time; the Store serialises access with a mutex per connection.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "coordinator/base/status.h"

namespace kvfunda::sqlite {

// io status for a failed call: "<what>: <sqlite message> (code N)".
Status Error(sqlite3* db, int rc, std::string_view what);

// A prepared statement. Bind*() use 1-based indexes; column getters 0-based.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  void Bind(int idx, int64_t v) { sqlite3_bind_int64(stmt_, idx, v); }
  void Bind(int idx, int v) { sqlite3_bind_int64(stmt_, idx, v); }
  void Bind(int idx, double v) { sqlite3_bind_double(stmt_, idx, v); }
  void Bind(int idx, std::string_view v) {
    sqlite3_bind_text(stmt_, idx, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void Bind(int idx, const std::string& v) { Bind(idx, std::string_view(v)); }
  void Bind(int idx, const char* v) { Bind(idx, std::string_view(v)); }
  void BindNull(int idx) { sqlite3_bind_null(stmt_, idx); }
  // Binds the arguments to parameters 1..N in order.
  template <typename... Args>
  void BindAll(const Args&... args) {
    int idx = 0;
    (Bind(++idx, args), ...);
  }

  // One step. Returns true when a row is available, false when done.
  // Errors: io (the statement is reset).
  Result<bool> Step();
  // Steps to completion (for statements without rows). Errors: io.
  Status Run();

  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Double(int col) const { return sqlite3_column_double(stmt_, col); }
  std::string Text(int col) const;
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

  // Resets the statement and clears its bindings (done by StatementRef).
  void Reset();

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

// A cached statement borrowed for one use; reset when it goes out of scope.
class StatementRef {
 public:
  explicit StatementRef(Statement* s) : s_(s) {}
  ~StatementRef() {
    if (s_) s_->Reset();
  }
  StatementRef(StatementRef&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  StatementRef(const StatementRef&) = delete;
  StatementRef& operator=(const StatementRef&) = delete;
  Statement* operator->() const { return s_; }
  Statement& operator*() const { return *s_; }

 private:
  Statement* s_;
};

class SqliteDb {
 public:
  // Opens `path` (":memory:" for a private in-memory database).
  // `flags` are sqlite3_open_v2 flags. Errors: io naming the path.
  static Result<std::unique_ptr<SqliteDb>> Open(const std::string& path, int flags);
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  // Runs one or more statements without results. Errors: io naming `what`.
  Status Exec(std::string_view sql, std::string_view what);
  // The cached prepared statement for `sql` (prepared on first use).
  // Errors: io (syntax errors, missing tables).
  Result<StatementRef> Prepare(const std::string& sql);

  // Rows changed by the last INSERT/UPDATE/DELETE on this connection.
  int64_t Changes() const { return sqlite3_changes64(db_); }
  sqlite3* raw() const { return db_; }

 private:
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::unordered_map<std::string, std::unique_ptr<Statement>> cache_;
};

}  // namespace kvfunda::sqlite
