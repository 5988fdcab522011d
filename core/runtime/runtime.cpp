#include "core/runtime/runtime.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "core/http/server.hpp"
#include "core/log.hpp"

namespace dine::runtime {
namespace {

const log::Logger kLog("runtime");

struct WorkerState {
  asio::io_context ioc{1};
  http::Router router;
  std::vector<ReadyCheck> ready_checks;
  std::vector<std::shared_ptr<void>> keep;
  std::unique_ptr<http::Server> server;
  metrics::Gauge* lag = nullptr;
};

// Measures how late a 100 ms timer fires: a busy or blocked loop shows here.
Task<void> measure_lag(metrics::Gauge* gauge) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    auto planned = Clock::now() + milliseconds(100);
    timer.expires_at(planned);
    co_await timer.async_wait(asio::use_awaitable);
    gauge->set(std::chrono::duration<double>(Clock::now() - planned).count());
  }
}

Task<http::Response> readyz(std::vector<ReadyCheck>* checks, std::string node) {
  nlohmann::json deps = nlohmann::json::object();
  bool ok = true;
  for (const auto& c : *checks) {
    auto start = Clock::now();
    try {
      co_await c.check();
      deps[c.name] = {{"ok", true},
                      {"ms", std::chrono::duration<double, std::milli>(Clock::now() - start).count()}};
    } catch (const std::exception& e) {
      ok = false;
      deps[c.name] = {{"ok", false}, {"error", e.what()}};
    }
  }
  co_return http::Response::json(ok ? 200 : 503,
                                 {{"status", ok ? "ready" : "not_ready"}, {"node", node}, {"dependencies", deps}});
}

void add_builtin_routes(WorkerState& w, const Node& node, metrics::Registry& registry,
                        std::vector<ReadyCheck>* checks0) {
  std::string id = node.id, role = node.role;
  w.router.get("/healthz", [id, role](http::Request&) -> Task<http::Response> {
    co_return http::Response::json(200, {{"status", "ok"}, {"node", id}, {"role", role}});
  });
  w.router.get("/readyz", [checks0, id](http::Request&) { return readyz(checks0, id); });
  w.router.get("/metrics", [&registry](http::Request&) -> Task<http::Response> {
    co_return http::Response::text(200, registry.render(), "text/plain; version=0.0.4; charset=utf-8");
  });
}

int resolve_threads(const Options& opts, const Node& node) {
  if (opts.threads > 0) return opts.threads;
  if (node.threads > 0) return node.threads;
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

int run(const Topology& topo, const Node& node, Options opts, const std::function<void(Worker&)>& setup) {
  const int n = resolve_threads(opts, node);
  metrics::Registry registry;
  std::vector<std::unique_ptr<WorkerState>> workers;
  for (int i = 0; i < n; ++i) workers.push_back(std::make_unique<WorkerState>());

  http::ServerLimits limits;
  limits.body_bytes = node.limits.body_bytes;
  limits.header_bytes = node.limits.header_bytes;
  limits.idle_timeout = milliseconds(node.limits.idle_timeout_ms);
  limits.request_timeout = milliseconds(node.limits.request_timeout_ms);

  for (int i = 0; i < n; ++i) {
    auto& w = *workers[i];
    Worker ctx;
    ctx.index = i;
    ctx.count = n;
    ctx.executor = w.ioc.get_executor();
    ctx.topology = &topo;
    ctx.node = &node;
    ctx.metrics = &registry;
    ctx.router = &w.router;
    ctx.ready_checks = &w.ready_checks;
    ctx.keep = &w.keep;
    setup(ctx);
    add_builtin_routes(w, node, registry, &w.ready_checks);
    w.lag = &registry.gauge("dine_event_loop_lag_seconds", "How late a 100 ms timer fired on this worker",
                            {{"worker", std::to_string(i)}});
    w.server = std::make_unique<http::Server>(w.ioc.get_executor(), w.router, registry, limits);
    w.server->listen(node.host, node.port, /*reuse_port=*/true);
  }
  registry.gauge_fn("dine_worker_threads", "Worker threads of this node", {}, [n] { return double(n); });

  std::atomic<int> stopped{0};
  asio::io_context signals_ioc{1};
  asio::signal_set signals(signals_ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    kLog.info("stopping", {{"signal", std::to_string(sig)}, {"drain_ms", std::to_string(opts.drain_timeout.count())}});
    for (auto& wp : workers) {
      auto* w = wp.get();
      asio::co_spawn(
          w->ioc,
          [w, &opts]() -> Task<void> {
            w->server->stop();
            co_await w->server->drained(deadline_in(opts.drain_timeout));
            w->ioc.stop();
          },
          [w](std::exception_ptr) { w->ioc.stop(); });
    }
  });

  std::vector<std::thread> threads;
  for (auto& wp : workers) {
    auto* w = wp.get();
    w->server->start();
    spawn_logged(w->ioc.get_executor(), measure_lag(w->lag), "event_loop_lag");
    threads.emplace_back([w, &stopped] {
      try {
        w->ioc.run();
      } catch (const std::exception& e) {
        // A dead worker would keep its share of the port and its relays
        // silent while the others answer health checks: end the node instead.
        kLog.error("worker_crashed", {{"error", e.what()}});
        std::fflush(nullptr);
        std::_Exit(1);
      }
      stopped.fetch_add(1);
    });
  }
  kLog.info("serving", {{"address", node.address()}, {"threads", std::to_string(n)}});
  std::thread signal_thread([&] { signals_ioc.run(); });
  for (auto& t : threads) t.join();
  signals.cancel();
  signals_ioc.stop();
  signal_thread.join();
  kLog.info("stopped");
  // Exit here rather than unwinding: coroutines still parked on the stopped
  // loops (relays, idle pools) own connections bound to those loops. The kernel
  // closes every socket and PostgreSQL rolls back any open transaction, which
  // the outbox design is built to survive (crash-only shutdown).
  std::fflush(nullptr);
  std::_Exit(0);
}

}  // namespace dine::runtime
