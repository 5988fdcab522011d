// The runtime tests' testkit nodes and blocking helpers: each HTTP call runs
// on a fresh io_context on the calling thread.
#include "tests/integration/runtime_support.hpp"

#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <sys/wait.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "core/http/client.hpp"
#include "core/pg/connection.hpp"
#include "core/pg/migrate.hpp"
#include "core/redis/client.hpp"
#include "core/service_auth.hpp"
#include "core/stack/process.hpp"

namespace dine::runtime_test {
namespace {

namespace fs = std::filesystem;
using dine::test::Harness;

int next_file_number() {
  static int n = 0;
  return ++n;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text << "\n";
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Task<Resp> call_task(http::ClientRequest req, milliseconds timeout) {
  http::ClientOptions opts;
  opts.max_connections_per_host = 1;
  opts.timeout = timeout;
  opts.retries = 0;
  http::Client client(co_await asio::this_coro::executor, opts);
  Resp out;
  const auto start = Clock::now();
  try {
    auto r = co_await client.request(std::move(req));
    out.status = r.status;
    out.body = std::move(r.body);
    out.headers = std::move(r.headers);
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  out.took = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  co_return out;
}

// The kit's internal writes take dine services only: every call presents the
// credential unless it set the header itself (to "" to present none).
void with_service(http::ClientRequest& req) {
  for (auto it = req.headers.begin(); it != req.headers.end(); ++it)
    if (it->first == "X-Dine-Service") {
      if (it->second.empty()) req.headers.erase(it);
      return;
    }
  req.headers.emplace_back("X-Dine-Service", service_credential(Kit::get().topo().secret, "test"));
}

// (A coroutine of its own, parameters by value or reference to the caller's
// frame: a lambda coroutine invoked in place would outlive its captures.)
Task<void> one_of_many(http::Client& client, http::ClientRequest req, Resp& r, int& left,
                       asio::steady_timer& all_done) {
  try {
    auto answer = co_await client.request(std::move(req));
    r.status = answer.status;
    r.body = std::move(answer.body);
    r.headers = std::move(answer.headers);
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  if (--left == 0) all_done.cancel();
}

}  // namespace

// --- Kit -----------------------------------------------------------------------

Kit& Kit::get() {
  static Kit k;
  return k;
}

Kit::Kit() {
  auto& h = Harness::get();
  auto& pg = h.pg(0);
  auto& redis = h.redis();
  lock_dir_ = h.temp_dir() + "/locks";
  fs::create_directories(lock_dir_);

  std::set<int> taken;
  auto port = [&] {
    for (;;)
      if (int p = stack::free_port(); taken.insert(p).second) return p;
  };
  json nodes = json::array();
  nodes.push_back({{"id", "pg-testkit"}, {"kind", "postgres"}, {"host", pg.host}, {"port", pg.port},
                   {"user", pg.user}, {"databases", {"testkit", "member", "store", "menu", "coupon", "order", "payment"}}});
  nodes.push_back({{"id", "redis-testkit"}, {"kind", "redis"}, {"host", redis.host}, {"port", redis.port}});
  int node_id = 0;
  auto add = [&](const std::string& id, json extra) {
    json n = {{"id", id},          {"kind", "dine"},      {"role", "testkit"},
              {"host", "127.0.0.1"}, {"port", port()},      {"node_id", ++node_id},
              {"uses", {{"db", {"pg-testkit"}}, {"cache", {"redis-testkit"}}}}};
    n.update(extra);
    nodes.push_back(n);
  };
  add("tk-basic", {{"config", {{"greeting", "hello from tk-basic"}}}});
  add("tk-lock", json::object());
  add("tk-term", json::object());
  add("tk-timeout", {{"limits", {{"request_timeout_ms", kShortRequestTimeoutMs}}}});
  add("tk-wedge", json::object());
  add("tk-flaky", json::object());
  add("tk-ready", json::object());
  // A member node on the same PostgreSQL (database "member"): runtime_member_test.
  nodes.push_back({{"id", "mb-1"}, {"kind", "dine"}, {"role", "member"}, {"host", "127.0.0.1"}, {"port", port()},
                   {"node_id", ++node_id}, {"uses", {{"db", {"pg-testkit"}}}}});
  // A store node likewise (database "store"): runtime_store_test.
  nodes.push_back({{"id", "st-1"}, {"kind", "dine"}, {"role", "store"}, {"host", "127.0.0.1"}, {"port", port()},
                   {"node_id", ++node_id}, {"uses", {{"db", {"pg-testkit"}}}}});
  // A menu node (database "menu", redis-cache = the harness Redis), short
  // cache expiries so a test sees them lapse: runtime_menu_test.
  nodes.push_back({{"id", "mn-1"}, {"kind", "dine"}, {"role", "menu"}, {"host", "127.0.0.1"}, {"port", port()},
                   {"node_id", ++node_id}, {"uses", {{"db", {"pg-testkit"}}, {"cache", {"redis-testkit"}}}},
                   {"config", {{"cache_ttl_s", 100}, {"cache_jitter_s", 50}, {"null_ttl_s", 2}}}});
  // A coupon node (database "coupon", redis-mq = the harness Redis), which
  // looks for new campaigns every 200 ms: runtime_coupon_test.
  nodes.push_back({{"id", "cp-1"}, {"kind", "dine"}, {"role", "coupon"}, {"host", "127.0.0.1"}, {"port", port()},
                   {"node_id", ++node_id},
                   {"uses", {{"db", {"pg-testkit"}}, {"mq", {"redis-testkit"}}, {"orders", {"od-1"}}}},
                   {"config", {{"sync_every_ms", 200}, {"reservation_ttl_ms", 1500}, {"sweep_every_ms", 200}}}});
  // Orders on one shard (database "order") and payments: runtime_payment_test.
  // od-2 expires unpaid orders after 10 s; pm-2 neither hands off in the pay
  // call nor relays, so its captures wait in the outbox for another node.
  auto order_node = [&](const std::string& id, json config) {
    nodes.push_back({{"id", id}, {"kind", "dine"}, {"role", "order"}, {"host", "127.0.0.1"}, {"port", port()},
                     {"node_id", ++node_id}, {"uses", {{"shards", {"pg-testkit"}}, {"mq", {"redis-testkit"}}}},
                     {"config", config}});
  };
  order_node("od-1", json::object());
  order_node("od-2", {{"unpaid_ttl_s", 10}, {"expiry_every_ms", 200}});
  auto payment_node = [&](const std::string& id, json config) {
    nodes.push_back({{"id", id}, {"kind", "dine"}, {"role", "payment"}, {"host", "127.0.0.1"}, {"port", port()},
                     {"node_id", ++node_id}, {"uses", {{"db", {"pg-testkit"}}, {"orders", {"od-1"}}}},
                     {"config", config}});
  };
  payment_node("pm-1", {{"provider_delay_ms", 5}, {"decline_rate", 0}, {"unknown_rate", 0}, {"relay_every_ms", 100}});
  payment_node("pm-2", {{"provider_delay_ms", 5}, {"decline_rate", 0}, {"unknown_rate", 0}, {"relay", false},
                        {"inline_handoff", false}});
  doc_ = {{"name", fmt::format("runtime-test-{}", getpid())},
          {"secret", "dine-test-secret-0123456789abcdef"},
          {"roles", {{"testkit", {{"greeting", "hello from the section"}, {"fail_first_n", kFailFirstN}}}}},
          {"nodes", nodes}};
  path_ = h.temp_dir() + "/runtime-topology.json";
  write_file(path_, doc_.dump(2));
  topo_ = load_topology(path_);
  dine::migrate_all(topo_);  // creates the "testkit" database
}

std::string Kit::topology_with_section_key(const std::string& key, const json& value) const {
  json doc = doc_;
  doc["roles"]["testkit"][key] = value;
  std::string path = fmt::format("{}/runtime-topology-{}.json", Harness::get().temp_dir(), next_file_number());
  write_file(path, doc.dump(2));
  return path;
}

// --- processes -----------------------------------------------------------------

Env serve_env(const Env& extra) {
  // Test roles, and the runtime's test routes (POST /test/wedge) on them.
  Env env = {{"DINE_TEST_ROLES", "1"}, {"DINE_TEST_ROUTES", "1"}, {"DINE_LOCK_DIR", Kit::get().lock_dir()}};
  for (const auto& [k, v] : extra) {
    std::erase_if(env, [&](const auto& kv) { return kv.first == k; });
    env.emplace_back(k, v);
  }
  return env;
}

std::vector<std::string> serve_argv(const std::string& node, const std::string& topology, int threads) {
  return {Harness::dine_binary(), "--topology", topology, "serve", Kit::get().topo().node(node).role, "--node", node,
          "--threads", std::to_string(threads)};
}

Serve::Serve(std::string node, int threads) : node_(std::move(node)), port_(Kit::get().port(node_)) {
  log_path_ = fmt::format("{}/{}-{}.log", Harness::get().temp_dir(), node_, next_file_number());
  stack::SpawnOptions o;
  o.argv = serve_argv(node_, Kit::get().topology_path(), threads);
  o.env = serve_env();
  o.log_file = log_path_;
  o.die_with_parent = true;
  pid_ = stack::spawn(o);
}

Serve::Serve(std::string node, const Topology& topo, const std::string& topology_path, int threads)
    : node_(std::move(node)), port_(topo.node(node_).port) {
  log_path_ = fmt::format("{}/{}-{}.log", Harness::get().temp_dir(), node_, next_file_number());
  stack::SpawnOptions o;
  o.argv = {Harness::dine_binary(), "--topology", topology_path, "serve", topo.node(node_).role, "--node", node_,
            "--threads", std::to_string(threads)};
  o.env = serve_env();
  o.log_file = log_path_;
  o.die_with_parent = true;
  pid_ = stack::spawn(o);
}

Serve::~Serve() {
  if (!running()) return;
  ::kill(pid_, SIGTERM);
  if (!wait_exit(milliseconds(20000))) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

bool Serve::running() {
  if (exit_code_) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  if (r == pid_) exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  else exit_code_ = -1;  // not our child any more: cannot happen
  return false;
}

bool Serve::wait_ready(milliseconds limit) {
  return eventually(
      [&] {
        if (!running()) return true;  // reported below
        return stack::http_get_status("127.0.0.1", port_, "/readyz", milliseconds(1000)) == 200;
      },
      limit, milliseconds(50)) &&
         running();
}

std::optional<int> Serve::wait_exit(milliseconds limit) {
  eventually([&] { return !running(); }, limit, milliseconds(20));
  return exit_code_;
}

std::string Serve::log() const { return read_file(log_path_); }
std::string Serve::log_tail() const { return stack::tail_file(log_path_, 30); }

Refusal serve_refused(const std::vector<std::string>& argv, const Env& env, milliseconds limit) {
  const int n = next_file_number();
  const std::string err_path = fmt::format("{}/refused-{}.err", Harness::get().temp_dir(), n);
  stack::SpawnOptions o;
  // sh -c 'exec "$@" 2>"$0"' ERRFILE ARGV...: stderr alone into ERRFILE.
  o.argv = {"/bin/sh", "-c", "exec \"$@\" 2>\"$0\"", err_path};
  o.argv.insert(o.argv.end(), argv.begin(), argv.end());
  o.env = env;
  o.log_file = fmt::format("{}/refused-{}.out", Harness::get().temp_dir(), n);
  o.die_with_parent = true;
  Refusal out;
  try {
    out.code = stack::run_and_wait(o, limit);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "the refused serve did not end: " << e.what();
  }
  out.err = read_file(err_path);
  return out;
}

// --- HTTP ------------------------------------------------------------------------

std::string Resp::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return "";
}

std::string Resp::error_code() const {
  auto b = j();
  if (b.is_object() && b.contains("error") && b["error"].is_string()) return b["error"].get<std::string>();
  return "";
}

std::ostream& operator<<(std::ostream& os, const Resp& r) {
  return os << "HTTP " << r.status << " in " << r.took.count() << " ms: " << r.body << r.error;
}

Resp call(int port, std::string method, std::string target, http::Headers headers, milliseconds timeout,
          std::string body) {
  http::ClientRequest req;
  req.method = std::move(method);
  req.body = std::move(body);
  req.port = port;
  req.target = std::move(target);
  req.headers = std::move(headers);
  with_service(req);
  req.timeout = timeout;
  return dine::test::run([req, timeout](asio::any_io_executor) { return call_task(req, timeout); });
}

std::vector<Resp> call_each(int port, const std::string& method, const std::string& target,
                            const std::vector<std::string>& bodies, int in_flight, milliseconds timeout) {
  const int n = static_cast<int>(bodies.size());
  std::vector<Resp> out(bodies.size());
  if (n == 0) return out;
  dine::test::run([&](asio::any_io_executor ex) -> Task<void> {
    http::ClientOptions opts;
    // The client queues calls beyond its connections: at most in_flight at once.
    opts.max_connections_per_host = static_cast<std::size_t>(std::max(1, in_flight));
    opts.timeout = timeout;
    opts.retries = 0;
    http::Client client(ex, opts);
    int left = n;
    asio::steady_timer all_done(ex, Clock::time_point::max());
    for (int i = 0; i < n; ++i) {
      http::ClientRequest req;
      req.method = method;
      req.port = port;
      req.target = target;
      req.body = bodies[static_cast<std::size_t>(i)];
      with_service(req);
      spawn_logged(ex, one_of_many(client, std::move(req), out[static_cast<std::size_t>(i)], left, all_done),
                   "call_each");
    }
    while (left > 0) {
      boost::system::error_code ec;
      co_await all_done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  });
  return out;
}

std::vector<Resp> call_many(int port, const std::string& method, const std::string& target, int n,
                            const std::string& body, milliseconds timeout) {
  return call_each(port, method, target, std::vector<std::string>(static_cast<std::size_t>(n), body), n, timeout);
}

redis::Reply redis_cmd(std::vector<std::string> argv) {
  auto& r = Harness::get().redis();
  return dine::test::run([&](asio::any_io_executor ex) -> Task<redis::Reply> {
    redis::ClientConfig c;
    c.name = "test";
    c.host = r.host;
    c.port = r.port;
    redis::Client client(ex, c);
    redis::Reply reply = co_await client.command(std::move(argv));
    co_return reply;
  });
}

void pg_exec(const std::string& db, const std::string& sql) {
  auto& pg = Harness::get().pg(0);
  dine::test::run([&](asio::any_io_executor ex) -> Task<void> {
    auto c = co_await pg::Connection::connect(ex, pg.dsn(db), deadline_in(milliseconds(5000)));
    co_await c->simple(sql, deadline_in(milliseconds(10000)));
  });
}

std::optional<double> metric(const std::string& text, const std::string& name, const std::vector<std::string>& labels) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) != 0 || line.size() <= name.size()) continue;
    const char next = line[name.size()];
    if (next != '{' && next != ' ') continue;
    const auto space = line.rfind(' ');
    const std::string series = line.substr(0, space);
    bool all = true;
    for (const auto& l : labels) all = all && series.find(l) != std::string::npos;
    if (all) return std::stod(line.substr(space + 1));
  }
  return std::nullopt;
}

}  // namespace dine::runtime_test
