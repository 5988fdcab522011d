// Process supervision: spawn, alive, terminate, run_and_wait, exec failures,
// ports and the tiny HTTP probe.
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <thread>
#include <unistd.h>

#include "core/stack/process.hpp"
#include "tests/integration/harness.hpp"

namespace dine::stack {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string temp_path(const std::string& name) {
  return test::Harness::get().temp_dir() + "/" + name;
}

TEST(StackProcess, SpawnAliveTerminate) {
  SpawnOptions o;
  o.argv = {"sleep", "30"};
  o.log_file = temp_path("sleep.log");
  o.die_with_parent = true;
  pid_t pid = spawn(o);
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(alive(pid));
  auto start = Clock::now();
  EXPECT_TRUE(terminate(pid, milliseconds(5000)));
  EXPECT_LT(Clock::now() - start, milliseconds(4000)) << "SIGTERM should end sleep at once";
  EXPECT_FALSE(alive(pid));
}

TEST(StackProcess, TerminateEscalatesToSigkill) {
  SpawnOptions o;
  o.argv = {"sh", "-c", "trap '' TERM; echo trapped; while :; do sleep 0.05; done"};
  o.log_file = temp_path("trap.log");
  o.die_with_parent = true;
  pid_t pid = spawn(o);
  // Wait until the trap is installed (the shell prints after setting it).
  Deadline d = deadline_in(milliseconds(5000));
  while (read_file(o.log_file).find("trapped") == std::string::npos && Clock::now() < d)
    std::this_thread::sleep_for(milliseconds(5));
  auto start = Clock::now();
  EXPECT_TRUE(terminate(pid, milliseconds(300)));
  EXPECT_GE(Clock::now() - start, milliseconds(300));
  EXPECT_FALSE(alive(pid));
}

TEST(StackProcess, OutputEnvAndCwdReachTheChild) {
  SpawnOptions o;
  o.argv = {"sh", "-c", "echo \"val=$DINE_PROBE\"; pwd; echo err >&2; read x || echo stdin-empty"};
  o.log_file = temp_path("env.log");
  o.env = {{"DINE_PROBE", "42"}};
  o.cwd = "/usr";
  EXPECT_EQ(run_and_wait(o, milliseconds(10000)), 0);
  std::string out = read_file(o.log_file);
  EXPECT_NE(out.find("val=42"), std::string::npos) << out;
  EXPECT_NE(out.find("/usr\n"), std::string::npos) << out;
  EXPECT_NE(out.find("err"), std::string::npos) << out;
  EXPECT_NE(out.find("stdin-empty"), std::string::npos) << out;
}

TEST(StackProcess, ChildInheritsNoDescriptors) {
  int leaky = open("/dev/null", O_RDONLY);  // no O_CLOEXEC, like a hiredis socket
  ASSERT_GE(leaky, 3);
  SpawnOptions o;
  o.argv = {"sh", "-c", fmt::format("[ -e /proc/self/fd/{} ] && echo leaked || echo clean", leaky)};
  o.log_file = temp_path("fds.log");
  EXPECT_EQ(run_and_wait(o, milliseconds(10000)), 0);
  close(leaky);
  EXPECT_EQ(read_file(o.log_file), "clean\n");
}

TEST(StackProcess, RunAndWaitReturnsExitCode) {
  SpawnOptions o;
  o.argv = {"sh", "-c", "exit 7"};
  EXPECT_EQ(run_and_wait(o, milliseconds(10000)), 7);
}

TEST(StackProcess, RunAndWaitTimesOut) {
  SpawnOptions o;
  o.argv = {"sleep", "30"};
  EXPECT_THROW(run_and_wait(o, milliseconds(100)), std::runtime_error);
}

TEST(StackProcess, MissingProgramThrowsNamingIt) {
  // A name looked up on PATH: the error names it (the errno depends on PATH:
  // an unreadable PATH entry makes execvp report EACCES rather than ENOENT).
  SpawnOptions o;
  o.argv = {"dine-no-such-program-xyz"};
  try {
    spawn(o);
    FAIL() << "spawn of a missing program must throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("dine-no-such-program-xyz"), std::string::npos) << e.what();
  }
  // An absolute path that does not exist: the reason is always "No such file".
  o.argv = {"/nonexistent-dir/dine-no-such-program-xyz"};
  try {
    spawn(o);
    FAIL() << "spawn of a missing program must throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/dine-no-such-program-xyz"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("No such file"), std::string::npos) << e.what();
  }
}

TEST(StackProcess, RunAsPostgresWhenRoot) {
  if (!running_as_root()) GTEST_SKIP() << "needs root to switch user";
  SpawnOptions o;
  o.argv = {"id", "-un"};
  o.log_file = temp_path("id.log");
  o.run_as = postgres_run_as();
  EXPECT_EQ(run_and_wait(o, milliseconds(10000)), 0);
  EXPECT_EQ(read_file(o.log_file), "postgres\n");
}

TEST(StackProcess, FreePortAndWaitPort) {
  int port = free_port();
  EXPECT_GT(port, 0);
  EXPECT_FALSE(wait_port("127.0.0.1", port, deadline_in(milliseconds(100))));
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  EXPECT_TRUE(wait_port("127.0.0.1", port, deadline_in(milliseconds(2000))));
  close(fd);
}

TEST(StackProcess, HttpGetStatus) {
  int port = free_port();
  EXPECT_EQ(http_get_status("127.0.0.1", port, "/readyz", milliseconds(200)), 0);
  // A one-shot server answering 503 from a shell's netcat-free loop: a thread.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  std::string request;
  std::thread server([&] {
    int c = accept(fd, nullptr, nullptr);
    char buf[512];
    ssize_t n = recv(c, buf, sizeof buf, 0);
    if (n > 0) request.assign(buf, static_cast<std::size_t>(n));
    std::string reply = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
    send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
    close(c);
  });
  EXPECT_EQ(http_get_status("127.0.0.1", port, "/readyz", milliseconds(2000)), 503);
  server.join();
  close(fd);
  EXPECT_EQ(request.rfind("GET /readyz HTTP/1.0\r\n", 0), 0u) << request;
}

}  // namespace
}  // namespace dine::stack
