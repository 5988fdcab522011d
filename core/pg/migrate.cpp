#include "core/pg/migrate.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <cctype>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <fmt/format.h>

#include "core/embedded.hpp"
#include "core/pg/connection.hpp"
#include "core/pg/errors.hpp"

namespace dine {
namespace {

constexpr milliseconds kTimeout{30000};

const pg::Statement kDbExists{"migrate_db_exists", "SELECT 1 FROM pg_database WHERE datname = $1"};
const pg::Statement kApplied{"migrate_applied", "SELECT version FROM dine_schema_migrations"};
const pg::Statement kRecord{"migrate_record", "INSERT INTO dine_schema_migrations (version) VALUES ($1)"};

bool valid_identifier(const std::string& s) {
  if (s.empty() || s.size() > 63 || !(std::islower(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_';
  });
}

// schemas/<database>/<version>.sql, in version order.
std::map<std::string, std::string_view> migrations_for(const std::string& database) {
  std::map<std::string, std::string_view> out;
  std::string prefix = "schemas/" + database + "/";
  for (const auto& f : embedded::all()) {
    if (f.path.substr(0, prefix.size()) != prefix || !f.path.ends_with(".sql")) continue;
    auto name = f.path.substr(prefix.size());
    out.emplace(std::string(name.substr(0, name.size() - 4)), f.content);
  }
  return out;
}

Task<void> ensure_database(const Topology& topo, const Node& node, const std::string& db) {
  auto ex = co_await asio::this_coro::executor;
  auto conn = co_await pg::Connection::connect(ex, topo.dsn(node, "postgres"), deadline_in(kTimeout));
  pg::Params params{db};
  auto r = co_await conn->execute(kDbExists, params, deadline_in(kTimeout));
  if (r.rows() > 0) co_return;
  try {
    co_await conn->simple(fmt::format("CREATE DATABASE \"{}\"", db), deadline_in(kTimeout));
  } catch (const pg::SqlError& e) {
    // Created meanwhile by another migrator (42P04, or 23505 when both raced
    // into the catalog at once): fine.
    if (e.sqlstate() != "42P04" && e.sqlstate() != "23505") throw;
  }
}

Task<void> migrate_database(const Topology& topo, const Node& node, const std::string& db,
                            std::vector<MigrationStep>& steps,
                            const std::function<void(const MigrationStep&)>& progress) {
  auto ex = co_await asio::this_coro::executor;
  co_await ensure_database(topo, node, db);
  auto conn = co_await pg::Connection::connect(ex, topo.dsn(node, db), deadline_in(kTimeout));
  co_await conn->simple("SELECT pg_advisory_lock(7406151)", deadline_in(kTimeout));
  co_await conn->simple(
      "CREATE TABLE IF NOT EXISTS dine_schema_migrations ("
      " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
      deadline_in(kTimeout));
  pg::Params none;
  auto applied = co_await conn->execute(kApplied, none, deadline_in(kTimeout));
  std::set<std::string> done;
  for (int i = 0; i < applied.rows(); ++i) done.insert(std::string(applied.text(i, 0)));
  for (const auto& [version, sql] : migrations_for(db)) {
    MigrationStep step{node.id, db, version, false};
    if (!done.count(version)) {
      try {
        co_await conn->simple("BEGIN", deadline_in(kTimeout));
        co_await conn->simple(sql, deadline_in(kTimeout));
        pg::Params record{version};
        co_await conn->execute(kRecord, record, deadline_in(kTimeout));
        co_await conn->simple("COMMIT", deadline_in(kTimeout));
      } catch (const std::exception& e) {
        throw std::runtime_error(fmt::format("{}: database {}: migration schemas/{}/{}.sql failed: {}", node.id,
                                             db, db, version, e.what()));
      }
      step.applied = true;
    }
    steps.push_back(step);
    if (progress) progress(step);
  }
  co_await conn->simple("SELECT pg_advisory_unlock(7406151)", deadline_in(kTimeout));
}

Task<void> migrate_topology(const Topology& topo, std::vector<MigrationStep>& steps,
                            const std::function<void(const MigrationStep&)>& progress) {
  for (const auto& node : topo.nodes) {
    if (node.kind != NodeKind::Postgres) continue;
    for (const auto& db : node.databases) {
      if (!valid_identifier(db))
        throw TopologyError(fmt::format("{}: nodes.{}.databases: \"{}\" is not a valid database name; fix: use "
                                        "lower-case letters, digits and _", topo.source, node.id, db));
      try {
        co_await migrate_database(topo, node, db, steps, progress);
      } catch (const Error& e) {
        throw std::runtime_error(fmt::format("{} ({}): database {}: {}", node.id, node.address(), db, e.what()));
      }
    }
  }
}

}  // namespace

std::vector<MigrationStep> migrate_all(const Topology& topo,
                                       const std::function<void(const MigrationStep&)>& progress) {
  asio::io_context ioc;
  std::vector<MigrationStep> steps;
  std::exception_ptr failure;
  asio::co_spawn(ioc, migrate_topology(topo, steps, progress), [&](std::exception_ptr e) { failure = e; });
  ioc.run();
  if (failure) std::rethrow_exception(failure);
  return steps;
}

}  // namespace dine
