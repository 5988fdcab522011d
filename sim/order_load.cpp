#include "sim/order_load.hpp"

#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/async.hpp"
#include "core/errors.hpp"
#include "core/http/client.hpp"
#include "core/ids.hpp"

namespace dine::sim {
namespace {

using nlohmann::json;

// What the threads share: the next order number and the tallies.
struct Shared {
  const OrderLoadConfig* cfg;
  std::atomic<int> next{0};
  std::atomic<int> done{0};
  std::atomic<int> failed{0};
  std::mutex mu;
  std::map<std::string, int> errors;
  std::map<uint64_t, std::set<std::size_t>> user_shards;
  std::vector<int> per_shard;
  int created = 0, paid = 0, gene_mismatches = 0;
  std::vector<std::string> paid_ids;

  void error(const std::string& what) {
    std::lock_guard l(mu);
    ++errors[what];
  }
};

struct ThreadTally {
  Latencies create_ms, pay_ms;
};

std::string error_code(const http::ClientResponse& r) {
  auto j = json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) return j["error"].get<std::string>();
  return "-";
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

Task<void> one_order(Shared& s, ThreadTally& tally, http::Client& client, int k) {
  const auto& cfg = *s.cfg;
  uint64_t user = cfg.first_user + static_cast<uint64_t>(k % cfg.users);
  // The node is picked by a hash of k, not k mod nodes: with an even number of
  // users and of nodes, k mod 2 would send each user (and each shard) to one
  // node only.
  const std::size_t pick = (static_cast<std::size_t>(k) * 0x9E3779B1u) >> 7;
  const Target& t = cfg.targets[pick % cfg.targets.size()];
  std::minstd_rand rng(static_cast<uint32_t>(k) + 1);  // cheap to seed: one per order
  json items = json::array();
  int n_items = 1 + static_cast<int>(rng() % 3);
  for (int i = 0; i < n_items; ++i)
    items.push_back({{"product_id", 100 + rng() % 40}, {"qty", 1 + rng() % 2}, {"price_cents", 100 + rng() % 3000}});
  json body = {{"user_id", user}, {"store_id", 1 + k % 50}, {"items", items}};

  http::ClientRequest req;
  req.method = "POST";
  req.host = t.host;
  req.port = t.port;
  req.target = "/v1/orders";
  req.body = body.dump();
  req.idempotent = true;  // the Idempotency-Key makes a retry safe
  req.headers = {{"Idempotency-Key", fmt::format("{}-{}", cfg.run_id, k)}};
  req.timeout = milliseconds(cfg.timeout_ms);
  auto start = Clock::now();
  auto created = co_await client.request(req);
  tally.create_ms.add(ms_since(start));
  if (created.status != 201) {
    s.error(fmt::format("create {} {}", created.status, error_code(created)));
    s.failed.fetch_add(1);
    co_return;
  }
  auto order_id = json::parse(created.body).at("order_id").get<std::string>();
  uint64_t id = ids::parse(order_id).value_or(0);
  std::size_t shard = ids::shard_of(id, static_cast<std::size_t>(cfg.shards));
  {
    std::lock_guard l(s.mu);
    ++s.created;
    ++s.per_shard[shard];
    s.user_shards[user].insert(shard);
    if (shard != user % static_cast<uint64_t>(cfg.shards)) ++s.gene_mismatches;
  }
  if (!cfg.pay) co_return;

  http::ClientRequest pay = req;
  pay.target = fmt::format("/v1/orders/{}/paid", order_id);
  pay.body = json{{"payment_id", fmt::format("pay-{}-{}", cfg.run_id, k)}}.dump();
  pay.headers.clear();
  start = Clock::now();
  auto paid = co_await client.request(pay);
  tally.pay_ms.add(ms_since(start));
  if (paid.status != 200) {
    s.error(fmt::format("pay {} {}", paid.status, error_code(paid)));
    s.failed.fetch_add(1);
    co_return;
  }
  std::lock_guard l(s.mu);
  ++s.paid;
  s.paid_ids.push_back(order_id);
}

// One virtual client: takes the next order number until there are none left.
Task<void> virtual_client(Shared& s, ThreadTally& tally, http::Client& client) {
  for (;;) {
    int k = s.next.fetch_add(1);
    if (k >= s.cfg->orders) co_return;
    try {
      co_await one_order(s, tally, client, k);
    } catch (const Error& e) {
      s.error(fmt::format("transport {}", e.code()));
      s.failed.fetch_add(1);
    } catch (const std::exception& e) {
      s.error("transport unexpected");
      s.failed.fetch_add(1);
    }
    s.done.fetch_add(1);
  }
}

}  // namespace

json OrderLoadReport::to_json() {
  json shards = json::array();
  for (int c : per_shard) shards.push_back(c);
  return {{"created", created},
          {"paid", paid},
          {"failed", failed},
          {"errors", errors},
          {"seconds", seconds},
          {"orders_per_second", orders_per_second()},
          {"create_ms", {{"p50", create_ms.quantile(0.5)}, {"p99", create_ms.quantile(0.99)}}},
          {"pay_ms", {{"p50", pay_ms.quantile(0.5)}, {"p99", pay_ms.quantile(0.99)}}},
          {"per_shard", shards},
          {"users", users_seen},
          {"users_on_one_shard", users_on_one_shard},
          {"gene_mismatches", gene_mismatches}};
}

OrderLoadReport run_order_load(const OrderLoadConfig& cfg, const std::function<void(int, int)>& progress) {
  if (cfg.targets.empty()) throw std::invalid_argument("no order nodes to send to");
  if (cfg.users < 1 || cfg.orders < 0 || cfg.concurrency < 1 || cfg.threads < 1 || cfg.shards < 1)
    throw std::invalid_argument("users, concurrency, threads and shards must be at least 1");
  Shared s;
  s.cfg = &cfg;
  s.per_shard.assign(static_cast<std::size_t>(cfg.shards), 0);

  int threads = std::min(cfg.threads, cfg.concurrency);
  std::vector<ThreadTally> tallies(static_cast<std::size_t>(threads));
  std::vector<std::thread> pool;
  auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      asio::io_context ioc{1};
      http::ClientOptions opts;
      opts.max_connections_per_host = static_cast<std::size_t>(cfg.concurrency);
      opts.timeout = milliseconds(cfg.timeout_ms);
      http::Client client(ioc.get_executor(), opts);
      client.present_service_credential(cfg.service_credential);
      int mine = cfg.concurrency / threads + (t < cfg.concurrency % threads ? 1 : 0);
      for (int i = 0; i < mine; ++i)
        spawn_logged(ioc.get_executor(), virtual_client(s, tallies[static_cast<std::size_t>(t)], client),
                     "virtual_client");
      ioc.run();
    });
  }
  while (s.done.load() < cfg.orders) {
    std::this_thread::sleep_for(std::chrono::milliseconds(progress ? 200 : 50));
    if (progress && s.done.load() < cfg.orders) progress(s.done.load(), s.failed.load());
  }
  for (auto& th : pool) th.join();

  OrderLoadReport r;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.created = s.created;
  r.paid = s.paid;
  r.failed = s.failed.load();
  r.errors = s.errors;
  r.per_shard = s.per_shard;
  r.gene_mismatches = s.gene_mismatches;
  r.paid_order_ids = std::move(s.paid_ids);
  r.users_seen = static_cast<int>(s.user_shards.size());
  for (const auto& [u, shards] : s.user_shards) r.users_on_one_shard += shards.size() == 1;
  for (auto& t : tallies) {
    r.create_ms.merge(t.create_ms);
    r.pay_ms.merge(t.pay_ms);
  }
  return r;
}

}  // namespace dine::sim
