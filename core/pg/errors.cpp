#include "core/pg/errors.hpp"

namespace dine::pg {

SqlMapping map_sqlstate(std::string_view s) {
  const std::string_view cls = s.size() == 5 ? s.substr(0, 2) : std::string_view{};
  if (s == "40001" || s == "40P01" || s == "55P03")
    return {ErrorKind::Unavailable, "db_conflict", "the request collided with another one; retry shortly", 1};
  if (s == "57014") return {ErrorKind::Timeout, "db_timeout", "the database did not answer in time"};
  if (s == "53300") return {ErrorKind::Unavailable, "db_overloaded", "the database has no free connection", 1};
  if (cls == "08" || s.substr(0, 4) == "57P0" || s == "25P03" || cls == "53")
    return {ErrorKind::Unavailable, "db_unavailable", "the database is unavailable", 1};
  if (cls == "22") return {ErrorKind::BadRequest, "invalid_value", "a value in the request is malformed or out of range"};
  if (cls == "23") return {ErrorKind::Conflict, "db_constraint", "the request conflicts with data already stored"};
  return {ErrorKind::Internal, "db_error", "internal error"};
}

namespace {
Error make(const std::string& sqlstate, const std::string& server_text) {
  SqlMapping m = map_sqlstate(sqlstate);
  Error e(m.kind, m.code, m.message, "SQLSTATE " + (sqlstate.empty() ? std::string("?") : sqlstate) + ": " + server_text);
  if (m.retry_after > 0) e.with_retry_after(m.retry_after);
  return e;
}
}  // namespace

SqlError::SqlError(std::string sqlstate, const std::string& server_text)
    : Error(make(sqlstate, server_text)), sqlstate_(std::move(sqlstate)) {}

}  // namespace dine::pg
