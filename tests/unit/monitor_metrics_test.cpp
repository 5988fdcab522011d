// A dine node's /metrics read back: samples with labels, then the figures
// health scores (error rate and p99 from the difference of two scrapes, the
// probes' own routes left out; gauges as they are).
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "monitor/metrics_text.hpp"

namespace dine::monitor {
namespace {

const char* kBefore = R"(# HELP dine_http_requests_total HTTP requests
# TYPE dine_http_requests_total counter
dine_http_requests_total{route="/v1/orders",method="POST",status="201"} 100
dine_http_requests_total{route="/v1/orders",method="POST",status="503"} 1
dine_http_requests_total{route="/healthz",method="GET",status="200"} 50
dine_http_request_duration_seconds_bucket{route="/v1/orders",method="POST",le="0.01"} 90
dine_http_request_duration_seconds_bucket{route="/v1/orders",method="POST",le="0.5"} 100
dine_http_request_duration_seconds_bucket{route="/v1/orders",method="POST",le="1"} 101
dine_http_request_duration_seconds_bucket{route="/v1/orders",method="POST",le="+Inf"} 101
dine_event_loop_lag_seconds{worker="0"} 0.001
)";

const char* kNow = R"(dine_http_requests_total{route="/v1/orders",method="POST",status="201"} 190
dine_http_requests_total{route="/v1/orders",method="POST",status="503"} 11
dine_http_requests_total{route="/healthz",method="GET",status="200"} 9000
dine_http_request_duration_seconds_bucket{route="/v1/orders",method="POST",le="0.01"} 100
dine_http_request_duration_seconds_bucket{route="/v1/orders",method="POST",le="0.5"} 195
dine_http_request_duration_seconds_bucket{route="/v1/orders",method="POST",le="1"} 201
dine_http_request_duration_seconds_bucket{route="/v1/orders",method="POST",le="+Inf"} 201
dine_event_loop_lag_seconds{worker="0"} 0.002
dine_event_loop_lag_seconds{worker="1"} 0.3
dine_pg_pool_connections{pool="pg-order-0",worker="0"} 8
dine_pg_pool_idle{pool="pg-order-0",worker="0"} 0
dine_pg_pool_connections{pool="pg-order-1",worker="0"} 8
dine_pg_pool_idle{pool="pg-order-1",worker="0"} 8
dine_pg_pool_waiting{pool="pg-order-0",worker="0"} 3
dine_outbox_oldest_unsent_seconds{outbox="pg-order-0"} 42
dine_outbox_oldest_unsent_seconds{outbox="pg-order-1"} 3
dine_stream_lag{stream="dine:orders",group="oms"} 7
dine_http_in_flight 5
dine_http_connections 12
dine_http_in_flight_admitted 4
dine_http_in_flight_max 1000
broken line without value
dine_weird{label="a \"quoted\" value"} 1 1700000000000
)";

TEST(MonitorMetrics, ParsesSamplesWithLabelsAndSkipsTheRest) {
  Samples s = parse_prometheus(kNow);
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(s[0].name, "dine_http_requests_total");
  EXPECT_EQ(s[0].labels.at("status"), "201");
  EXPECT_EQ(s[0].value, 190);
  EXPECT_EQ(s.back().name, "dine_weird");
  EXPECT_EQ(s.back().labels.at("label"), "a \"quoted\" value");
  EXPECT_EQ(s.back().value, 1);
  for (const auto& x : s) EXPECT_NE(x.name, "broken");
}

TEST(MonitorMetrics, RatesComeFromTheDifferenceOfTwoScrapes) {
  Samples before = parse_prometheus(kBefore), now = parse_prometheus(kNow);
  auto f = figures_of(now, &before);
  EXPECT_EQ(f.at("requests"), 100) << "the probes' /healthz calls are not counted";
  EXPECT_DOUBLE_EQ(f.at("error_rate"), 0.1);
  EXPECT_EQ(f.at("p99_ms"), 1000) << "of 100 new requests, 94 within 500 ms, all within 1 s";
  EXPECT_NEAR(f.at("loop_lag_ms"), 300, 1e-9) << "the slowest worker";
  EXPECT_EQ(f.at("pool_size"), 16);
  EXPECT_EQ(f.at("pool_busy"), 8);
  EXPECT_EQ(f.at("pool_waiting"), 3);
  EXPECT_EQ(f.at("outbox_oldest_s"), 42);
  EXPECT_EQ(f.at("stream_lag"), 7);
  EXPECT_EQ(f.at("in_flight"), 4) << "the probe's own /metrics left out";
  // By PostgreSQL node, and which outbox is the oldest.
  Scrape sc = scrape_of(kNow);
  ASSERT_EQ(sc.pools.size(), 2u);
  EXPECT_EQ(sc.pools[0].first, "pg-order-0");
  EXPECT_EQ(sc.pools[0].second.connections, 8);
  EXPECT_EQ(sc.pools[0].second.idle, 0);
  EXPECT_EQ(sc.pools[0].second.waiting, 3);
  EXPECT_EQ(sc.pools[1].first, "pg-order-1");
  EXPECT_EQ(sc.pools[1].second.idle, 8);
  EXPECT_EQ(sc.outbox_oldest_of, "pg-order-0");
  EXPECT_EQ(scrape_of(now).outbox_oldest_of, "pg-order-0") << "the same from parsed samples";
  EXPECT_EQ(f.at("http_connections"), 12);
  EXPECT_EQ(f.at("in_flight_admitted"), 4);
  EXPECT_EQ(f.at("in_flight_cap"), 1000);
  auto first = figures_of(now, nullptr);
  EXPECT_EQ(first.count("error_rate"), 0u) << "no rate without a previous scrape";
  EXPECT_EQ(first.at("pool_busy"), 8);
}

TEST(MonitorMetrics, FewRequestsGiveNoRate) {
  Samples before = parse_prometheus(kBefore);
  auto f = figures_of(before, &before);
  EXPECT_EQ(f.at("requests"), 0);
  EXPECT_EQ(f.count("error_rate"), 0u);
  EXPECT_EQ(f.count("p99_ms"), 0u);
}

// The probes read /metrics in one pass (scrape_of): the same figures as
// from the parsed samples, the families it does not read skipped whatever
// they hold.
TEST(MonitorMetrics, TheOnePassReadingGivesTheSameFiguresAsTheSamples) {
  const std::string noise = R"(# TYPE dine_http_request_duration_seconds_sum counter
dine_http_request_duration_seconds_sum{route="/v1/orders",method="POST"} 12.5
dine_http_client_requests_total{upstream="127.0.0.1:1",status="503"} 99999
dine_http_requests_totalx{route="/v1/orders",status="503"} 99999
dine_http_requests_total{route="/v1/{id}}",status="500"} not-a-number
dine_http_requests_total{route="/v1/\"x}\"",status="503",method="GET"} 5
dine_http_requests_total{route="/v1/unterminated,status="503"} 7
dine_pg_pool_max_connections{pool="pg-order-0",worker="0"} 32
)";
  const std::string before = std::string(kBefore) + noise, now = std::string(kNow) + noise;
  const Scrape s0 = scrape_of(before), s1 = scrape_of(now);
  const Samples p0 = parse_prometheus(before), p1 = parse_prometheus(now);
  EXPECT_EQ(figures_of(s1, &s0), figures_of(p1, &p0));
  EXPECT_EQ(figures_of(s1, nullptr), figures_of(p1, nullptr));
  EXPECT_EQ(s1.requests, 190 + 11 + 5) << "a quoted '}' in a label value does not end the labels";
  EXPECT_EQ(s1.errors, 11 + 5);
  auto f = figures_of(s1, &s0);
  EXPECT_EQ(f.at("requests"), 100);
  EXPECT_DOUBLE_EQ(f.at("error_rate"), 0.1);
  EXPECT_EQ(f.at("p99_ms"), 1000);
  EXPECT_NEAR(f.at("loop_lag_ms"), 300, 1e-9);
  EXPECT_EQ(f.at("pool_busy"), 8);
  EXPECT_EQ(f.at("pool_size"), 32) << "what the pools may open, not what they opened";
}

TEST(MonitorMetrics, NumbersReadAsFromChars) {
  for (const char* n : {"0", "7", "1042", "0.0005", "0.0025", "2.5", "123456789012345", "1234567890.12345",
                        "0.000000000000001", "1e3", "1.5e-3", "-2", "1234567890123456", ".5", "5."}) {
    const std::string text = std::string("dine_event_loop_lag_seconds{worker=\"0\"} ") + n + "\n";
    const Samples parsed = parse_prometheus(text);
    ASSERT_EQ(parsed.size(), 1u) << n;
    EXPECT_EQ(scrape_of(text).loop_lag_s, parsed[0].value) << n;
  }
}

}  // namespace
}  // namespace dine::monitor
