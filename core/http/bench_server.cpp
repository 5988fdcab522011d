#include "core/http/bench_server.hpp"

#include <cstdio>
#include <csignal>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "core/http/server.hpp"
#include "core/metrics.hpp"

namespace dine::http {

namespace {

Task<Response> healthz(Request&) { co_return Response::json(200, {{"status", "ok"}}); }

struct Worker {
  asio::io_context ctx{1};
  std::unique_ptr<Server> server;
};

// Busy connections get up to two seconds to answer, then the loop ends.
Task<void> stop_when_drained(Worker* w) {
  co_await w->server->drained(deadline_in(std::chrono::seconds(2)));
  w->ctx.stop();
}

}  // namespace

int run_healthz_server(const std::string& host, int port, int threads, int seconds) {
  threads = std::max(1, threads);
  metrics::Registry registry;
  Router router;
  router.get("/healthz", healthz);
  router.get("/metrics", [&registry](Request&) -> Task<Response> {
    co_return Response::text(200, registry.render(), "text/plain; version=0.0.4");
  });

  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < threads; ++i) {
    auto w = std::make_unique<Worker>();
    w->server = std::make_unique<Server>(w->ctx.get_executor(), router, registry, ServerLimits{});
    try {
      w->server->listen(host, port, true);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench-http-server: %s\n", e.what());
      return 1;
    }
    port = w->server->port();  // with port 0, the others join the first one's port
    w->server->start();
    workers.push_back(std::move(w));
  }
  std::printf("listening on %s:%d\n", host.c_str(), port);
  std::fflush(stdout);

  // The first worker's loop watches the signals and the clock, then stops all.
  asio::io_context& main_ctx = workers.front()->ctx;
  asio::signal_set signals(main_ctx, SIGINT, SIGTERM);
  asio::steady_timer limit(main_ctx);
  auto stop_all = [&workers] {
    for (auto& w : workers) {
      asio::post(w->ctx, [&w = *w] {
        w.server->stop();
        spawn_logged(w.ctx.get_executor(), stop_when_drained(&w), "bench server drain");
      });
    }
  };
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (!ec) stop_all();
    limit.cancel();
  });
  if (seconds > 0) {
    limit.expires_after(std::chrono::seconds(seconds));
    limit.async_wait([&](boost::system::error_code ec) {
      if (!ec) {
        stop_all();
        signals.cancel();
      }
    });
  }

  std::vector<std::thread> pool;
  for (std::size_t i = 1; i < workers.size(); ++i) {
    pool.emplace_back([&w = *workers[i], i] {
      metrics::set_this_shard(i + 1);
      w.ctx.run();
    });
  }
  main_ctx.run();
  for (auto& t : pool) t.join();
  return 0;
}

}  // namespace dine::http
