#pragma once
// Error categories, mapped once to HTTP statuses and JSON error codes.
// Client-caused kinds come first; failures of the environment after; a bug last.
//
// An Error has two texts: what() is the plain message a client may read; detail()
// is for the log only (hosts, ports, SQLSTATEs, the server's own words). A client
// never sees the detail: the router logs it with the request id.
#include <optional>
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
  PaymentRequired,  // 402 a payment was declined
  RateLimited,      // 429
  Unavailable,      // 503 a dependency is down or overcrowded
  Timeout,          // 504 a deadline passed
  Internal,         // 500 a bug
};

int http_status(ErrorKind kind);
const char* default_code(ErrorKind kind);
// Unavailable, Timeout, Internal: the environment (or a bug), not the client.
bool server_side(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string code, const std::string& message, std::string detail = {})
      : std::runtime_error(message), kind_(kind), code_(std::move(code)), detail_(std::move(detail)) {}
  Error(ErrorKind kind, const std::string& message) : Error(kind, default_code(kind), message) {}

  ErrorKind kind() const { return kind_; }
  const std::string& code() const { return code_; }      // snake_case, e.g. "invalid_qty"
  const std::string& detail() const { return detail_; }  // log only; may be empty
  // Seconds a client should wait before retrying (the Retry-After header).
  std::optional<int> retry_after() const { return retry_after_; }
  Error& with_retry_after(int seconds) {
    retry_after_ = seconds;
    return *this;
  }

 private:
  ErrorKind kind_;
  std::string code_;
  std::string detail_;
  std::optional<int> retry_after_;
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
inline Error unavailable(std::string code, const std::string& msg, std::string detail = {}) {
  return Error(ErrorKind::Unavailable, std::move(code), msg, std::move(detail));
}

}  // namespace dine
