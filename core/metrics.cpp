#include "core/metrics.hpp"

#include <algorithm>
#include <bit>
#include <new>
#include <limits>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>

namespace dine::metrics {

namespace {

void atomic_add(std::atomic<double>& a, double d) {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
  }
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out.push_back(c);
  }
  return out;
}

// Prometheus numbers: integers without a fraction, the rest shortest round-trip.
std::string format_number(double v) {
  if (v == std::numeric_limits<double>::infinity()) return "+Inf";
  if (v == -std::numeric_limits<double>::infinity()) return "-Inf";
  if (v != v) return "NaN";
  return fmt::format("{}", v);
}

// `k="v",k2="v2"` without braces, in registration order.
std::string render_labels(const Labels& labels) {
  std::string out;
  for (const auto& [k, v] : labels) {
    if (!out.empty()) out.push_back(',');
    out += k;
    out += "=\"";
    out += escape_label(v);
    out.push_back('"');
  }
  return out;
}

std::string braces(const std::string& labels) {
  return labels.empty() ? std::string() : "{" + labels + "}";
}

std::string with_le(const std::string& labels, const std::string& le) {
  return "{" + labels + (labels.empty() ? "" : ",") + "le=\"" + le + "\"}";
}

}  // namespace

namespace {
thread_local std::size_t g_shard = 0;
}  // namespace

std::size_t this_shard() { return g_shard; }
void set_this_shard(std::size_t index) { g_shard = index % kShards; }

uint64_t Counter::value() const {
  uint64_t n = 0;
  for (const Cell& c : cells_) n += c.v.load(std::memory_order_relaxed);
  return n;
}

void Gauge::add(double d) { atomic_add(deltas_[this_shard()].v, d); }

double Gauge::value() const {
  double v = base_.load(std::memory_order_relaxed);
  for (const Cell& c : deltas_) v += c.v.load(std::memory_order_relaxed);
  return v;
}

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
  std::sort(bounds_.begin(), bounds_.end());
  bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
  stride_ = (bounds_.size() + 3 + 7) / 8 * 8;  // sum, count, buckets + Inf, rounded to cache lines
  cells_ = static_cast<std::atomic<uint64_t>*>(
      ::operator new(sizeof(std::atomic<uint64_t>) * stride_ * kShards, std::align_val_t{64}));
  for (std::size_t i = 0; i < stride_ * kShards; ++i) new (&cells_[i]) std::atomic<uint64_t>(0);
}

Histogram::~Histogram() { ::operator delete(cells_, std::align_val_t{64}); }

void Histogram::observe(double v) {
  // Bucket i counts bounds_[i-1] < v <= bounds_[i]; the last one is +Inf.
  std::size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  const std::size_t shard = this_shard();
  cell(shard, 2 + i)->fetch_add(1, std::memory_order_relaxed);
  cell(shard, 1)->fetch_add(1, std::memory_order_relaxed);
  // The shard's sum (a double in a 64-bit cell): uncontended unless threads
  // outside the workers share shard 0.
  std::atomic<uint64_t>* sum = cell(shard, 0);
  uint64_t cur = sum->load(std::memory_order_relaxed);
  while (!sum->compare_exchange_weak(cur, std::bit_cast<uint64_t>(std::bit_cast<double>(cur) + v),
                                     std::memory_order_relaxed)) {
  }
}

uint64_t Histogram::bucket(std::size_t i) const {
  uint64_t n = 0;
  for (std::size_t s = 0; s < kShards; ++s) n += cell(s, 2 + i)->load(std::memory_order_relaxed);
  return n;
}

uint64_t Histogram::count() const {
  uint64_t n = 0;
  for (std::size_t s = 0; s < kShards; ++s) n += cell(s, 1)->load(std::memory_order_relaxed);
  return n;
}

double Histogram::sum() const {
  double v = 0;
  for (std::size_t s = 0; s < kShards; ++s) v += std::bit_cast<double>(cell(s, 0)->load(std::memory_order_relaxed));
  return v;
}

std::vector<double> latency_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

struct Registry::Family {
  std::string name;
  std::string help;
  const char* type;
  struct Series {
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
    std::function<double()> fn;
  };
  std::map<std::string, Series> series;  // by rendered labels
};

Registry::Registry() = default;
Registry::~Registry() = default;

Registry::Family& Registry::family(const std::string& name, const std::string& help,
                                   const char* type) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    auto f = std::make_unique<Family>();
    f->name = name;
    f->help = help;
    f->type = type;
    it = families_.emplace(name, std::move(f)).first;
  } else if (std::string_view(it->second->type) != type) {
    throw std::logic_error(fmt::format("metric {} registered as {} and as {}", name,
                                       it->second->type, type));
  }
  return *it->second;
}

Counter& Registry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& s = family(name, help, "counter").series[render_labels(labels)];
  if (!s.counter) s.counter = std::make_unique<Counter>();
  return *s.counter;
}

Gauge& Registry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& s = family(name, help, "gauge").series[render_labels(labels)];
  if (s.fn) throw std::logic_error("metric " + name + " is already a gauge_fn with these labels");
  if (!s.gauge) s.gauge = std::make_unique<Gauge>();
  return *s.gauge;
}

Histogram& Registry::histogram(const std::string& name, const std::string& help,
                               const Labels& labels, std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  auto& s = family(name, help, "histogram").series[render_labels(labels)];
  if (!s.histogram) s.histogram = std::make_unique<Histogram>(std::move(bounds));
  return *s.histogram;
}

void Registry::gauge_fn(const std::string& name, const std::string& help, const Labels& labels,
                        std::function<double()> fn) {
  std::lock_guard lock(mu_);
  auto& s = family(name, help, "gauge").series[render_labels(labels)];
  if (s.gauge) throw std::logic_error("metric " + name + " is already a gauge with these labels");
  s.fn = std::move(fn);  // a later registration replaces the earlier one
}

std::string Registry::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  out.reserve(4096);
  for (const auto& [name, f] : families_) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escape_help(f->help), name, f->type);
    for (const auto& [labels, s] : f->series) {
      if (s.counter) {
        out += fmt::format("{}{} {}\n", name, braces(labels), s.counter->value());
      } else if (s.gauge) {
        out += fmt::format("{}{} {}\n", name, braces(labels), format_number(s.gauge->value()));
      } else if (s.fn) {
        out += fmt::format("{}{} {}\n", name, braces(labels), format_number(s.fn()));
      } else if (s.histogram) {
        const Histogram& h = *s.histogram;
        uint64_t cumulative = 0;
        for (std::size_t i = 0; i < h.bounds().size(); ++i) {
          cumulative += h.bucket(i);
          out += fmt::format("{}_bucket{} {}\n", name, with_le(labels, format_number(h.bounds()[i])),
                             cumulative);
        }
        cumulative += h.bucket(h.bounds().size());
        out += fmt::format("{}_bucket{} {}\n", name, with_le(labels, "+Inf"), cumulative);
        out += fmt::format("{}_sum{} {}\n", name, braces(labels), format_number(h.sum()));
        out += fmt::format("{}_count{} {}\n", name, braces(labels), cumulative);
      }
    }
  }
  return out;
}

std::string escape_label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out.push_back(c);
  }
  return out;
}

}  // namespace dine::metrics
