#include "sim/user_journey.hpp"

#include <atomic>
#include <mutex>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/async.hpp"
#include "core/errors.hpp"
#include "core/http/client.hpp"

namespace dine::sim {
namespace {

using nlohmann::json;

struct Shared {
  const JourneyConfig* cfg;
  std::atomic<int> next{0};
  std::atomic<int> done{0};
  std::atomic<int> failed{0};
  std::atomic<int> rate_limited{0};
  std::mutex mu;
  JourneyReport report;

  void error(const std::string& what) {
    std::lock_guard l(mu);
    ++report.errors[what];
  }
};

struct Tally {
  Latencies login_ms, menu_ms, claim_ms, order_ms, pay_ms;
  int logins = 0, granted = 0, sold_out = 0, already = 0, orders = 0, with_coupon = 0, paid = 0, paying = 0,
      declined = 0;
  int64_t coupon_revenue = 0;
};

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

struct Answer {
  int status = 0;
  json body;
};

// One call to a gateway; a failure to reach it is status 0.
Task<Answer> api(http::Client& client, const Target& gw, std::string method, std::string target, std::string body,
                 http::Headers headers, milliseconds timeout) {
  http::ClientRequest req;
  req.method = std::move(method);
  req.host = gw.host;
  req.port = gw.port;
  req.target = std::move(target);
  req.body = std::move(body);
  req.headers = std::move(headers);
  req.timeout = timeout;
  Answer a;
  try {
    http::ClientResponse r = co_await client.request(std::move(req));
    a.status = r.status;
    a.body = json::parse(r.body, nullptr, false);
  } catch (const Error&) {
    a.status = 0;
  }
  co_return a;
}

std::string code_of(const Answer& a) {
  return a.body.is_object() && a.body.contains("error") && a.body["error"].is_string()
             ? a.body["error"].get<std::string>()
             : (a.status == 0 ? "unreachable" : "-");
}

// One user's visit; false when it ended on an unexpected answer (counted).
Task<bool> journey(Shared& s, Tally& t, http::Client& client, int k) {
  const JourneyConfig& cfg = *s.cfg;
  const Target& gw = cfg.gateways[static_cast<std::size_t>(k) % cfg.gateways.size()];
  const milliseconds timeout(cfg.timeout_ms);
  // A 429 from a gateway (the cap) ends the visit but is no failure: the
  // platform did what it must. Anything else unexpected is.
  auto fail = [&](const char* step, const Answer& a) {
    s.error(fmt::format("{} {} {}", step, a.status, code_of(a)));
    if (a.status == 429) {
      s.rate_limited.fetch_add(1);
      return true;
    }
    return false;
  };

  auto start = Clock::now();
  std::string login_body = json{{"openid", fmt::format("sim-{}-{}", cfg.run_id, k)}}.dump();
  Answer login = co_await api(client, gw, "POST", "/api/v1/login", login_body, {}, timeout);
  if (login.status != 200 && login.status != 201) co_return fail("login", login);
  t.login_ms.add(ms_since(start));
  ++t.logins;
  const std::string token = login.body.value("token", "");
  http::Headers auth{{"Authorization", "Bearer " + token}};

  const int store = 1 + k % std::max(1, cfg.stores);
  start = Clock::now();
  std::string menu_target = fmt::format("/api/v1/stores/{}/menu", store);
  Answer menu = co_await api(client, gw, "GET", menu_target, "", {}, timeout);
  if (menu.status != 200) co_return fail("menu", menu);
  t.menu_ms.add(ms_since(start));

  Answer campaigns = co_await api(client, gw, "GET", "/api/v1/campaigns", "", {}, timeout);
  if (campaigns.status != 200) co_return fail("campaigns", campaigns);
  std::string coupon;
  int64_t meal_set = 1;
  if (!campaigns.body["campaigns"].empty()) {
    const json& c = campaigns.body["campaigns"][0];
    meal_set = c.value("product_id", int64_t{1});
    start = Clock::now();
    std::string claim_body = json{{"campaign_id", c["campaign_id"]}}.dump();
    Answer claim = co_await api(client, gw, "POST", "/api/v1/coupons/claim", claim_body, auth, timeout);
    t.claim_ms.add(ms_since(start));
    if (claim.status == 200) {
      ++t.granted;
      coupon = claim.body.value("coupon_id", "");
    } else if (claim.status == 409 && code_of(claim) == "sold_out") {
      ++t.sold_out;
    } else if (claim.status == 409 && code_of(claim) == "already_claimed") {
      ++t.already;
    } else {
      co_return fail("claim", claim);
    }
  }

  // The meal set, and the first other dish on the menu that is available.
  json items = json::array({{{"product_id", meal_set}, {"qty", 1}}});
  for (const auto& p : menu.body["items"])
    if (p.value("available", false) && p.value("product_id", int64_t{0}) != meal_set) {
      items.push_back({{"product_id", p["product_id"]}, {"qty", 1}});
      break;
    }
  json order_body = {{"store_id", store}, {"items", items}};
  if (!coupon.empty()) order_body["coupon_id"] = coupon;
  http::Headers with_key = auth;
  with_key.emplace_back("Idempotency-Key", fmt::format("sim-{}-{}", cfg.run_id, k));
  start = Clock::now();
  std::string order_text = order_body.dump();
  Answer order = co_await api(client, gw, "POST", "/api/v1/orders", order_text, with_key, timeout);
  if (order.status != 201 && order.status != 200) co_return fail("order", order);
  t.order_ms.add(ms_since(start));
  ++t.orders;
  if (!coupon.empty()) {
    ++t.with_coupon;
    t.coupon_revenue += order.body.value("amount_cents", int64_t{0});
  }
  const std::string id = order.body.value("order_id", "");

  start = Clock::now();
  std::string pay_target = "/api/v1/orders/" + id + "/pay";
  Answer pay = co_await api(client, gw, "POST", pay_target, "", auth, timeout);
  t.pay_ms.add(ms_since(start));
  if (pay.status == 200) ++t.paid;
  else if (pay.status == 202) ++t.paying;
  else if (pay.status == 402) ++t.declined;
  else co_return fail("pay", pay);
  co_return true;
}

Task<void> virtual_user(Shared& s, Tally& t, http::Client& client) {
  for (;;) {
    int k = s.next.fetch_add(1);
    if (k >= s.cfg->users) co_return;
    bool ok = co_await journey(s, t, client, k);
    if (!ok) s.failed.fetch_add(1);
    s.done.fetch_add(1);
  }
}

}  // namespace

json JourneyReport::to_json() {
  auto q = [](Latencies& l) {
    return json{{"count", l.count()}, {"p50_ms", l.quantile(0.5)}, {"p99_ms", l.quantile(0.99)}};
  };
  return {{"users", users},
          {"logins", logins},
          {"claims_granted", claims_granted},
          {"sold_out", sold_out},
          {"already_claimed", already_claimed},
          {"orders", orders},
          {"with_coupon", with_coupon},
          {"paid", paid},
          {"paying", paying},
          {"declined", declined},
          {"rate_limited", rate_limited},
          {"failed", failed},
          {"coupon_revenue_cents", coupon_revenue_cents},
          {"errors", errors},
          {"seconds", seconds},
          {"latency", {{"login", q(login_ms)}, {"menu", q(menu_ms)}, {"claim", q(claim_ms)}, {"order", q(order_ms)},
                       {"pay", q(pay_ms)}}}};
}

JourneyReport run_journeys(const JourneyConfig& cfg, const std::function<void(int done, int failed)>& progress) {
  if (cfg.gateways.empty()) throw std::invalid_argument("no gateway to send the users to");
  if (cfg.users < 1 || cfg.concurrency < 1 || cfg.threads < 1)
    throw std::invalid_argument("users, concurrency and threads must be at least 1");
  Shared s;
  s.cfg = &cfg;
  const int threads = std::min(cfg.threads, cfg.concurrency);
  std::vector<Tally> tallies(static_cast<std::size_t>(threads));
  std::vector<std::thread> pool;
  const auto start = Clock::now();
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      asio::io_context ioc{1};
      http::ClientOptions opts;
      opts.max_connections_per_host = static_cast<std::size_t>(cfg.concurrency);
      opts.timeout = milliseconds(cfg.timeout_ms);
      opts.retries = 0;
      http::Client client(ioc.get_executor(), opts);
      const int mine = cfg.concurrency / threads + (i < cfg.concurrency % threads ? 1 : 0);
      for (int c = 0; c < mine; ++c)
        spawn_logged(ioc.get_executor(), virtual_user(s, tallies[static_cast<std::size_t>(i)], client),
                     "virtual_user");
      ioc.run();
    });
  }
  while (s.done.load() < cfg.users) {
    std::this_thread::sleep_for(std::chrono::milliseconds(progress ? 200 : 50));
    if (progress && s.done.load() < cfg.users) progress(s.done.load(), s.failed.load());
  }
  for (auto& th : pool) th.join();
  JourneyReport& r = s.report;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.users = s.done.load();
  r.failed = s.failed.load();
  r.rate_limited = s.rate_limited.load();
  for (auto& t : tallies) {
    r.logins += t.logins;
    r.claims_granted += t.granted;
    r.sold_out += t.sold_out;
    r.already_claimed += t.already;
    r.orders += t.orders;
    r.with_coupon += t.with_coupon;
    r.paid += t.paid;
    r.paying += t.paying;
    r.declined += t.declined;
    r.coupon_revenue_cents += t.coupon_revenue;
    r.login_ms.merge(t.login_ms);
    r.menu_ms.merge(t.menu_ms);
    r.claim_ms.merge(t.claim_ms);
    r.order_ms.merge(t.order_ms);
    r.pay_ms.merge(t.pay_ms);
  }
  if (progress) progress(r.users, r.failed);
  return std::move(s.report);
}

}  // namespace dine::sim
