#pragma once
// Error categories, mapped once to HTTP statuses and JSON error codes.
// Client-caused kinds come first; environment failures after.
#include <stdexcept>
#include <string>

namespace dine {

enum class ErrorKind {
  BadRequest,       // 400 malformed or invalid input
  Unauthorized,     // 401 missing or bad credentials
  Forbidden,        // 403 authenticated but not allowed
  NotFound,         // 404
  Conflict,         // 409 illegal state transition, duplicate
  PayloadTooLarge,  // 413
  RateLimited,      // 429
  Unavailable,      // 503 a dependency is down or overcrowded
  Timeout,          // 504 a deadline passed
  Internal,         // 500 a bug
};

int http_status(ErrorKind kind);
const char* default_code(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string code, const std::string& message)
      : std::runtime_error(message), kind_(kind), code_(std::move(code)) {}
  Error(ErrorKind kind, const std::string& message)
      : Error(kind, default_code(kind), message) {}

  ErrorKind kind() const { return kind_; }
  const std::string& code() const { return code_; }  // snake_case, e.g. "invalid_qty"

 private:
  ErrorKind kind_;
  std::string code_;
};

inline Error bad_request(std::string code, const std::string& msg) {
  return Error(ErrorKind::BadRequest, std::move(code), msg);
}
inline Error not_found(std::string code, const std::string& msg) {
  return Error(ErrorKind::NotFound, std::move(code), msg);
}
inline Error conflict(std::string code, const std::string& msg) {
  return Error(ErrorKind::Conflict, std::move(code), msg);
}
inline Error unavailable(std::string code, const std::string& msg) {
  return Error(ErrorKind::Unavailable, std::move(code), msg);
}

}  // namespace dine
