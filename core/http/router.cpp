#include "core/http/router.hpp"

#include <exception>

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

#include "core/errors.hpp"
#include "core/log.hpp"

namespace dine::http {

namespace {

const log::Logger& logger() {
  static const log::Logger l("http");
  return l;
}

bool is_param(std::string_view seg) {
  return seg.size() >= 2 && seg.front() == '{' && seg.back() == '}';
}

// Calls f(segment) for every segment of "/a/b/c" ("a", "b", "c"); a trailing
// slash gives a last empty segment, so "/a/" does not match "/a".
template <class F>
void for_each_segment(std::string_view path, F&& f) {
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (true) {
    std::size_t slash = path.find('/');
    f(path.substr(0, slash));
    if (slash == std::string_view::npos) return;
    path.remove_prefix(slash + 1);
  }
}

}  // namespace

void Router::add(std::string method, std::string pattern, Handler handler) {
  Route r;
  r.method = std::move(method);
  r.pattern = std::move(pattern);
  for_each_segment(r.pattern, [&](std::string_view seg) { r.segments.emplace_back(seg); });
  r.handler = std::move(handler);
  routes_.push_back(std::move(r));
}

void Router::wrap_routes(const std::function<Handler(Handler)>& wrap) {
  for (Route& r : routes_) r.handler = wrap(std::move(r.handler));
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
  // Split once; small paths stay on the stack of the vector's first allocation.
  std::vector<std::string_view> segs;
  segs.reserve(8);
  for_each_segment(path, [&](std::string_view seg) { segs.push_back(seg); });

  const Route* best = nullptr;
  int best_params = 0;
  bool path_known = false;
  for (const Route& r : routes_) {
    if (r.segments.size() != segs.size()) continue;
    int params = 0;
    bool ok = true;
    for (std::size_t i = 0; i < segs.size() && ok; ++i) {
      if (is_param(r.segments[i])) {
        ok = !segs[i].empty();
        ++params;
      } else {
        ok = r.segments[i] == segs[i];
      }
    }
    if (!ok) continue;
    path_known = true;
    if (r.method != method) continue;
    // A literal segment beats a parameter: "/orders/mine" over "/orders/{id}".
    if (best == nullptr || params < best_params) {
      best = &r;
      best_params = params;
    }
  }

  Match m;
  if (best == nullptr) {
    m.pattern = "unmatched";
    m.method_mismatch = path_known;
    return m;
  }
  m.handler = &best->handler;
  m.pattern = best->pattern;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    const std::string& seg = best->segments[i];
    if (is_param(seg)) {
      m.params.emplace_back(seg.substr(1, seg.size() - 2), percent_decode(segs[i], false));
    }
  }
  return m;
}

Response error_response(const Request& req, std::exception_ptr failure) {
  const std::string& rid = req.ctx.request_id;
  try {
    std::rethrow_exception(failure);
  } catch (const Error& e) {
    if (!server_side(e.kind())) {
      Response r = Response::error(http_status(e.kind()), e.code(), e.what(), rid);
      if (e.retry_after()) r.headers.emplace_back("Retry-After", std::to_string(*e.retry_after()));
      return r;
    }
    log::Fields f{{"route", req.route}, {"request_id", rid}, {"code", e.code()}, {"error", e.what()}};
    if (!e.detail().empty()) f.emplace_back("detail", e.detail());
    if (e.kind() == ErrorKind::Internal) {
      logger().error("handler_failed", f);
      return Response::error(500, "internal", "internal error", rid);
    }
    logger().warn_limited("dependency_failed", f);
    Response r = (e.kind() == ErrorKind::Timeout && req.ctx.expired())
                     ? Response::error(504, "request_timeout", "the request did not finish within its deadline", rid)
                     : Response::error(http_status(e.kind()), e.code(), e.what(), rid);
    if (e.retry_after()) r.headers.emplace_back("Retry-After", std::to_string(*e.retry_after()));
    return r;
  } catch (const boost::system::system_error& e) {
    if (e.code() == boost::asio::error::operation_aborted && req.ctx.expired()) {
      logger().warn_limited("request_timeout", {{"route", req.route}, {"request_id", rid}});
      return Response::error(504, "request_timeout", "the request did not finish within its deadline", rid);
    }
    logger().error("handler_failed", {{"route", req.route}, {"request_id", rid}, {"error", e.what()}});
  } catch (const std::exception& e) {
    logger().error("handler_failed", {{"route", req.route}, {"request_id", rid}, {"error", e.what()}});
  } catch (...) {
    logger().error("handler_failed", {{"route", req.route}, {"request_id", rid}, {"error", "unknown exception"}});
  }
  return Response::error(500, "internal", "internal error", rid);
}

Task<Response> Router::handle(Request& req) const {
  Match m = match(req.method, req.path);
  req.route = std::move(m.pattern);
  req.params = std::move(m.params);
  if (m.handler == nullptr) {
    if (m.method_mismatch) {
      co_return Response::error(405, "method_not_allowed", req.method + " is not allowed on " + req.path,
                                req.ctx.request_id);
    }
    co_return Response::error(404, "not_found", "no route for " + req.path, req.ctx.request_id);
  }
  std::exception_ptr failure;
  try {
    co_return co_await (*m.handler)(req);
  } catch (...) {
    failure = std::current_exception();
  }
  co_return error_response(req, failure);
}

}  // namespace dine::http
