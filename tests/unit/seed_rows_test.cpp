// What `dine db seed` writes, without a database: rows that depend only on the
// ids and flags, the COPY text escaping, store tokens and their hashes.
#include <gtest/gtest.h>

#include <set>

#include <fmt/format.h>

#include "server/store/token.hpp"
#include "sim/seed/rows.hpp"

namespace dine::seed {
namespace {

TEST(SeedRows, TheMealSetIsOnEveryMenuAvailableAndPriced) {
  int unavailable = 0;
  for (int64_t store = 1; store <= 2000; ++store) {
    EXPECT_TRUE(available(store, kMealSetSku)) << store;
    EXPECT_GT(price_cents(store, kMealSetSku), 0);
    for (int sku = 2; sku <= 20; ++sku) {
      unavailable += !available(store, sku);
      EXPECT_GT(price_cents(store, sku), 0) << store << "/" << sku;
    }
  }
  EXPECT_EQ(product_name(kMealSetSku), "Meal set A");
  // About 1 in 20 of the others is unavailable: some, never most.
  EXPECT_GT(unavailable, 2000 * 19 / 40);
  EXPECT_LT(unavailable, 2000 * 19 / 10);
}

TEST(SeedRows, RowsAreFunctionsOfTheIdsAndFlags) {
  Spec s;
  s.cities = {"A", "B", "C"};
  s.closed_every = 4;
  std::string a, b;
  for (int64_t id = 1; id <= 12; ++id) store_row(s, id, a);
  for (int64_t id = 1; id <= 12; ++id) store_row(s, id, b);
  EXPECT_EQ(a, b);
  EXPECT_EQ(store_city(s, 1), "A");
  EXPECT_EQ(store_city(s, 3), "C");
  EXPECT_EQ(store_city(s, 4), "A") << "round-robin";
  EXPECT_FALSE(store_open(s, 4));
  EXPECT_FALSE(store_open(s, 8));
  EXPECT_TRUE(store_open(s, 5));
  std::string row;
  store_row(s, 8, row);
  EXPECT_EQ(row, "8\tDine B #8\tB\tf\n");
  row.clear();
  product_row(3, 1, row);
  EXPECT_EQ(row, fmt::format("3\t1\tMeal set A\t{}\tt\timg/products/1.jpg\n", price_cents(3, 1)));
  // A SKU has one name chain-wide; its price differs between stores.
  std::set<int> prices;
  for (int64_t store = 1; store <= 50; ++store) prices.insert(price_cents(store, 5));
  EXPECT_GT(prices.size(), 3u);
  EXPECT_EQ(product_name(21), "Seasonal item 21");
}

TEST(SeedRows, CopyTextEscapesWhatCopyWouldSplitOn) {
  std::string out;
  copy_field(out, "a\tb\nc\\d\re");
  EXPECT_EQ(out, "a\\tb\\nc\\\\d\\re");
  Spec s;
  s.cities = {"Tab\tTown"};
  std::string row;
  store_row(s, 1, row);
  EXPECT_EQ(row, "1\tDine Tab\\tTown #1\tTab\\tTown\tt\n");
}

TEST(StoreToken, HexOf32RandomBytesHashedWithSha256) {
  std::string t = store::new_token();
  EXPECT_TRUE(store::well_formed_token(t)) << t;
  EXPECT_NE(t, store::new_token());
  EXPECT_EQ(store::token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_FALSE(store::well_formed_token(t.substr(1)));
  EXPECT_FALSE(store::well_formed_token(std::string(64, 'G')));
  EXPECT_FALSE(store::well_formed_token(std::string(64, 'A'))) << "lower-case only";
}

}  // namespace
}  // namespace dine::seed
