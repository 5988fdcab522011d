#pragma once
// SQL errors keep their SQLSTATE so callers can tell a unique violation from a
// serialization failure; the class decides the HTTP mapping.
#include <string>

#include "core/errors.hpp"

namespace dine::pg {

class SqlError : public Error {
 public:
  SqlError(std::string sqlstate, const std::string& message);
  const std::string& sqlstate() const { return sqlstate_; }
  bool unique_violation() const { return sqlstate_ == "23505"; }
  bool serialization_failure() const { return sqlstate_ == "40001" || sqlstate_ == "40P01"; }

 private:
  std::string sqlstate_;
};

// SQLSTATE class -> kind: 08 connection and 57P0x shutdown -> Unavailable,
// 23 integrity -> Conflict, 22 data -> BadRequest, 57014 cancel -> Timeout, else Internal.
ErrorKind kind_of_sqlstate(const std::string& sqlstate);

}  // namespace dine::pg
