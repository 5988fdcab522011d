// The member role as a real `dine serve member` process on the harness's
// PostgreSQL (database "member"): login makes the member once, even when two
// first logins race; the token is a JWT for that user; bad input is a 400 that
// writes nothing.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include <fmt/format.h>
#include <unistd.h>

#include "core/jwt.hpp"
#include "core/pg/connection.hpp"
#include "tests/integration/runtime_support.hpp"

namespace dine::runtime_test {
namespace {

const std::string kSecret = "dine-test-secret-0123456789abcdef";  // the kit topology's secret

int64_t members_with(const std::string& openid) {
  auto& pg = dine::test::Harness::get().pg(0);
  return dine::test::run([&](asio::any_io_executor ex) -> Task<int64_t> {
    auto c = co_await pg::Connection::connect(ex, pg.dsn("member"), deadline_in(milliseconds(5000)));
    static constexpr pg::Statement kCount{"count_members", "SELECT count(*) AS n FROM members WHERE openid = $1"};
    pg::Params p = pg::params(openid);
    pg::Result r = co_await c->execute(kCount, p, deadline_in(milliseconds(5000)));
    co_return r.int64(0, "n");
  });
}

class MemberRole : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    node_ = new Serve("mb-1");
    ASSERT_TRUE(node_->wait_ready()) << node_->log_tail();
  }
  static void TearDownTestSuite() {
    delete node_;
    node_ = nullptr;
  }
  static Serve* node_;
};
Serve* MemberRole::node_ = nullptr;

std::string unique_openid(const char* what) {
  return fmt::format("o-{}-{}-{}", what, getpid(), Clock::now().time_since_epoch().count());
}

TEST_F(MemberRole, FirstLoginMakesTheMemberTheNextFindsIt) {
  const std::string openid = unique_openid("first");
  auto first = post_json(node_->port(), "/v1/login", json{{"openid", openid}}.dump());
  ASSERT_EQ(first.status, 201) << first;
  EXPECT_EQ(first.j()["created"], true);
  const int64_t user = first.j()["user_id"].get<int64_t>();
  auto claims = jwt::verify_bearer(first.j()["token"].get<std::string>(), kSecret);
  EXPECT_EQ(claims["sub"], std::to_string(user));
  EXPECT_TRUE(claims.contains("exp"));

  auto again = post_json(node_->port(), "/v1/login", json{{"openid", openid}}.dump());
  ASSERT_EQ(again.status, 200) << again;
  EXPECT_EQ(again.j()["created"], false);
  EXPECT_EQ(again.j()["user_id"].get<int64_t>(), user);
  EXPECT_EQ(members_with(openid), 1);
}

TEST_F(MemberRole, ConcurrentFirstLoginsMakeOneMember) {
  const std::string openid = unique_openid("race");
  constexpr int kCalls = 12;
  std::vector<Resp> answers(kCalls);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCalls; ++i)
    threads.emplace_back([&, i] { answers[i] = post_json(node_->port(), "/v1/login", json{{"openid", openid}}.dump()); });
  for (auto& t : threads) t.join();
  std::set<int64_t> users;
  int created = 0;
  for (const auto& r : answers) {
    ASSERT_TRUE(r.status == 200 || r.status == 201) << r;
    users.insert(r.j()["user_id"].get<int64_t>());
    created += r.j()["created"] == true;
  }
  EXPECT_EQ(users.size(), 1u);
  EXPECT_EQ(created, 1) << "exactly one login made the member";
  EXPECT_EQ(members_with(openid), 1);
}

TEST_F(MemberRole, BadInputIs400AndWritesNothing) {
  const std::string openid = unique_openid("bad");
  struct Case {
    std::string body;
    std::string code;
  };
  for (const auto& c : std::vector<Case>{{"not json", "invalid_json"},
                                         {"{}", "missing_field"},
                                         {json{{"openid", openid}, {"user_id", 1}}.dump(), "unknown_field"},
                                         {json{{"openid", openid + " x"}}.dump(), "invalid_openid"},
                                         {json{{"openid", 42}}.dump(), "invalid_openid"}}) {
    auto r = post_json(node_->port(), "/v1/login", c.body);
    EXPECT_EQ(r.status, 400) << c.body << " " << r;
    EXPECT_EQ(r.error_code(), c.code) << c.body << " " << r;
  }
  EXPECT_EQ(members_with(openid), 0);
  EXPECT_EQ(members_with(openid + " x"), 0);
}

}  // namespace
}  // namespace dine::runtime_test
