#pragma once
// The --since value of `dine outbox redrive`: an RFC 3339 time
// ("2026-11-30T12:00:00Z", "2026-11-30T20:00:00.5+08:00") or a duration back
// from now ("90s", "10m", "2h", "1d").
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace dine::cli {

struct Since {
  std::chrono::system_clock::time_point at;
  std::string utc;  // RFC 3339 in UTC, microseconds when not whole: what PostgreSQL is given
};

// nullopt when `text` is neither form (or names no real time: month 13,
// February 30, an offset past 23:59, a duration over ten years).
std::optional<Since> parse_since(std::string_view text, std::chrono::system_clock::time_point now);

// The accepted forms, for error messages.
inline constexpr std::string_view kSinceForms =
    "an RFC 3339 time such as 2026-11-30T12:00:00Z or 2026-11-30T20:00:00+08:00, or a duration back from now: "
    "90s, 10m, 2h, 1d";

std::string rfc3339_utc(std::chrono::system_clock::time_point t);

}  // namespace dine::cli
