#include "core/redis/subscriber.hpp"

#include <algorithm>
#include <deque>
#include <set>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include "core/errors.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/redis/connection.hpp"

namespace dine::redis {

namespace {

// The subscriber's own instruments; all null without a registry.
struct SubscriberMeters {
  SubscriberMeters(metrics::Registry* registry, const std::string& name, int worker) {
    if (!registry) return;
    metrics::Labels l{{"redis", name}, {"worker", std::to_string(worker)}};
    connected = &registry->gauge("dine_redis_subscriber_connected", "1 when the pub/sub connection is up", l);
    messages = &registry->counter("dine_redis_subscriber_messages_total", "Pub/sub messages received", l);
    dropped = &registry->counter("dine_redis_subscriber_dropped_total",
                                 "Pub/sub messages dropped from a full queue", l);
    reconnects = &registry->counter("dine_redis_subscriber_reconnects_total",
                                    "Pub/sub connections made after the first", l);
  }
  metrics::Gauge* connected = nullptr;
  metrics::Counter *messages = nullptr, *dropped = nullptr, *reconnects = nullptr;
};

void inc(metrics::Counter* c) {
  if (c) c->inc();
}

// SUBSCRIBE a b c ... (or PSUBSCRIBE) for a whole set.
std::vector<std::string> verb_with(const char* verb, const std::set<std::string>& names) {
  std::vector<std::string> argv{verb};
  argv.insert(argv.end(), names.begin(), names.end());
  return argv;
}

}  // namespace

struct Subscriber::Impl {
  Impl(asio::any_io_executor e, SubscriberConfig c)
      : ex(std::move(e)), cfg(std::move(c)), log("redis"), wake(ex), ready(ex),
        meters(cfg.metrics, cfg.name, cfg.worker) {
    ready.expires_at(Clock::time_point::max());
  }
  ~Impl() { stop(); }

  asio::any_io_executor ex;
  SubscriberConfig cfg;
  log::Logger log;
  asio::steady_timer wake;   // the maintain loop sleeps on it
  asio::steady_timer ready;  // next() waits on it; cancel() wakes every waiter
  SubscriberMeters meters;
  std::shared_ptr<detail::Connection> conn;
  std::set<std::string> channels, patterns;
  std::deque<Message> queue;
  SubscriberFigures fig;
  bool stopped = false;
  bool ever_connected = false;
  bool came_up = false;  // the current connection got as far as connected

  void stop() {
    if (stopped) return;
    stopped = true;
    wake.cancel();
    ready.cancel();
    if (conn) conn->close();
  }

  // Connects and asks for every channel and pattern at once: hiredis sends
  // them as soon as the connect completes.
  void open() {
    came_up = false;
    fig.subscriptions = 0;
    std::string error;
    conn = detail::Connection::open(ex, cfg.host, cfg.port, cfg.connect_timeout, events(), error);
    if (!conn) {
      log.warn_limited("redis_subscriber_connect_failed", {{"subscriber", cfg.name}, {"reason", error}});
      return;
    }
    if (!channels.empty()) conn->send_push(verb_with("SUBSCRIBE", channels));
    if (!patterns.empty()) conn->send_push(verb_with("PSUBSCRIBE", patterns));
  }

  void send(const char* verb, const std::string& name) {
    if (conn && conn->alive()) conn->send_push({verb, name});
  }

  // Events run inside hiredis: they record and wake, nothing more.
  detail::Connection::Events events() {
    return {
        [this] {
          came_up = true;
          if (ever_connected) {
            ++fig.reconnects;
            inc(meters.reconnects);
          }
          ever_connected = true;
          if (meters.connected) meters.connected->set(1);
          log.info("redis_subscriber_connected",
                   {{"subscriber", cfg.name}, {"channels", std::to_string(channels.size() + patterns.size())}});
        },
        [this](bool was_connected, const std::string& why) {
          fig.subscriptions = 0;
          if (meters.connected) meters.connected->set(0);
          if (!stopped)
            log.warn_limited(was_connected ? "redis_subscriber_lost" : "redis_subscriber_connect_failed",
                             {{"subscriber", cfg.name},
                              {"addr", cfg.host + ":" + std::to_string(cfg.port)},
                              {"reason", why}});
          wake.cancel();
        },
        [this](const Reply& r) { on_push(r); },
    };
  }

  void on_push(const Reply& r) {
    if (r.type != Reply::Type::Array || r.elements.size() < 3) return;
    const std::string& kind = r.elements[0].str;
    if (kind == "message") {
      deliver({r.elements[1].str, {}, r.elements[2].str});
    } else if (kind == "pmessage" && r.elements.size() >= 4) {
      deliver({r.elements[2].str, r.elements[1].str, r.elements[3].str});
    } else if (r.elements[2].type == Reply::Type::Integer) {
      // (p)(un)subscribe confirmations carry the connection's subscription count.
      fig.subscriptions = static_cast<std::size_t>(r.elements[2].integer);
    }
  }

  void deliver(Message m) {
    ++fig.messages;
    inc(meters.messages);
    queue.push_back(std::move(m));
    if (queue.size() > std::max<std::size_t>(cfg.max_queued, 1)) {
      queue.pop_front();
      ++fig.dropped;
      inc(meters.dropped);
      log.warn_limited("redis_subscriber_dropped", {{"subscriber", cfg.name}});
    }
    ready.cancel();
  }

};

namespace {

using ImplPtr = std::shared_ptr<Subscriber::Impl>;

// Sleeps until `d` or until woken (connection lost, subscriber destroyed).
Task<void> nap(ImplPtr self, Deadline d) {
  self->wake.expires_at(d);
  boost::system::error_code ec;
  co_await self->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

// Keeps a connection up: connect, subscribe to everything, wait until it is
// lost, back off, again. Ends when the subscriber is destroyed.
Task<void> maintain(ImplPtr self) {
  milliseconds backoff = self->cfg.backoff_initial;
  while (!self->stopped) {
    self->open();
    while (!self->stopped && self->conn && self->conn->alive()) co_await nap(self, Deadline::max());
    if (self->stopped) break;
    if (self->came_up) backoff = self->cfg.backoff_initial;
    co_await nap(self, deadline_in(backoff));
    backoff = std::min(backoff * 2, std::max(self->cfg.backoff_max, self->cfg.backoff_initial));
  }
}

Task<Message> next_message(ImplPtr self) {
  for (;;) {
    asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none)
      throw boost::system::system_error(asio::error::operation_aborted, "waiting for a message");
    if (!self->queue.empty()) {
      Message m = std::move(self->queue.front());
      self->queue.pop_front();
      co_return m;
    }
    if (self->stopped)
      throw Error(ErrorKind::Unavailable, "redis_subscriber_closed", "a Redis subscription is closed",
                  "subscriber " + self->cfg.name + " was destroyed");
    boost::system::error_code ec;
    co_await self->ready.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

}  // namespace

Subscriber::Subscriber(asio::any_io_executor ex, SubscriberConfig cfg)
    : cfg_(cfg), impl_(std::make_shared<Impl>(ex, std::move(cfg))) {
  spawn_logged(ex, maintain(impl_), "redis_subscriber " + cfg_.name);
}

Subscriber::~Subscriber() { impl_->stop(); }

void Subscriber::subscribe(std::string channel) {
  if (impl_->channels.insert(channel).second) impl_->send("SUBSCRIBE", channel);
}

void Subscriber::psubscribe(std::string pattern) {
  if (impl_->patterns.insert(pattern).second) impl_->send("PSUBSCRIBE", pattern);
}

void Subscriber::unsubscribe(std::string channel) {
  if (impl_->channels.erase(channel)) impl_->send("UNSUBSCRIBE", channel);
}

void Subscriber::punsubscribe(std::string pattern) {
  if (impl_->patterns.erase(pattern)) impl_->send("PUNSUBSCRIBE", pattern);
}

Task<Message> Subscriber::next() { return next_message(impl_); }

std::optional<Message> Subscriber::try_next() {
  if (impl_->queue.empty()) return std::nullopt;
  Message m = std::move(impl_->queue.front());
  impl_->queue.pop_front();
  return m;
}

SubscriberFigures Subscriber::figures() const {
  SubscriberFigures f = impl_->fig;
  f.connected = connected();
  f.queued = impl_->queue.size();
  return f;
}

bool Subscriber::connected() const { return impl_->conn && impl_->conn->connected(); }

}  // namespace dine::redis
