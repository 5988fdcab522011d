#include "cli/since.hpp"

#include <cctype>
#include <ctime>

#include <fmt/format.h>

namespace dine::cli {
namespace {

using namespace std::chrono;

// Reads exactly `n` digits at `pos`.
std::optional<int> digits(std::string_view s, std::size_t& pos, std::size_t n) {
  if (pos + n > s.size()) return std::nullopt;
  int v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  pos += n;
  return v;
}

bool expect(std::string_view s, std::size_t& pos, std::string_view chars) {
  if (pos >= s.size() || chars.find(s[pos]) == std::string_view::npos) return false;
  ++pos;
  return true;
}

int days_in_month(int y, int m) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

std::optional<system_clock::time_point> parse_rfc3339(std::string_view s) {
  std::size_t p = 0;
  auto y = digits(s, p, 4);
  if (!y || !expect(s, p, "-")) return std::nullopt;
  auto mo = digits(s, p, 2);
  if (!mo || !expect(s, p, "-")) return std::nullopt;
  auto d = digits(s, p, 2);
  if (!d || !expect(s, p, "Tt ")) return std::nullopt;
  auto h = digits(s, p, 2);
  if (!h || !expect(s, p, ":")) return std::nullopt;
  auto mi = digits(s, p, 2);
  if (!mi || !expect(s, p, ":")) return std::nullopt;
  auto sec = digits(s, p, 2);
  if (!sec) return std::nullopt;
  if (*mo < 1 || *mo > 12 || *d < 1 || *d > days_in_month(*y, *mo) || *h > 23 || *mi > 59 || *sec > 60)
    return std::nullopt;
  microseconds frac{0};
  if (p < s.size() && s[p] == '.') {
    ++p;
    std::size_t start = p;
    long long us = 0, scale = 1'000'000;
    while (p < s.size() && std::isdigit(static_cast<unsigned char>(s[p]))) {
      scale /= 10;
      us += (s[p] - '0') * scale;  // digits past microseconds add 0
      ++p;
    }
    if (p == start) return std::nullopt;
    frac = microseconds(us);
  }
  seconds offset{0};
  if (expect(s, p, "Zz")) {
  } else if (p < s.size() && (s[p] == '+' || s[p] == '-')) {
    int sign = s[p++] == '-' ? -1 : 1;
    auto oh = digits(s, p, 2);
    if (!oh || !expect(s, p, ":")) return std::nullopt;
    auto om = digits(s, p, 2);
    if (!om || *oh > 23 || *om > 59) return std::nullopt;
    offset = seconds(sign * (*oh * 3600 + *om * 60));
  } else {
    return std::nullopt;  // RFC 3339 requires the offset: a bare local time is ambiguous
  }
  if (p != s.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = *y - 1900;
  tm.tm_mon = *mo - 1;
  tm.tm_mday = *d;
  tm.tm_hour = *h;
  tm.tm_min = *mi;
  tm.tm_sec = std::min(*sec, 59);  // a leap second counts as :59
  auto t = system_clock::from_time_t(timegm(&tm));
  return t - offset + frac;
}

std::optional<seconds> parse_duration(std::string_view s) {
  if (s.size() < 2 || s.size() > 12) return std::nullopt;
  long long n = 0;
  for (char c : s.substr(0, s.size() - 1)) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n < 1) return std::nullopt;
  long long unit = 0;
  switch (s.back()) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    default: return std::nullopt;
  }
  if (n > 3650LL * 86400 / unit) return std::nullopt;  // ten years back at most
  return seconds(n * unit);
}

}  // namespace

std::string rfc3339_utc(system_clock::time_point t) {
  auto secs = time_point_cast<seconds>(t);
  if (secs > t) secs -= seconds(1);  // before 1970 the cast rounds up
  auto us = duration_cast<microseconds>(t - secs).count();
  std::time_t tt = system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return us == 0 ? fmt::format("{}Z", buf) : fmt::format("{}.{:06}Z", buf, us);
}

std::optional<Since> parse_since(std::string_view text, system_clock::time_point now) {
  std::optional<system_clock::time_point> at;
  if (auto d = parse_duration(text)) {
    at = time_point_cast<microseconds>(now) - *d;
  } else {
    at = parse_rfc3339(text);
  }
  if (!at) return std::nullopt;
  return Since{*at, rfc3339_utc(*at)};
}

}  // namespace dine::cli
