#include "sim/seed/rows.hpp"

#include <array>

#include <fmt/format.h>

namespace dine::seed {
namespace {

// splitmix64: a fixed, well-mixed function of the ids (no state, no seed).
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t mix2(int64_t a, int64_t b) {
  return mix(mix(static_cast<uint64_t>(a)) ^ mix(static_cast<uint64_t>(b) + 0x632be59bd9b4e019ULL));
}

struct Sku {
  const char* name;
  int list_cents;  // the chain's list price; each store's own is within 2 yuan of it
};
constexpr std::array<Sku, 20> kCatalogue = {{
    {"Meal set A", 3900},       {"Meal set B", 4500},        {"Chicken burger", 1900}, {"Beef burger", 2200},
    {"Fish burger", 1800},      {"Fries (small)", 900},      {"Fries (large)", 1300},  {"Chicken nuggets (6)", 1500},
    {"Chicken wings (2)", 1200}, {"Corn cup", 800},          {"Cola", 700},            {"Orange juice", 1000},
    {"Milk tea", 1400},         {"Coffee", 1300},            {"Soy milk", 600},        {"Ice cream cone", 500},
    {"Apple pie", 800},         {"Egg tart", 700},           {"Garden salad", 1600},   {"Rice congee", 900}}};

const Sku* catalogued(int sku) {
  return sku >= 1 && sku <= static_cast<int>(kCatalogue.size()) ? &kCatalogue[static_cast<std::size_t>(sku - 1)]
                                                                 : nullptr;
}

void add_tab(std::string& out) { out.push_back('\t'); }

}  // namespace

std::vector<std::string> default_cities() {
  return {"Shanghai", "Beijing", "Guangzhou", "Shenzhen", "Chengdu", "Hangzhou", "Wuhan", "Nanjing"};
}

const std::string& store_city(const Spec& s, int64_t store_id) {
  return s.cities[static_cast<std::size_t>((store_id - 1) % static_cast<int64_t>(s.cities.size()))];
}

std::string store_name(const Spec& s, int64_t store_id) {
  return fmt::format("Dine {} #{}", store_city(s, store_id), store_id);
}

bool store_open(const Spec& s, int64_t store_id) { return s.closed_every <= 0 || store_id % s.closed_every != 0; }

std::string product_name(int sku) {
  if (const Sku* s = catalogued(sku)) return s->name;
  return fmt::format("Seasonal item {}", sku);
}

int price_cents(int64_t store_id, int sku) {
  // A chain-wide list price, then the store's own: -2.00 .. +2.00 yuan in 0.50 steps.
  const Sku* known = catalogued(sku);
  int list = known ? known->list_cents : 600 + static_cast<int>(mix(static_cast<uint64_t>(sku)) % 30) * 100;
  int local = static_cast<int>(mix2(store_id, sku) % 9) * 50 - 200;
  return list + local;
}

bool available(int64_t store_id, int sku) {
  return sku == kMealSetSku || mix2(store_id, sku * 7919) % 20 != 0;
}

std::string image_path(int sku) { return fmt::format("img/products/{}.jpg", sku); }

std::string campaign_name(int campaign_id) {
  return campaign_id == 1 ? "Meal set A for 1 yuan" : fmt::format("Meal set A for 1 yuan, round {}", campaign_id);
}

void copy_field(std::string& out, std::string_view field) {
  for (char c : field) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      default: out.push_back(c);
    }
  }
}

void store_row(const Spec& s, int64_t store_id, std::string& out) {
  fmt::format_to(std::back_inserter(out), "{}\t", store_id);
  copy_field(out, store_name(s, store_id));
  add_tab(out);
  copy_field(out, store_city(s, store_id));
  out += store_open(s, store_id) ? "\tt\n" : "\tf\n";
}

void menu_row(int64_t store_id, std::string& out) { fmt::format_to(std::back_inserter(out), "{}\t1\n", store_id); }

void product_row(int64_t store_id, int sku, std::string& out) {
  fmt::format_to(std::back_inserter(out), "{}\t{}\t", store_id, sku);
  copy_field(out, product_name(sku));
  fmt::format_to(std::back_inserter(out), "\t{}\t{}\t", price_cents(store_id, sku), available(store_id, sku) ? 't' : 'f');
  copy_field(out, image_path(sku));
  out.push_back('\n');
}

void campaign_row(const Spec& s, int campaign_id, std::string_view starts_at, std::string_view ends_at,
                  std::string& out) {
  fmt::format_to(std::back_inserter(out), "{}\t", campaign_id);
  copy_field(out, campaign_name(campaign_id));
  fmt::format_to(std::back_inserter(out), "\t{}\t{}\t{}\t", kMealSetSku, s.campaign_price_cents, s.stock);
  copy_field(out, starts_at);
  add_tab(out);
  copy_field(out, ends_at);
  out.push_back('\n');
}

void token_row(int64_t store_id, std::string_view hash, std::string& out) {
  copy_field(out, hash);
  fmt::format_to(std::back_inserter(out), "\t{}\n", store_id);
}

}  // namespace dine::seed
