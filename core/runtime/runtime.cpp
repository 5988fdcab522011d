#include "core/runtime/runtime.hpp"

#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/http/client.hpp"
#include "core/http/middleware_auth.hpp"
#include "core/http/middleware_inflight.hpp"
#include "core/http/server.hpp"
#include "core/log.hpp"
#include "core/pg/pool.hpp"
#include "core/pg/sharded.hpp"
#include "core/redis/client.hpp"
#include "core/runtime/clients.hpp"
#include "core/runtime/components.hpp"
#include "core/runtime/liveness.hpp"
#include "core/runtime/node_lock.hpp"
#include "core/runtime/readiness.hpp"

namespace dine::runtime {
namespace {

const log::Logger kLog("runtime");

// The client a role declared for `purpose`.
template <class T>
T* find_client(std::map<std::string, std::unique_ptr<T>>& m, std::string_view purpose, const char* kind) {
  auto it = m.find(std::string(purpose));
  if (it == m.end())
    throw std::logic_error(fmt::format("the role did not declare a {} dependency \"{}\"", kind, purpose));
  return it->second.get();
}

// One worker: its loop, routes, server, clients, role objects and components.
// Members are destroyed bottom-up: components, the role's objects, clients,
// the routes, the server, and the loop last (a stopped server holds no
// coroutine that could still run a route).
class WorkerState final : public WorkerContext {
 public:
  WorkerState(int index, int count, const Topology& topo, const Node& node, metrics::Registry& metrics,
              const std::any& config, void* node_state)
      : index_(index), count_(count), topo_(topo), node_(node), metrics_(metrics), config_(config),
        node_state_(node_state) {}

  int index() const override { return index_; }
  int count() const override { return count_; }
  asio::any_io_executor executor() const override { return const_cast<asio::io_context&>(ioc).get_executor(); }
  const Topology& topology() const override { return topo_; }
  const Node& node() const override { return node_; }
  metrics::Registry& metrics() const override { return metrics_; }
  http::Router& router() override { return router_; }

  pg::Pool& postgres(std::string_view purpose) override { return *find_client(pools_, purpose, "postgres"); }
  pg::ShardedCluster& shards(std::string_view purpose) override { return *find_client(shards_, purpose, "sharded postgres"); }
  redis::Client& redis(std::string_view purpose) override { return *find_client(redis_, purpose, "redis"); }
  http::Client& http(std::string_view purpose) override { return *find_client(http_, purpose, "http"); }

  void background(std::string name, ComponentFn fn) override { components->add(std::move(name), std::move(fn)); }

  // On this worker's loop: every pool to PostgreSQL node `id` probes now.
  void database_back(const std::string& id) {
    for (auto& [purpose, pool] : pools_)
      if (pool->config().node == id) pool->database_back();
    for (auto& [purpose, cluster] : shards_)
      for (std::size_t i = 0; i < cluster->size(); ++i)
        if (cluster->shard(i).config().node == id) cluster->shard(i).database_back();
  }
  void keep(std::shared_ptr<void> object) override { kept_.push_back(std::move(object)); }

  void make_clients(const RoleDescriptor& role) {
    ClientSite at{ioc.get_executor(), &topo_, &node_, &metrics_, index_, count_};
    for (const Dependency& d : role.dependencies) {
      switch (d.kind) {
        case Dependency::Kind::Postgres:
          pools_[d.purpose] = make_pool(at, *topo_.uses(node_, d.purpose).front(), d.database);
          break;
        case Dependency::Kind::ShardedPostgres:
          shards_[d.purpose] = make_shards(at, d.purpose, d.database);
          break;
        case Dependency::Kind::Redis:
          redis_[d.purpose] = make_redis(at, *topo_.uses(node_, d.purpose).front());
          break;
        case Dependency::Kind::Http:
          http_[d.purpose] = make_http(at);
          break;
      }
    }
  }

  asio::io_context ioc{1};
  std::unique_ptr<http::Server> server;

 private:
  const std::any& config_any() const override { return config_; }
  void* node_state_ptr() const override { return node_state_; }

  int index_, count_;
  const Topology& topo_;
  const Node& node_;
  metrics::Registry& metrics_;
  const std::any& config_;
  void* node_state_;

 public:
  http::Router router_;

 private:
  std::map<std::string, std::unique_ptr<pg::Pool>> pools_;
  std::map<std::string, std::unique_ptr<pg::ShardedCluster>> shards_;
  std::map<std::string, std::unique_ptr<redis::Client>> redis_;
  std::map<std::string, std::unique_ptr<http::Client>> http_;
  std::vector<std::shared_ptr<void>> kept_;

 public:
  std::unique_ptr<Components> components;
};

// Tests only: blocks the worker that takes it, as a wedged handler would.
void add_fault_routes(http::Router& router, int worker) {
  router.post("/test/wedge", [worker](http::Request& req) -> Task<http::Response> {
    if (!http::is_loopback_host(req.peer))
      co_return http::Response::error(403, "forbidden", "fault routes answer this machine only", req.ctx.request_id);
    const std::string raw = req.query_param("ms").value_or("");
    int ms = 0;
    const auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), ms);
    if (raw.empty() || ec != std::errc{} || end != raw.data() + raw.size() || ms < 1 || ms > 30000)
      co_return http::Response::error(400, "invalid_ms", "ms must be 1..30000 milliseconds", req.ctx.request_id);
    std::this_thread::sleep_for(milliseconds(ms));  // the worker's loop runs nothing else meanwhile
    nlohmann::json body = {{"wedged_ms", ms}, {"worker", worker}};
    co_return http::Response::json(200, body);
  });
}

void add_builtin_routes(http::Router& router, const Node& node, metrics::Registry& registry, const Liveness& live,
                        const Readiness& ready) {
  std::string id = node.id, role = node.role;
  router.get("/healthz", [id, role, &live](http::Request&) -> Task<http::Response> {
    auto [status, body] = live.report();
    body["node"] = id;
    body["role"] = role;
    co_return http::Response::json(status, body);
  });
  router.get("/readyz", [&ready](http::Request&) -> Task<http::Response> {
    auto [status, body] = ready.report();
    co_return http::Response::json(status, body);
  });
  // /metrics shows the node's insides (pools, upstream addresses): it answers
  // scrapers on this machine, and others only with DINE_METRICS_TOKEN.
  const char* env_token = std::getenv("DINE_METRICS_TOKEN");
  std::string token = env_token ? env_token : "";
  router.get("/metrics", [&registry, token](http::Request& req) -> Task<http::Response> {
    if (!http::admin_allowed(req.peer, req.header("authorization"), token))
      co_return http::Response::error(403, "forbidden",
                                      token.empty() ? "metrics are served to this machine only; set DINE_METRICS_TOKEN "
                                                      "on the node to let a scraper elsewhere in"
                                                    : "metrics need Authorization: Bearer <DINE_METRICS_TOKEN>",
                                      req.ctx.request_id);
    co_return http::Response::text(200, registry.render(), "text/plain; version=0.0.4; charset=utf-8");
  });
}

// On the worker's loop: stop accepting, drain requests, stop components, end the loop.
Task<void> stop_worker(WorkerState* w, Options opts) {
  w->server->stop();
  co_await w->server->drained(deadline_in(opts.drain_timeout));
  co_await w->components->stop(deadline_in(opts.stop_timeout));
  w->ioc.stop();
}

}  // namespace

int resolve_threads(const Options& opts, const Node& node) {
  if (opts.threads > 0) return opts.threads;
  if (node.threads > 0) return node.threads;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

int run(const Topology& topo, const Node& node, const RoleDescriptor& role, Options opts) {
  const int n = resolve_threads(opts, node);
  check_node(role, topo, node);
  const std::any config = load_config(role, topo, node);
  // A node reachable from other hosts never signs or checks tokens with an
  // empty, short or default secret.
  http::check_token_secret(topo.secret, node.ip.empty() ? node.host : node.ip, topo.secret_source);
  NodeLock lock(topo, node);  // a node runs once

  metrics::Registry registry;
  Liveness live(n, opts.wedged_after, registry);
  std::shared_ptr<void> node_state = role.node_state ? role.node_state(topo, node, config) : nullptr;

  asio::io_context control{1};
  // Filled below, before the control thread runs; read only on it.
  std::vector<WorkerState*> worker_list;
  // When the readiness probe sees a database answer again, every worker's
  // pools to it probe at once instead of waiting out their circuit's backoff.
  Readiness ready(control.get_executor(), topo, node, role, [&worker_list](const std::string& id) {
    for (WorkerState* w : worker_list) asio::post(w->ioc, [w, id] { w->database_back(id); });
  });

  http::ServerLimits limits;
  limits.body_bytes = node.limits.body_bytes;
  limits.header_bytes = node.limits.header_bytes;
  limits.idle_timeout = milliseconds(node.limits.idle_timeout_ms);
  limits.request_timeout = milliseconds(node.limits.request_timeout_ms);

  // The node-wide cap on requests in flight covers the role's routes, never
  // /healthz, /readyz or /metrics (they must answer most when it is full).
  std::shared_ptr<http::InFlightLimit> cap;
  if (node.limits.max_in_flight > 0)
    cap = std::make_shared<http::InFlightLimit>(static_cast<std::size_t>(node.limits.max_in_flight), &registry);

  std::vector<std::unique_ptr<WorkerState>> workers;
  for (int i = 0; i < n; ++i) {
    auto w = std::make_unique<WorkerState>(i, n, topo, node, registry, config, node_state.get());
    w->components = std::make_unique<Components>(w->ioc.get_executor(), registry, i);
    w->make_clients(role);
    role.setup(*w);
    if (cap) w->router_.wrap_routes([cap](http::Handler h) { return http::limit_in_flight(std::move(h), cap); });
    add_builtin_routes(w->router_, node, registry, live, ready);
    if (opts.fault_routes) add_fault_routes(w->router_, i);
    w->server = std::make_unique<http::Server>(w->ioc.get_executor(), w->router_, registry, limits);
    w->server->listen(node.ip.empty() ? node.host : node.ip, node.port, /*reuse_port=*/true);
    workers.push_back(std::move(w));
  }
  registry.gauge_fn("dine_worker_threads", "Worker threads of this node", {}, [n] { return double(n); });
  for (auto& w : workers) worker_list.push_back(w.get());

  // Every listener is bound: start serving, the components and the probes.
  for (auto& w : workers) {
    w->server->start();
    w->components->start();
    spawn_logged(w->ioc.get_executor(), live.tick(w->index()), "liveness tick");
  }
  ready.start();

  asio::signal_set signals(control, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    kLog.info("stopping", {{"signal", std::to_string(sig)}, {"drain_ms", std::to_string(opts.drain_timeout.count())}});
    for (auto& wp : workers) {
      WorkerState* w = wp.get();
      asio::co_spawn(w->ioc, stop_worker(w, opts), [w](std::exception_ptr e) {
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            kLog.warn("stop_failed", {{"worker", std::to_string(w->index())}, {"error", ex.what()}});
          } catch (...) {
            kLog.warn("stop_failed", {{"worker", std::to_string(w->index())}, {"error", "unknown"}});
          }
        }
        w->ioc.stop();
      });
    }
  });

  std::vector<std::thread> threads;
  for (auto& wp : workers) {
    WorkerState* w = wp.get();
    threads.emplace_back([w] {
      metrics::set_this_shard(static_cast<std::size_t>(w->index()) + 1);  // 0: threads that are not workers
      try {
        w->ioc.run();
      } catch (const std::exception& e) {
        // A dead worker would keep its share of the port and its components
        // silent while the others answer health checks: end the node instead.
        kLog.error("worker_crashed", {{"worker", std::to_string(w->index())}, {"error", e.what()}});
        std::fflush(nullptr);
        std::_Exit(1);
      }
    });
  }
  kLog.info("serving", {{"address", node.address()}, {"threads", std::to_string(n)},
                        {"components", std::to_string(workers.front()->components->size())}});
  std::thread control_thread([&] { control.run(); });
  for (auto& t : threads) t.join();

  // The workers are stopped: stop the probes, then take everything down in order.
  asio::post(control, [&] {
    signals.cancel();
    ready.stop();
  });
  asio::post(control, [&] { control.stop(); });
  control_thread.join();
  workers.clear();
  kLog.info("stopped");
  return 0;
}

}  // namespace dine::runtime
