#pragma once
// The background components of one worker (outbox relays, stream consumers,
// schedulers): started after the node's listener is bound, restarted with
// backoff (100 ms doubling to 10 s; back to 100 ms after a run of 30 s) when
// they throw or return, stopped in reverse order of start by asio
// cancellation, each awaited. Their state is in /metrics:
// dine_component_up{component,worker} and dine_component_restarts_total.
#include <memory>
#include <string>
#include <vector>

#include "core/async.hpp"
#include "core/metrics.hpp"
#include "core/runtime/role.hpp"

namespace dine::runtime {

class Components {
 public:
  Components(asio::any_io_executor ex, metrics::Registry& metrics, int worker);
  ~Components();
  Components(const Components&) = delete;
  Components& operator=(const Components&) = delete;

  void add(std::string name, ComponentFn fn);  // before start()
  void start();                                // on any thread; runs them on the worker
  // On the worker's executor: cancels every component, last started first,
  // waiting for each until `deadline`. True when all stopped in time.
  Task<bool> stop(Deadline deadline);
  std::size_t size() const;

  struct Entry;

 private:
  asio::any_io_executor ex_;
  metrics::Registry& metrics_;
  int worker_;
  std::vector<std::shared_ptr<Entry>> entries_;
};

}  // namespace dine::runtime
