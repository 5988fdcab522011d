#pragma once
// Prometheus metrics. Instruments are registered once (under a mutex) and then
// updated lock-free from any thread; render() writes the text exposition format.
// Labels are fixed at registration: per route pattern, never per raw path.
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace dine::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Instruments are updated from every worker thread on the request path. Each
// keeps one cache line per shard, and a thread writes only its own shard (a
// worker's index, set once by the runtime; 0 for other threads), so two
// workers never bounce a line between their cores; render() sums the shards.
inline constexpr std::size_t kShards = 16;
std::size_t this_shard();
void set_this_shard(std::size_t index);  // taken modulo kShards

class Counter {
 public:
  void inc(uint64_t n = 1) { cells_[this_shard()].v.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const;

 private:
  struct alignas(64) Cell {
    std::atomic<uint64_t> v{0};
  };
  std::array<Cell, kShards> cells_;
};

// A gauge is either set (the last value wins) or moved up and down with add()
// (the shards' moves are summed); do not mix the two on one gauge.
class Gauge {
 public:
  void set(double v) { base_.store(v, std::memory_order_relaxed); }
  void add(double d);
  double value() const;

 private:
  struct alignas(64) Cell {
    std::atomic<double> v{0};
  };
  std::atomic<double> base_{0};
  std::array<Cell, kShards> deltas_;
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  ~Histogram();
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  uint64_t bucket(std::size_t i) const;  // non-cumulative; i == bounds().size() is +Inf
  uint64_t count() const;
  double sum() const;

 private:
  // Per shard, one aligned block: [sum (double bits), count, bucket 0..n].
  std::atomic<uint64_t>* cell(std::size_t shard, std::size_t i) const { return &cells_[shard * stride_ + i]; }
  std::vector<double> bounds_;
  std::size_t stride_;  // atomics per shard, a multiple of 8 (one or more cache lines)
  std::atomic<uint64_t>* cells_;
};

// Seconds buckets for request latency: 0.5 ms .. 10 s.
std::vector<double> latency_buckets();

class Registry {
 public:
  Registry();
  ~Registry();  // out of line: Family is complete only in metrics.cpp
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help, const Labels& labels = {},
                       std::vector<double> bounds = latency_buckets());
  // A gauge read at render time (pool sizes, queue depths). Called under the registry mutex.
  void gauge_fn(const std::string& name, const std::string& help, const Labels& labels,
                std::function<double()> fn);

  std::string render() const;

 private:
  struct Family;
  Family& family(const std::string& name, const std::string& help, const char* type);
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Family>> families_;
};

// Escapes a label value for the text format.
std::string escape_label(std::string_view v);

}  // namespace dine::metrics
