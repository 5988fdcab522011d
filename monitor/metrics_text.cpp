#include "monitor/metrics_text.hpp"

#include <algorithm>
#include <charconv>
#include <cctype>
#include <cmath>
#include <cstdlib>

namespace dine::monitor {
namespace {

bool internal_route(const Sample& s) {
  auto it = s.labels.find("route");
  return it != s.labels.end() && (it->second == "/healthz" || it->second == "/readyz" || it->second == "/metrics");
}

double sum_of(const Samples& ss, std::string_view name, bool skip_internal) {
  double total = 0;
  for (const auto& s : ss)
    if (s.name == name && !(skip_internal && internal_route(s))) total += s.value;
  return total;
}

double max_of(const Samples& ss, std::string_view name, double none = -1) {
  double m = none;
  for (const auto& s : ss)
    if (s.name == name) m = std::max(m, s.value);
  return m;
}

double errors_of(const Samples& ss) {
  double total = 0;
  for (const auto& s : ss) {
    if (s.name != "dine_http_requests_total" || internal_route(s)) continue;
    auto st = s.labels.find("status");
    if (st != s.labels.end() && !st->second.empty() && st->second[0] == '5') total += s.value;
  }
  return total;
}

// le -> count, summed over routes (cumulative buckets).
std::map<double, double> buckets_of(const Samples& ss) {
  std::map<double, double> b;
  for (const auto& s : ss) {
    if (s.name != "dine_http_request_duration_seconds_bucket" || internal_route(s)) continue;
    auto le = s.labels.find("le");
    if (le == s.labels.end()) continue;
    double bound = le->second == "+Inf" ? INFINITY : std::strtod(le->second.c_str(), nullptr);
    b[bound] += s.value;
  }
  return b;
}

bool valid_name(std::string_view n) {
  if (n.empty() || std::isdigit(static_cast<unsigned char>(n[0]))) return false;
  for (char c : n)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':')) return false;
  return true;
}

}  // namespace

const std::vector<std::string_view>& scored_prefixes() {
  static const std::vector<std::string_view> p = {"dine_http_requests_total", "dine_http_request_duration_seconds_bucket",
                                                  "dine_event_loop_lag_seconds", "dine_pg_pool_", "dine_outbox_",
                                                  "dine_stream_"};
  return p;
}

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

std::map<std::string, double> figures_of(const Samples& now, const Samples* before, double min_requests) {
  std::map<std::string, double> f;
  if (double lag = max_of(now, "dine_event_loop_lag_seconds"); lag >= 0) f["loop_lag_ms"] = lag * 1000;
  const double open = sum_of(now, "dine_pg_pool_connections", false);
  const double idle = sum_of(now, "dine_pg_pool_idle", false);
  if (open > 0) {
    // Against what the pools may open (a pool that opened 1 of its 8 is not full).
    const double max = sum_of(now, "dine_pg_pool_max_connections", false);
    f["pool_size"] = std::max(open, max);
    f["pool_busy"] = open - idle;
    f["pool_waiting"] = sum_of(now, "dine_pg_pool_waiting", false);
  }
  if (double b = sum_of(now, "dine_outbox_backlog", false); b > 0) f["outbox_backlog"] = b;
  if (double o = max_of(now, "dine_outbox_oldest_unsent_seconds"); o >= 0) f["outbox_oldest_s"] = o;
  if (double l = max_of(now, "dine_stream_lag"); l >= 0) f["stream_lag"] = l;
  if (double p = max_of(now, "dine_stream_pending"); p >= 0) f["stream_pending"] = p;
  if (double d = max_of(now, "dine_stream_dead_letters"); d >= 0) f["dead_letters"] = d;
  if (!before) return f;

  const double requests = sum_of(now, "dine_http_requests_total", true) - sum_of(*before, "dine_http_requests_total", true);
  f["requests"] = std::max(0.0, requests);
  if (requests >= min_requests) f["error_rate"] = std::max(0.0, errors_of(now) - errors_of(*before)) / requests;
  auto b1 = buckets_of(now), b0 = buckets_of(*before);
  const double total = b1.count(INFINITY) ? b1[INFINITY] - b0[INFINITY] : 0;
  if (total >= min_requests) {
    const double want = 0.99 * total;
    for (const auto& [bound, count] : b1) {
      if (count - b0[bound] >= want) {
        // The bucket's upper bound (the slowest bucket's: its lower one, so the
        // figure stays finite): an upper estimate, as Prometheus gives.
        double ms = std::isinf(bound) ? 0 : bound * 1000;
        if (std::isinf(bound)) {
          for (const auto& [b, c] : b1)
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
