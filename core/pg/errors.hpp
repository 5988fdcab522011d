#pragma once
// SQL errors keep their SQLSTATE so callers can tell a unique violation from a
// serialization failure. The SQLSTATE decides, once, the kind (the HTTP status),
// the JSON code and the plain message a client sees; the server's own words
// (message, DETAIL) go to detail(), which only the log reads.
#include <string>
#include <string_view>

#include "core/errors.hpp"

namespace dine::pg {

struct SqlMapping {
  ErrorKind kind;
  const char* code;     // "db_conflict", ...
  const char* message;  // plain, safe for clients
  int retry_after = 0;  // seconds; 0: no Retry-After
};

// 40001, 40P01 (serialization failure, deadlock) and 55P03 (lock timeout):
//   503 db_conflict, Retry-After (the pool retries 40001/40P01 first);
// 22xxx data exception: 400 invalid_value; 23xxx integrity: 409 db_constraint;
// 57014 query cancelled: 504 db_timeout; 08xxx connection, 57P0x shutdown,
// 25P03 idle-in-transaction timeout: 503 db_unavailable; 53300 too many
// connections: 503 db_overloaded; other 53xxx: 503 db_unavailable; else 500 db_error.
SqlMapping map_sqlstate(std::string_view sqlstate);

class SqlError : public Error {
 public:
  // `server_text`: the server's primary message and DETAIL (log only).
  SqlError(std::string sqlstate, const std::string& server_text);
  const std::string& sqlstate() const { return sqlstate_; }
  bool unique_violation() const { return sqlstate_ == "23505"; }
  // Serialization failure or deadlock: the statement (or transaction) rolled
  // back and may be run again as it was.
  bool retryable() const { return sqlstate_ == "40001" || sqlstate_ == "40P01"; }

 private:
  std::string sqlstate_;
};

}  // namespace dine::pg
