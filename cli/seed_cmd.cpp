// dine db seed: stores, their tokens, menus and coupon campaigns, sized by
// flags, idempotent (sim/seed/seed.hpp does the work; docs/seed.md).
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <memory>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "core/stack/local_stack.hpp"
#include "sim/seed/seed.hpp"

namespace dine::cli {
namespace {

// Numbers are taken as text and checked here, so every bad value is the same
// kind of error (exit 2, the flag, the value and what is allowed).
struct SeedArgs {
  std::string stores = "200", products = "20", campaigns = "1", stock = "10000", price = "100", days = "7",
              closed_every = "0";
  std::string cities;
  std::string tokens_file;
  bool rotate = false;
  bool json = false;
};

int64_t whole(const std::string& flag, const std::string& text, int64_t lo, int64_t hi, std::string_view why = "") {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi)
    throw Failure{fmt::format("{} \"{}\": give a whole number from {} to {}{}", flag, text, lo, hi, why), 2};
  return v;
}

std::size_t utf8_chars(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::vector<std::string> parse_cities(const std::string& text) {
  std::vector<std::string> out;
  std::size_t from = 0;
  for (;;) {
    std::size_t comma = text.find(',', from);
    std::string city = text.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
    city.erase(0, city.find_first_not_of(' '));
    city.erase(city.find_last_not_of(' ') + 1);
    bool control = false;
    for (unsigned char c : city) control |= c < 0x20 || c == 0x7f;
    if (city.empty() || control || utf8_chars(city) > seed::kMaxCityChars)
      throw Failure{fmt::format("--cities \"{}\": each city must be 1 to {} characters, no control characters, "
                                "separated by commas (e.g. --cities Shanghai,Beijing)", text, seed::kMaxCityChars), 2};
    if (std::find(out.begin(), out.end(), city) != out.end())
      throw Failure{fmt::format("--cities \"{}\": \"{}\" appears twice", text, city), 2};
    out.push_back(city);
    if (comma == std::string::npos) return out;
    from = comma + 1;
  }
}

seed::Spec spec_of(const SeedArgs& a) {
  seed::Spec s;
  s.stores = whole("--stores", a.stores, 1, seed::kMaxStores);
  s.products = static_cast<int>(whole("--products", a.products, 1, seed::kMaxProducts, " (SKU 1 is the meal set)"));
  s.campaigns = static_cast<int>(whole("--campaigns", a.campaigns, 0, seed::kMaxCampaigns));
  s.stock = static_cast<int>(whole("--stock", a.stock, 0, seed::kMaxInt, " (campaigns.stock is a 32-bit integer)"));
  s.campaign_price_cents = static_cast<int>(whole("--campaign-price", a.price, 0, seed::kMaxInt, " cents"));
  s.campaign_days = static_cast<int>(whole("--campaign-days", a.days, 1, seed::kMaxCampaignDays));
  s.closed_every = whole("--closed-every", a.closed_every, 0, seed::kMaxStores, " (0: every store open)");
  if (!a.cities.empty()) s.cities = parse_cities(a.cities);
  return s;
}

// One bar per table on stderr, each finished before the next starts.
struct Bars {
  std::unique_ptr<ProgressBar> bar;
  std::string table;
  bool finished = false;
  void show(const std::string& t, int64_t done, int64_t total) {
    if (t != table || !bar) {
      bar = std::make_unique<ProgressBar>(t, static_cast<int>(total));
      table = t;
      finished = false;
    }
    if (finished) return;
    if (done >= total) {
      bar->finish();
      finished = true;
    } else if (done > 0) {
      bar->update(static_cast<int>(done));
    }
  }
};

std::string plan_line(const seed::Spec& s, const std::string& topology) {
  int64_t closed = s.closed_every > 0 ? s.stores / s.closed_every : 0;
  return fmt::format("dine db seed: {} store(s) in {} cit{} ({} closed), {} SKU(s) each, {} campaign(s) of {} "
                     "coupon(s) at {}.{:02} yuan, into topology '{}'",
                     s.stores, s.cities.size(), s.cities.size() == 1 ? "y" : "ies", closed, s.products, s.campaigns,
                     s.stock, s.campaign_price_cents / 100, s.campaign_price_cents % 100, topology);
}

void print_report(const seed::Report& r) {
  fmt::print("{:<10} {:<12} {:<9} {:>10} {:>10}\n", "TABLE", "NODE", "DATABASE", "INSERTED", "PRESENT");
  for (const auto& t : r.tables) {
    std::string note = t.counts.changed > 0 ? fmt::format("  ({} menu version(s) raised: products added)",
                                                          t.counts.changed) : "";
    fmt::print("{:<10} {:<12} {:<9} {:>10} {:>10}{}\n", t.table, t.node, t.database, t.counts.inserted,
               t.counts.present(), note);
  }
  const auto& k = r.tokens;
  fmt::print("store tokens: {} issued, {} kept, {} registered from the file, {} rotated; {} {}\n", k.issued, k.kept,
             k.registered, k.rotated, k.file,
             k.file_written ? (k.mode_fixed ? "(rewritten mode 0600: it was readable by others)" : "(written, mode 0600)")
                            : "(unchanged)");
  fmt::print("seeded {} row(s) in {:.2f} s = {:.0f} rows/s\n", r.rows(), r.seconds, r.rows_per_second());
}

void seed_cmd(const Globals& g, const SeedArgs& a) {
  seed::Options o;
  o.spec = spec_of(a);  // flags first: a bad one is refused before anything is looked at
  o.rotate_tokens = a.rotate;
  Topology topo = load_topology(g.topology_path);
  seed::check_topology(topo);
  o.tokens_file = a.tokens_file.empty() ? stack::LocalStack::default_state_dir(topo) + "/store-tokens.json"
                                        : a.tokens_file;
  if (!a.json) {
    fmt::print("{}\n", plan_line(o.spec, topo.name));
    std::fflush(stdout);
  }
  Bars bars;
  seed::Progress progress;
  if (!a.json) progress = [&bars](const std::string& t, int64_t done, int64_t total) { bars.show(t, done, total); };
  seed::Report r;
  try {
    r = seed::run(topo, o, progress);
  } catch (const seed::DbError& e) {
    throw Failure{e.what(), 1};
  }
  if (a.json) fmt::print("{}\n", r.to_json().dump(2));
  else print_report(r);
  std::fflush(stdout);  // the summary before a failure's message, even through a pipe
  if (r.tokens.not_in_file > 0)
    throw Failure{fmt::format("{} store(s) have unrevoked tokens that {} does not hold, so nothing can act for "
                              "them; fix: run again with --rotate-tokens (revokes those tokens, issues new ones "
                              "into the file), or pass the --tokens-file that holds them",
                              r.tokens.not_in_file, r.tokens.file), 1};
}

}  // namespace

void setup_db_seed(CLI::App& db, Globals& g) {
  auto a = std::make_shared<SeedArgs>();
  auto* s = db.add_subcommand("seed", "load stores, store tokens, menus and coupon campaigns; "
                                      "safe to run twice (rows are only added, never changed)");
  s->add_option("--stores", a->stores, "stores: ids 1..N")->type_name("N")->capture_default_str();
  s->add_option("--products", a->products, "SKUs per store: 1..N on every menu; SKU 1 is the meal set")
      ->type_name("N")->capture_default_str();
  s->add_option("--cities", a->cities, "cities, comma-separated; stores are assigned round-robin "
                                       "(default: Shanghai,Beijing,Guangzhou,Shenzhen,Chengdu,Hangzhou,Wuhan,Nanjing)")
      ->type_name("A,B,...");
  s->add_option("--campaigns", a->campaigns, "coupon campaigns on the meal set: ids 1..N")
      ->type_name("N")->capture_default_str();
  s->add_option("--stock", a->stock, "coupons per campaign (an existing campaign keeps its stock)")
      ->type_name("N")->capture_default_str();
  s->add_option("--campaign-price", a->price, "what the meal set costs with a coupon, in cents")
      ->type_name("CENTS")->capture_default_str();
  s->add_option("--campaign-days", a->days, "a new campaign runs from now for this many days")
      ->type_name("N")->capture_default_str();
  s->add_option("--closed-every", a->closed_every, "every K-th store is closed (0: none)")
      ->type_name("K")->capture_default_str();
  s->add_option("--tokens-file", a->tokens_file, "where the store tokens go, mode 0600 "
                                                 "(default: <state dir>/store-tokens.json)")
      ->type_name("PATH");
  s->add_flag("--rotate-tokens", a->rotate, "revoke the unrevoked tokens the file does not hold and issue new ones");
  s->add_flag("--json", a->json, "print the summary as JSON (no progress bars; never a token)");
  s->footer("Examples:\n"
            "  dine up && dine db seed                       200 stores x 20 SKUs, 1 campaign of 10000 coupons\n"
            "  dine db seed --stores 5000 --products 50 --cities Shanghai,Beijing --closed-every 25 --json\n"
            "Tokens go to .dine/<topology>/store-tokens.json (DINE_STATE_DIR moves it); see docs/seed.md.");
  s->callback([&g, a] {
    init_cli_logs(g);
    seed_cmd(g, *a);
  });
}

}  // namespace dine::cli
