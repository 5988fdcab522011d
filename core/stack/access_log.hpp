#pragma once
// The gateway's JSON access log (docs/gateway.md "Access log"): one object
// per line, written by nginx with the log_format of core/stack/nginx_conf.cpp.
// Read here into per-route figures: requests and their rate, bytes in and
// out, 4xx, 5xx and 429 answers, request time quantiles. `dine gateway
// stats` prints them; the health board reads them the same way.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dine::stack {

struct AccessEntry {
  double at = 0;  // "msec": when the request ended, seconds since the epoch
  std::string route;
  std::string method;
  int status = 0;
  int64_t bytes_sent = 0;      // to the client, headers included
  int64_t request_length = 0;  // from the client: request line, headers and body
  double request_time = 0;     // seconds, first byte read to last byte sent
  std::string upstream;        // the app node that answered; "" when nginx answered by itself
  std::string request_id;
};

// nullopt for a line that is not one of the gateway's (no "msec", "route" or "status").
std::optional<AccessEntry> parse_access_line(std::string_view line);

struct RouteFigures {
  std::string route;
  int64_t requests = 0;
  double per_second = 0;  // requests over the window's length
  int64_t bytes_out = 0;
  double bytes_out_per_second = 0;
  int64_t bytes_in = 0;
  int64_t status_4xx = 0;  // 429s included
  int64_t status_5xx = 0;
  int64_t rate_limited = 0;  // 429
  double p50_ms = 0;
  double p99_ms = 0;
};

struct AccessSummary {
  double from = 0, to = 0;  // the window, seconds since the epoch
  int64_t unreadable = 0;   // lines that were not the gateway's JSON
  std::vector<RouteFigures> routes;  // most requests first
  RouteFigures total;                // every route, named "*"
};

// Adds up the lines of one or more access logs whose request ended within
// [from, to]; the rest are ignored. Pure: lines in, figures out.
class AccessStats {
 public:
  AccessStats(double from, double to);
  void add(std::string_view line);
  AccessSummary summary() const;

 private:
  struct Route {
    int64_t requests = 0, bytes_out = 0, bytes_in = 0, s4xx = 0, s5xx = 0, s429 = 0;
    std::vector<float> times;  // request_time, seconds
  };
  double from_, to_;
  int64_t unreadable_ = 0;
  std::unordered_map<std::string, Route> routes_;
};

// Feeds the lines of the file at `path` that were written at or after
// `from` (give or take a second) into `stats`, without reading the older
// part of the file: it looks for the window's start from the end, a
// megabyte at a time. False when the file cannot be read.
bool read_access_log(const std::string& path, double from, AccessStats& stats);

}  // namespace dine::stack
