#include "monitor/metrics_text.hpp"

#include <algorithm>
#include <charconv>
#include <cctype>
#include <cmath>
#include <cstdint>

namespace dine::monitor {
namespace {

bool internal_route(std::string_view route) {
  return route == "/healthz" || route == "/readyz" || route == "/metrics";
}

// The families figures_of reads; every other name is skipped.
enum class Family {
  Requests,
  Buckets,
  LoopLag,
  PoolConnections,
  PoolMaxConnections,
  PoolIdle,
  PoolWaiting,
  OutboxBacklog,
  OutboxOldest,
  StreamLag,
  StreamPending,
  DeadLetters,
  InFlight,
  Connections,
  CapAdmitted,
  CapMax,
  Other
};

Family family_of(std::string_view name) {
  // (Names of other lengths fail at the size comparison: a skipped line costs little.)
  static constexpr std::pair<std::string_view, Family> kFamilies[] = {
      {"dine_http_requests_total", Family::Requests},
      {"dine_http_request_duration_seconds_bucket", Family::Buckets},
      {"dine_event_loop_lag_seconds", Family::LoopLag},
      {"dine_pg_pool_connections", Family::PoolConnections},
      {"dine_pg_pool_max_connections", Family::PoolMaxConnections},
      {"dine_pg_pool_idle", Family::PoolIdle},
      {"dine_pg_pool_waiting", Family::PoolWaiting},
      {"dine_outbox_backlog", Family::OutboxBacklog},
      {"dine_outbox_oldest_unsent_seconds", Family::OutboxOldest},
      {"dine_stream_lag", Family::StreamLag},
      {"dine_stream_pending", Family::StreamPending},
      {"dine_stream_dead_letters", Family::DeadLetters},
      {"dine_http_in_flight", Family::InFlight},
      {"dine_http_connections", Family::Connections},
      {"dine_http_in_flight_admitted", Family::CapAdmitted},
      {"dine_http_in_flight_max", Family::CapMax},
  };
  if (!name.starts_with("dine_")) return Family::Other;
  for (const auto& [n, f] : kFamilies)
    if (n == name) return f;
  return Family::Other;
}

// A plain decimal of at most 15 digits ("1042", "0.0025"): its digits as an
// integer, exact in a double, over a power of ten, also exact: one correctly
// rounded division, the double from_chars would give. False for the rest.
bool plain_decimal(std::string_view num, double& v) {
  static constexpr double kPow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
  if (num.empty() || num.size() > 16) return false;
  std::uint64_t digits = 0;
  int count = 0, decimals = -1;
  for (char c : num) {
    if (c == '.' && decimals < 0) {
      decimals = 0;
      continue;
    }
    if (c < '0' || c > '9') return false;
    digits = digits * 10 + static_cast<std::uint64_t>(c - '0');
    ++count;
    if (decimals >= 0) ++decimals;
  }
  if (count == 0 || count > 15) return false;
  v = static_cast<double>(digits) / kPow10[std::max(decimals, 0)];
  return true;
}

bool number_of(std::string_view num, double& v) {
  if (plain_decimal(num, v)) return true;
  if (num == "+Inf") v = INFINITY;
  else if (num == "-Inf") v = -INFINITY;
  else if (num == "NaN") v = NAN;
  else {
    auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
    return ec == std::errc() && ptr == num.data() + num.size();
  }
  return true;
}

double max_or(double m, double v) { return m < 0 ? v : std::max(m, v); }

double count_at(const std::vector<std::pair<double, double>>& buckets, double bound) {
  for (const auto& [b, c] : buckets)
    if (b == bound) return c;
  return 0;
}

// One line's labels from just after its '{' to just after its '}', values
// left as written (escapes in place: route, status and le have none);
// false when malformed.
bool read_labels(std::string_view line, std::size_t& i, LabelView& l) {
  while (i < line.size() && line[i] != '}') {
    const std::size_t eq = line.find('=', i);
    if (eq == std::string_view::npos || eq + 1 >= line.size() || line[eq + 1] != '"') return false;
    const std::string_view key = line.substr(i, eq - i);
    std::size_t j = eq + 2;
    while (j < line.size() && line[j] != '"') j += line[j] == '\\' ? 2 : 1;
    if (j >= line.size()) return false;
    const std::string_view value = line.substr(eq + 2, j - eq - 2);
    if (key == "route") l.route = value;
    else if (key == "status") l.status = value;
    else if (key == "le") l.le = value;
    else if (key == "pool") l.pool = value;
    else if (key == "outbox") l.outbox = value;
    i = j + 1;
    if (i < line.size() && line[i] == ',') ++i;
  }
  if (i >= line.size()) return false;
  ++i;  // '}'
  return true;
}

bool valid_name(std::string_view n) {
  if (n.empty() || std::isdigit(static_cast<unsigned char>(n[0]))) return false;
  for (char c : n)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':')) return false;
  return true;
}

}  // namespace

Samples parse_prometheus(std::string_view text, const std::vector<std::string_view>& only_prefixes) {
  Samples out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line[0] == '#') continue;
    if (!only_prefixes.empty()) {
      bool wanted = false;
      for (std::string_view p : only_prefixes) wanted = wanted || line.starts_with(p);
      if (!wanted) continue;
    }
    Sample s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = std::string(line.substr(0, i));
    if (i < line.size() && line[i] == '{') {
      ++i;
      bool ok = true;
      while (i < line.size() && line[i] != '}') {
        std::size_t eq = line.find('=', i);
        if (eq == std::string_view::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
          ok = false;
          break;
        }
        std::string key(line.substr(i, eq - i));
        std::string value;
        std::size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\' && j + 1 < line.size()) {
            ++j;
            value.push_back(line[j] == 'n' ? '\n' : line[j]);
          } else {
            value.push_back(line[j]);
          }
        }
        if (j >= line.size()) {
          ok = false;
          break;
        }
        s.labels.emplace(std::move(key), std::move(value));
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (!ok || i >= line.size()) continue;
      ++i;  // '}'
    }
    while (i < line.size() && line[i] == ' ') ++i;
    std::string_view num = line.substr(i);
    if (auto sp = num.find(' '); sp != std::string_view::npos) num = num.substr(0, sp);  // a timestamp after it
    if (num.empty() || s.name.empty()) continue;
    if (num == "+Inf") s.value = INFINITY;
    else if (num == "-Inf") s.value = -INFINITY;
    else if (num == "NaN") s.value = NAN;
    else {
      auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), s.value);
      if (ec != std::errc() || ptr != num.data() + num.size()) continue;  // not a number: not a sample
    }
    if (!valid_name(s.name)) continue;
    out.push_back(std::move(s));
  }
  return out;
}

void Scrape::add(std::string_view name, const LabelView& labels, double value) {
  const std::string_view route = labels.route, status = labels.status, le = labels.le;
  // The pool's PostgreSQL node: a few per scrape, found by a short walk.
  auto server = [&]() -> PoolSums& {
    const std::string_view id = labels.pool.substr(0, labels.pool.find('/'));
    for (auto& [k, v] : pools)
      if (k == id) return v;
    return pools.emplace_back(std::string(id), PoolSums{}).second;
  };
  switch (family_of(name)) {
    case Family::Requests:
      if (internal_route(route)) return;
      requests += value;
      if (status.starts_with('5')) errors += value;
      return;
    case Family::Buckets: {
      double bound = 0;
      if (internal_route(route) || le.empty() || !number_of(le, bound)) return;
      auto at = std::lower_bound(buckets.begin(), buckets.end(), bound,
                                 [](const std::pair<double, double>& b, double x) { return b.first < x; });
      if (at == buckets.end() || at->first != bound) at = buckets.insert(at, {bound, 0.0});
      at->second += value;
      return;
    }
    case Family::LoopLag: loop_lag_s = max_or(loop_lag_s, value); return;
    case Family::PoolConnections: server().connections += value; return;
    case Family::PoolMaxConnections: server().max_connections += value; return;
    case Family::PoolIdle: server().idle += value; return;
    case Family::PoolWaiting: server().waiting += value; return;
    case Family::OutboxBacklog: outbox_backlog += value; return;
    case Family::OutboxOldest:
      if (value > outbox_oldest_s) outbox_oldest_of = std::string(labels.outbox);
      outbox_oldest_s = max_or(outbox_oldest_s, value);
      return;
    case Family::StreamLag: stream_lag = max_or(stream_lag, value); return;
    case Family::StreamPending: stream_pending = max_or(stream_pending, value); return;
    case Family::DeadLetters: dead_letters = max_or(dead_letters, value); return;
    case Family::InFlight: in_flight += value; return;
    case Family::Connections: connections += value; return;
    case Family::CapAdmitted: cap_admitted += value; return;
    case Family::CapMax: cap_max += value; return;
    case Family::Other: return;
  }
}

Scrape scrape_of(std::string_view text) {
  Scrape out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line[0] == '#') continue;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    const std::string_view name = line.substr(0, i);
    if (family_of(name) == Family::Other) continue;
    LabelView labels;
    if (i < line.size() && line[i] == '{' && !read_labels(line, ++i, labels)) continue;
    while (i < line.size() && line[i] == ' ') ++i;
    std::string_view num = line.substr(i);
    if (auto sp = num.find(' '); sp != std::string_view::npos) num = num.substr(0, sp);  // a timestamp after it
    double value = 0;
    if (num.empty() || !number_of(num, value)) continue;
    out.add(name, labels, value);
  }
  return out;
}

Scrape scrape_of(const Samples& samples) {
  Scrape out;
  auto label = [](const Sample& s, const char* key) -> std::string_view {
    auto it = s.labels.find(key);
    return it == s.labels.end() ? std::string_view() : std::string_view(it->second);
  };
  for (const auto& s : samples) {
    LabelView l;
    l.route = label(s, "route");
    l.status = label(s, "status");
    l.le = label(s, "le");
    l.pool = label(s, "pool");
    l.outbox = label(s, "outbox");
    out.add(s.name, l, s.value);
  }
  return out;
}

std::map<std::string, double> figures_of(const Samples& now, const Samples* before, double min_requests) {
  const Scrape was = before ? scrape_of(*before) : Scrape{};
  return figures_of(scrape_of(now), before ? &was : nullptr, min_requests);
}

std::map<std::string, double> figures_of(const Scrape& now, const Scrape* before, double min_requests) {
  std::map<std::string, double> f;
  if (now.loop_lag_s >= 0) f["loop_lag_ms"] = now.loop_lag_s * 1000;
  PoolSums all;  // every pool of the node, to whichever server
  for (const auto& [server, p] : now.pools) {
    all.connections += p.connections;
    all.max_connections += p.max_connections;
    all.idle += p.idle;
    all.waiting += p.waiting;
  }
  if (all.connections > 0) {
    // Against what the pools may open (a pool that opened 1 of its 8 is not full).
    f["pool_size"] = std::max(all.connections, all.max_connections);
    f["pool_busy"] = all.connections - all.idle;
    f["pool_waiting"] = all.waiting;
  }
  if (now.outbox_backlog > 0) f["outbox_backlog"] = now.outbox_backlog;
  if (now.outbox_oldest_s >= 0) f["outbox_oldest_s"] = now.outbox_oldest_s;
  if (now.stream_lag >= 0) f["stream_lag"] = now.stream_lag;
  if (now.stream_pending >= 0) f["stream_pending"] = now.stream_pending;
  if (now.dead_letters >= 0) f["dead_letters"] = now.dead_letters;
  // The probe's own request is one of them: what the node carries besides.
  f["in_flight"] = std::max(0.0, now.in_flight - 1);
  f["http_connections"] = now.connections;
  if (now.cap_max > 0) {
    f["in_flight_cap"] = now.cap_max;
    f["in_flight_admitted"] = now.cap_admitted;
  }
  if (!before) return f;

  const double requests = now.requests - before->requests;
  f["requests"] = std::max(0.0, requests);
  if (requests >= min_requests) f["error_rate"] = std::max(0.0, now.errors - before->errors) / requests;
  const double total = count_at(now.buckets, INFINITY) - count_at(before->buckets, INFINITY);
  if (total >= min_requests) {
    const double want = 0.99 * total;
    for (const auto& [bound, count] : now.buckets) {
      if (count - count_at(before->buckets, bound) >= want) {
        // The bucket's upper bound (the slowest bucket's: its lower one, so the
        // figure stays finite): an upper estimate, as Prometheus gives.
        double ms = std::isinf(bound) ? 0 : bound * 1000;
        if (std::isinf(bound)) {
          for (const auto& [b, c] : now.buckets)
            if (!std::isinf(b)) ms = b * 1000;
        }
        f["p99_ms"] = ms;
        break;
      }
    }
  }
  return f;
}

}  // namespace dine::monitor
