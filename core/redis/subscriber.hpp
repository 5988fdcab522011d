#pragma once
// Redis pub/sub on a connection of its own. The subscriber connects as soon as
// it is made, keeps the set of channels and patterns it was asked for and,
// whenever the connection comes back (Redis restarted, the link broke),
// subscribes to all of them again, retrying with backoff while Redis is down.
// Messages published while it was disconnected are lost: that is pub/sub
// (use a stream consumer for messages that must arrive).
//
// Belongs to one executor. Messages wait in a bounded queue read by next().
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/async.hpp"

namespace dine::metrics {
class Registry;
}

namespace dine::redis {

struct SubscriberConfig {
  std::string name;  // for metrics and logs, e.g. "redis-mq"
  std::string host = "127.0.0.1";
  int port = 6379;
  milliseconds connect_timeout{1000};
  milliseconds backoff_initial{100};  // before reconnecting; doubles per failed attempt
  milliseconds backoff_max{5000};
  std::size_t max_queued = 10000;  // beyond this the oldest message is dropped (and counted)
  // When set: dine_redis_subscriber_connected (gauge),
  // dine_redis_subscriber_messages_total, dine_redis_subscriber_dropped_total,
  // dine_redis_subscriber_reconnects_total (counters), labelled
  // {redis=name, worker=worker}. The registry must outlive the subscriber.
  metrics::Registry* metrics = nullptr;
  int worker = 0;
};

struct Message {
  std::string channel;
  std::string pattern;  // the PSUBSCRIBE pattern that matched; empty for SUBSCRIBE
  std::string payload;
};

struct SubscriberFigures {
  bool connected = false;
  std::size_t subscriptions = 0;  // confirmed by the server on the current connection
  uint64_t messages = 0;          // received since start
  uint64_t dropped = 0;           // pushed out of a full queue
  uint64_t reconnects = 0;
  std::size_t queued = 0;
};

class Subscriber {
 public:
  Subscriber(asio::any_io_executor ex, SubscriberConfig cfg);
  ~Subscriber();  // closes the connection; waiters in next() get Unavailable
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  // Adds to the set (kept across reconnects) and subscribes now if connected.
  void subscribe(std::string channel);
  void psubscribe(std::string pattern);
  void unsubscribe(std::string channel);
  void punsubscribe(std::string pattern);

  // The next message, waiting for one. Throws system_error(operation_aborted)
  // when the caller is cancelled (no message is lost then), and
  // dine::Error(Unavailable) once the subscriber is destroyed.
  Task<Message> next();
  std::optional<Message> try_next();

  SubscriberFigures figures() const;
  bool connected() const;
  const SubscriberConfig& config() const { return cfg_; }

  struct Impl;

 private:
  SubscriberConfig cfg_;
  std::shared_ptr<Impl> impl_;
};

}  // namespace dine::redis
