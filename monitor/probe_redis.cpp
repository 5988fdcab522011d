#include "monitor/probes.hpp"

#include <boost/asio/this_coro.hpp>
#include <fmt/format.h>

#include "core/errors.hpp"
#include "core/redis/client.hpp"
#include "core/topology.hpp"

#include "monitor/probe_support.hpp"

namespace dine::monitor {
namespace {

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

}  // namespace dine::monitor
