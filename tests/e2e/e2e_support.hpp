#pragma once
// Shared by the e2e tests: run the dine binary and capture what it printed;
// one SQL statement or Redis command against a server of the harness.
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/wait.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/http/client.hpp"
#include "core/pg/connection.hpp"
#include "core/redis/client.hpp"
#include "tests/integration/harness.hpp"

namespace dine::e2e {

struct Output {
  int code = -1;
  std::string out;  // stdout and stderr
};

// A shell command; what it printed (stdout and stderr) and its exit code.
inline Output run_command(const std::string& command) {
  std::string cmd = command + " 2>&1";
  Output r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// `dine ARGS` through the shell (ARGS are quoted by the caller where needed).
inline Output run_dine(const std::string& args) { return run_command(fmt::format("{} {}", DINE_BINARY, args)); }

inline Task<void> request_into(http::Client* client, http::ClientRequest req, http::ClientResponse* out) {
  *out = co_await client->request(std::move(req));
}

// One HTTP request to 127.0.0.1:PORT on a loop of its own, blocking (test
// bodies). `credential`: an X-Dine-Service credential to present ("" none).
// Throws what the client throws (nothing listening, no answer in time).
inline http::ClientResponse http_call(int port, std::string method, std::string target, std::string body = "",
                                      http::Headers headers = {}, std::string credential = "",
                                      milliseconds timeout = milliseconds(15000)) {
  asio::io_context ioc;
  http::Client client(ioc.get_executor());
  if (!credential.empty()) client.present_service_credential(std::move(credential));
  http::ClientRequest req;
  req.method = std::move(method);
  req.port = port;
  req.target = std::move(target);
  req.body = std::move(body);
  req.headers = std::move(headers);
  req.timeout = timeout;
  http::ClientResponse out;
  std::exception_ptr failure;
  asio::co_spawn(ioc, request_into(&client, std::move(req), &out), [&](std::exception_ptr e) { failure = e; });
  ioc.run();
  if (failure) std::rethrow_exception(failure);
  return out;
}

// The JSON document of an output that may start with log lines.
inline std::string json_part(const std::string& out) {
  auto brace = out.find('{');
  return brace == std::string::npos ? "{}" : out.substr(brace);
}

// The stack of an e2e suite: a directory of its own (/tmp/dine-NAME-PID,
// not writable by others), its topology file and its state directory.
struct SuiteStack {
  std::filesystem::path root;
  std::string topology, state;

  // Creates the directory and writes `doc` as NAME.json in it.
  static SuiteStack make(const std::string& name, const nlohmann::json& doc) {
    namespace fs = std::filesystem;
    SuiteStack s;
    s.root = fs::temp_directory_path() / fmt::format("dine-{}-{}", name, getpid());
    fs::create_directories(s.root);
    fs::permissions(s.root, fs::perms::all & ~fs::perms::group_write & ~fs::perms::others_write);
    s.topology = (s.root / (name + ".json")).string();
    std::ofstream(s.topology) << doc.dump(2);
    s.state = (s.root / "state").string();
    return s;
  }
  // "--topology T COMMAND --state-dir S": a dine command on this stack.
  std::string args(const std::string& command) const {
    return fmt::format("--topology {} {} --state-dir {}", topology, command, state);
  }
  Output dine(const std::string& command) const { return run_dine(args(command)); }
  // The pid `dine ps --json` lists for node `id`; 0 when none.
  pid_t pid_of(const std::string& id) const {
    auto ps = dine("ps --json");
    auto list = nlohmann::json::parse(ps.out.substr(std::min(ps.out.find('['), ps.out.size())), nullptr, false);
    if (!list.is_array()) return 0;
    for (const auto& n : list)
      if (n.is_object() && n.value("id", "") == id) return n.value("pid", 0);
    return 0;
  }
  // `dine down`, then the directory removed.
  void down_and_remove() const {
    if (root.empty()) return;
    dine("down");
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
  }
};

inline Task<pg::Result> sql_task(std::string dsn, std::string sql) {
  auto ex = co_await asio::this_coro::executor;
  auto conn = co_await pg::Connection::connect(ex, dsn, deadline_in(milliseconds(10000)));
  co_return co_await conn->simple(sql, deadline_in(milliseconds(10000)));
}

// Runs `sql` (simple protocol) on database `db` of harness server `i`.
inline pg::Result sql(std::size_t i, const std::string& db, const std::string& statement) {
  std::string dsn = test::Harness::get().pg(i).dsn(db);
  return test::run([&](auto) { return sql_task(dsn, statement); });
}

inline Task<redis::Reply> redis_task(int port, redis::Argv argv) {
  auto ex = co_await asio::this_coro::executor;
  redis::ClientConfig cfg;
  cfg.name = "e2e";
  cfg.port = port;
  redis::Client client(ex, cfg);
  co_return co_await client.command(std::move(argv));
}

// One command on the harness's Redis.
inline redis::Reply redis_cmd(redis::Argv argv) {
  int port = test::Harness::get().redis().port;
  return test::run([&](auto) { return redis_task(port, argv); });
}

}  // namespace dine::e2e
