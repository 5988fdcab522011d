#pragma once
// Bulk loading for `dine db seed`: a blocking libpq session (a command line
// tool waits anyway), and a chunked COPY into a temporary staging table merged
// into the real one with INSERT ... ON CONFLICT DO NOTHING, one transaction
// per chunk: a second run inserts nothing, and a run cut short leaves whole
// chunks that the next run completes.
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "core/pg/connection.hpp"  // pg::Params
#include "core/pg/result.hpp"

struct pg_conn;

namespace dine::seed {

// A failure of one database, its message naming the node, its address and
// the database, with a fix where one is known.
class DbError : public std::runtime_error {
 public:
  DbError(const std::string& message, std::string sqlstate)
      : std::runtime_error(message), sqlstate_(std::move(sqlstate)) {}
  const std::string& sqlstate() const { return sqlstate_; }  // "" for connection failures

 private:
  std::string sqlstate_;
};

class Session {
 public:
  // `where` names the database in messages: "pg-main (127.0.0.1:25432) database menu".
  // Throws DbError: unreachable (fix: dine up), no such database (fix: dine db migrate).
  Session(const std::string& dsn, std::string where);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  pg::Result exec(std::string_view sql);                          // may hold several statements
  pg::Result exec(std::string_view sql, const pg::Params& params);  // one statement, text parameters
  // COPY ... FROM STDIN with `data` (COPY text rows).
  void copy_in(std::string_view copy_sql, std::string_view data);
  const std::string& where() const { return where_; }

 private:
  pg::Result check(struct pg_result* res, std::string_view sql);
  pg_conn* conn_ = nullptr;
  std::string where_;
};

// One table's load: rows are COPYed into `staging` (created by the caller, ON
// COMMIT DELETE ROWS), then `merge` moves them and returns one row whose
// first column counts the rows inserted (the second, when there is one, what
// else it changed).
struct Load {
  std::string staging;
  std::string columns;  // in the order the rows give them
  std::string merge;
};

struct Counts {
  int64_t rows = 0;      // offered
  int64_t inserted = 0;  // new
  int64_t changed = 0;   // the merge's second figure (menus whose version went up)
  int64_t present() const { return rows - inserted; }
};

inline constexpr int64_t kChunkRows = 10000;

// Rows 0..rows-1; row(i, out) appends row i. progress(done) after each chunk.
Counts load(Session& s, const Load& l, int64_t rows, const std::function<void(int64_t, std::string&)>& row,
            const std::function<void(int64_t)>& progress, int64_t chunk = kChunkRows);

}  // namespace dine::seed
