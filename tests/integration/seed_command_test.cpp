// `dine db seed`, the binary, against the harness's PostgreSQL: exact rows in
// the store, menu and coupon databases; a second run inserts nothing; a
// campaign's stock is never reset; growing adds only what is new; the tokens
// file is 0600 and holds exactly the tokens whose hashes are unrevoked; no
// token is ever printed; bad flags, an unreachable or unmigrated database and
// a topology without the databases are refused with the fix.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <sys/stat.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "server/store/token.hpp"
#include "sim/seed/rows.hpp"
#include "tests/e2e/e2e_support.hpp"
#include "tests/integration/pg_support.hpp"

namespace dine::e2e {
namespace {

using nlohmann::json;
using test::Harness;

// One postgres node "pg-main" holding store, menu and coupon, on harness server `server`.
std::string topology_file(const std::string& name, int port, std::vector<std::string> dbs = {"store", "menu", "coupon"}) {
  json topo = {{"name", name},
               {"nodes", {{{"id", "pg-main"}, {"kind", "postgres"}, {"host", "127.0.0.1"}, {"port", port},
                           {"user", Harness::get().pg(0).user}, {"databases", dbs}}}}};
  std::string path = Harness::get().temp_dir() + "/" + name + ".json";
  std::ofstream(path) << topo.dump(2);
  return path;
}

const std::string& migrated() {
  static const std::string path = [] {
    std::string p = topology_file("seed", Harness::get().pg(0).port);
    Output m = run_dine(fmt::format("--topology {} db migrate", p));
    if (m.code != 0) throw std::runtime_error("dine db migrate failed:\n" + m.out);
    return p;
  }();
  return path;
}

std::string tokens_path() { return Harness::get().temp_dir() + "/tokens/store-tokens.json"; }

int64_t count(const std::string& db, const std::string& query) {
  return std::stoll(std::string(sql(0, db, query).text(0, 0)));
}

Output seed(const std::string& flags) {
  return run_dine(fmt::format("--topology {} db seed --tokens-file {} {}", migrated(), tokens_path(), flags));
}

json seed_json(const std::string& flags) {
  Output o = seed(flags + " --json");
  EXPECT_EQ(o.code, 0) << o.out;
  return json::parse(json_part(o.out));
}

std::map<int64_t, std::string> file_tokens() {
  std::ifstream in(tokens_path());
  json j = json::parse(in);
  std::map<int64_t, std::string> out;
  for (const auto& [k, v] : j.items()) out[std::stoll(k)] = v.get<std::string>();
  return out;
}

std::set<std::string> active_hashes() {
  auto r = sql(0, "store", "SELECT token_hash FROM store_tokens WHERE revoked_at IS NULL");
  std::set<std::string> out;
  for (int i = 0; i < r.rows(); ++i) out.insert(std::string(r.text(i, 0)));
  return out;
}

// The file's tokens are exactly the unrevoked ones, one per store 1..n; none was printed.
void expect_tokens_match(int64_t n, const std::string& printed) {
  auto tokens = file_tokens();
  ASSERT_EQ(static_cast<int64_t>(tokens.size()), n);
  std::set<std::string> hashes;
  for (const auto& [id, t] : tokens) {
    hashes.insert(store::token_hash(t));
    EXPECT_EQ(printed.find(t), std::string::npos) << "token of store " << id << " printed";
  }
  EXPECT_EQ(hashes, active_hashes());
  EXPECT_EQ(count("store", "SELECT count(DISTINCT store_id) FROM store_tokens WHERE revoked_at IS NULL"), n);
}

mode_t file_mode(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_mode & 0777 : 0;
}

class Seed : public ::testing::Test {
 protected:
  void SetUp() override {
    migrated();
    sql(0, "store", "TRUNCATE store_tokens, stores");
    sql(0, "menu", "TRUNCATE products, menus");
    sql(0, "coupon", "TRUNCATE coupons, campaigns");
    std::filesystem::remove(tokens_path());
  }
};

TEST_F(Seed, ExactRowsOnceAndASecondRunInsertsNothing) {
  Output first = seed("--stores 30 --products 5 --campaigns 1 --cities Shanghai,Beijing,Chengdu --closed-every 10");
  ASSERT_EQ(first.code, 0) << first.out;
  EXPECT_NE(first.out.find("seeded"), std::string::npos) << first.out;
  EXPECT_EQ(count("store", "SELECT count(*) FROM stores"), 30);
  EXPECT_EQ(count("store", "SELECT count(*) FROM stores WHERE store_id BETWEEN 1 AND 30"), 30);
  EXPECT_EQ(count("store", "SELECT count(*) FROM stores WHERE NOT open"), 3) << "10, 20, 30";
  EXPECT_EQ(count("store", "SELECT count(*) FROM stores WHERE city = 'Chengdu'"), 10);
  EXPECT_EQ(count("menu", "SELECT count(*) FROM menus WHERE version = 1"), 30);
  EXPECT_EQ(count("menu", "SELECT count(*) FROM products"), 150);
  EXPECT_EQ(count("menu", "SELECT count(*) FROM products WHERE product_id = 1 AND available AND name = 'Meal set A'"),
            30);
  EXPECT_EQ(count("menu", "SELECT count(*) FROM products WHERE product_id NOT BETWEEN 1 AND 5"), 0);
  // Rows are the functions of sim/seed/rows.hpp, whoever runs the seed.
  auto p = sql(0, "menu", "SELECT name, price_cents, available FROM products WHERE store_id = 7 AND product_id = 3");
  EXPECT_EQ(p.text(0, 0), seed::product_name(3));
  EXPECT_EQ(p.int64(0, "price_cents"), seed::price_cents(7, 3));
  EXPECT_EQ(p.text(0, 2) == "t", seed::available(7, 3));
  EXPECT_EQ(count("coupon", "SELECT count(*) FROM campaigns WHERE campaign_id = 1 AND product_id = 1 AND stock = "
                            "10000 AND price_cents = 100 AND ends_at - starts_at = interval '7 days'"), 1);
  EXPECT_EQ(file_mode(tokens_path()), 0600u);
  EXPECT_EQ(file_mode(std::filesystem::path(tokens_path()).parent_path().string()) & 0700, 0700u);
  expect_tokens_match(30, first.out);
  const auto tokens = file_tokens();

  Output again = seed("--stores 30 --products 5 --campaigns 1 --cities Shanghai,Beijing,Chengdu --closed-every 10 "
                      "--json");
  ASSERT_EQ(again.code, 0) << again.out;
  json j = json::parse(json_part(again.out));
  for (const char* t : {"stores", "menus", "products", "campaigns"}) EXPECT_EQ(j["tables"][t]["inserted"], 0) << t;
  EXPECT_EQ(j["tables"]["stores"]["present"], 30);
  EXPECT_EQ(j["tables"]["menus"]["present"], 30);
  EXPECT_EQ(j["tables"]["menus"]["versions_raised"], 0);
  EXPECT_EQ(j["tables"]["products"]["present"], 150);
  EXPECT_EQ(j["tables"]["campaigns"]["present"], 1);
  EXPECT_EQ(j["tables"]["stores"]["node"], "pg-main");
  EXPECT_EQ(j["tables"]["products"]["database"], "menu");
  EXPECT_EQ(j["tokens"]["kept"], 30);
  EXPECT_EQ(j["tokens"]["issued"], 0);
  EXPECT_EQ(j["tokens"]["file_written"], false);
  EXPECT_EQ(j["tokens"]["file"], tokens_path());
  EXPECT_EQ(count("store", "SELECT count(*) FROM stores"), 30);
  EXPECT_EQ(count("store", "SELECT count(*) FROM store_tokens"), 30);
  EXPECT_EQ(count("menu", "SELECT count(*) FROM products"), 150);
  EXPECT_EQ(count("coupon", "SELECT count(*) FROM campaigns"), 1);
  EXPECT_EQ(file_tokens(), tokens) << "the file is unchanged";
  expect_tokens_match(30, again.out);
}

TEST_F(Seed, AnExistingCampaignsStockIsNeverReset) {
  ASSERT_EQ(seed("--stores 3 --products 2 --campaigns 1 --stock 500").code, 0);
  sql(0, "coupon", "UPDATE campaigns SET stock = 7 WHERE campaign_id = 1");
  json j = seed_json("--stores 3 --products 2 --campaigns 2 --stock 500");
  EXPECT_EQ(j["tables"]["campaigns"]["inserted"], 1);
  EXPECT_EQ(j["tables"]["campaigns"]["present"], 1);
  EXPECT_EQ(count("coupon", "SELECT stock FROM campaigns WHERE campaign_id = 1"), 7);
  EXPECT_EQ(count("coupon", "SELECT stock FROM campaigns WHERE campaign_id = 2"), 500);
}

TEST_F(Seed, GrowingAddsOnlyTheNewStoresTheirMenusAndTokens) {
  json small = seed_json("--stores 30 --products 5");
  EXPECT_EQ(small["tables"]["stores"]["inserted"], 30);
  EXPECT_EQ(small["tokens"]["issued"], 30);
  const auto before = file_tokens();
  json grown = seed_json("--stores 40 --products 5");
  EXPECT_EQ(grown["tables"]["stores"]["inserted"], 10);
  EXPECT_EQ(grown["tables"]["stores"]["present"], 30);
  EXPECT_EQ(grown["tables"]["menus"]["inserted"], 10);
  EXPECT_EQ(grown["tables"]["products"]["inserted"], 50);
  EXPECT_EQ(grown["tables"]["products"]["present"], 150);
  EXPECT_EQ(grown["tokens"]["issued"], 10);
  EXPECT_EQ(grown["tokens"]["kept"], 30);
  EXPECT_EQ(count("store", "SELECT count(*) FROM stores"), 40);
  EXPECT_EQ(count("menu", "SELECT count(*) FROM menus"), 40);
  auto after = file_tokens();
  for (const auto& [id, t] : before) EXPECT_EQ(after.at(id), t) << "store " << id << " keeps its token";
  expect_tokens_match(40, grown.dump());

  // A new SKU changes every menu that was there: its version goes up once.
  json more = seed_json("--stores 40 --products 6");
  EXPECT_EQ(more["tables"]["products"]["inserted"], 40);
  EXPECT_EQ(more["tables"]["menus"]["versions_raised"], 40);
  EXPECT_EQ(count("menu", "SELECT count(*) FROM menus WHERE version = 2"), 40);
}

TEST_F(Seed, TokensTheFileLacksAreReportedThenRotated) {
  ASSERT_EQ(seed("--stores 10 --products 1").code, 0);
  auto tokens = file_tokens();
  json kept = json::object();
  for (const auto& [id, t] : tokens)
    if (id > 3) kept[std::to_string(id)] = t;
  std::ofstream(tokens_path()) << kept.dump();  // stores 1..3 lost, and the file readable by others
  ::chmod(tokens_path().c_str(), 0644);

  Output lacking = seed("--stores 10 --products 1");
  EXPECT_EQ(lacking.code, 1) << lacking.out;
  EXPECT_NE(lacking.out.find("3 store(s) have unrevoked tokens"), std::string::npos) << lacking.out;
  EXPECT_NE(lacking.out.find("--rotate-tokens"), std::string::npos) << lacking.out;
  EXPECT_EQ(file_mode(tokens_path()), 0600u) << "rewritten 0600 though nothing else changed";
  EXPECT_EQ(file_tokens().size(), 7u);

  json rotated = seed_json("--stores 10 --products 1 --rotate-tokens");
  EXPECT_EQ(rotated["tokens"]["rotated"], 3);
  EXPECT_EQ(rotated["tokens"]["kept"], 7);
  EXPECT_EQ(count("store", "SELECT count(*) FROM store_tokens WHERE revoked_at IS NOT NULL"), 3);
  EXPECT_EQ(count("store", "SELECT count(*) FROM store_tokens WHERE store_id <= 3 AND revoked_at IS NOT NULL"), 3);
  expect_tokens_match(10, rotated.dump());
  for (const auto& [id, t] : file_tokens()) {
    if (id <= 3) continue;
    EXPECT_EQ(t, tokens.at(id)) << "store " << id << " keeps its token";
  }
}

TEST_F(Seed, TokensTheFileHasAndTheDatabaseLacksAreRegistered) {
  ASSERT_EQ(seed("--stores 5 --products 1").code, 0);
  const auto tokens = file_tokens();
  // As if a run had stopped between writing the file and the hashes.
  sql(0, "store", "DELETE FROM store_tokens WHERE store_id IN (2, 4)");
  json j = seed_json("--stores 5 --products 1");
  EXPECT_EQ(j["tokens"]["registered"], 2);
  EXPECT_EQ(j["tokens"]["issued"], 0);
  EXPECT_EQ(file_tokens(), tokens);
  expect_tokens_match(5, j.dump());
}

TEST_F(Seed, ACorruptTokensFileStopsEverythingAndIsLeftAlone) {
  std::filesystem::create_directories(std::filesystem::path(tokens_path()).parent_path());
  std::ofstream(tokens_path()) << "{\"1\": \"not a token\"}";
  Output o = seed("--stores 5 --products 1");
  EXPECT_EQ(o.code, 1) << o.out;
  EXPECT_NE(o.out.find(tokens_path()), std::string::npos) << o.out;
  EXPECT_EQ(count("store", "SELECT count(*) FROM stores"), 0) << "nothing written";
  std::ifstream in(tokens_path());
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "{\"1\": \"not a token\"}");
}

TEST_F(Seed, BadFlagsAreRefusedAndChangeNothing) {
  for (const char* bad : {"--stores -5", "--stores 0", "--stores abc", "--stores 1000001", "--products 0",
                          "--stock 2147483648", "--stock -1", "--campaign-price 1e3", "--campaign-days 0",
                          "--closed-every -1", "--cities ,", "--cities 'A,,B'", "--cities A,A"}) {
    Output o = seed(bad);
    EXPECT_EQ(o.code, 2) << bad << ": " << o.out;
    std::string flag = std::string(bad).substr(0, std::string(bad).find(' '));
    EXPECT_NE(o.out.find(flag), std::string::npos) << bad << ": " << o.out;
  }
  Output stock = seed("--stock 99999999999");
  EXPECT_NE(stock.out.find("32-bit"), std::string::npos) << stock.out;
  EXPECT_EQ(count("store", "SELECT count(*) FROM stores"), 0);
  EXPECT_FALSE(std::filesystem::exists(tokens_path()));
}

TEST_F(Seed, AnUnreachableDatabaseNamesTheNodeAndSaysDineUp) {
  int port = pg::test::closed_port();
  std::string topo = topology_file("seed-down", port);
  Output o = run_dine(fmt::format("--topology {} db seed --tokens-file {}", topo, tokens_path()));
  EXPECT_EQ(o.code, 1) << o.out;
  EXPECT_NE(o.out.find(fmt::format("pg-main (127.0.0.1:{})", port)), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("dine up"), std::string::npos) << o.out;
  EXPECT_FALSE(std::filesystem::exists(tokens_path()));
}

TEST_F(Seed, AnUnmigratedDatabaseSaysMigrate) {
  std::string topo = topology_file("seed-fresh", Harness::get().pg(1).port);
  Output o = run_dine(fmt::format("--topology {} db seed --tokens-file {}", topo, tokens_path()));
  EXPECT_EQ(o.code, 1) << o.out;
  EXPECT_NE(o.out.find("pg-main"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("dine db migrate"), std::string::npos) << o.out;
}

TEST_F(Seed, ATopologyWithoutTheDatabaseSaysWhereToAddIt) {
  std::string topo = topology_file("seed-nocoupon", Harness::get().pg(0).port, {"store", "menu"});
  Output o = run_dine(fmt::format("--topology {} db seed --tokens-file {}", topo, tokens_path()));
  EXPECT_EQ(o.code, 2) << o.out;
  EXPECT_NE(o.out.find(topo), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("\"coupon\""), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("fix:"), std::string::npos) << o.out;
  EXPECT_EQ(count("store", "SELECT count(*) FROM stores"), 0);
}

// The defaults: 200 stores x 20 SKUs, 1 campaign of 10000; the time it takes is printed.
TEST_F(Seed, TheDefaults) {
  json j = seed_json("");
  EXPECT_EQ(j["tables"]["stores"]["inserted"], 200);
  EXPECT_EQ(j["tables"]["products"]["inserted"], 4000);
  EXPECT_EQ(j["tables"]["campaigns"]["inserted"], 1);
  EXPECT_EQ(j["tokens"]["issued"], 200);
  EXPECT_EQ(count("store", "SELECT count(DISTINCT city) FROM stores"), 8);
  EXPECT_EQ(count("coupon", "SELECT stock FROM campaigns"), 10000);
  std::printf("dine db seed with defaults: %.3f s, %lld rows, %.0f rows/s\n", j["seconds"].get<double>(),
              static_cast<long long>(j["rows"].get<int64_t>()), j["rows_per_second"].get<double>());
}

}  // namespace
}  // namespace dine::e2e
