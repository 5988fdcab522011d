// The order tests' cluster (two `dine serve order` processes) and their
// blocking helpers: each call runs on a fresh io_context on the calling thread.
#include "tests/integration/order_support.hpp"

#include <atomic>
#include <deque>
#include <ostream>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include "core/service_auth.hpp"
#include "core/errors.hpp"
#include "core/pg/migrate.hpp"
#include "core/stack/process.hpp"
#include "tests/integration/harness.hpp"

namespace dine::order::test {
namespace {

using dine::test::Harness;

using dine::test::run;

http::ClientRequest to_request(const Call& c, milliseconds timeout) {
  http::ClientRequest r;
  r.method = c.method;
  r.host = "127.0.0.1";
  r.port = Cluster::get().port(c.node);
  r.target = c.target;
  r.headers = c.headers;
  // The order role's writes take dine services only (X-Dine-Service); a
  // call that sets its own header (or an empty one) keeps it.
  bool has_service = false;
  for (const auto& [k, v] : r.headers) has_service = has_service || k == "X-Dine-Service";
  if (!has_service) r.headers.emplace_back("X-Dine-Service", service_credential(Cluster::get().topo().secret, "test"));
  r.body = c.body;
  r.timeout = timeout;
  return r;
}

Task<Resp> call_task(http::Client& client, http::ClientRequest req) {
  Resp out;
  auto start = Clock::now();
  try {
    auto r = co_await client.request(std::move(req));
    out.status = r.status;
    out.body = std::move(r.body);
    out.headers = std::move(r.headers);
  } catch (const std::exception& e) {
    out.status = 0;
    out.error = e.what();
  }
  out.took = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  co_return out;
}

Task<Resp> single_call(http::ClientRequest req) {
  http::Client client(co_await asio::this_coro::executor);
  co_return co_await call_task(client, std::move(req));
}

struct Batch {
  const std::vector<Call>* calls;
  std::vector<Resp>* out;
  const std::function<void(std::size_t, const Resp&)>* on_done;
  milliseconds timeout;
  std::size_t next = 0;
};

// One of `concurrency` lanes: takes the next call until none is left.
Task<void> lane(http::Client& client, Batch& b) {
  while (b.next < b.calls->size()) {
    std::size_t i = b.next++;
    (*b.out)[i] = co_await call_task(client, to_request((*b.calls)[i], b.timeout));
    if (*b.on_done) (*b.on_done)(i, (*b.out)[i]);
  }
}

Task<void> batch_task(Batch& b, int concurrency) {
  // A fresh client per batch: no keep-alive connection outlives a node's restart.
  auto ex = co_await asio::this_coro::executor;
  http::Client client(ex, http::ClientOptions{static_cast<std::size_t>(concurrency), b.timeout, 0});
  // A latch: the timer is cancelled when the last lane ends.
  asio::steady_timer latch(ex, Clock::time_point::max());
  if (concurrency < 1) concurrency = 1;
  int running = concurrency;
  std::exception_ptr failure;
  for (int k = 0; k < concurrency; ++k)
    asio::co_spawn(ex, lane(client, b), [&](std::exception_ptr e) {
      if (e) failure = e;
      if (--running == 0) latch.cancel();
    });
  co_await latch.async_wait(asio::as_tuple(asio::use_awaitable));
  if (failure) std::rethrow_exception(failure);
}

Task<pg::Result> query_task(std::string dsn, std::string sql, pg::Params params) {
  auto conn = co_await pg::Connection::connect(co_await asio::this_coro::executor, std::move(dsn),
                                               deadline_in(milliseconds(5000)));
  pg::Statement st{"order_test", sql};
  co_return co_await conn->execute(st, params, deadline_in(milliseconds(10000)));
}

Task<redis::Reply> redis_task(redis::Argv argv) {
  auto& r = Harness::get().redis();
  redis::ClientConfig cfg;
  cfg.name = "order-test";
  cfg.host = r.host;
  cfg.port = r.port;
  redis::Client client(co_await asio::this_coro::executor, cfg);
  co_return co_await client.command(std::move(argv));
}

std::string field(const redis::Reply& fields, const std::string& name) {
  for (std::size_t i = 0; i + 1 < fields.elements.size(); i += 2)
    if (fields.elements[i].str == name) return fields.elements[i + 1].str;
  return "";
}

}  // namespace

// --- Resp ------------------------------------------------------------------

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

// --- Cluster -----------------------------------------------------------------

Cluster& Cluster::get() {
  static Cluster c;
  return c;
}

Cluster::Cluster() {
  auto& h = Harness::get();
  path_ = h.topology_file(kNodes);
  topo_ = load_topology(path_);
  dine::migrate_all(topo_);
  for (int n = 1; n <= kNodes; ++n) start(n);
}

Cluster::~Cluster() {
  for (auto& [n, pid] : pids_) stack::terminate(pid, milliseconds(3000));
}

int Cluster::port(int node) const { return topo_.node(fmt::format("order-{}", node)).port; }

std::string Cluster::log_path(int node) const {
  return fmt::format("{}/order-{}.log", Harness::get().temp_dir(), node);
}

std::string Cluster::shard_dsn(std::size_t shard) const {
  return topo_.dsn(topo_.node(fmt::format("pg-order-{}", shard)), "order");
}

void Cluster::start(int node) {
  // Spawned from the test's main thread: die_with_parent is tied to the spawning thread.
  stack::SpawnOptions o;
  o.argv = {Harness::dine_binary(), "--topology", path_,           "serve",     "order",
            "--node",               fmt::format("order-{}", node), "--threads", "2"};
  o.log_file = log_path(node);
  o.die_with_parent = true;
  pids_[node] = stack::spawn(o);
  if (!wait_ready(node, milliseconds(30000)))
    throw std::runtime_error(fmt::format("order-{} not ready within 30 s; log:\n{}", node, log_tail(node)));
}

void Cluster::kill_hard(int node) { stack::kill_hard(pids_.at(node)); }

bool Cluster::wait_ready(int node, milliseconds limit) const {
  Deadline end = deadline_in(limit);
  for (;;) {
    if (!stack::alive(pids_.at(node))) return false;
    if (stack::http_get_status("127.0.0.1", port(node), "/readyz", milliseconds(2000)) == 200) return true;
    if (Clock::now() >= end) return false;
    std::this_thread::sleep_for(milliseconds(50));
  }
}

std::string Cluster::log_tail(int node) const { return stack::tail_file(log_path(node), 30); }

// --- HTTP ------------------------------------------------------------------

Resp call(const Call& c, milliseconds timeout) {
  auto req = to_request(c, timeout);
  return run([req](asio::any_io_executor) { return single_call(req); });
}

Resp get(int node, std::string target) { return call(Call{node, "GET", std::move(target), "", {}}); }

Resp post(int node, std::string target, std::string body, http::Headers headers) {
  return call(Call{node, "POST", std::move(target), std::move(body), std::move(headers)});
}

std::vector<Resp> call_many(const std::vector<Call>& calls, int concurrency,
                            const std::function<void(std::size_t, const Resp&)>& on_done, milliseconds timeout) {
  std::vector<Resp> out(calls.size());
  Batch b{&calls, &out, &on_done, timeout};
  run([&b, concurrency](asio::any_io_executor) { return batch_task(b, concurrency); });
  return out;
}

// --- the order API ---------------------------------------------------------

uint64_t new_user(std::size_t shard) {
  static uint64_t next = 100000;
  while (next % kShards != shard) ++next;
  return next++;
}

std::string new_key(std::string_view prefix) {
  static int n = 0;
  return fmt::format("{}-{}-{}", prefix, getpid(), ++n);
}

json order_body(uint64_t user, uint64_t store, int qty, int64_t price) {
  return {{"user_id", user},
          {"store_id", store},
          {"items", json::array({{{"product_id", 11}, {"qty", qty}, {"price_cents", price}},
                                 {{"product_id", "12"}, {"qty", 1}, {"price_cents", 99}}})}};
}

Call create_call(int node, std::string key, const json& body) {
  return Call{node, "POST", "/v1/orders", body.dump(), {{"Idempotency-Key", std::move(key)}}};
}

Call pay_call(int node, const std::string& order_id, const std::string& payment_id) {
  return Call{node, "POST", "/v1/orders/" + order_id + "/paid", json{{"payment_id", payment_id}}.dump(), {}};
}

std::string create_order(int node, uint64_t user) {
  auto r = call(create_call(node, new_key("c"), order_body(user)));
  EXPECT_EQ(r.status, 201) << r;
  if (r.status != 201) return "";
  return r.j()["order_id"].get<std::string>();
}

std::size_t shard_of(const std::string& order_id) { return std::stoull(order_id) % kShards; }

// --- PostgreSQL ------------------------------------------------------------

pg::Result query(std::size_t shard, std::string sql, pg::Params params) {
  std::string dsn = Cluster::get().shard_dsn(shard);
  return run([&](asio::any_io_executor) { return query_task(dsn, sql, params); });
}

int64_t count(std::size_t shard, std::string sql, pg::Params params) {
  auto r = query(shard, std::move(sql), std::move(params));
  return r.int64(0, "n");
}

int64_t count_all(const std::string& table) {
  int64_t n = 0;
  for (std::size_t s = 0; s < kShards; ++s)
    n += count(s, table == "orders" ? "SELECT count(*) AS n FROM orders" : "SELECT count(*) AS n FROM outbox");
  return n;
}

int64_t unsent_all() {
  int64_t n = 0;
  for (std::size_t s = 0; s < kShards; ++s) n += count(s, "SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL");
  return n;
}

bool wait_outbox_drained(milliseconds limit) {
  return eventually([] { return unsent_all() == 0; }, limit);
}

// --- Redis -------------------------------------------------------------------

redis::Reply redis_cmd(redis::Argv argv) {
  return run([&](asio::any_io_executor) { return redis_task(argv); });
}

int64_t stream_len() {
  redis::Argv a{"XLEN", "dine:orders"};
  auto r = redis_cmd(a);
  if (r.is_error()) throw std::runtime_error("XLEN: " + r.str);
  return r.integer;
}

std::vector<StreamEntry> stream_entries() {
  redis::Argv a{"XRANGE", "dine:orders", "-", "+"};
  auto r = redis_cmd(a);
  if (r.is_error()) throw std::runtime_error("XRANGE: " + r.str);
  std::vector<StreamEntry> out;
  for (const auto& e : r.elements) {
    if (e.elements.size() != 2) continue;
    const auto& f = e.elements[1];
    out.push_back({e.elements[0].str, field(f, "type"), field(f, "order_id"), field(f, "data")});
  }
  return out;
}

std::map<std::string, int> stream_counts(const std::set<std::string>& order_ids) {
  std::map<std::string, int> out;
  for (const auto& id : order_ids) out[id] = 0;
  for (const auto& e : stream_entries())
    if (auto it = out.find(e.order_id); it != out.end()) ++it->second;
  return out;
}


}  // namespace dine::order::test
