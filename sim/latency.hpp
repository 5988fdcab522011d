#pragma once
// Latency samples of one step (create, pay), merged across threads at the end.
#include <algorithm>
#include <cstdint>
#include <vector>

namespace dine::sim {

class Latencies {
 public:
  void add(double ms) { v_.push_back(ms); }
  void merge(const Latencies& o) { v_.insert(v_.end(), o.v_.begin(), o.v_.end()); }
  std::size_t count() const { return v_.size(); }
  // q in [0, 1]; sorts lazily. 0 when empty.
  double quantile(double q) {
    if (v_.empty()) return 0;
    if (!sorted_) std::sort(v_.begin(), v_.end()), sorted_ = true;
    auto i = static_cast<std::size_t>(q * static_cast<double>(v_.size() - 1) + 0.5);
    return v_[std::min(i, v_.size() - 1)];
  }

 private:
  std::vector<double> v_;
  bool sorted_ = false;
};

}  // namespace dine::sim
