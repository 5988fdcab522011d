// `dine prewarm menu`, the binary, against real `dine serve store` and
// `dine serve menu` processes on a PostgreSQL of their own (harness server 1:
// store, menu and coupon databases, seeded by `dine db seed`) and the
// harness's Redis: every menu and product key rewritten from the database
// with a fresh jittered expiry, exact counts, stores without a menu reported,
// the export's files equal to what the menu nodes serve (0644, left alone
// when unchanged, stale ones removed), a stopped menu node failing the walk
// with exit 1 and its name, a live one taking over, and usage errors (exit 2).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <sys/stat.h>
#include <sys/wait.h>

#include <boost/asio/this_coro.hpp>
#include <fmt/format.h>

#include "core/pg/connection.hpp"
#include "core/pg/migrate.hpp"
#include "core/stack/process.hpp"
#include "server/menu/catalog.hpp"
#include "tests/integration/runtime_support.hpp"

namespace dine::runtime_test {
namespace {

namespace fs = std::filesystem;
using dine::test::Harness;

constexpr int kStores = 40;      // seeded: ids 1..40, each with a menu
constexpr int kProducts = 3;     // SKUs per store
constexpr int kListed = 42;      // 41 and 42 are stores without a menu
constexpr int kTtl = 100, kJitter = 50;  // the menu nodes' cache_ttl_s and cache_jitter_s
constexpr int kMaxRefresh = 50;

int next_number() {
  static int n = 0;
  return ++n;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
}

// The suite's world: pg-pw (harness PostgreSQL 1), redis-pw (the harness
// Redis), st-pw, mn-pw-1 and mn-pw-2 (running), mn-pw-down (never started).
struct World {
  json doc;
  std::string path;
  Topology topo;

  World() {
    auto& h = Harness::get();
    auto& pg = h.pg(1);
    auto& redis = h.redis();
    std::set<int> taken;
    auto port = [&] {
      for (;;)
        if (int p = stack::free_port(); taken.insert(p).second) return p;
    };
    json uses_menu = {{"db", {"pg-pw"}}, {"cache", {"redis-pw"}}};
    doc = {{"name", fmt::format("runtime-prewarm-{}", getpid())},
           {"secret", "dine-test-secret-0123456789abcdef"},
           {"roles", {{"menu", {{"cache_ttl_s", kTtl}, {"cache_jitter_s", kJitter}, {"max_refresh", kMaxRefresh}}}}},
           {"nodes",
            {{{"id", "pg-pw"}, {"kind", "postgres"}, {"host", pg.host}, {"port", pg.port}, {"user", pg.user},
              {"databases", {"store", "menu", "coupon"}}},
             {{"id", "redis-pw"}, {"kind", "redis"}, {"host", redis.host}, {"port", redis.port}},
             {{"id", "st-pw"}, {"kind", "dine"}, {"role", "store"}, {"host", "127.0.0.1"}, {"port", port()},
              {"node_id", 1}, {"uses", {{"db", {"pg-pw"}}}}},
             {{"id", "mn-pw-1"}, {"kind", "dine"}, {"role", "menu"}, {"host", "127.0.0.1"}, {"port", port()},
              {"node_id", 1}, {"uses", uses_menu}},
             {{"id", "mn-pw-2"}, {"kind", "dine"}, {"role", "menu"}, {"host", "127.0.0.1"}, {"port", port()},
              {"node_id", 2}, {"uses", uses_menu}},
             {{"id", "mn-pw-down"}, {"kind", "dine"}, {"role", "menu"}, {"host", "127.0.0.1"}, {"port", port()},
              {"node_id", 3}, {"uses", uses_menu}}}}};
    path = write(doc, "runtime-prewarm");
    topo = load_topology(path);
    dine::migrate_all(topo);
  }

  static std::string write(const json& d, const std::string& name) {
    std::string p = fmt::format("{}/{}-{}.json", Harness::get().temp_dir(), name, next_number());
    std::ofstream(p) << d.dump(2);
    return p;
  }
  // This topology with node `id`'s keys replaced by `patch`.
  std::string with_node(const std::string& id, const json& patch) const {
    json d = doc;
    for (auto& n : d["nodes"])
      if (n["id"] == id) n.update(patch);
    return write(d, "runtime-prewarm-variant");
  }
  std::string without_role(const std::string& role) const {
    json d = doc;
    json kept = json::array();
    for (const auto& n : d["nodes"])
      if (n.value("role", "") != role) kept.push_back(n);
    d["nodes"] = kept;
    return write(d, "runtime-prewarm-variant");
  }
};

Task<void> sql_task(std::string dsn, std::string statement) {
  auto ex = co_await asio::this_coro::executor;
  auto c = co_await pg::Connection::connect(ex, dsn, deadline_in(milliseconds(5000)));
  co_await c->simple(statement, deadline_in(milliseconds(10000)));
}

// One statement (or several) on database `db` of harness PostgreSQL 1.
void sql(const std::string& db, const std::string& statement) {
  std::string dsn = Harness::get().pg(1).dsn(db);
  dine::test::run([&](asio::any_io_executor) { return sql_task(dsn, statement); });
}

// The dine binary's exit code, stdout and stderr.
struct Ran {
  int code = -1;
  std::string out, err;
  json j() const { return json::parse(out, nullptr, false); }
};
std::ostream& operator<<(std::ostream& os, const Ran& r) {
  return os << "exit " << r.code << "\n--- stdout\n" << r.out << "--- stderr\n" << r.err;
}

// `dine ARGS` through the shell (`shell_prefix` runs first, e.g. "umask 077;").
Ran run_dine(const std::string& args, const std::string& shell_prefix = "") {
  const std::string err = fmt::format("{}/dine-{}.err", Harness::get().temp_dir(), next_number());
  const std::string cmd = fmt::format("{} {} {} 2>{}", shell_prefix, Harness::dine_binary(), args, err);
  Ran r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = slurp(err);
  return r;
}

Ran prewarm(const std::string& topology, const std::string& args, const std::string& shell_prefix = "") {
  return run_dine(fmt::format("--topology {} prewarm menu {}", topology, args), shell_prefix);
}

std::vector<std::string> every_key() {
  std::vector<std::string> keys;
  for (int s = 1; s <= kListed; ++s) {
    keys.push_back(menu::menu_key(s));
    for (int sku = 1; sku <= kProducts; ++sku) keys.push_back(menu::product_key(s, sku));
  }
  return keys;
}

void del_every_key() {
  std::vector<std::string> del{"DEL"};
  for (auto& k : every_key()) del.push_back(k);
  redis_cmd(del);
}

class Prewarm : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    world_ = new World();
    // Stores 1..40 with menus of SKUs 1..3 (seed), then 41 and 42 without a menu.
    sql("store", "TRUNCATE store_tokens, stores");
    sql("menu", "TRUNCATE products, menus");
    Ran seed = run_seed();
    ASSERT_EQ(seed.code, 0) << seed;
    sql("store", "INSERT INTO stores (store_id, name, city) VALUES (41, 'No menu 41', 'Shanghai'),"
                 " (42, 'No menu 42', 'Beijing')");
    store_ = new Serve("st-pw", world_->topo, world_->path, 1);
    menu1_ = new Serve("mn-pw-1", world_->topo, world_->path, 2);
    menu2_ = new Serve("mn-pw-2", world_->topo, world_->path, 1);
    for (Serve* s : {store_, menu1_, menu2_}) ASSERT_TRUE(s->wait_ready()) << s->node() << "\n" << s->log_tail();
  }
  static void TearDownTestSuite() {
    for (Serve* s : {store_, menu1_, menu2_}) delete s;
    delete world_;
    store_ = menu1_ = menu2_ = nullptr;
    world_ = nullptr;
  }
  static Ran run_seed() {
    return run_dine(fmt::format("--topology {} db seed --stores {} --products {} --campaigns 0 --tokens-file "
                                "{}/prewarm-tokens.json",
                                world_->path, kStores, kProducts, Harness::get().temp_dir()));
  }
  static std::string both() { return "--node mn-pw-1 --node mn-pw-2"; }
  static double refreshed_by(Serve* s) {
    return metric(get(s->port(), "/metrics").body, "dine_menu_keys_refreshed_total", {}).value_or(-1);
  }

  static World* world_;
  static Serve* store_;
  static Serve* menu1_;
  static Serve* menu2_;
};
World* Prewarm::world_ = nullptr;
Serve* Prewarm::store_ = nullptr;
Serve* Prewarm::menu1_ = nullptr;
Serve* Prewarm::menu2_ = nullptr;

TEST_F(Prewarm, EveryMenuAndProductKeyIsReloadedWithAFreshJitteredExpiry) {
  del_every_key();
  // A cached product the database has since changed: the walk reloads it.
  ASSERT_EQ(get(menu1_->port(), "/v1/stores/5/products/2").status, 200);
  sql("menu", "UPDATE products SET price_cents = 4321 WHERE store_id = 5 AND product_id = 2;"
              "UPDATE menus SET version = version + 1 WHERE store_id = 5");
  ASSERT_NE(get(menu1_->port(), "/v1/stores/5/products/2").j()["price_cents"], 4321) << "still cached";
  const double before1 = refreshed_by(menu1_), before2 = refreshed_by(menu2_);

  Ran r = prewarm(world_->path, both() + " --batch 10 -c 2 --json");
  ASSERT_EQ(r.code, 0) << r;
  const json s = r.j();
  ASSERT_TRUE(s.is_object()) << r;
  EXPECT_EQ(s["listed"], kListed);
  EXPECT_EQ(s["stores"], kStores);
  EXPECT_EQ(s["products"], kStores * kProducts);
  EXPECT_EQ(s["keys"], kStores * (kProducts + 1));
  EXPECT_EQ(s["missing"], json::array({41, 42}));
  EXPECT_EQ(s["batches"], 5);
  EXPECT_EQ(s["failed_batches"], 0);
  EXPECT_EQ(s["errors"], json::object());
  EXPECT_EQ(s["store_node"], "st-pw");
  EXPECT_GT(s["keys_per_second"].get<double>(), 0);
  EXPECT_EQ(r.err, "") << "no progress bar with --json";

  std::set<int64_t> ttls;
  for (const auto& key : every_key()) {
    const bool no_menu = key.find(":41") != std::string::npos || key.find(":42") != std::string::npos;
    const int64_t ttl = redis_cmd({"TTL", key}).integer;
    if (no_menu) {
      EXPECT_EQ(ttl, -2) << key << ": a store without a menu gets no key";
      continue;
    }
    EXPECT_GE(ttl, kTtl - 5) << key;  // seconds pass between the walk and this read
    EXPECT_LE(ttl, kTtl + kJitter) << key;
    ttls.insert(ttl);
  }
  EXPECT_GT(ttls.size(), 10u) << "each key drew its own jitter";
  auto p = get(menu1_->port(), "/v1/stores/5/products/2");
  EXPECT_EQ(p.j()["price_cents"], 4321) << p;
  EXPECT_EQ(get(menu1_->port(), "/v1/stores/5/menu").j()["products"][1]["price_cents"], 4321);
  EXPECT_GT(refreshed_by(menu1_), before1) << "batches go to both nodes in turn";
  EXPECT_GT(refreshed_by(menu2_), before2) << "batches go to both nodes in turn";
  EXPECT_EQ(refreshed_by(menu1_) + refreshed_by(menu2_) - before1 - before2, kStores * (kProducts + 1));
}

TEST_F(Prewarm, TheTextSummaryCountsStoresProductsAndKeys) {
  Ran r = prewarm(world_->path, both());
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_NE(r.out.find("stores: 42 listed from st-pw, 40 refreshed, 2 without a menu, 0 failed"), std::string::npos)
      << r;
  EXPECT_NE(r.out.find("keys: 160 (40 menus + 120 products) in "), std::string::npos) << r;
  EXPECT_NE(r.out.find("products/s"), std::string::npos) << r;
  EXPECT_NE(r.out.find("without a menu: 41, 42"), std::string::npos) << r;
  EXPECT_NE(r.err.find("menus"), std::string::npos) << "the progress bar, on stderr: " << r;
}

TEST_F(Prewarm, TheExportHoldsWhatTheMenuNodesServeWorldReadableAndNothingStale) {
  const std::string dir = fmt::format("{}/export-{}", Harness::get().temp_dir(), next_number());
  fs::create_directories(dir + "/products/3");
  fs::create_directories(dir + "/menus");
  std::ofstream(dir + "/products/3/99.json") << "{}";  // a SKU no longer on store 3's menu
  std::ofstream(dir + "/menus/41.json") << "{}";       // a store that has no menu now
  std::ofstream(dir + "/menus/999.json") << "{}";      // a store no longer listed

  Ran r = prewarm(world_->path, both() + " --json --export " + dir, "umask 077;");
  ASSERT_EQ(r.code, 0) << r;
  const json e = r.j()["export"];
  EXPECT_EQ(e["menus"], kStores);
  EXPECT_EQ(e["products"], kStores * kProducts);
  EXPECT_EQ(e["written"], kStores * (kProducts + 1));
  EXPECT_EQ(e["removed"], 3);
  EXPECT_EQ(e["errors"], 0);
  for (int s = 1; s <= kStores; ++s) {
    const std::string menu = fmt::format("{}/menus/{}.json", dir, s);
    auto served = get(menu1_->port(), fmt::format("/v1/stores/{}/menu", s));
    ASSERT_EQ(served.status, 200) << served;
    EXPECT_EQ(slurp(menu), served.body) << menu;
    EXPECT_EQ(mode_of(menu), 0644u) << menu;
    for (int sku = 1; sku <= kProducts; ++sku) {
      const std::string file = fmt::format("{}/products/{}/{}.json", dir, s, sku);
      auto product = get(menu2_->port(), fmt::format("/v1/stores/{}/products/{}", s, sku));
      ASSERT_EQ(product.status, 200) << product;
      EXPECT_EQ(slurp(file), product.body) << file;
      EXPECT_EQ(mode_of(file), 0644u) << file;
    }
  }
  EXPECT_EQ(mode_of(dir + "/products/1"), 0755u);
  EXPECT_FALSE(fs::exists(dir + "/products/3/99.json"));
  EXPECT_FALSE(fs::exists(dir + "/menus/41.json"));
  EXPECT_FALSE(fs::exists(dir + "/menus/999.json"));
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    EXPECT_EQ(entry.path().filename().string().rfind('.', 0), std::string::npos) << "temp file left: " << entry.path();

  // Again: nothing changed, nothing is rewritten (mtimes, and nginx's ETags, stay).
  struct stat before {};
  ::stat((dir + "/menus/1.json").c_str(), &before);
  Ran again = prewarm(world_->path, both() + " --json --export " + dir);
  ASSERT_EQ(again.code, 0) << again;
  EXPECT_EQ(again.j()["export"]["written"], 0);
  EXPECT_EQ(again.j()["export"]["unchanged"], kStores * (kProducts + 1));
  struct stat after {};
  ::stat((dir + "/menus/1.json").c_str(), &after);
  EXPECT_EQ(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
  EXPECT_EQ(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
}

TEST_F(Prewarm, AStoppedMenuNodeFailsTheWalkWithExit1AndItsName) {
  const std::string down = fmt::format("mn-pw-down (127.0.0.1:{})", world_->topo.node("mn-pw-down").port);
  Ran r = prewarm(world_->path, "--node mn-pw-down --batch 10 -c 1 --json");
  EXPECT_EQ(r.code, 1) << r;
  const json s = r.j();
  ASSERT_TRUE(s.is_object()) << r;
  EXPECT_EQ(s["stores"], 0);
  EXPECT_EQ(s["keys"], 0);
  EXPECT_EQ(s["batches"], 5);
  EXPECT_EQ(s["failed_batches"], 5);
  EXPECT_EQ(s["failed_store_count"], kListed);
  EXPECT_EQ(s["dropped_nodes"], json::array({down}));
  EXPECT_EQ(s["errors"].value(down + ": upstream_unavailable", 0), 3) << s["errors"].dump()
      << ": three attempts, then the node is left out";
  EXPECT_EQ(s["errors"].value("no menu node left to call", 0), 4) << s["errors"].dump();
  EXPECT_NE(r.err.find("dine: prewarm: 5 batch(es) failed, 42 store(s) not refreshed"), std::string::npos) << r;
  EXPECT_NE(r.err.find(down), std::string::npos) << r;
  EXPECT_NE(r.err.find("fix:"), std::string::npos) << r;
}

TEST_F(Prewarm, ALiveMenuNodeTakesTheBatchesOfAStoppedOne) {
  del_every_key();
  Ran r = prewarm(world_->path, "--node mn-pw-down --node mn-pw-1 --batch 10 -c 1");
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_NE(r.out.find("40 refreshed, 2 without a menu, 0 failed"), std::string::npos) << r;
  EXPECT_NE(r.out.find("errors: 0 batch(es) of 5 failed"), std::string::npos) << r;
  EXPECT_NE(r.out.find("mn-pw-down (127.0.0.1:"), std::string::npos) << r;
  EXPECT_EQ(redis_cmd({"EXISTS", menu::menu_key(40), menu::product_key(40, kProducts)}).integer, 2);
}

TEST_F(Prewarm, AStoppedStoreNodeIsExit1NamingIt) {
  const int unused = stack::free_port();
  Ran r = prewarm(world_->with_node("st-pw", {{"port", unused}}), both());
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_NE(r.err.find(fmt::format("cannot list the stores: st-pw (127.0.0.1:{}): upstream_unavailable", unused)),
            std::string::npos)
      << r;
  EXPECT_NE(r.err.find("fix: start the store node"), std::string::npos) << r;
}

TEST_F(Prewarm, UsageErrorsAreExit2WithTheFix) {
  Ran batch = prewarm(world_->path, both() + " --batch 51");
  EXPECT_EQ(batch.code, 2) << batch;
  EXPECT_NE(batch.err.find("--batch 51: menu node mn-pw-1 takes at most 50 store ids per refresh"), std::string::npos)
      << batch;
  Ran zero = prewarm(world_->path, both() + " --batch 0");
  EXPECT_EQ(zero.code, 2) << zero;
  EXPECT_NE(zero.err.find("--batch \"0\": give a whole number from 1 to"), std::string::npos) << zero;
  Ran concurrency = prewarm(world_->path, "-c lots");
  EXPECT_EQ(concurrency.code, 2) << concurrency;
  Ran store_node = prewarm(world_->path, "--node st-pw");
  EXPECT_EQ(store_node.code, 2) << store_node;
  EXPECT_NE(store_node.err.find("--node st-pw: not a menu node"), std::string::npos) << store_node;
  Ran unknown = prewarm(world_->path, "--node mn-9");
  EXPECT_EQ(unknown.code, 2) << unknown;
  Ran no_menu = prewarm(world_->without_role("menu"), "");
  EXPECT_EQ(no_menu.code, 2) << no_menu;
  EXPECT_NE(no_menu.err.find("has no menu node"), std::string::npos) << no_menu;
  EXPECT_NE(no_menu.err.find("fix: add a node with \"role\": \"menu\""), std::string::npos) << no_menu;
  Ran no_store = prewarm(world_->without_role("store"), "");
  EXPECT_EQ(no_store.code, 2) << no_store;
  EXPECT_NE(no_store.err.find("has no store node"), std::string::npos) << no_store;
  for (const Ran* r : {&batch, &zero, &store_node, &no_menu}) EXPECT_EQ(r->out, "") << "nothing walked: " << *r;
}

}  // namespace
}  // namespace dine::runtime_test
