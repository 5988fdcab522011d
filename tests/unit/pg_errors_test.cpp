// SQLSTATE -> kind, code, plain message and Retry-After: one case per class
// the issue names, and the server's words never in the client's message.
#include <gtest/gtest.h>

#include "core/pg/errors.hpp"

namespace dine::pg {
namespace {

struct Case {
  const char* sqlstate;
  ErrorKind kind;
  const char* code;
  int status;
  bool retry_after;
};

TEST(PgErrors, EachSqlstateClassMapsOnce) {
  const Case cases[] = {
      {"40001", ErrorKind::Unavailable, "db_conflict", 503, true},    // serialization failure
      {"40P01", ErrorKind::Unavailable, "db_conflict", 503, true},    // deadlock
      {"55P03", ErrorKind::Unavailable, "db_conflict", 503, true},    // lock timeout
      {"22P02", ErrorKind::BadRequest, "invalid_value", 400, false},  // invalid text representation
      {"22003", ErrorKind::BadRequest, "invalid_value", 400, false},  // numeric out of range
      {"57014", ErrorKind::Timeout, "db_timeout", 504, false},        // query cancelled (statement_timeout)
      {"08006", ErrorKind::Unavailable, "db_unavailable", 503, true}, // connection failure
      {"08001", ErrorKind::Unavailable, "db_unavailable", 503, true},
      {"57P01", ErrorKind::Unavailable, "db_unavailable", 503, true}, // admin shutdown
      {"25P03", ErrorKind::Unavailable, "db_unavailable", 503, true}, // idle-in-transaction timeout
      {"53300", ErrorKind::Unavailable, "db_overloaded", 503, true},  // too many connections
      {"53100", ErrorKind::Unavailable, "db_unavailable", 503, true}, // disk full
      {"23505", ErrorKind::Conflict, "db_constraint", 409, false},    // unique violation
      {"42601", ErrorKind::Internal, "db_error", 500, false},         // syntax error: a bug
      {"", ErrorKind::Internal, "db_error", 500, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.sqlstate);
    SqlError e(c.sqlstate, "relation \"orders\" on host=10.0.0.7 port=5432: DETAIL: Key (id)=(1) exists");
    EXPECT_EQ(e.kind(), c.kind);
    EXPECT_EQ(e.code(), c.code);
    EXPECT_EQ(http_status(e.kind()), c.status);
    EXPECT_EQ(e.retry_after().has_value(), c.retry_after);
    EXPECT_EQ(e.sqlstate(), c.sqlstate);
    // The client's message is plain; the server's words are in the detail only.
    std::string msg = e.what();
    for (const char* leak : {"orders", "host=", "10.0.0.7", "5432", "DETAIL", "Key ("}) {
      EXPECT_EQ(msg.find(leak), std::string::npos) << leak << " leaks into: " << msg;
    }
    EXPECT_NE(e.detail().find("DETAIL"), std::string::npos) << e.detail();
  }
}

TEST(PgErrors, OnlySerializationFailuresAndDeadlocksAreRetried) {
  EXPECT_TRUE(SqlError("40001", "").retryable());
  EXPECT_TRUE(SqlError("40P01", "").retryable());
  EXPECT_FALSE(SqlError("55P03", "").retryable());
  EXPECT_FALSE(SqlError("23505", "").retryable());
  EXPECT_FALSE(SqlError("57014", "").retryable());
}

}  // namespace
}  // namespace dine::pg
