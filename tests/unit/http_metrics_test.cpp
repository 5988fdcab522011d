// Prometheus text exposition: exact lines for counters, gauges and histograms.
#include <gtest/gtest.h>

#include <thread>

#include "core/metrics.hpp"

namespace dine::metrics {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

TEST(HttpMetrics, CounterLines) {
  Registry r;
  auto& c = r.counter("dine_http_requests_total", "HTTP requests",
                      {{"route", "/v1/orders/{order_id}"}, {"method", "GET"}, {"status", "200"}});
  c.inc();
  c.inc(2);
  // The same name and labels give the same instrument.
  r.counter("dine_http_requests_total", "HTTP requests",
            {{"route", "/v1/orders/{order_id}"}, {"method", "GET"}, {"status", "200"}})
      .inc();
  std::string text = r.render();
  EXPECT_EQ(text,
            "# HELP dine_http_requests_total HTTP requests\n"
            "# TYPE dine_http_requests_total counter\n"
            "dine_http_requests_total{route=\"/v1/orders/{order_id}\",method=\"GET\",status=\"200\"} 4\n");
}

TEST(HttpMetrics, GaugesAndGaugeFn) {
  Registry r;
  auto& g = r.gauge("dine_http_in_flight", "in flight");
  g.add(3);
  g.add(-1.5);
  r.gauge_fn("dine_pool_idle", "idle connections", {{"db", "order-0"}}, [] { return 7.0; });
  std::string text = r.render();
  EXPECT_TRUE(has_line(text, "# TYPE dine_http_in_flight gauge")) << text;
  EXPECT_TRUE(has_line(text, "dine_http_in_flight 1.5")) << text;
  EXPECT_TRUE(has_line(text, "dine_pool_idle{db=\"order-0\"} 7")) << text;
  EXPECT_THROW(r.counter("dine_http_in_flight", "x"), std::logic_error);
}

TEST(HttpMetrics, HistogramBucketsAreCumulative) {
  Registry r;
  auto& h = r.histogram("dine_http_request_duration_seconds", "latency",
                        {{"route", "/healthz"}, {"method", "GET"}}, {0.01, 0.1, 1});
  h.observe(0.005);
  h.observe(0.01);  // on the bound: counts in le="0.01"
  h.observe(0.05);
  h.observe(2);
  std::string text = r.render();
  EXPECT_EQ(text,
            "# HELP dine_http_request_duration_seconds latency\n"
            "# TYPE dine_http_request_duration_seconds histogram\n"
            "dine_http_request_duration_seconds_bucket{route=\"/healthz\",method=\"GET\",le=\"0.01\"} 2\n"
            "dine_http_request_duration_seconds_bucket{route=\"/healthz\",method=\"GET\",le=\"0.1\"} 3\n"
            "dine_http_request_duration_seconds_bucket{route=\"/healthz\",method=\"GET\",le=\"1\"} 3\n"
            "dine_http_request_duration_seconds_bucket{route=\"/healthz\",method=\"GET\",le=\"+Inf\"} 4\n"
            "dine_http_request_duration_seconds_sum{route=\"/healthz\",method=\"GET\"} 2.065\n"
            "dine_http_request_duration_seconds_count{route=\"/healthz\",method=\"GET\"} 4\n");
}

TEST(HttpMetrics, UnlabelledHistogramAndDefaultBuckets) {
  Registry r;
  r.histogram("lag_seconds", "loop lag").observe(0.0004);
  std::string text = r.render();
  EXPECT_TRUE(has_line(text, "lag_seconds_bucket{le=\"0.0005\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "lag_seconds_bucket{le=\"10\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "lag_seconds_bucket{le=\"+Inf\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "lag_seconds_count 1")) << text;
}

TEST(HttpMetrics, EscapesLabelsAndHelp) {
  EXPECT_EQ(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  Registry r;
  r.counter("x_total", "line1\nline2 back\\slash", {{"path", "say \"hi\""}}).inc();
  std::string text = r.render();
  EXPECT_TRUE(has_line(text, "# HELP x_total line1\\nline2 back\\\\slash")) << text;
  EXPECT_TRUE(has_line(text, "x_total{path=\"say \\\"hi\\\"\"} 1")) << text;
}

TEST(HttpMetrics, ConcurrentUpdatesAreNotLost) {
  Registry r;
  auto& c = r.counter("c_total", "c");
  auto& g = r.gauge("g", "g");
  auto& h = r.histogram("h", "h", {}, {1});
  auto work = [&] {
    for (int i = 0; i < 100000; ++i) {
      c.inc();
      g.add(1);
      h.observe(0.5);
    }
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  EXPECT_EQ(c.value(), 200000u);
  EXPECT_EQ(g.value(), 200000.0);
  EXPECT_EQ(h.count(), 200000u);
  EXPECT_EQ(h.sum(), 100000.0);
}

}  // namespace
}  // namespace dine::metrics
