#include "monitor/probes.hpp"

#include <algorithm>

#include <boost/asio/this_coro.hpp>
#include <fmt/format.h>

#include "core/errors.hpp"
#include "core/pg/connection.hpp"
#include "core/topology.hpp"

#include "monitor/probe_support.hpp"

namespace dine::monitor {

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

}  // namespace dine::monitor
