#include "server/testkit/routes.hpp"

#include <optional>

#include <boost/system/system_error.hpp>
#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/pg/pool.hpp"
#include "core/redis/client.hpp"

namespace dine::testkit {
namespace {

using nlohmann::json;

constexpr pg::Statement kWhoAmI{"testkit_whoami", "SELECT current_database() AS db, pg_backend_pid() AS backend"};

// ?ms=N with 0 <= N <= max; 400 otherwise.
int ms_param(const http::Request& req, int max) {
  auto v = req.query_param("ms");
  const std::string what = "ms must be a number 0.." + std::to_string(max);
  if (!v || v->empty() || v->size() > 6 || v->find_first_not_of("0123456789") != std::string::npos)
    throw bad_request("invalid_ms", what);
  int ms = std::stoi(*v);
  if (ms > max) throw bad_request("invalid_ms", what);
  return ms;
}

// Counts a handler as in flight for its lifetime.
class InFlight {
 public:
  explicit InFlight(std::atomic<int>& n) : n_(n) { ++n_; }
  ~InFlight() { --n_; }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  std::atomic<int>& n_;
};

Task<http::Response> hello(Site s, http::Request& req) {
  json body = {{"greeting", s.config->greeting},
               {"node", s.node->id},
               {"worker", s.worker},
               {"request_id", req.ctx.request_id},
               {"budget_ms", req.ctx.remaining().count()}};
  co_return http::Response::json(200, body);
}

Task<http::Response> db(Site s, http::Request& req) {
  pg::Params none;
  pg::Result r = co_await s.db->execute(req.ctx, kWhoAmI, none);
  json body = {{"database", std::string(r.text(0, "db"))}, {"backend", r.int64(0, "backend")}};
  co_return http::Response::json(200, body);
}

// A degradable dependency: the route answers without it.
Task<http::Response> cache(Site s, http::Request& req) {
  redis::Argv incr{"INCR", "dine:testkit:" + s.node->id + ":hits"};
  std::optional<int64_t> hits;
  try {
    redis::Reply r = co_await s.cache->command(req.ctx, incr);
    if (r.type == redis::Reply::Type::Integer) hits = r.integer;
  } catch (const Error&) {
    // Unavailable or timed out: logged by the client with the request id.
  }
  json body = {{"hits", hits ? json(*hits) : json(nullptr)}, {"cache", hits ? "up" : "down"}};
  co_return http::Response::json(200, body);
}

Task<http::Response> cancellable_sleep(Site s, http::Request& req) {
  const int ms = ms_param(req, kMaxSleepMs);
  InFlight counted(s.state->sleeps_in_flight);
  try {
    co_await sleep_for(milliseconds(ms));
  } catch (const boost::system::system_error& e) {
    // The server's sweep cancels a handler at the request's deadline.
    if (e.code() == asio::error::operation_aborted) ++s.state->sleeps_cancelled;
    throw;
  }
  ++s.state->sleeps_finished;
  json body = {{"slept_ms", ms}, {"request_id", req.ctx.request_id}};
  co_return http::Response::json(200, body);
}

Task<http::Response> sleep_counts(Site s, http::Request&) {
  json body = {{"in_flight", s.state->sleeps_in_flight.load()},
               {"finished", s.state->sleeps_finished.load()},
               {"cancelled", s.state->sleeps_cancelled.load()}};
  co_return http::Response::json(200, body);
}

Task<http::Response> component(Site s, http::Request&) {
  json body = {{"starts", s.state->component_starts.load()}, {"fail_first_n", s.config->fail_first_n}};
  co_return http::Response::json(200, body);
}

}  // namespace

void add_routes(http::Router& router, Site s) {
  router.get("/test/hello", [s](http::Request& req) { return hello(s, req); });
  router.get("/test/db", [s](http::Request& req) { return db(s, req); });
  router.get("/test/cache", [s](http::Request& req) { return cache(s, req); });
  router.post("/test/sleep", [s](http::Request& req) { return cancellable_sleep(s, req); });
  router.get("/test/sleeps", [s](http::Request& req) { return sleep_counts(s, req); });
  router.get("/test/component", [s](http::Request& req) { return component(s, req); });
}

}  // namespace dine::testkit
