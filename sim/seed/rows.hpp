#pragma once
// What `dine db seed` writes, as deterministic functions of the ids and the
// flags: the same flags give the same rows on every run, so a re-run finds
// every row present. Rows come out in PostgreSQL's COPY text format.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dine::seed {

inline constexpr int kMealSetSku = 1;  // "Meal set A": on every menu, always available, the campaigns' product

// Bounds of the flags (the columns are 32-bit where noted).
inline constexpr int64_t kMaxStores = 1'000'000;
inline constexpr int64_t kMaxProducts = 1'000;
inline constexpr int64_t kMaxCampaigns = 1'000;
inline constexpr int64_t kMaxInt = 2'147'483'647;  // campaigns.stock, price_cents: integer columns
inline constexpr int64_t kMaxCampaignDays = 3'650;
inline constexpr std::size_t kMaxCityChars = 64;   // stores.city CHECK

std::vector<std::string> default_cities();

// The sizes, from the flags (docs/seed.md).
struct Spec {
  int64_t stores = 200;          // store_id 1..stores
  int products = 20;             // SKUs 1..products on every store's menu
  std::vector<std::string> cities = default_cities();  // store i is in cities[(i - 1) % size]
  int campaigns = 1;             // campaign_id 1..campaigns, each on the meal set
  int stock = 10000;             // coupons per campaign
  int campaign_price_cents = 100;
  int campaign_days = 7;         // the window: from the first seed to this many days later
  int64_t closed_every = 0;      // every k-th store closed; 0: all open
};

// Store i.
std::string store_name(const Spec& s, int64_t store_id);
const std::string& store_city(const Spec& s, int64_t store_id);
bool store_open(const Spec& s, int64_t store_id);

// SKU k at store i: its chain-wide name, the store's own price and
// availability (about 1 in 20 unavailable, never the meal set).
std::string product_name(int sku);
int price_cents(int64_t store_id, int sku);
bool available(int64_t store_id, int sku);
std::string image_path(int sku);

std::string campaign_name(int campaign_id);

// COPY rows (each ends in '\n'), in the column order of the loads in seed.cpp.
void store_row(const Spec& s, int64_t store_id, std::string& out);         // store_id, name, city, open
void menu_row(int64_t store_id, std::string& out);                         // store_id, version
void product_row(int64_t store_id, int sku, std::string& out);            // store_id, product_id, name, price_cents, available, image_path
void campaign_row(const Spec& s, int campaign_id, std::string_view starts_at, std::string_view ends_at,
                  std::string& out);                                       // campaign_id, name, product_id, price_cents, stock, starts_at, ends_at
void token_row(int64_t store_id, std::string_view hash, std::string& out); // token_hash, store_id

// Appends `field` escaped for COPY's text format (backslash, tab, newline, CR).
void copy_field(std::string& out, std::string_view field);

}  // namespace dine::seed
