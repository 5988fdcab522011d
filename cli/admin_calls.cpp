// The PostgreSQL and Redis calls of cli/admin.hpp, each on an io_context of
// its own (the commands are blocking; the clients are the ones the roles use).
#include <algorithm>
#include <exception>
#include <map>
#include <memory>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <fmt/format.h>

#include "cli/admin.hpp"
#include "core/errors.hpp"
#include "core/outbox/schema.hpp"
#include "core/pg/connection.hpp"
#include "core/pg/errors.hpp"
#include "core/redis/client.hpp"
#include "core/redis/streams.hpp"

namespace dine::cli {
namespace {

constexpr milliseconds kConnect{5000};
constexpr milliseconds kRedisCommand{10000};
constexpr milliseconds kRedriveStatement{600000};  // a day of outbox rows on a busy shard takes a while
constexpr int kStreamBatch = 500;

// The message for a person at a terminal: a dine::Error's detail names what failed.
std::string describe(const std::exception& e) {
  if (const auto* d = dynamic_cast<const Error*>(&e); d && !d->detail().empty())
    return fmt::format("{} ({})", d->what(), d->detail());
  return e.what();
}

redis::ClientConfig redis_config(const Node& n) {
  redis::ClientConfig c;
  c.name = n.id;
  c.host = n.ip.empty() ? n.host : n.ip;
  c.port = n.port;
  c.connect_timeout = kConnect;
  c.command_timeout = kRedisCommand;
  return c;
}

// Runs `task` to completion on a fresh io_context; rethrows its exception.
void run_blocking(Task<void> task) {
  asio::io_context ioc;
  std::exception_ptr failure;
  asio::co_spawn(ioc, std::move(task), [&](std::exception_ptr e) { failure = e; });
  ioc.run();
  if (failure) std::rethrow_exception(failure);
}

bool has_group(const redis::Reply& groups, const std::string& group) {
  if (groups.type != redis::Reply::Type::Array) return false;
  for (const redis::Reply& g : groups.elements)
    for (std::size_t i = 0; i + 1 < g.elements.size(); i += 2)
      if (g.elements[i].str == "name" && g.elements[i + 1].str == group) return true;
  return false;
}

Task<bool> ensure_group_on(redis::Client& client, std::string stream, std::string group) {
  redis::Argv info{"XINFO", "GROUPS", stream};
  redis::Reply groups = co_await client.command(std::move(info));
  bool existed = !groups.is_error() && has_group(groups, group);  // an error: no such key yet
  co_await redis::ensure_group(client, stream, group);
  co_return !existed;
}

Task<void> ensure_all(std::vector<GroupSite> sites, std::vector<GroupResult>* out,
                      std::function<void(const GroupResult&)> progress) {
  auto ex = co_await asio::this_coro::executor;
  std::map<const Node*, std::unique_ptr<redis::Client>> clients;
  for (const GroupSite& site : sites) {
    auto& client = clients[site.redis];
    if (!client) client = std::make_unique<redis::Client>(ex, redis_config(*site.redis));
    std::string stream = site.stream, group = site.group, failure;
    bool created = false;
    try {
      created = co_await ensure_group_on(*client, stream, group);
    } catch (const std::exception& e) {
      failure = describe(e);
    }
    if (!failure.empty())
      throw std::runtime_error(fmt::format("{} ({}): cannot create consumer group {} on stream {}: {}",
                                           site.redis->id, site.redis->address(), group, stream, failure));
    GroupResult result;
    result.site = site;
    result.created = created;
    out->push_back(result);
    if (progress) progress(out->back());
  }
}

Task<void> redrive_all(std::vector<OutboxDb> dbs, std::vector<std::string> dsns, std::string since,
                       std::vector<RedriveResult>* out, std::function<void(const RedriveResult&)> progress) {
  auto ex = co_await asio::this_coro::executor;
  for (std::size_t i = 0; i < dbs.size(); ++i) {
    RedriveResult res;
    res.db = dbs[i];
    std::string dsn = dsns[i];
    try {
      auto conn = co_await pg::Connection::connect(ex, dsn, deadline_in(kConnect));
      pg::Params p = pg::params(since);
      pg::Result r = co_await conn->execute(outbox::sql::kRedrive, p, deadline_in(kRedriveStatement));
      res.requeued = r.affected();
    } catch (const pg::SqlError& e) {
      res.error = describe(e);
      if (e.sqlstate() == "42P01") res.error += "; fix: run 'dine db migrate' (it creates the outbox table)";
    } catch (const std::exception& e) {
      res.error = describe(e);
    }
    out->push_back(res);
    if (progress) progress(out->back());
  }
}

Task<void> redrive_stream_on(redis::ClientConfig cfg, std::string stream, std::string dead, int max,
                             StreamRedrive* out) {
  auto ex = co_await asio::this_coro::executor;
  redis::Client client(ex, cfg);
  std::vector<redis::Argv> probe = {{"EXISTS", stream}, {"EXISTS", dead}};
  std::vector<redis::Reply> exists = co_await client.pipeline(std::move(probe));
  out->stream_exists = exists.at(0).integer > 0;
  out->dead_exists = exists.at(1).integer > 0;
  if (!out->dead_exists) co_return;
  while (out->moved < max) {
    int want = std::min(kStreamBatch, max - out->moved);
    int moved = co_await redis::redrive_dead_letters(client, stream, dead, want);
    out->moved += moved;
    if (moved == 0) break;  // drained, or only entries with nothing of their own to send back
  }
  redis::Argv len{"XLEN", dead};
  redis::Reply left = co_await client.command(std::move(len));
  out->left = left.integer;
}

Task<void> audit_on(redis::ClientConfig cfg, std::string dsn, milliseconds settle, coupon::AuditReport* out) {
  auto ex = co_await asio::this_coro::executor;
  redis::Client mq(ex, cfg);
  const Deadline until = deadline_in(settle);
  while (co_await coupon::unsettled(Context::background("audit", kRedisCommand), mq) > 0 && Clock::now() < until)
    co_await sleep_for(milliseconds(100));
  auto db = co_await pg::Connection::connect(ex, dsn, deadline_in(kConnect));
  *out = co_await coupon::audit(Context::background("audit", std::chrono::minutes(5)), mq, *db);
}

}  // namespace

coupon::AuditReport audit_coupons(const Topology& topo, const Node& redis, const Node& pg,
                                  const std::string& database, milliseconds settle) {
  coupon::AuditReport out;
  try {
    run_blocking(audit_on(redis_config(redis), topo.dsn(pg, database), settle, &out));
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("auditing coupons on {} ({}) and {} ({}) failed: {}", redis.id,
                                         redis.address(), pg.id, pg.address(), describe(e)));
  }
  return out;
}

std::vector<GroupResult> ensure_groups(const std::vector<GroupSite>& sites,
                                       const std::function<void(const GroupResult&)>& progress) {
  std::vector<GroupResult> out;
  run_blocking(ensure_all(sites, &out, progress));
  return out;
}

std::vector<RedriveResult> redrive_outboxes(const Topology& topo, const std::vector<OutboxDb>& dbs,
                                            const std::string& since_utc,
                                            const std::function<void(const RedriveResult&)>& progress) {
  DsnOptions opts;
  opts.application_name = "dine-outbox-redrive";
  opts.connect_timeout_ms = static_cast<int>(kConnect.count());
  std::vector<std::string> dsns;
  for (const OutboxDb& db : dbs) dsns.push_back(topo.dsn(*db.pg, db.database, opts));
  std::vector<RedriveResult> out;
  run_blocking(redrive_all(dbs, dsns, since_utc, &out, progress));
  return out;
}

MigrateReport migrate_with_groups(const Topology& topo, const RoleLookup& lookup,
                                  const std::function<void(const MigrationStep&)>& on_step,
                                  const std::function<void(const GroupResult&)>& on_group) {
  MigrateReport r;
  r.steps = migrate_all(topo, on_step);
  r.groups = ensure_groups(consumer_groups(topo, lookup), on_group);
  return r;
}

StreamRedrive redrive_stream(const Node& redis, const std::string& stream, const std::string& dead_stream, int max) {
  StreamRedrive out;
  try {
    run_blocking(redrive_stream_on(redis_config(redis), stream, dead_stream, max, &out));
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("{} ({}): redriving {} to {} failed after {} moved: {}", redis.id,
                                         redis.address(), dead_stream, stream, out.moved, describe(e)));
  }
  return out;
}

}  // namespace dine::cli
