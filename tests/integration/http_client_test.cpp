// The HTTP client against a real server over loopback: deadlines, unreachable
// peers, stale keep-alive connections, retries and the per-host bound.
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
  }
};

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
    EXPECT_GE(took, milliseconds(150));
    EXPECT_LT(took, milliseconds(900));
  });
}

TEST_F(HttpClient, ClosedPortIsUnavailableQuickly) {
  const int dead = free_port();
  run([&]() -> Task<void> {
    Client client(ctx.get_executor());
    ClientRequest req;
    req.port = dead;
    req.target = "/fast";
    req.idempotent = true;  // retried once, still fast
    auto t0 = Clock::now();
    Caught c = co_await call_expecting_error(client, req);
    EXPECT_TRUE(c.thrown);
    EXPECT_EQ(c.kind, ErrorKind::Unavailable);
    EXPECT_EQ(c.code, "upstream_unavailable");
    EXPECT_LT(Clock::now() - t0, milliseconds(500));
  });
}

TEST_F(HttpClient, StaleIdleConnectionIsRetriedTransparently) {
  limits.idle_timeout = milliseconds(100);
  start_server();
  run([&]() -> Task<void> {
    Client client(ctx.get_executor());
    EXPECT_EQ((co_await client.request(get("/fast"))).status, 200);
    EXPECT_EQ(client.idle_connections(), 1u);
    // The server drops the idle connection; the client still holds it.
    EXPECT_TRUE(co_await eventually([&] { return server->figures().connections == 0; }));
    EXPECT_EQ(client.idle_connections(), 1u);

    ClientRequest post = get("/count");
    post.method = "POST";
    post.body = "{}";
    post.idempotent = false;  // nothing was read, so the retry is still safe
    ClientResponse r = co_await client.request(post);
    EXPECT_EQ(r.status, 201);
    EXPECT_EQ(hits->count, 2);  // ran exactly once more
    EXPECT_EQ(server->figures().accepted, 2u);
  });
}

// A server past its deadline answers 504: an answer, not a broken
// connection, so the client never retries it, idempotent or not.
TEST_F(HttpClient, ServerTimeoutIsAnAnswerNotARetry) {
  limits.request_timeout = milliseconds(50);  // /pause takes 100 ms
  start_server();
  run([&]() -> Task<void> {
    Client client(ctx.get_executor());
    ClientRequest req = get("/pause");
    EXPECT_EQ((co_await client.request(req)).status, 504);
    EXPECT_EQ(server->figures().accepted, 1u);

    req.idempotent = true;
    EXPECT_EQ((co_await client.request(req)).status, 504);
    EXPECT_EQ(server->figures().accepted, 2u);  // the 504 closed the first connection; no retry
  });
}

Task<void> counted_call(Client& client, ClientRequest req, std::shared_ptr<int> ok) {
  ClientResponse r = co_await client.request(std::move(req));
  if (r.status == 200) ++*ok;
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
    EXPECT_TRUE(co_await eventually([&] { return *ok == 6; }));
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
    EXPECT_TRUE(co_await eventually([&] { return server->figures().in_flight == 1; }));
    ClientRequest req = get("/fast");
    req.timeout = milliseconds(100);
    Caught c = co_await call_expecting_error(client, req);
    EXPECT_EQ(c.kind, ErrorKind::Timeout);
    EXPECT_TRUE(co_await eventually([&] { return *ok == 1; }));
  });
}

}  // namespace
}  // namespace dine::http::test
