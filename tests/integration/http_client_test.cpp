// The HTTP client against real servers over loopback: no request sent twice,
// retries of idempotent calls inside the deadline, request id and budget
// headers, deadlines, cancellation, keep-alive and idle timeouts, the per-host
// bound, metrics and plain error messages.
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include "tests/integration/http_fixture.hpp"

namespace dine::http::test {
namespace {

using nlohmann::json;

struct Hits {
  int count = 0;
};

class HttpClient : public HttpFixture {
 protected:
  std::shared_ptr<Hits> hits = std::make_shared<Hits>();
  void SetUp() override {
    router.get("/fast", [h = hits](Request&) -> Task<Response> {
      ++h->count;
      co_return Response::json(200, {{"n", h->count}});
    });
    router.post("/count", [h = hits](Request&) -> Task<Response> {
      ++h->count;
      co_return Response::json(201, {{"n", h->count}});
    });
    router.get("/hang", [](Request&) -> Task<Response> {
      co_await sleep_for(milliseconds(1000));
      co_return Response::json(200, {});
    });
    router.get("/pause", [](Request&) -> Task<Response> {
      co_await sleep_for(milliseconds(100));
      co_return Response::json(200, {});
    });
    router.get("/seen", [](Request& req) -> Task<Response> {
      co_return Response::json(200, {{"request_id", std::string(req.header("x-request-id"))},
                                     {"budget_ms", std::string(req.header("x-request-budget-ms"))},
                                     {"remaining_ms", req.ctx.remaining().count()}});
    });
  }

  // Options whose figures land in the fixture's registry under worker "3".
  ClientOptions counted(ClientOptions o = {}) {
    o.metrics = &registry;
    o.worker = 3;
    return o;
  }
  metrics::Labels upstream(int p, metrics::Labels extra = {}) {
    metrics::Labels l{{"upstream", "127.0.0.1:" + std::to_string(p)}, {"worker", "3"}};
    l.insert(l.end(), extra.begin(), extra.end());
    return l;
  }
  uint64_t counter(const std::string& name, const metrics::Labels& l) { return registry.counter(name, "", l).value(); }
  double gauge(const std::string& name, const metrics::Labels& l) { return registry.gauge(name, "", l).value(); }

  ClientRequest post_to(int p, std::string target) {
    ClientRequest r;
    r.method = "POST";
    r.port = p;
    r.target = std::move(target);
    r.body = R"({"item":1})";
    return r;
  }
};

// ---- no request is sent twice; only idempotent calls are retried -----------

TEST_F(HttpClient, PostIsNeverSentTwiceWhenTheConnectionBreaks) {
  hang_up = std::make_unique<HangUpServer>(ctx);
  const int p = hang_up->port();
  run([&]() -> Task<void> {
    ClientOptions opts = counted();
    opts.retries = 3;
    Client client(ctx.get_executor(), opts);
    Caught c = co_await call_expecting_error(client, post_to(p, "/v1/orders"));
    EXPECT_EQ(c.kind, ErrorKind::Unavailable);
    EXPECT_EQ(c.code, "upstream_unavailable");
    EXPECT_EQ(hang_up->requests(), 1u);  // the server read it once, and only once
    EXPECT_EQ(counter("dine_http_client_failures_total", upstream(p, {{"kind", "broken"}})), 1u);
    EXPECT_EQ(counter("dine_http_client_retries_total", upstream(p)), 0u);
    // The message is plain; where and why are for the log.
    EXPECT_EQ(c.message, "a service is unavailable");
    EXPECT_NE(c.detail.find("127.0.0.1:" + std::to_string(p)), std::string::npos) << c.detail;
    EXPECT_NE(c.detail.find("request sent"), std::string::npos) << c.detail;
  });
}

TEST_F(HttpClient, PostDeclaredIdempotentIsRetriedBounded) {
  hang_up = std::make_unique<HangUpServer>(ctx);
  const int p = hang_up->port();
  run([&]() -> Task<void> {
    ClientOptions opts = counted();
    opts.retries = 2;
    Client client(ctx.get_executor(), opts);
    ClientRequest req = post_to(p, "/v1/orders");
    req.headers = {{"Idempotency-Key", "k-1"}};
    req.idempotent = true;
    Caught c = co_await call_expecting_error(client, req);
    EXPECT_EQ(c.kind, ErrorKind::Unavailable);
    EXPECT_EQ(hang_up->requests(), 3u);  // 1 + retries
    EXPECT_EQ(counter("dine_http_client_retries_total", upstream(p)), 2u);
    EXPECT_EQ(counter("dine_http_client_failures_total", upstream(p, {{"kind", "broken"}})), 3u);
  });
}

TEST_F(HttpClient, TheMethodGivesTheDefault) {
  EXPECT_TRUE(idempotent_by_default("GET"));
  EXPECT_TRUE(idempotent_by_default("DELETE"));
  EXPECT_FALSE(idempotent_by_default("POST"));
  hang_up = std::make_unique<HangUpServer>(ctx);
  const int p = hang_up->port();
  run([&]() -> Task<void> {
    ClientOptions opts;
    opts.retries = 1;
    Client client(ctx.get_executor(), opts);
    for (std::string method : {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "POST", "PATCH"}) {
      const std::size_t before = hang_up->requests();
      ClientRequest req = post_to(p, "/x");
      req.method = method;
      Caught c = co_await call_expecting_error(client, req);
      EXPECT_EQ(c.kind, ErrorKind::Unavailable) << method;
      const bool idempotent = method != "POST" && method != "PATCH";
      EXPECT_EQ(hang_up->requests() - before, idempotent ? 2u : 1u) << method;
    }
    // A GET declared not idempotent is sent once too.
    ClientRequest get_once = post_to(p, "/x");
    get_once.method = "GET";
    get_once.idempotent = false;
    const std::size_t before = hang_up->requests();
    co_await call_expecting_error(client, get_once);
    EXPECT_EQ(hang_up->requests() - before, 1u);
  });
}

// The server closed an idle keep-alive connection: the client sees that before
// writing (nothing was sent, so this is no re-send) and opens a fresh one.
TEST_F(HttpClient, PostOnAnIdleConnectionTheServerClosedGoesOutOnceOnAFreshOne) {
  limits.idle_timeout = milliseconds(100);
  start_server();
  run([&]() -> Task<void> {
    Client client(ctx.get_executor(), counted());
    EXPECT_EQ((co_await client.request(get("/fast"))).status, 200);
    EXPECT_EQ(client.idle_connections(), 1u);
    EXPECT_TRUE(co_await co_eventually([&] { return server->figures().connections == 0; }));
    EXPECT_EQ(client.idle_connections(), 1u);  // the client still holds its end

    ClientRequest post = get("/count");
    post.method = "POST";
    post.body = "{}";
    ClientResponse r = co_await client.request(post);
    EXPECT_EQ(r.status, 201);
    EXPECT_EQ(hits->count, 2);  // the POST ran exactly once
    EXPECT_EQ(server->figures().accepted, 2u);
    EXPECT_EQ(counter("dine_http_client_discarded_total", upstream(port(), {{"reason", "closed_by_peer"}})), 1u);
    EXPECT_EQ(counter("dine_http_client_failures_total", upstream(port(), {{"kind", "broken"}})), 0u);
  });
}

// ---- request id, budget, deadlines, cancellation ----------------------------

TEST_F(HttpClient, RequestIdAndBudgetReachTheServer) {
  start_server();
  run([&]() -> Task<void> {
    Client client(ctx.get_executor());
    ClientRequest req = get("/seen");
    req.ctx = Context{"req-42", deadline_in(milliseconds(800))};
    json j = json::parse((co_await client.request(req)).body);
    EXPECT_EQ(j["request_id"], "req-42");
    const long budget = std::stol(j["budget_ms"].get<std::string>());
    EXPECT_GT(budget, 0);
    EXPECT_LE(budget, 800);
    EXPECT_LE(j["remaining_ms"].get<long>(), 800);  // the server's deadline follows it

    // No request id: a fresh one; no request deadline: the client's timeout.
    ClientRequest plain = get("/seen");
    plain.timeout = milliseconds(3000);
    j = json::parse((co_await client.request(plain)).body);
    std::string id = j["request_id"];
    EXPECT_EQ(id.size(), 16u);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
    EXPECT_GT(std::stol(j["budget_ms"].get<std::string>()), 0);
    EXPECT_LE(std::stol(j["budget_ms"].get<std::string>()), 3000);
  });
}

TEST_F(HttpClient, DeadlinePassedIsTimeout) {
  start_server();
  run([&]() -> Task<void> {
    Client client(ctx.get_executor());
    ClientRequest req = get("/hang");
    req.timeout = milliseconds(200);
    auto t0 = Clock::now();
    Caught c = co_await call_expecting_error(client, req);
    auto took = Clock::now() - t0;
    EXPECT_TRUE(c.thrown);
    EXPECT_EQ(c.kind, ErrorKind::Timeout);
    EXPECT_EQ(c.code, "upstream_timeout");
    EXPECT_EQ(c.message, "a service did not answer in time");
    EXPECT_GE(took, milliseconds(150));
    EXPECT_LT(took, milliseconds(900));
  });
}

TEST_F(HttpClient, TheRequestDeadlineBeatsALongerTimeout) {
  start_server();
  run([&]() -> Task<void> {
    Client client(ctx.get_executor());
    ClientRequest req = get("/hang");  // the server takes 1000 ms
    req.timeout = milliseconds(5000);
    req.ctx = Context{"req-short", deadline_in(milliseconds(200))};
    auto t0 = Clock::now();
    Caught c = co_await call_expecting_error(client, req);
    EXPECT_EQ(c.kind, ErrorKind::Timeout);
    EXPECT_LT(Clock::now() - t0, milliseconds(900));
    EXPECT_EQ(client.open_connections(), 0u);  // a timed-out connection is not kept
  });
}

Task<void> counted_call(Client& client, ClientRequest req, std::shared_ptr<int> ok) {
  ClientResponse r = co_await client.request(std::move(req));
  if (r.status == 200) ++*ok;
}

struct CallEnd {
  bool done = false;
  std::exception_ptr error;
};

TEST_F(HttpClient, ACancelledCallStopsAtOnceAndClosesItsConnection) {
  start_server();
  run([&]() -> Task<void> {
    ClientOptions opts;
    opts.max_connections_per_host = 1;  // the slot must come back
    Client client(ctx.get_executor(), opts);
    auto end = std::make_shared<CallEnd>();
    asio::cancellation_signal signal;
    asio::co_spawn(ctx, client.request(get("/hang")),
                   asio::bind_cancellation_slot(signal.slot(), [end](std::exception_ptr e, ClientResponse) {
                     end->done = true;
                     end->error = e;
                   }));
    EXPECT_TRUE(co_await co_eventually([&] { return server->figures().in_flight == 1; }));
    auto t0 = Clock::now();
    signal.emit(asio::cancellation_type::terminal);
    EXPECT_TRUE(co_await co_eventually([&] { return end->done; }));
    EXPECT_LT(Clock::now() - t0, milliseconds(900));  // the server still has most of 1000 ms to go
    bool aborted = false;
    try {
      if (end->error) std::rethrow_exception(end->error);
    } catch (const boost::system::system_error& e) {
      aborted = e.code() == asio::error::operation_aborted;
    }
    EXPECT_TRUE(aborted);
    EXPECT_EQ(client.open_connections(), 0u);
    EXPECT_EQ(client.idle_connections(), 0u);
    // The server finds the connection gone once its handler answers.
    EXPECT_TRUE(co_await co_eventually([&] { return server->figures().connections == 0; }));
    EXPECT_EQ((co_await client.request(get("/fast"))).status, 200);
  });
}

TEST_F(HttpClient, ACallCancelledWhileWaitingForASlotEndsAtOnce) {
  start_server();
  run([&]() -> Task<void> {
    ClientOptions opts;
    opts.max_connections_per_host = 1;
    Client client(ctx.get_executor(), opts);
    auto ok = std::make_shared<int>(0);
    spawn_logged(ctx.get_executor(), counted_call(client, get("/pause"), ok), "slot holder");
    EXPECT_TRUE(co_await co_eventually([&] { return server->figures().in_flight == 1; }));

    auto end = std::make_shared<CallEnd>();
    asio::cancellation_signal signal;
    asio::co_spawn(ctx, client.request(get("/fast")),
                   asio::bind_cancellation_slot(signal.slot(), [end](std::exception_ptr e, ClientResponse) {
                     end->done = true;
                     end->error = e;
                   }));
    // One turn of the loop: the spawned call runs until it waits for the slot.
    co_await asio::post(ctx, asio::use_awaitable);
    EXPECT_FALSE(end->done);
    signal.emit(asio::cancellation_type::terminal);
    EXPECT_TRUE(co_await co_eventually([&] { return end->done; }));
    EXPECT_EQ(*ok, 0);  // it ended before the slot came free
    EXPECT_TRUE(end->error);
    EXPECT_EQ(hits->count, 0);  // and never reached the server

    EXPECT_TRUE(co_await co_eventually([&] { return *ok == 1; }));
    EXPECT_EQ((co_await client.request(get("/fast"))).status, 200);
    EXPECT_EQ(client.open_connections(), 1u);
  });
}

// ---- retries inside the deadline; answers are never retried -----------------

TEST_F(HttpClient, ARetriedCallNeverRunsPastItsDeadline) {
  hang_up = std::make_unique<HangUpServer>(ctx);
  const int p = hang_up->port();
  run([&]() -> Task<void> {
    ClientOptions opts = counted();
    opts.retries = 10;  // backoffs of ~100, 200, 400, 800 ms... cannot all fit in 1 s
    opts.retry_backoff = milliseconds(100);
    Client client(ctx.get_executor(), opts);
    ClientRequest req;  // GET
    req.port = p;
    req.target = "/fast";
    req.timeout = milliseconds(1000);
    const Deadline deadline = Clock::now() + milliseconds(1000);
    Caught c = co_await call_expecting_error(client, req);
    EXPECT_EQ(c.kind, ErrorKind::Unavailable);
    EXPECT_LT(Clock::now(), deadline + milliseconds(250));
    EXPECT_GE(hang_up->requests(), 2u);  // it did retry inside the deadline
    EXPECT_LT(hang_up->requests(), 11u);
    EXPECT_EQ(counter("dine_http_client_retries_total", upstream(p)), hang_up->requests() - 1);
  });
}

TEST_F(HttpClient, ClosedPortIsUnavailableQuickly) {
  const int dead = free_port();
  run([&]() -> Task<void> {
    Client client(ctx.get_executor(), counted());
    ClientRequest req;
    req.port = dead;
    req.target = "/fast";  // GET: retried once, still fast
    auto t0 = Clock::now();
    Caught c = co_await call_expecting_error(client, req);
    EXPECT_TRUE(c.thrown);
    EXPECT_EQ(c.kind, ErrorKind::Unavailable);
    EXPECT_EQ(c.code, "upstream_unavailable");
    EXPECT_LT(Clock::now() - t0, milliseconds(500));
    EXPECT_EQ(counter("dine_http_client_failures_total", upstream(dead, {{"kind", "connect"}})), 2u);
    EXPECT_EQ(c.message.find(std::to_string(dead)), std::string::npos) << c.message;
    EXPECT_NE(c.detail.find("127.0.0.1:" + std::to_string(dead)), std::string::npos) << c.detail;
  });
}

// A server past its deadline answers 504: an answer, not a broken
// connection, so the client never retries it, idempotent or not.
TEST_F(HttpClient, ServerTimeoutIsAnAnswerNotARetry) {
  limits.request_timeout = milliseconds(50);  // /pause takes 100 ms
  start_server();
  run([&]() -> Task<void> {
    Client client(ctx.get_executor(), counted());
    ClientRequest req = get("/pause");
    req.idempotent = false;
    EXPECT_EQ((co_await client.request(req)).status, 504);
    EXPECT_EQ(server->figures().accepted, 1u);

    req.idempotent = true;
    EXPECT_EQ((co_await client.request(req)).status, 504);
    EXPECT_EQ(server->figures().accepted, 2u);  // the 504 closed the first connection; no retry
    EXPECT_EQ(counter("dine_http_client_requests_total", upstream(port(), {{"class", "5xx"}})), 2u);
    EXPECT_EQ(counter("dine_http_client_retries_total", upstream(port())), 0u);
  });
}

// ---- keep-alive, idle timeout, per-host bound, gauges -----------------------

TEST_F(HttpClient, IdleConnectionsOlderThanTheIdleTimeoutAreNotReused) {
  start_server();  // the server keeps idle connections for 30 s
  run([&]() -> Task<void> {
    ClientOptions opts = counted();
    opts.idle_timeout = milliseconds(200);
    Client client(ctx.get_executor(), opts);
    EXPECT_EQ((co_await client.request(get("/fast"))).status, 200);
    const auto parked = Clock::now();
    EXPECT_EQ(client.idle_connections(), 1u);
    // Wait until the idle connection is older than the client's idle timeout.
    EXPECT_TRUE(co_await co_eventually([&] { return Clock::now() - parked > opts.idle_timeout; }));

    EXPECT_EQ((co_await client.request(get("/fast"))).status, 200);
    EXPECT_EQ(server->figures().accepted, 2u);
    EXPECT_EQ(counter("dine_http_client_discarded_total", upstream(port(), {{"reason", "idle_timeout"}})), 1u);
    EXPECT_EQ(client.open_connections(), 1u);  // the old one was closed, not left behind
    EXPECT_TRUE(co_await co_eventually([&] { return server->figures().connections == 1; }));
  });
}

TEST_F(HttpClient, ConnectionsPerHostAreBounded) {
  start_server();
  run([&]() -> Task<void> {
    ClientOptions opts;
    opts.max_connections_per_host = 2;
    Client client(ctx.get_executor(), opts);
    auto ok = std::make_shared<int>(0);
    for (int i = 0; i < 6; ++i) {
      spawn_logged(ctx.get_executor(), counted_call(client, get("/pause"), ok), "bounded call");
    }
    EXPECT_TRUE(co_await co_eventually([&] { return *ok == 6; }));
    EXPECT_EQ(server->figures().accepted, 2u);
    EXPECT_EQ(client.idle_connections(), 2u);
  });
}

TEST_F(HttpClient, WaitingForASlotRespectsTheDeadline) {
  start_server();
  run([&]() -> Task<void> {
    ClientOptions opts;
    opts.max_connections_per_host = 1;
    Client client(ctx.get_executor(), opts);
    auto ok = std::make_shared<int>(0);
    spawn_logged(ctx.get_executor(), counted_call(client, get("/hang"), ok), "hanging call");
    EXPECT_TRUE(co_await co_eventually([&] { return server->figures().in_flight == 1; }));
    ClientRequest req = get("/fast");
    req.timeout = milliseconds(100);
    Caught c = co_await call_expecting_error(client, req);
    EXPECT_EQ(c.kind, ErrorKind::Timeout);
    EXPECT_TRUE(co_await co_eventually([&] { return *ok == 1; }));
  });
}

TEST_F(HttpClient, MetricsFollowAnswersAndConnections) {
  start_server();
  run([&]() -> Task<void> {
    {
      Client client(ctx.get_executor(), counted());
      EXPECT_EQ((co_await client.request(get("/fast"))).status, 200);
      EXPECT_EQ((co_await client.request(get("/nowhere"))).status, 404);
      EXPECT_EQ(counter("dine_http_client_requests_total", upstream(port(), {{"class", "2xx"}})), 1u);
      EXPECT_EQ(counter("dine_http_client_requests_total", upstream(port(), {{"class", "4xx"}})), 1u);
      EXPECT_EQ(gauge("dine_http_client_connections", upstream(port())), 1);
      EXPECT_EQ(gauge("dine_http_client_idle_connections", upstream(port())), 1);

      auto ok = std::make_shared<int>(0);
      spawn_logged(ctx.get_executor(), counted_call(client, get("/pause"), ok), "busy call");
      EXPECT_TRUE(co_await co_eventually([&] { return server->figures().in_flight == 1; }));
      EXPECT_EQ(gauge("dine_http_client_idle_connections", upstream(port())), 0);  // in use
      EXPECT_EQ(gauge("dine_http_client_connections", upstream(port())), 1);
      EXPECT_TRUE(co_await co_eventually([&] { return *ok == 1; }));
      EXPECT_EQ(gauge("dine_http_client_idle_connections", upstream(port())), 1);
      std::string text = registry.render();
      EXPECT_NE(text.find("dine_http_client_connections{upstream=\"127.0.0.1:" + std::to_string(port()) +
                          "\",worker=\"3\"} 1"),
                std::string::npos)
          << text;
    }
    // A destroyed client closed its idle connections.
    EXPECT_EQ(gauge("dine_http_client_connections", upstream(port())), 0);
    EXPECT_EQ(gauge("dine_http_client_idle_connections", upstream(port())), 0);
  });
}

}  // namespace
}  // namespace dine::http::test
