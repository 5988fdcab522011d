#pragma once
// What the middleware tests share: run a handler to completion on a local
// io_context, make a request, read a header, an echoing handler, a fake clock.
#include <chrono>
#include <functional>
#include <future>
#include <string>
#include <string_view>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <nlohmann/json.hpp>

#include "core/http/middleware.hpp"
#include "core/http/router.hpp"

namespace dine::http::mwtest {

// Runs a handler to completion on a local io_context.
inline Response call(const Handler& h, Request& req) {
  asio::io_context io;
  std::future<Response> f = asio::co_spawn(io, h(req), asio::use_future);
  io.run();
  return f.get();
}

inline Request request_with(std::string authorization = {}) {
  Request r;
  r.method = "GET";
  r.path = r.target = "/v1/orders/1";
  r.route = "/v1/orders/{order_id}";
  r.ctx.request_id = "rid-1";
  if (!authorization.empty()) r.headers.emplace_back("authorization", std::move(authorization));
  return r;
}

inline std::string header(const Response& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return {};
}

// Echoes the principal, and counts the calls that got through.
struct Echo {
  int* calls;
  Task<Response> operator()(Request& req) const {
    ++*calls;
    nlohmann::json j = {{"sub", req.principal ? req.principal->subject : ""},
                        {"kind", req.principal ? req.principal->kind : ""},
                        {"uid", req.principal ? req.principal->claims->value("uid", 0) : 0}};
    return ready(Response::json(200, j));
  }
};

// A clock the test moves by hand.
struct FakeClock {
  Clock::time_point t = Clock::time_point{} + std::chrono::hours(1);
  std::function<Clock::time_point()> fn() {
    return [this] { return t; };
  }
};

}  // namespace dine::http::mwtest
