// The life of a node: it starts once (node lock, address check), refuses a
// bad config section at start, refuses a test role outside tests, and on
// SIGTERM answers what is in flight, stops and exits 0.
#include <csignal>
#include <thread>

#include <fmt/format.h>

#include "tests/integration/runtime_support.hpp"

namespace dine::runtime_test {
namespace {

TEST(RuntimeLifecycle, TestRoleIsRefusedWithoutTestRolesVariable) {
  auto& kit = Kit::get();
  auto r = serve_refused(serve_argv("tk-basic", kit.topology_path(), 1), serve_env({{"DINE_TEST_ROLES", ""}}),
                         milliseconds(5000));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("DINE_TEST_ROLES=1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("fix:"), std::string::npos) << r.err;
}

TEST(RuntimeLifecycle, SecondProcessForTheSameNodeIsRefused) {
  auto& kit = Kit::get();
  Serve first("tk-lock");
  ASSERT_TRUE(first.wait_ready()) << first.log_tail();

  // Same lock dir: the node lock is held; the message names the running pid.
  auto same = serve_refused(serve_argv("tk-lock", kit.topology_path(), 1), serve_env(), milliseconds(5000));
  EXPECT_EQ(same.code, 1) << same.err;
  EXPECT_NE(same.err.find(fmt::format("pid {}", first.pid())), std::string::npos) << same.err;
  EXPECT_NE(same.err.find("already running"), std::string::npos) << same.err;
  EXPECT_NE(same.err.find("fix:"), std::string::npos) << same.err;

  // Another lock dir: the lock is free, but the address is still taken (with
  // SO_REUSEPORT a second process could otherwise bind and take half the traffic).
  const std::string other_dir = kit.lock_dir() + "-other";
  auto port = serve_refused(serve_argv("tk-lock", kit.topology_path(), 1), serve_env({{"DINE_LOCK_DIR", other_dir}}),
                            milliseconds(5000));
  EXPECT_EQ(port.code, 1) << port.err;
  EXPECT_NE(port.err.find(fmt::format("127.0.0.1:{}", first.port())), std::string::npos) << port.err;
  EXPECT_NE(port.err.find(fmt::format("already in use by pid {}", first.pid())), std::string::npos) << port.err;

  // The running node did not notice.
  EXPECT_TRUE(first.running());
  auto hello = get(first.port(), "/test/hello");
  EXPECT_EQ(hello.status, 200) << hello;
}

TEST(RuntimeLifecycle, UnknownKeyInTheRoleSectionIsRefusedAtStart) {
  auto& kit = Kit::get();
  const std::string path = kit.topology_with_section_key("greting", "typo");
  auto r = serve_refused(serve_argv("tk-basic", path, 1), serve_env(), milliseconds(5000));
  EXPECT_NE(r.code, 0) << r.err;
  EXPECT_NE(r.err.find(path), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("roles.testkit.greting"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("fix:"), std::string::npos) << r.err;
}

TEST(RuntimeLifecycle, SigtermAnswersTheRequestInFlightThenExitsZero) {
  Serve node("tk-term");
  ASSERT_TRUE(node.wait_ready()) << node.log_tail();

  constexpr int kSleepMs = 500;
  Resp slept;
  Clock::time_point answered{};
  std::thread client([&] {
    slept = call(node.port(), "POST", fmt::format("/test/sleep?ms={}", kSleepMs));
    answered = Clock::now();
  });
  bool in_flight = eventually(
      [&] {
        auto s = get(node.port(), "/test/sleeps");
        return s.status == 200 && s.j().value("in_flight", 0) == 1;
      },
      milliseconds(5000));
  const auto signalled = Clock::now();
  if (in_flight) ::kill(node.pid(), SIGTERM);
  client.join();
  ASSERT_TRUE(in_flight) << slept;

  // The sleep was still running when the signal came, and it was answered.
  EXPECT_GT(answered, signalled);
  EXPECT_EQ(slept.status, 200) << slept;
  EXPECT_EQ(slept.j().value("slept_ms", 0), kSleepMs) << slept;
  // Within the drain window (10 s) plus the components' stop window (5 s).
  auto code = node.wait_exit(milliseconds(15000));
  ASSERT_TRUE(code.has_value()) << "still running after SIGTERM\n" << node.log_tail();
  EXPECT_EQ(*code, 0) << node.log_tail();
  const std::string log = node.log();
  EXPECT_NE(log.find("stopping"), std::string::npos) << log;
  EXPECT_NE(log.find("stopped"), std::string::npos) << log;
}

}  // namespace
}  // namespace dine::runtime_test
