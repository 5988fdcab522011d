#include "core/stack/access_log.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

namespace dine::stack {
namespace {

using nlohmann::json;

int64_t int_field(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<int64_t>() : 0;
}

double number_field(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}

std::string string_field(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Nearest rank over sorted values; milliseconds.
double quantile_ms(const std::vector<float>& sorted, double q) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return 1000.0 * sorted[std::min(sorted.size(), std::max<std::size_t>(rank, 1)) - 1];
}

// The "msec" of the first whole line at or after `offset` (0 when none parses).
double first_time_after(std::ifstream& in, std::streamoff offset, std::streamoff& line_start) {
  in.clear();
  in.seekg(offset);
  std::string line;
  if (offset > 0) std::getline(in, line);  // the rest of a line that began before offset
  line_start = in.tellg();
  while (std::getline(in, line))
    if (auto e = parse_access_line(line)) return e->at;
  return 0;
}

}  // namespace

std::optional<AccessEntry> parse_access_line(std::string_view line) {
  json j = json::parse(line, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  auto msec = j.find("msec");
  auto route = j.find("route");
  auto status = j.find("status");
  if (msec == j.end() || !msec->is_number() || route == j.end() || !route->is_string() || status == j.end() ||
      !status->is_number_integer())
    return std::nullopt;
  AccessEntry e;
  e.at = msec->get<double>();
  e.route = route->get<std::string>();
  e.status = status->get<int>();
  e.method = string_field(j, "method");
  e.bytes_sent = int_field(j, "bytes_sent");
  e.request_length = int_field(j, "request_length");
  e.request_time = number_field(j, "request_time");
  e.upstream = string_field(j, "upstream");
  e.request_id = string_field(j, "request_id");
  return e;
}

AccessStats::AccessStats(double from, double to) : from_(from), to_(to) {}

void AccessStats::add(std::string_view line) {
  auto e = parse_access_line(line);
  if (!e) {
    if (line.find_first_not_of(" \t\r\n") != std::string_view::npos) ++unreadable_;
    return;
  }
  if (e->at < from_ || e->at > to_) return;
  Route& r = routes_[e->route];
  ++r.requests;
  r.bytes_out += e->bytes_sent;
  r.bytes_in += e->request_length;
  r.s4xx += e->status >= 400 && e->status < 500;
  r.s5xx += e->status >= 500;
  r.s429 += e->status == 429;
  r.times.push_back(static_cast<float>(e->request_time));
}

AccessSummary AccessStats::summary() const {
  AccessSummary s;
  s.from = from_;
  s.to = to_;
  s.unreadable = unreadable_;
  const double window = std::max(to_ - from_, 1e-3);
  std::vector<float> all;
  auto figures = [&](const std::string& name, const Route& r, std::vector<float> times) {
    std::sort(times.begin(), times.end());
    RouteFigures f;
    f.route = name;
    f.requests = r.requests;
    f.per_second = static_cast<double>(r.requests) / window;
    f.bytes_out = r.bytes_out;
    f.bytes_out_per_second = static_cast<double>(r.bytes_out) / window;
    f.bytes_in = r.bytes_in;
    f.status_4xx = r.s4xx;
    f.status_5xx = r.s5xx;
    f.rate_limited = r.s429;
    f.p50_ms = quantile_ms(times, 0.50);
    f.p99_ms = quantile_ms(times, 0.99);
    return f;
  };
  Route total;
  for (const auto& [name, r] : routes_) {
    s.routes.push_back(figures(name, r, r.times));
    total.requests += r.requests;
    total.bytes_out += r.bytes_out;
    total.bytes_in += r.bytes_in;
    total.s4xx += r.s4xx;
    total.s5xx += r.s5xx;
    total.s429 += r.s429;
    all.insert(all.end(), r.times.begin(), r.times.end());
  }
  s.total = figures("*", total, std::move(all));
  std::sort(s.routes.begin(), s.routes.end(), [](const RouteFigures& a, const RouteFigures& b) {
    return a.requests != b.requests ? a.requests > b.requests : a.route < b.route;
  });
  return s;
}

bool read_access_log(const std::string& path, double from, AccessStats& stats) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  // Lines are written as requests end, so nearly in time order (workers
  // interleave by microseconds): step back until a line a second older
  // than the window, then read forward from there.
  constexpr std::streamoff kStep = 1 << 20;
  std::streamoff start = 0;
  for (std::streamoff pos = size; pos > 0;) {
    pos = std::max<std::streamoff>(0, pos - kStep);
    std::streamoff line_start = 0;
    const double t = first_time_after(in, pos, line_start);
    if (pos == 0 || (t > 0 && t < from - 1.0)) {
      start = pos == 0 ? 0 : line_start;
      break;
    }
  }
  in.clear();
  in.seekg(start);
  std::string line;
  while (std::getline(in, line)) stats.add(line);
  return true;
}

}  // namespace dine::stack
