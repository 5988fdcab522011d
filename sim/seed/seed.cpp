#include "sim/seed/seed.hpp"

#include <chrono>
#include <ctime>
#include <filesystem>
#include <memory>

#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "server/store/token.hpp"
#include "sim/seed/tokens.hpp"

namespace dine::seed {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Serialises the token step of concurrent seeds of one store database.
constexpr int64_t kTokenLock = 7406152;

// ---- statements ---------------------------------------------------------------

constexpr const char* kMissingTables = "SELECT t FROM unnest($1::text[]) t WHERE to_regclass(t) IS NULL";

constexpr const char* kStoreStaging =
    "CREATE TEMP TABLE seed_stores (LIKE stores INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE seed_store_tokens (LIKE store_tokens INCLUDING DEFAULTS) ON COMMIT DELETE ROWS";
constexpr const char* kMenuStaging =
    "CREATE TEMP TABLE seed_menus (LIKE menus INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE seed_products (LIKE products INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE seed_new_menus (store_id bigint PRIMARY KEY)";  // menus this run made
constexpr const char* kCouponStaging =
    "CREATE TEMP TABLE seed_campaigns (LIKE campaigns INCLUDING DEFAULTS) ON COMMIT DELETE ROWS";

const Load kStores{"seed_stores", "store_id, name, city, open",
                   "WITH ins AS (INSERT INTO stores (store_id, name, city, open)"
                   " SELECT store_id, name, city, open FROM seed_stores"
                   " ON CONFLICT (store_id) DO NOTHING RETURNING 1)"
                   " SELECT count(*) FROM ins"};

const Load kTokens{"seed_store_tokens", "token_hash, store_id",
                   "WITH ins AS (INSERT INTO store_tokens (token_hash, store_id)"
                   " SELECT token_hash, store_id FROM seed_store_tokens"
                   " ON CONFLICT (token_hash) DO NOTHING RETURNING 1)"
                   " SELECT count(*) FROM ins"};

const Load kMenus{"seed_menus", "store_id, version",
                  "WITH ins AS (INSERT INTO menus (store_id, version) SELECT store_id, version FROM seed_menus"
                  " ON CONFLICT (store_id) DO NOTHING RETURNING store_id),"
                  " noted AS (INSERT INTO seed_new_menus SELECT store_id FROM ins)"
                  " SELECT count(*) FROM ins"};

// Products added to a menu that was there before this run change it: its
// version goes up, so caches that carry the version see the change.
const Load kProducts{"seed_products", "store_id, product_id, name, price_cents, available, image_path",
                     "WITH ins AS (INSERT INTO products (store_id, product_id, name, price_cents, available, image_path)"
                     " SELECT store_id, product_id, name, price_cents, available, image_path FROM seed_products"
                     " ON CONFLICT (store_id, product_id) DO NOTHING RETURNING store_id),"
                     " raised AS (UPDATE menus SET version = version + 1, updated_at = now()"
                     " WHERE store_id IN (SELECT store_id FROM ins)"
                     " AND store_id NOT IN (SELECT store_id FROM seed_new_menus) RETURNING 1)"
                     " SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM raised)"};

// An existing campaign is never touched: its stock and window stay as they are.
const Load kCampaigns{"seed_campaigns", "campaign_id, name, product_id, price_cents, stock, starts_at, ends_at",
                      "WITH ins AS (INSERT INTO campaigns"
                      " (campaign_id, name, product_id, price_cents, stock, starts_at, ends_at)"
                      " SELECT campaign_id, name, product_id, price_cents, stock, starts_at, ends_at"
                      " FROM seed_campaigns ON CONFLICT (campaign_id) DO NOTHING RETURNING 1)"
                      " SELECT count(*) FROM ins"};

constexpr const char* kDbTokens = "SELECT store_id, token_hash, revoked_at IS NULL AS active FROM store_tokens";
constexpr const char* kRevoke =
    "UPDATE store_tokens SET revoked_at = now() WHERE revoked_at IS NULL AND store_id = ANY($1::bigint[])";

// ---- helpers -----------------------------------------------------------------

struct Db {
  const Node* node = nullptr;
  std::string database;
  std::unique_ptr<Session> session;
};

Db open(const Topology& topo, const std::string& database) {
  Db db;
  db.node = &database_node(topo, database);
  db.database = database;
  DsnOptions opts;
  opts.application_name = "dine-seed";
  opts.connect_timeout_ms = 5000;
  db.session = std::make_unique<Session>(topo.dsn(*db.node, database, opts),
                                         fmt::format("{} ({}) database {}", db.node->id, db.node->address(), database));
  return db;
}

// A PostgreSQL array literal of plain words or numbers: {a,b,c}.
template <class T>
std::string array_literal(const std::vector<T>& items) {
  return fmt::format("{{{}}}", fmt::join(items, ","));
}

void require_tables(Session& s, const std::vector<std::string>& tables) {
  pg::Result r = s.exec(kMissingTables, pg::params(array_literal(tables)));
  if (r.rows() == 0) return;
  std::string missing;
  for (int i = 0; i < r.rows(); ++i) missing += (i ? ", " : "") + std::string(r.text(i, 0));
  throw DbError(fmt::format("{}: table(s) {} missing; fix: run 'dine db migrate' (it creates them)", s.where(),
                            missing),
                "42P01");
}

TableReport table_report(const std::string& table, const Db& db, const Counts& c) {
  return {table, db.node->id, db.node->address(), db.database, c};
}

std::string utc(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S+00", &tm);
  return buf;
}

// Loads one table with the progress callbacks around it.
Counts load_table(Session& s, const std::string& table, const Load& l, int64_t rows,
                  const std::function<void(int64_t, std::string&)>& row, const Progress& progress) {
  if (progress) progress(table, 0, rows);
  Counts c = load(s, l, rows, row, [&](int64_t done) {
    if (progress && done < rows) progress(table, done, rows);
  });
  if (progress) progress(table, rows, rows);
  return c;
}

void check_writable(const std::string& path) {
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  while (!fs::exists(dir, ec) && dir.has_parent_path() && dir != dir.parent_path()) dir = dir.parent_path();
  if (fs::exists(dir, ec) && ::access(dir.c_str(), W_OK | X_OK) != 0)
    throw std::runtime_error(fmt::format("{}: cannot write the tokens file ({} is not writable); fix: give "
                                         "--tokens-file a path you can write", path, dir.string()));
}

// The token step, under an advisory lock of the store database: the file is
// written before the hashes, so a run cut short between the two leaves tokens
// the file has and the database lacks, which the next run registers.
TokenReport seed_tokens(Session& s, const Options& o, const Progress& progress) {
  TokenReport rep;
  rep.file = o.tokens_file;
  s.exec(fmt::format("SELECT pg_advisory_lock({})", kTokenLock));
  TokensFile file = read_tokens_file(o.tokens_file);  // again, under the lock
  std::vector<DbToken> db;
  pg::Result r = s.exec(kDbTokens);
  db.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i)
    db.push_back({r.int64(i, "store_id"), std::string(r.text(i, "token_hash")), r.text(i, "active") == "t"});
  TokenPlan plan = plan_tokens(o.spec.stores, file.tokens, db, o.rotate_tokens, store::new_token);
  if (plan.file_changed || file.others_can_read) {
    write_tokens_file(o.tokens_file, plan.file);
    rep.file_written = true;
    rep.mode_fixed = file.others_can_read;
  }
  if (!plan.revoke.empty()) s.exec(kRevoke, pg::params(array_literal(plan.revoke)));
  const auto& rows = plan.insert;
  load_table(s, "tokens", kTokens, static_cast<int64_t>(rows.size()),
             [&](int64_t i, std::string& out) {
               const auto& [id, hash] = rows[static_cast<std::size_t>(i)];
               token_row(id, hash, out);
             },
             progress);
  s.exec(fmt::format("SELECT pg_advisory_unlock({})", kTokenLock));
  rep.kept = plan.kept;
  rep.issued = plan.issued;
  rep.registered = plan.registered;
  rep.rotated = plan.rotated;
  rep.not_in_file = static_cast<int64_t>(plan.not_in_file.size());
  return rep;
}

}  // namespace

const Node& database_node(const Topology& topo, const std::string& database) {
  std::vector<const Node*> found;
  for (const Node& n : topo.nodes)
    if (n.kind == NodeKind::Postgres)
      for (const auto& d : n.databases)
        if (d == database) found.push_back(&n);
  if (found.empty())
    throw TopologyError(fmt::format("{}: no postgres node lists the database \"{}\"; fix: add \"{}\" to the "
                                    "\"databases\" of a postgres node (deploy/local.json has it on pg-main), "
                                    "then run 'dine db migrate'", topo.source, database, database));
  if (found.size() > 1)
    throw TopologyError(fmt::format("{}: nodes.{}.databases and nodes.{}.databases both list \"{}\"; fix: keep it "
                                    "on one postgres node (dine db seed would not know which to fill)",
                                    topo.source, found[0]->id, found[1]->id, database));
  return *found.front();
}

void check_topology(const Topology& topo) {
  for (const char* db : {"store", "menu", "coupon"}) database_node(topo, db);
}

int64_t Report::rows() const {
  int64_t n = tokens.issued + tokens.registered + tokens.rotated;
  for (const auto& t : tables) n += t.counts.rows;
  return n;
}

nlohmann::json Report::to_json() const {
  nlohmann::json tabs = nlohmann::json::object();
  for (const auto& t : tables) {
    nlohmann::json j = {{"node", t.node},          {"address", t.address},
                        {"database", t.database},  {"rows", t.counts.rows},
                        {"inserted", t.counts.inserted}, {"present", t.counts.present()}};
    if (t.table == "menus") j["versions_raised"] = t.counts.changed;
    tabs[t.table] = j;
  }
  return {{"topology", topology},
          {"tables", tabs},
          {"tokens", {{"file", tokens.file}, {"issued", tokens.issued}, {"kept", tokens.kept},
                      {"registered", tokens.registered}, {"rotated", tokens.rotated},
                      {"not_in_file", tokens.not_in_file}, {"file_written", tokens.file_written},
                      {"mode_fixed", tokens.mode_fixed}}},
          {"seconds", seconds},
          {"rows", rows()},
          {"rows_per_second", rows_per_second()}};
}

Report run(const Topology& topo, const Options& o, const Progress& progress) {
  const auto start = Clock::now();
  Report rep;
  rep.topology = topo.name;
  const Spec& spec = o.spec;

  // Everything is checked before anything is written: the topology, the
  // tokens file, every database and its tables.
  check_topology(topo);
  check_writable(o.tokens_file);
  read_tokens_file(o.tokens_file);
  Db store = open(topo, "store");
  Db menu = open(topo, "menu");
  Db coupon = open(topo, "coupon");
  require_tables(*store.session, {"stores", "store_tokens"});
  require_tables(*menu.session, {"menus", "products"});
  require_tables(*coupon.session, {"campaigns"});
  store.session->exec(kStoreStaging);
  menu.session->exec(kMenuStaging);
  coupon.session->exec(kCouponStaging);

  Counts stores = load_table(*store.session, "stores", kStores, spec.stores,
                             [&](int64_t i, std::string& out) { store_row(spec, i + 1, out); }, progress);
  rep.tables.push_back(table_report("stores", store, stores));
  rep.tokens = seed_tokens(*store.session, o, progress);

  Counts menus = load_table(*menu.session, "menus", kMenus, spec.stores,
                            [](int64_t i, std::string& out) { menu_row(i + 1, out); }, progress);
  const int per_store = spec.products;
  Counts products = load_table(*menu.session, "products", kProducts, spec.stores * per_store,
                               [per_store](int64_t i, std::string& out) {
                                 product_row(i / per_store + 1, static_cast<int>(i % per_store) + 1, out);
                               },
                               progress);
  menus.changed = products.changed;
  products.changed = 0;
  rep.tables.push_back(table_report("menus", menu, menus));
  rep.tables.push_back(table_report("products", menu, products));

  const auto now = std::chrono::system_clock::now();
  const std::string starts = utc(now), ends = utc(now + std::chrono::hours(24) * spec.campaign_days);
  Counts campaigns = load_table(*coupon.session, "campaigns", kCampaigns, spec.campaigns,
                                [&](int64_t i, std::string& out) {
                                  campaign_row(spec, static_cast<int>(i) + 1, starts, ends, out);
                                },
                                progress);
  rep.tables.push_back(table_report("campaigns", coupon, campaigns));

  rep.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return rep;
}

}  // namespace dine::seed
