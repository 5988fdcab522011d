#include "core/errors.hpp"

namespace dine {

int http_status(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::BadRequest: return 400;
    case ErrorKind::Unauthorized: return 401;
    case ErrorKind::Forbidden: return 403;
    case ErrorKind::NotFound: return 404;
    case ErrorKind::Conflict: return 409;
    case ErrorKind::PayloadTooLarge: return 413;
    case ErrorKind::PaymentRequired: return 402;
    case ErrorKind::RateLimited: return 429;
    case ErrorKind::Unavailable: return 503;
    case ErrorKind::Timeout: return 504;
    case ErrorKind::Internal: return 500;
  }
  return 500;
}

const char* default_code(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::BadRequest: return "bad_request";
    case ErrorKind::Unauthorized: return "unauthorized";
    case ErrorKind::Forbidden: return "forbidden";
    case ErrorKind::NotFound: return "not_found";
    case ErrorKind::Conflict: return "conflict";
    case ErrorKind::PayloadTooLarge: return "payload_too_large";
    case ErrorKind::PaymentRequired: return "payment_required";
    case ErrorKind::RateLimited: return "rate_limited";
    case ErrorKind::Unavailable: return "unavailable";
    case ErrorKind::Timeout: return "timeout";
    case ErrorKind::Internal: return "internal";
  }
  return "internal";
}

bool server_side(ErrorKind kind) {
  return kind == ErrorKind::Unavailable || kind == ErrorKind::Timeout || kind == ErrorKind::Internal;
}

}  // namespace dine
