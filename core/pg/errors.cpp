#include "core/pg/errors.hpp"

namespace dine::pg {

namespace {

// The JSON error code a caller sees if it lets the SqlError escape.
std::string code_of(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Unavailable: return "db_unavailable";
    case ErrorKind::Timeout: return "db_timeout";
    case ErrorKind::Conflict: return "db_conflict";
    case ErrorKind::BadRequest: return "db_bad_value";
    default: return "db_error";
  }
}

}  // namespace

ErrorKind kind_of_sqlstate(const std::string& sqlstate) {
  if (sqlstate.size() != 5) return ErrorKind::Internal;
  std::string_view cls(sqlstate.data(), 2);
  if (cls == "08") return ErrorKind::Unavailable;  // connection exception
  if (sqlstate.compare(0, 4, "57P0") == 0) return ErrorKind::Unavailable;  // admin/crash shutdown
  if (sqlstate == "57014") return ErrorKind::Timeout;                       // query canceled
  if (cls == "23") return ErrorKind::Conflict;     // integrity constraint violation
  if (cls == "40") return ErrorKind::Conflict;     // serialization failure, deadlock: retryable
  if (cls == "22") return ErrorKind::BadRequest;   // data exception
  if (cls == "53") return ErrorKind::Unavailable;  // insufficient resources (too many connections)
  return ErrorKind::Internal;
}

SqlError::SqlError(std::string sqlstate, const std::string& message)
    : Error(kind_of_sqlstate(sqlstate), code_of(kind_of_sqlstate(sqlstate)),
            sqlstate.empty() ? message : message + " (SQLSTATE " + sqlstate + ")"),
      sqlstate_(std::move(sqlstate)) {}

}  // namespace dine::pg
