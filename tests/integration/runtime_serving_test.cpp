// Serving: routes answer from the role's config with the request's context,
// queries run on the declared database, a request past its deadline is
// answered 504 and its handler cancelled, and a wedged worker fails /healthz.
#include <thread>

#include <fmt/format.h>

#include "tests/integration/runtime_support.hpp"

namespace dine::runtime_test {
namespace {

TEST(RuntimeServing, RoutesUseTheConfigAndTheRequestContext) {
  Serve node("tk-basic");
  ASSERT_TRUE(node.wait_ready()) << node.log_tail();

  // The node's own config overrides the section key by key.
  auto hello = call(node.port(), "GET", "/test/hello", {{"X-Request-Id", "rt-hello-1"}});
  ASSERT_EQ(hello.status, 200) << hello;
  EXPECT_EQ(hello.j()["greeting"], "hello from tk-basic") << hello;
  EXPECT_EQ(hello.j()["node"], "tk-basic") << hello;
  EXPECT_EQ(hello.j()["request_id"], "rt-hello-1") << hello;
  EXPECT_EQ(hello.header("x-request-id"), "rt-hello-1") << hello;
  // The deadline is the node's request_timeout_ms (10 s by default) from arrival.
  EXPECT_GT(hello.j().value("budget_ms", 0), 0) << hello;
  EXPECT_LE(hello.j().value("budget_ms", 0), 10000) << hello;

  auto db = get(node.port(), "/test/db");
  ASSERT_EQ(db.status, 200) << db;
  EXPECT_EQ(db.j()["database"], "testkit") << db;

  auto cache = get(node.port(), "/test/cache");
  ASSERT_EQ(cache.status, 200) << cache;
  EXPECT_EQ(cache.j()["cache"], "up") << cache;

  auto bad = call(node.port(), "POST", "/test/wedge?ms=999999");
  EXPECT_EQ(bad.status, 400) << bad;
  EXPECT_EQ(bad.error_code(), "invalid_ms") << bad;
}

TEST(RuntimeServing, RequestPastItsDeadlineIs504AndItsHandlerIsCancelled) {
  Serve node("tk-timeout");
  ASSERT_TRUE(node.wait_ready()) << node.log_tail();
  // Without a node greeting, the section's.
  auto hello = get(node.port(), "/test/hello");
  EXPECT_EQ(hello.j()["greeting"], "hello from the section") << hello;

  // A short sleep fits in the 400 ms budget.
  auto quick = call(node.port(), "POST", "/test/sleep?ms=20");
  EXPECT_EQ(quick.status, 200) << quick;

  auto slow = call(node.port(), "POST", "/test/sleep?ms=30000", {{"X-Request-Id", "rt-timeout-1"}});
  EXPECT_EQ(slow.status, 504) << slow;
  EXPECT_EQ(slow.error_code(), "request_timeout") << slow;
  EXPECT_EQ(slow.j().value("request_id", ""), "rt-timeout-1") << slow;
  EXPECT_EQ(slow.header("x-request-id"), "rt-timeout-1") << slow;

  // The handler was cancelled at the deadline, not left sleeping.
  Resp counts;
  EXPECT_TRUE(eventually(
      [&] {
        counts = get(node.port(), "/test/sleeps");
        return counts.j().value("cancelled", 0) == 1 && counts.j().value("in_flight", -1) == 0;
      },
      milliseconds(5000)))
      << counts;
  EXPECT_EQ(counts.j().value("finished", -1), 1) << counts;  // the quick one
}

TEST(RuntimeServing, WedgedWorkerFailsHealthzUntilItRecovers) {
  Serve node("tk-wedge", 2);
  ASSERT_TRUE(node.wait_ready()) << node.log_tail();
  auto ok = get(node.port(), "/healthz");
  ASSERT_EQ(ok.status, 200) << ok;

  // The wedge blocks whichever worker the kernel hands the connection to.
  constexpr int kWedgeMs = 8000;  // /healthz fails after 2 s (wedged_after)
  Resp wedged_answer;
  std::thread wedge([&] {
    wedged_answer = call(node.port(), "POST", fmt::format("/test/wedge?ms={}", kWedgeMs), {}, milliseconds(30000));
  });

  // The other worker answers 503 "wedged", naming the silent one; a call that
  // lands on the wedged worker gets no answer in time (status 0).
  Resp seen;
  int unanswered = 0;
  bool reported = eventually(
      [&] {
        seen = get(node.port(), "/healthz", milliseconds(1000));
        if (seen.status == 0) ++unanswered;
        return seen.status == 503 && seen.j().value("status", "") == "wedged";
      },
      milliseconds(kWedgeMs + 1000), milliseconds(50));
  wedge.join();
  EXPECT_TRUE(reported) << "last: " << seen << " (" << unanswered << " unanswered)\n" << node.log_tail();
  if (reported) {
    auto w = seen.j()["wedged"];
    ASSERT_EQ(w.size(), 1u) << seen;
    EXPECT_EQ(w[0]["worker"], wedged_answer.j()["worker"]) << seen << " / " << wedged_answer;
  }
  EXPECT_EQ(wedged_answer.status, 200) << wedged_answer;

  // Once the wedge ends, every worker is healthy again: several fresh
  // connections in a row (each worker picked anew) answer 200.
  int streak = 0;
  Resp last;
  EXPECT_TRUE(eventually(
      [&] {
        last = get(node.port(), "/healthz", milliseconds(1000));
        streak = last.status == 200 ? streak + 1 : 0;
        return streak >= 8;
      },
      milliseconds(10000), milliseconds(20)))
      << last;
  EXPECT_EQ(last.j().value("status", ""), "ok") << last;
}

}  // namespace
}  // namespace dine::runtime_test
