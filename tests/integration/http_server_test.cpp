// The HTTP server over loopback: round trips, keep-alive, limits, timeouts,
// graceful stop, request ids and per-route metrics.
#include <nlohmann/json.hpp>

#include "tests/integration/http_fixture.hpp"

namespace dine::http::test {
namespace {

using nlohmann::json;

Task<Response> item(Request& req) {
  co_return Response::json(200, {{"id", req.param("id")},
                                 {"size", req.query_param("size").value_or("none")},
                                 {"request_id", req.ctx.request_id}});
}

Task<Response> echo(Request& req) {
  co_return Response::json(200, {{"body", req.body},
                                 {"content_type", req.header("content-type")},
                                 {"host", req.header("host")}});
}

// How /slow ended: finished its 300 ms, or was cancelled at its deadline.
struct SlowOutcome {
  int finished = 0;
  int cancelled = 0;
};
SlowOutcome g_slow;

Task<Response> slow(Request&) {
  try {
    co_await sleep_for(milliseconds(300));
  } catch (const boost::system::system_error& e) {
    if (e.code() == asio::error::operation_aborted) ++g_slow.cancelled;
    throw;
  }
  ++g_slow.finished;
  co_return Response::json(200, {{"slow", true}});
}

class HttpServer : public HttpFixture {
 protected:
  void SetUp() override {
    router.get("/v1/items/{id}", item);
    router.post("/echo", echo);
    router.get("/slow", slow);
  }
};

TEST_F(HttpServer, GetAndPostRoundTrip) {
  start_server();
  run([&]() -> Task<void> {
    Client client(ctx.get_executor());
    ClientResponse r = co_await client.request(get("/v1/items/42?size=big%20one"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-type"), "application/json");
    json j = json::parse(r.body);
    EXPECT_EQ(j["id"], "42");
    EXPECT_EQ(j["size"], "big one");

    ClientRequest post;
    post.method = "POST";
    post.port = port();
    post.target = "/echo";
    post.body = R"({"qty":2})";
    r = co_await client.request(post);
    EXPECT_EQ(r.status, 200);
    j = json::parse(r.body);
    EXPECT_EQ(j["body"], R"({"qty":2})");
    EXPECT_EQ(j["content_type"], "application/json");
    EXPECT_EQ(j["host"], "127.0.0.1:" + std::to_string(port()));

    r = co_await client.request(get("/missing"));
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(json::parse(r.body)["error"], "not_found");
    r = co_await client.request(get("/echo"));
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(json::parse(r.body)["error"], "method_not_allowed");
  });
}

TEST_F(HttpServer, KeepAliveReusesOneConnection) {
  start_server();
  run([&]() -> Task<void> {
    Client client(ctx.get_executor());
    for (int i = 0; i < 100; ++i) {
      ClientResponse r = co_await client.request(get("/v1/items/" + std::to_string(i)));
      EXPECT_EQ(r.status, 200);
    }
    EXPECT_EQ(server->figures().accepted, 1u);
    EXPECT_EQ(server->figures().connections, 1u);
    EXPECT_EQ(client.idle_connections(), 1u);
    EXPECT_NE(registry.render().find("dine_http_connections 1\n"), std::string::npos);
  });
}

TEST_F(HttpServer, OversizedBodyIs413) {
  limits.body_bytes = 1024;
  start_server();
  run([&]() -> Task<void> {
    Client client(ctx.get_executor());
    ClientRequest post;
    post.method = "POST";
    post.port = port();
    post.target = "/echo";
    post.body = "\"" + std::string(4096, 'x') + "\"";
    ClientResponse r = co_await client.request(post);
    EXPECT_EQ(r.status, 413);
    EXPECT_EQ(json::parse(r.body)["error"], "payload_too_large");
    EXPECT_EQ(client.idle_connections(), 0u);  // the server closed it

    post.body = "\"" + std::string(1000, 'x') + "\"";
    r = co_await client.request(post);
    EXPECT_EQ(r.status, 200);
  });
}

TEST_F(HttpServer, OversizedChunkedBodyIs413) {
  limits.body_bytes = 1024;
  start_server();
  run([&]() -> Task<void> {
    tcp::socket s = co_await raw_connect(port());
    std::string chunk(800, 'y');
    co_await raw_send(s, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "320\r\n" + chunk + "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n");
    RawRead rr = co_await read_until_close(s, milliseconds(3000));
    EXPECT_EQ(rr.data.rfind("HTTP/1.1 413", 0), 0u) << rr.data;
    EXPECT_NE(rr.data.find("payload_too_large"), std::string::npos);
    EXPECT_TRUE(rr.closed);
  });
}

TEST_F(HttpServer, MalformedRequestIs400ThenClosed) {
  start_server();
  run([&]() -> Task<void> {
    tcp::socket s = co_await raw_connect(port());
    co_await raw_send(s, "GET /v1/items/1 HTTP/1.1\r\nHost: x\r\nthis is no header\r\n\r\n");
    RawRead rr = co_await read_until_close(s, milliseconds(3000));
    EXPECT_EQ(rr.data.rfind("HTTP/1.1 400", 0), 0u) << rr.data;
    EXPECT_NE(rr.data.find(R"("error":"bad_request")"), std::string::npos) << rr.data;
    EXPECT_TRUE(rr.closed);

    tcp::socket s2 = co_await raw_connect(port());
    co_await raw_send(s2, "\x01\x02garbage\r\n\r\n");
    rr = co_await read_until_close(s2, milliseconds(3000));
    EXPECT_EQ(rr.data.rfind("HTTP/1.1 400", 0), 0u) << rr.data;
    EXPECT_TRUE(rr.closed);
  });
}

TEST_F(HttpServer, PipelinedRequestsAnsweredInOrder) {
  start_server();
  run([&]() -> Task<void> {
    tcp::socket s = co_await raw_connect(port());
    co_await raw_send(s,
                      "GET /v1/items/1 HTTP/1.1\r\nHost: x\r\nX-Request-Id: first\r\n\r\n"
                      "GET /v1/items/2 HTTP/1.1\r\nHost: x\r\nX-Request-Id: second\r\n\r\n"
                      "GET /v1/items/3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    RawRead rr = co_await read_until_close(s, milliseconds(3000));
    EXPECT_TRUE(rr.closed);
    auto p1 = rr.data.find(R"("id":"1")");
    auto p2 = rr.data.find(R"("id":"2")");
    auto p3 = rr.data.find(R"("id":"3")");
    if (p1 == std::string::npos || p2 == std::string::npos || p3 == std::string::npos) {
      ADD_FAILURE() << "missing answers in: " << rr.data;
      co_return;
    }
    EXPECT_LT(p1, p2);
    EXPECT_LT(p2, p3);
    EXPECT_NE(rr.data.find("X-Request-Id: second"), std::string::npos);
  });
}

TEST_F(HttpServer, IdleTimeoutClosesSilentConnection) {
  limits.idle_timeout = milliseconds(200);
  start_server();
  run([&]() -> Task<void> {
    tcp::socket s = co_await raw_connect(port());
    auto t0 = Clock::now();
    RawRead rr = co_await read_until_close(s, milliseconds(5000));
    auto waited = Clock::now() - t0;
    EXPECT_TRUE(rr.closed);
    EXPECT_TRUE(rr.data.empty());
    EXPECT_GE(waited, milliseconds(150));
    EXPECT_LT(waited, milliseconds(3000));
    EXPECT_TRUE(co_await co_eventually([&] { return server->figures().connections == 0; }));
  });
}

TEST_F(HttpServer, RequestTimeoutWhileReadingClosesConnection) {
  limits.idle_timeout = milliseconds(10000);
  limits.request_timeout = milliseconds(300);
  start_server();
  run([&]() -> Task<void> {
    tcp::socket s = co_await raw_connect(port());
    co_await raw_send(s, "GET /v1/items/1 HTTP/1.1\r\nHost: x\r\n");  // header never ends
    auto t0 = Clock::now();
    RawRead rr = co_await read_until_close(s, milliseconds(5000));
    auto waited = Clock::now() - t0;
    EXPECT_TRUE(rr.closed);
    EXPECT_GE(waited, milliseconds(250));
    EXPECT_LT(waited, milliseconds(3000));
  });
}

// Past request_timeout_ms the client gets 504 request_timeout, and the
// handler is really stopped (cancelled), not left running.
TEST_F(HttpServer, RequestTimeoutWhileHandlingAnswers504AndStopsTheHandler) {
  limits.request_timeout = milliseconds(100);  // /slow takes 300 ms
  g_slow = {};
  start_server();
  run([&]() -> Task<void> {
    Client client(ctx.get_executor());
    auto t0 = Clock::now();
    ClientResponse r = co_await client.request(get("/slow"));
    EXPECT_EQ(r.status, 504);
    EXPECT_EQ(json::parse(r.body)["error"], "request_timeout");
    EXPECT_FALSE(json::parse(r.body)["request_id"].get<std::string>().empty());
    EXPECT_LT(Clock::now() - t0, milliseconds(290));
    EXPECT_TRUE(co_await co_eventually([&] { return g_slow.cancelled == 1; }));
    EXPECT_EQ(g_slow.finished, 0);
    EXPECT_TRUE(co_await co_eventually([&] {
      return registry.render().find(
                 R"(dine_http_requests_total{route="/slow",method="GET",status="504"} 1)") !=
             std::string::npos;
    }));
  });
}

Task<void> slow_call(Client& client, ClientRequest req, std::shared_ptr<int> status) {
  ClientResponse r = co_await client.request(std::move(req));
  *status = r.status;
}

TEST_F(HttpServer, GracefulStopFinishesInFlightAndRefusesNew) {
  start_server();
  run([&]() -> Task<void> {
    Client client(ctx.get_executor());
    Client idle_client(ctx.get_executor());
    // An idle keep-alive connection that stop() must close.
    EXPECT_EQ((co_await idle_client.request(get("/v1/items/1"))).status, 200);
    auto status = std::make_shared<int>(0);
    spawn_logged(ctx.get_executor(), slow_call(client, get("/slow"), status), "slow call");
    EXPECT_TRUE(co_await co_eventually([&] { return server->figures().in_flight == 1; }));
    EXPECT_EQ(server->figures().connections, 2u);

    server->stop();
    EXPECT_TRUE(co_await co_eventually([&] { return server->figures().connections == 1; }));

    // New connections are refused once the acceptor is closed.
    tcp::socket s(ctx);
    auto [ec] = co_await s.async_connect(
        {asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port())}, use_tuple);
    EXPECT_EQ(ec, asio::error::connection_refused);

    EXPECT_EQ(*status, 0);  // still running
    co_await server->drained(deadline_in(milliseconds(3000)));
    EXPECT_EQ(server->figures().connections, 0u);
    EXPECT_TRUE(co_await co_eventually([&] { return *status != 0; }));
    EXPECT_EQ(*status, 200);
  });
}

TEST_F(HttpServer, RequestIdEchoedOrGenerated) {
  start_server();
  run([&]() -> Task<void> {
    Client client(ctx.get_executor());
    ClientRequest req = get("/v1/items/1");
    req.headers = {{"X-Request-Id", "req-abc-123"}};
    ClientResponse r = co_await client.request(req);
    EXPECT_EQ(r.header("x-request-id"), "req-abc-123");
    EXPECT_EQ(json::parse(r.body)["request_id"], "req-abc-123");

    r = co_await client.request(get("/v1/items/1"));
    std::string generated(r.header("x-request-id"));
    EXPECT_EQ(generated.size(), 16u);
    EXPECT_EQ(generated.find_first_not_of("0123456789abcdef"), std::string::npos);
    EXPECT_EQ(json::parse(r.body)["request_id"], generated);
  });
}

TEST_F(HttpServer, MetricsLabelRoutePatternNotRawPath) {
  start_server();
  run([&]() -> Task<void> {
    Client client(ctx.get_executor());
    for (int i = 0; i < 3; ++i) co_await client.request(get("/v1/items/" + std::to_string(100 + i)));
    co_await client.request(get("/nowhere/7"));
    std::string text = registry.render();
    EXPECT_NE(text.find(R"(dine_http_requests_total{route="/v1/items/{id}",method="GET",status="200"} 3)"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find(R"(dine_http_request_duration_seconds_count{route="/v1/items/{id}",method="GET"} 3)"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find(R"(dine_http_requests_total{route="unmatched",method="GET",status="404"} 1)"),
              std::string::npos)
        << text;
    EXPECT_EQ(text.find("/v1/items/101"), std::string::npos);
    EXPECT_EQ(text.find("/nowhere"), std::string::npos);
    EXPECT_NE(text.find("dine_http_in_flight 0\n"), std::string::npos) << text;
  });
}

}  // namespace
}  // namespace dine::http::test
