#include "monitor/probes.hpp"

#include <boost/asio/this_coro.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/http/client.hpp"
#include "core/http/middleware_auth.hpp"
#include "core/pg/connection.hpp"
#include "core/redis/client.hpp"
#include "core/stack/access_log.hpp"
#include "core/stack/local_stack.hpp"
#include "core/stack/nginx_conf.hpp"
#include "core/topology.hpp"

namespace dine::monitor {
namespace {

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// A failed call as an observation: refused (down), no answer (hung), else red.
void failed(Observation& o, const Error& e, const char* what) {
  const bool refused = e.detail().find("refused") != std::string::npos ||
                       e.detail().find("Connection refused") != std::string::npos;
  // A connection the kernel accepted for a process that never answers ends in
  // a timeout, also while connecting (PostgreSQL's startup): hung.
  if (e.kind() == ErrorKind::Timeout || e.detail().find("timed out") != std::string::npos) {
    o.answered = false;
  } else if (refused || http::never_sent(e)) {
    o.reached = false;
  } else {
    o.failures.push_back(fmt::format("{}: {}", what, e.what()));
  }
}

std::string host_of(const Node& n) { return n.ip.empty() ? n.host : n.ip; }

Task<http::ClientResponse> get(http::Client& c, const Node& n, std::string target, Deadline deadline) {
  http::ClientRequest req;
  req.host = host_of(n);
  req.port = n.port;
  req.target = std::move(target);
  req.ctx = Context{"", deadline};
  http::ClientResponse r = co_await c.request(std::move(req));
  co_return r;
}

std::string error_of(const http::ClientResponse& r) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) return j["error"].get<std::string>();
  if (j.is_object() && j.contains("status") && j["status"].is_string()) return j["status"].get<std::string>();
  return "";
}

std::string info_field(const std::string& info, const std::string& key) {
  auto at = info.find("\n" + key + ":");
  if (at == std::string::npos) return "";
  at += key.size() + 2;
  return info.substr(at, info.find_first_of("\r\n", at) - at);
}

// The streams of a queue node: per consumer group its lag and pending
// entries and the age of its oldest pending entry; dead letters.
Task<void> probe_streams(redis::Client& client, Context ctx, Observation& o) {
  redis::Argv scan{"SCAN", "0", "TYPE", "stream", "COUNT", "1000"};
  redis::Reply found = co_await client.command(ctx, std::move(scan));
  if (found.type != redis::Reply::Type::Array || found.elements.size() < 2) co_return;
  double lag = 0, pending = 0, oldest_ms = 0, dead = 0;
  std::string worst_group;
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  for (const auto& key : found.elements[1].elements) {
    const std::string& stream = key.str;
    if (stream.size() > 5 && stream.compare(stream.size() - 5, 5, ":dead") == 0) {
      redis::Argv len{"XLEN", stream};
      redis::Reply n_dead = co_await client.command(ctx, std::move(len));
      dead += static_cast<double>(n_dead.integer);
      continue;
    }
    redis::Argv groups{"XINFO", "GROUPS", stream};
    redis::Reply gs = co_await client.command(ctx, std::move(groups));
    for (const auto& g : gs.elements) {
      std::string name;
      double g_lag = 0, g_pending = 0;
      for (std::size_t i = 0; i + 1 < g.elements.size(); i += 2) {
        const std::string& k = g.elements[i].str;
        if (k == "name") name = g.elements[i + 1].str;
        if (k == "lag" && g.elements[i + 1].type == redis::Reply::Type::Integer)
          g_lag = static_cast<double>(g.elements[i + 1].integer);
        if (k == "pending") g_pending = static_cast<double>(g.elements[i + 1].integer);
      }
      if (g_lag > lag) {
        lag = g_lag;
        worst_group = name + " on " + stream;
      }
      pending += g_pending;
      if (g_pending > 0) {
        redis::Argv summary{"XPENDING", stream, name};
        redis::Reply p = co_await client.command(ctx, std::move(summary));
        if (p.elements.size() >= 2 && p.elements[1].type == redis::Reply::Type::String) {
          const double first_ms = std::atof(p.elements[1].str.substr(0, p.elements[1].str.find('-')).c_str());
          oldest_ms = std::max(oldest_ms, static_cast<double>(now_ms) - first_ms);
        }
      }
    }
  }
  o.figures["stream_lag"] = lag;
  o.figures["stream_pending"] = pending;
  o.figures["pending_age_ms"] = oldest_ms;
  o.figures["dead_letters"] = dead;
  if (lag > 1000) o.warnings.push_back(fmt::format("group {} lags {:.0f} entries", worst_group, lag));
  if (dead > 0) o.warnings.push_back(fmt::format("{:.0f} dead letters", dead));
}

}  // namespace

Task<Observation> probe_dine(http::Client& client, const Node& n, ProbeMemory& memory, ProbeOptions opt) {
  Observation o;
  const auto start = Clock::now();
  const Deadline deadline = start + opt.deadline;
  try {
    http::ClientResponse h = co_await get(client, n, "/healthz", deadline);
    if (h.status != 200) {
      // A wedged worker thread: the node is hung even if another worker answers.
      auto j = nlohmann::json::parse(h.body, nullptr, false);
      if (j.is_object() && j.value("status", "") == "wedged" && j.contains("wedged")) {
        for (const auto& w : j["wedged"])
          o.hung.push_back(fmt::format("worker {} stalled {} ms", w.value("worker", -1), w.value("stalled_ms", 0)));
      } else {
        o.failures.push_back(fmt::format("/healthz {} {}", h.status, error_of(h)));
      }
    }
    http::ClientResponse r = co_await get(client, n, "/readyz", deadline);
    const std::string status = error_of(r);
    if (r.status != 200) o.failures.push_back(fmt::format("/readyz {} {}", r.status, status));
    else if (status == "degraded") o.warnings.push_back("degraded: a degradable dependency is down");
    http::ClientResponse m = co_await get(client, n, "/metrics", deadline);
    if (m.status == 200) {
      Scrape now = scrape_of(m.body);
      o.figures = figures_of(now, memory.last_scrape ? &*memory.last_scrape : nullptr);
      memory.last_scrape = std::move(now);
      auto waiting = o.figures.find("pool_waiting");
      if (waiting != o.figures.end() && waiting->second > 0)
        o.warnings.push_back(fmt::format("{:.0f} waiting for a database connection", waiting->second));
    }
  } catch (const Error& e) {
    failed(o, e, "probe");
  }
  o.took_ms = ms_since(start);
  o.at = Clock::now();
  co_return o;
}

Task<Observation> probe_postgres(const Topology& topo, const Node& n, ProbeOptions opt) {
  Observation o;
  const auto start = Clock::now();
  const Deadline deadline = start + opt.deadline;
  try {
    auto ex = co_await asio::this_coro::executor;
    const std::string database = n.databases.empty() ? "postgres" : n.databases.front();
    DsnOptions dsn;
    dsn.application_name = "dine-health";
    std::string conninfo = topo.dsn(n, database, dsn);
    auto c = co_await pg::Connection::connect(ex, conninfo, deadline);
    pg::Result r = co_await c->simple(
        "SELECT (SELECT count(*) FROM pg_stat_activity) AS connections,"
        " current_setting('max_connections')::int AS max_connections,"
        " (SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND backend_type = 'client backend'"
        "   AND now() - query_start > interval '5 seconds') AS long_running,"
        " (SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'"
        "   AND now() - state_change > interval '5 seconds') AS idle_in_tx,"
        // Where there is a replica: the slowest one's replay lag seen from
        // this primary; on a standby, how old its last replayed transaction is.
        " COALESCE((SELECT (extract(epoch FROM max(replay_lag)) * 1000)::bigint FROM pg_stat_replication), -1)"
        "   AS replicas_lag_ms,"
        " CASE WHEN pg_is_in_recovery() THEN COALESCE((extract(epoch FROM now() - pg_last_xact_replay_timestamp())"
        "   * 1000)::bigint, -1) ELSE -1 END AS standby_lag_ms",
        deadline);
    const double used = static_cast<double>(r.int64(0, "connections"));
    const double max = static_cast<double>(r.int64(0, "max_connections"));
    o.figures["connections"] = used;
    o.figures["max_connections"] = max;
    if (max > 0 && used / max > 0.9) o.failures.push_back(fmt::format("connections {:.0f}/{:.0f}", used, max));
    else if (max > 0 && used / max > 0.75) o.warnings.push_back(fmt::format("connections {:.0f}/{:.0f}", used, max));
    if (auto l = r.int64(0, "long_running"); l > 0) o.warnings.push_back(fmt::format("{} queries running > 5 s", l));
    if (auto t = r.int64(0, "idle_in_tx"); t > 0)
      o.warnings.push_back(fmt::format("{} sessions idle in transaction > 5 s", t));
    const int64_t lag = std::max(r.int64(0, "replicas_lag_ms"), r.int64(0, "standby_lag_ms"));
    if (lag >= 0) o.figures["replication_lag_ms"] = static_cast<double>(lag);
  } catch (const Error& e) {
    failed(o, e, "SELECT 1");
  }
  o.took_ms = ms_since(start);
  o.at = Clock::now();
  co_return o;
}

Task<Observation> probe_redis(const Node& n, ProbeOptions opt) {
  Observation o;
  const auto start = Clock::now();
  try {
    auto ex = co_await asio::this_coro::executor;
    redis::ClientConfig cfg;
    cfg.name = n.id;
    cfg.host = host_of(n);
    cfg.port = n.port;
    cfg.connect_timeout = opt.deadline;
    cfg.command_timeout = opt.deadline;
    redis::Client client(ex, cfg);
    Context ctx{"", start + opt.deadline};
    co_await client.ping(ctx);
    redis::Argv info{"INFO"};
    redis::Reply r = co_await client.command(ctx, std::move(info));
    const std::string text = "\n" + r.str;
    const double used = std::atof(info_field(text, "used_memory").c_str());
    const double max = std::atof(info_field(text, "maxmemory").c_str());
    o.figures["memory_used"] = used;
    if (max > 0) o.figures["memory_max"] = max;
    o.figures["clients"] = std::atof(info_field(text, "connected_clients").c_str());
    if (info_field(text, "rdb_last_bgsave_status") == "err") o.failures.push_back("the last RDB save failed");
    if (info_field(text, "aof_last_write_status") == "err") o.failures.push_back("the last AOF write failed");
    if (n.appendonly) co_await probe_streams(client, ctx, o);
  } catch (const Error& e) {
    failed(o, e, "PING");
  }
  o.took_ms = ms_since(start);
  o.at = Clock::now();
  co_return o;
}

Task<Observation> probe_nginx(const Topology& topo, http::Client& client, const Node& n, ProbeOptions opt) {
  Observation o;
  const auto start = Clock::now();
  try {
    http::ClientResponse r = co_await get(client, n, "/", start + opt.deadline);
    if (r.status >= 500) o.failures.push_back(fmt::format("GET / {}", r.status));
  } catch (const Error& e) {
    failed(o, e, "GET /");
  }
  if (o.reached && o.answered) {
    if (!http::is_loopback_host(n.host)) {
      o.warnings.push_back("its access log is on another host: request figures unknown");
    } else {
      const std::string dir = opt.state_dir.empty() ? stack::LocalStack::default_state_dir(topo) : opt.state_dir;
      const double to = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
      const double from = to - std::chrono::duration<double>(opt.access_window).count();
      stack::AccessStats acc(from, to);
      if (stack::read_access_log(stack::nginx_paths(topo, n, dir).access_log(), from, acc)) {
        const auto s = acc.summary().total;
        const double secs = to - from;
        o.figures["requests_per_s"] = s.per_second;
        o.figures["bytes_out_per_s"] = s.bytes_out_per_second;
        o.figures["status_5xx_per_s"] = static_cast<double>(s.status_5xx) / secs;
        o.figures["rate_limited_per_s"] = static_cast<double>(s.rate_limited) / secs;
        if (s.requests >= 20) o.figures["error_rate"] = static_cast<double>(s.status_5xx) / static_cast<double>(s.requests);
        if (s.requests >= 20) o.figures["p99_ms"] = s.p99_ms;
        if (s.rate_limited > 0) o.warnings.push_back(fmt::format("{:.0f} requests/s over the cap (429)",
                                                                 static_cast<double>(s.rate_limited) / secs));
      }
    }
  }
  o.took_ms = ms_since(start);
  o.at = Clock::now();
  co_return o;
}

Task<Observation> probe(const Topology& topo, http::Client& client, const Node& n, ProbeMemory& memory,
                        ProbeOptions o) {
  switch (n.kind) {
    case NodeKind::Dine: co_return co_await probe_dine(client, n, memory, o);
    case NodeKind::Postgres: co_return co_await probe_postgres(topo, n, o);
    case NodeKind::Redis: co_return co_await probe_redis(n, o);
    case NodeKind::Nginx: co_return co_await probe_nginx(topo, client, n, o);
  }
  Observation unknown;
  unknown.at = Clock::now();
  unknown.failures.push_back("no probe for this kind of node");
  co_return unknown;
}

}  // namespace dine::monitor
