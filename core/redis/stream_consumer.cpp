#include "core/redis/stream_consumer.hpp"

#include <algorithm>
#include <exception>
#include <limits>
#include <optional>
#include <unordered_map>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include "core/errors.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"

namespace dine::redis {

namespace {

// The consumer's own instruments; all null without a registry.
struct ConsumerMeters {
  ConsumerMeters(metrics::Registry* r, const ConsumerConfig& c) {
    if (!r) return;
    metrics::Labels sg{{"stream", c.stream}, {"group", c.group}};
    pending = &r->gauge("dine_stream_pending", "Entries delivered to the group and not yet acked", sg);
    lag = &r->gauge("dine_stream_lag", "Entries in the stream not yet delivered to the group", sg);
    dead_letters = &r->gauge("dine_stream_dead_letters", "Entries in the dead-letter stream", {{"stream", c.stream}});
    handled = &r->counter("dine_stream_handled_total", "Entries handled and acked", sg);
    failed = &r->counter("dine_stream_failed_total", "Handler failures left pending for a retry", sg);
    dead_lettered = &r->counter("dine_stream_dead_lettered_total", "Entries moved to the dead-letter stream", sg);
    claimed = &r->counter("dine_stream_claimed_total", "Idle pending entries claimed by XAUTOCLAIM", sg);
  }
  metrics::Gauge *pending = nullptr, *lag = nullptr, *dead_letters = nullptr;
  metrics::Counter *handled = nullptr, *failed = nullptr, *dead_lettered = nullptr, *claimed = nullptr;
};

void count(uint64_t& figure, metrics::Counter* c, uint64_t n = 1) {
  figure += n;
  if (c && n) c->inc(n);
}

void show(int64_t& figure, metrics::Gauge* g, std::optional<int64_t> v) {
  figure = v.value_or(-1);
  if (g) g->set(v ? double(*v) : std::numeric_limits<double>::quiet_NaN());
}

ConsumerConfig completed(ConsumerConfig c) {
  if (c.dead_stream.empty()) c.dead_stream = c.stream + ":dead";
  if (c.claim_every <= milliseconds(0)) c.claim_every = c.claim_after;
  c.batch = std::max(c.batch, 1);
  c.max_failures = std::max(c.max_failures, 1);
  c.backoff_max = std::max(c.backoff_max, c.backoff_initial);
  return c;
}

ClientConfig own_connection(ClientConfig c, milliseconds block) {
  c.command_timeout += block;
  return c;
}

std::string ms(milliseconds d) { return std::to_string(d.count()); }

// What a handler's exception means for its entry (stream_consumer.hpp).
enum class Verdict {
  Transient,  // Unavailable, Timeout: the environment; retried, never counted
  Poison,     // BadRequest: dead-lettered at once
  Counts,     // anything else: retried; dead-lettered at max_failures
};

struct Failure {
  Verdict verdict;
  Error error;  // as thrown, or a std::exception's message as an Internal error
};

Failure judge(const std::exception_ptr& failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::BadRequest) return {Verdict::Poison, e};
    if (e.kind() == ErrorKind::Unavailable || e.kind() == ErrorKind::Timeout) return {Verdict::Transient, e};
    return {Verdict::Counts, e};
  } catch (const std::exception& e) {
    return {Verdict::Counts, Error(ErrorKind::Internal, e.what())};
  } catch (...) {
  }
  return {Verdict::Counts, Error(ErrorKind::Internal, "unknown exception")};
}

log::Fields describe(const std::exception_ptr& failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const Error& e) {
    return {{"code", e.code()}, {"error", e.what()}, {"detail", e.detail()}};
  } catch (const std::exception& e) {
    return {{"error", e.what()}};
  } catch (...) {
  }
  return {{"error", "unknown exception"}};
}

enum class Outcome { Done, Retry };  // Retry: something failed; back off, then own pending first

}  // namespace

struct StreamConsumer::Impl {
  Impl(asio::any_io_executor ex, ClientConfig redis, ConsumerConfig c)
      : cfg(completed(std::move(c))), client(ex, own_connection(std::move(redis), cfg.block)),
        pause(ex), meters(cfg.metrics, cfg), log("stream") {}

  ConsumerConfig cfg;
  Client client;
  asio::steady_timer pause;  // backoff waits; cancelled on stop
  ConsumerMeters meters;
  ConsumerFigures fig;
  log::Logger log;
  bool stopped = false;
  // Counted failures (Verdict::Counts) by entry id. An entry leaves when this
  // consumer acks or dead-letters it; one that another consumer claimed away
  // stays until the map reaches kFailuresTracked and is cleared (its counts
  // start again, as after a restart).
  std::unordered_map<std::string, int> failures;
  static constexpr std::size_t kFailuresTracked = 4096;

  int count_failure(const std::string& id) {
    if (failures.size() >= kFailuresTracked && !failures.contains(id)) failures.clear();
    return ++failures[id];
  }

  void stop() {
    stopped = true;
    pause.cancel();
    client.disconnect();
  }

  log::Fields fields(const Entry& e, log::Fields more = {}) const {
    more.insert(more.begin(), {{"stream", cfg.stream}, {"group", cfg.group}, {"consumer", cfg.consumer},
                               {"entry", e.id}, {"request_id", e.ctx.request_id}});
    return more;
  }

  Context context_for(const Entry& e) const {
    Context ctx = Context::background(cfg.group, cfg.handler_timeout);
    if (const std::string* rid = e.field("request_id"); rid && !rid->empty()) ctx.request_id = *rid;
    return ctx;
  }
};

namespace {

using ImplPtr = std::shared_ptr<StreamConsumer::Impl>;
using HandlerPtr = std::shared_ptr<const Handler>;

Error refused(const std::string& what, const Reply& r) {
  return Error(ErrorKind::Internal, "redis_error", "internal error", what + ": " + r.str);
}

bool is_nogroup(const Reply& r) { return r.is_error() && r.str.rfind("NOGROUP", 0) == 0; }

// The group (or the whole stream) was deleted under us: make it again.
Task<void> recreate_group(ImplPtr self) {
  self->log.warn_limited("stream_group_missing", {{"stream", self->cfg.stream}, {"group", self->cfg.group}});
  co_await ensure_group(self->client, self->cfg.stream, self->cfg.group);
}

Task<void> ack(ImplPtr self, std::string id) {
  Argv cmd{"XACK", self->cfg.stream, self->cfg.group, std::move(id)};
  Reply r = co_await self->client.command(std::move(cmd));
  if (r.is_error()) throw refused("XACK " + self->cfg.stream, r);
}

// XADD to the dead stream and XACK, atomically.
Task<void> dead_letter(ImplPtr self, Entry e, Error why) {
  const ConsumerConfig& c = self->cfg;
  Argv add{"XADD", c.dead_stream, "*"};
  for (auto& [f, v] : e.fields) {
    add.push_back(f);
    add.push_back(v);
  }
  for (auto [f, v] : {std::pair{kDeadReason, std::string(why.what())}, std::pair{kDeadCode, why.code()},
                      std::pair{kDeadGroup, c.group}, std::pair{kDeadFromId, e.id}}) {
    add.emplace_back(f);
    add.push_back(std::move(v));
  }
  std::vector<Argv> tx;
  tx.push_back({"MULTI"});
  tx.push_back(std::move(add));
  tx.push_back({"XACK", c.stream, c.group, e.id});
  tx.push_back({"EXEC"});
  std::vector<Reply> r = co_await self->client.pipeline(std::move(tx));
  const Reply& exec = r.back();
  if (exec.type != Reply::Type::Array || exec.elements.size() != 2 || exec.elements[0].is_error())
    throw refused("dead-letter MULTI/EXEC", exec.type == Reply::Type::Array ? exec.elements[0] : exec);
  count(self->fig.dead_lettered, self->meters.dead_lettered);
  self->log.warn_limited("stream_dead_letter", self->fields(e, {{"code", why.code()}, {"error", why.what()}}));
}

// Hands each entry to the handler in order; stops at the first failure that
// does not dead-letter its entry (that entry and the rest stay pending).
Task<Outcome> handle_batch(ImplPtr self, HandlerPtr handler, std::vector<Entry> entries) {
  for (Entry& e : entries) {
    if (self->stopped) co_return Outcome::Done;
    if (e.gone) {  // deleted from the stream while pending: nothing to handle
      co_await ack(self, e.id);
      self->failures.erase(e.id);
      continue;
    }
    e.ctx = self->context_for(e);
    std::exception_ptr failure;
    try {
      co_await (*handler)(e);
    } catch (...) {
      failure = std::current_exception();
    }
    if (!failure) {
      co_await ack(self, e.id);
      self->failures.erase(e.id);
      count(self->fig.handled, self->meters.handled);
      continue;
    }
    asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none) std::rethrow_exception(failure);  // stopping
    Failure f = judge(failure);
    const std::string id = e.id;
    if (f.verdict == Verdict::Poison) {
      co_await dead_letter(self, std::move(e), std::move(f.error));
      self->failures.erase(id);
      continue;
    }
    log::Fields about = describe(failure);
    if (f.verdict == Verdict::Transient) {
      about.emplace_back("transient", "true");
    } else {
      int n = self->count_failure(id);
      about.emplace_back("failures", std::to_string(n) + "/" + std::to_string(self->cfg.max_failures));
      if (n >= self->cfg.max_failures) {  // a bug that will not go away: stop retrying it
        // Not rate-limited: at most one line per max_failures backoffs, and
        // the only place the original error's code and detail are kept.
        self->log.warn("stream_handler_gave_up", self->fields(e, std::move(about)));
        Error why(ErrorKind::Internal, std::string(kTooManyFailures), f.error.what(), f.error.detail());
        co_await dead_letter(self, std::move(e), std::move(why));
        self->failures.erase(id);
        continue;
      }
    }
    count(self->fig.failed, self->meters.failed);
    self->log.warn_limited("stream_handler_failed", self->fields(e, std::move(about)));
    co_return Outcome::Retry;
  }
  co_return Outcome::Done;
}

// XREADGROUP: new entries (">", blocking), or this consumer's own pending
// ones ("0": after a failure or a restart).
Task<std::vector<Entry>> read_entries(ImplPtr self, bool own_pending) {
  const ConsumerConfig& c = self->cfg;
  Argv cmd{"XREADGROUP", "GROUP", c.group, c.consumer, "COUNT", std::to_string(c.batch)};
  if (!own_pending) {
    cmd.push_back("BLOCK");
    cmd.push_back(ms(c.block));
  }
  cmd.push_back("STREAMS");
  cmd.push_back(c.stream);
  cmd.push_back(own_pending ? "0" : ">");
  Reply r = co_await self->client.command(std::move(cmd));
  if (is_nogroup(r)) {
    co_await recreate_group(self);
    co_return std::vector<Entry>{};
  }
  if (r.is_error()) throw refused("XREADGROUP " + c.stream, r);
  if (r.type != Reply::Type::Array || r.elements.empty() || r.elements[0].elements.size() < 2)
    co_return std::vector<Entry>{};  // BLOCK ran out
  co_return parse_entries(r.elements[0].elements[1]);
}

// XAUTOCLAIM what has been pending longer than claim_after, and handle it.
Task<Outcome> claim_stale(ImplPtr self, HandlerPtr handler) {
  const ConsumerConfig& c = self->cfg;
  std::string cursor = "0-0";
  for (int round = 0; round < 16; ++round) {
    Argv cmd{"XAUTOCLAIM", c.stream, c.group, c.consumer, ms(c.claim_after), cursor, "COUNT",
             std::to_string(c.batch)};
    Reply r = co_await self->client.command(std::move(cmd));
    if (is_nogroup(r)) {
      co_await recreate_group(self);
      co_return Outcome::Done;
    }
    if (r.is_error() || r.type != Reply::Type::Array || r.elements.size() < 2)
      throw refused("XAUTOCLAIM " + c.stream, r);
    cursor = r.elements[0].str;
    std::vector<Entry> entries = parse_entries(r.elements[1]);
    if (!entries.empty()) {
      count(self->fig.claimed, self->meters.claimed, entries.size());
      self->log.info("stream_claimed", {{"stream", c.stream}, {"group", c.group}, {"consumer", c.consumer},
                                        {"entries", std::to_string(entries.size())}});
    }
    if (co_await handle_batch(self, handler, std::move(entries)) == Outcome::Retry) co_return Outcome::Retry;
    if (cursor == "0-0") break;
  }
  co_return Outcome::Done;
}

// The group's pending count and lag, and the dead stream's length.
Task<void> refresh_stats(ImplPtr self) {
  const ConsumerConfig& c = self->cfg;
  std::vector<Argv> cmds;
  cmds.push_back({"XINFO", "GROUPS", c.stream});
  cmds.push_back({"XLEN", c.dead_stream});
  std::vector<Reply> r = co_await self->client.pipeline(std::move(cmds));
  std::optional<int64_t> pending, lag;
  for (const Reply& g : r[0].elements) {
    std::optional<std::string> name;
    std::optional<int64_t> p, l;
    for (std::size_t i = 0; i + 1 < g.elements.size(); i += 2) {
      const std::string& key = g.elements[i].str;
      const Reply& v = g.elements[i + 1];
      if (key == "name") name = v.str;
      if (key == "pending" && v.type == Reply::Type::Integer) p = v.integer;
      if (key == "lag" && v.type == Reply::Type::Integer) l = v.integer;
    }
    if (name == c.group) {
      pending = p;
      lag = l;
    }
  }
  show(self->fig.pending, self->meters.pending, pending);
  show(self->fig.lag, self->meters.lag, lag);
  if (r[1].type == Reply::Type::Integer) show(self->fig.dead_letters, self->meters.dead_letters, r[1].integer);
}

// Waits for `d` (a backoff); stop() ends it early, asio cancellation throws.
Task<void> pause_for(ImplPtr self, milliseconds d) {
  self->pause.expires_after(d);
  boost::system::error_code ec;
  co_await self->pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
  if (cs.cancelled() != asio::cancellation_type::none)
    throw boost::system::system_error(asio::error::operation_aborted, "stream consumer stopped");
}

Task<void> run_loop(ImplPtr self, HandlerPtr handler) {
  const ConsumerConfig& c = self->cfg;
  bool own_pending = true;  // a restart after a crash: what this consumer held comes first
  milliseconds backoff = c.backoff_initial;
  Deadline next_claim = Clock::now();
  Deadline next_stats = Clock::now();
  self->log.info("stream_consumer_started", {{"stream", c.stream}, {"group", c.group}, {"consumer", c.consumer}});
  while (!self->stopped) {
    if (Clock::now() >= next_stats) {
      next_stats = deadline_in(c.stats_every);
      try {
        co_await refresh_stats(self);
      } catch (const Error& e) {
        self->log.debug("stream_stats_failed", {{"stream", c.stream}, {"detail", e.detail()}});
      }
    }
    Outcome outcome = Outcome::Done;
    try {
      if (Clock::now() >= next_claim) {
        next_claim = deadline_in(c.claim_every);
        outcome = co_await claim_stale(self, handler);
      }
      if (outcome == Outcome::Done && !self->stopped) {
        std::vector<Entry> entries = co_await read_entries(self, own_pending);
        if (own_pending && entries.empty()) own_pending = false;
        outcome = co_await handle_batch(self, handler, std::move(entries));
      }
    } catch (const Error& e) {
      // Redis down, slow or refusing: what is in hand stays pending.
      if (self->stopped) break;
      self->log.warn_limited("stream_redis_failed", {{"stream", c.stream},
                                                     {"group", c.group},
                                                     {"consumer", c.consumer},
                                                     {"code", e.code()},
                                                     {"detail", e.detail()}});
      outcome = Outcome::Retry;
    }
    if (outcome == Outcome::Done) {
      backoff = c.backoff_initial;
      continue;
    }
    if (self->stopped) break;
    own_pending = true;
    co_await pause_for(self, backoff);
    backoff = std::min(backoff * 2, c.backoff_max);
  }
}

// run_loop, and on the way out (cancelled, or the consumer destroyed) drops
// the connection: a blocked XREADGROUP left on it would hold it up to `block`
// and could still take an entry into this consumer's pending list.
Task<void> run_consumer(ImplPtr self, HandlerPtr handler) {
  std::exception_ptr failure;
  try {
    co_await run_loop(self, handler);
  } catch (...) {
    failure = std::current_exception();
  }
  self->client.disconnect();
  self->log.info("stream_consumer_stopped",
                 {{"stream", self->cfg.stream}, {"group", self->cfg.group}, {"consumer", self->cfg.consumer}});
  if (failure) std::rethrow_exception(failure);
}

}  // namespace

StreamConsumer::StreamConsumer(asio::any_io_executor ex, ClientConfig redis, ConsumerConfig cfg)
    : impl_(std::make_shared<Impl>(std::move(ex), std::move(redis), std::move(cfg))) {}

StreamConsumer::~StreamConsumer() { impl_->stop(); }

Task<void> StreamConsumer::run(Handler handler) {
  return run_consumer(impl_, std::make_shared<const Handler>(std::move(handler)));
}

ConsumerFigures StreamConsumer::figures() const { return impl_->fig; }

const ConsumerConfig& StreamConsumer::config() const { return impl_->cfg; }

}  // namespace dine::redis
