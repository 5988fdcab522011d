#include "core/outbox/relay.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/context.hpp"
#include "core/errors.hpp"
#include "core/log.hpp"
#include "core/outbox/schema.hpp"
#include "core/pg/pool.hpp"
#include "core/redis/client.hpp"
#include "core/redis/streams.hpp"

namespace dine::outbox {

namespace {
const log::Logger kLog("outbox");

// Error replies that say Redis cannot take writes right now (full, loading,
// read-only replica...): an outage of Redis, not a fault of the row.
bool transient_refusal(const std::string& error) {
  for (const char* prefix : {"OOM", "LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN", "READONLY", "CLUSTERDOWN",
                             "NOREPLICAS", "MISCONF"})
    if (error.rfind(prefix, 0) == 0) return true;
  return false;
}

std::string describe(const std::exception& e) {
  const auto* err = dynamic_cast<const Error*>(&e);
  return err && !err->detail().empty() ? err->code() + ": " + err->detail() : e.what();
}
}  // namespace

struct Relay::Impl {
  Impl(asio::any_io_executor e, RelayConfig c, pg::Pool& d, redis::Client& m, metrics::Registry& reg)
      : ex(e), timer(e), cfg(std::move(c)), db(d), mq(m) {
    metrics::Labels l{{"outbox", cfg.name}};
    relayed = &reg.counter("dine_outbox_relayed_total", "Outbox rows moved to their stream", l);
    failures = &reg.counter("dine_outbox_relay_failures_total", "Relay batches that failed (rows stay, retried)", l);
    pruned = &reg.counter("dine_outbox_pruned_total", "Sent outbox rows deleted after the retention period", l);
    backlog = &reg.gauge("dine_outbox_backlog", "Outbox rows not yet on their stream", l);
    registry = &reg;
    oldest = &reg.gauge("dine_outbox_oldest_unsent_seconds", "Age of the oldest outbox row not yet sent", l);
    dead = &reg.gauge("dine_outbox_dead", "Outbox rows set aside after Redis refused them too often", l);
  }

  asio::any_io_executor ex;
  asio::steady_timer timer;
  bool woken = false;
  // Set by wake() on any thread until the relay's loop has taken the wake: a
  // busy shard's payments cost one cross-thread post per batch, not one each.
  std::atomic<bool> wake_pending{false};
  RelayConfig cfg;
  pg::Pool& db;
  redis::Client& mq;
  metrics::Counter *relayed, *failures, *pruned;
  metrics::Gauge *backlog, *oldest, *dead;
  Clock::time_point next_figures{}, next_prune{}, next_trim{}, next_full{};
  int64_t sent_upto = 0;  // the fast path's start: the highest id this relay sent
  struct StreamFigures {
    metrics::Gauge* length;
    metrics::Counter* trimmed;
    metrics::Gauge* dead_letters;
  };
  std::map<std::string, StreamFigures> streams;  // every stream this relay wrote to
  metrics::Registry* registry = nullptr;

  void saw_stream(const std::string& name) {
    if (streams.count(name)) return;
    metrics::Labels l{{"stream", name}};
    streams[name] = {&registry->gauge("dine_stream_length", "Entries in a Redis stream", l),
                     &registry->counter("dine_stream_trimmed_total", "Stream entries trimmed once every group had them", l),
                     &registry->gauge("dine_stream_dead_letters", "Entries in the dead-letter stream", l)};
  }

  // Pending and lag of every consumer group of `stream` (XINFO GROUPS): the
  // same gauges a StreamConsumer publishes, seen from the writing side too.
  Task<void> group_figures(std::string stream) {
    redis::Argv info{"XINFO", "GROUPS", stream};
    redis::Reply groups = co_await mq.command(info);
    if (groups.type != redis::Reply::Type::Array) co_return;
    for (const redis::Reply& g : groups.elements) {
      std::string name;
      double pending = 0, lag = -1;
      for (std::size_t i = 0; i + 1 < g.elements.size(); i += 2) {
        const std::string& key = g.elements[i].str;
        const redis::Reply& v = g.elements[i + 1];
        if (key == "name") name = v.str;
        else if (key == "pending") pending = static_cast<double>(v.integer);
        else if (key == "lag" && v.type == redis::Reply::Type::Integer) lag = static_cast<double>(v.integer);
      }
      if (name.empty()) continue;
      metrics::Labels l{{"stream", stream}, {"group", name}};
      registry->gauge("dine_stream_pending", "Entries delivered to the group and not yet acked", l).set(pending);
      if (lag >= 0) registry->gauge("dine_stream_lag", "Entries in the stream not yet delivered to the group", l).set(lag);
    }
  }
  int64_t prune_after = 0;  // id cursor of the pruning walk

  Context ctx(std::string_view what) const { return Context::background(what, cfg.claim_for); }

  // One claim-send-mark round; returns the rows it claimed, or 0 when none
  // was sent (nothing waiting, or refusals only: those are held back).
  Task<std::size_t> relay_batch() {
    Context c = ctx("relay");
    const int claim_s =
        static_cast<int>(std::max<int64_t>(1, std::chrono::ceil<std::chrono::seconds>(cfg.claim_for).count()));
    // Mostly claim above the last id sent; now and then from the start, for
    // rows below it that committed late or whose claims lapsed.
    const auto now = Clock::now();
    int64_t after = sent_upto;
    if (now >= next_full) {
      after = 0;
      next_full = now + cfg.full_scan_every;
    }
    // Arguments of co_await calls are named values (docs/ARCHITECTURE.md, GCC 12).
    pg::Params claim = pg::params(cfg.relay_id, claim_s, cfg.batch, after);
    pg::Result rows = co_await db.execute(c, sql::kClaim, claim);
    if (rows.rows() == 0) co_return 0;
    struct Row {
      int64_t id;
      int index;
    };
    std::vector<Row> order;
    order.reserve(static_cast<std::size_t>(rows.rows()));
    for (int i = 0; i < rows.rows(); ++i) order.push_back({rows.int64(i, "id"), i});
    std::sort(order.begin(), order.end(), [](const Row& a, const Row& b) { return a.id < b.id; });
    std::vector<redis::Argv> cmds;
    cmds.reserve(order.size());
    for (const Row& r : order) {
      cmds.push_back({"XADD", std::string(rows.text(r.index, "stream")), "*", "type",
                      std::string(rows.text(r.index, "event_type")), cfg.key_field,
                      std::string(rows.text(r.index, "key")), "data", std::string(rows.text(r.index, "payload"))});
      saw_stream(cmds.back()[1]);
    }
    std::vector<redis::Reply> replies;
    std::exception_ptr failure;
    try {
      replies = co_await mq.pipeline(cmds);
      for (const auto& r : replies)
        if (r.is_error() && transient_refusal(r.str))
          throw Error(ErrorKind::Unavailable, "redis_unavailable", "a Redis server cannot take writes now",
                      "XADD refused: " + r.str);
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) {
      // Redis unreachable: nothing of the batch is known to be on the stream.
      // Free the claims so the next attempt (ours or another node's) need not
      // wait for them to lapse; if this fails too, they lapse anyway.
      pg::Params release = pg::params(id_array(order, [](const Row&) { return true; }), cfg.relay_id);
      try {
        Context rc = ctx("release");
        co_await db.execute(rc, sql::kRelease, release);
      } catch (const std::exception&) {
      }
      std::rethrow_exception(failure);
    }
    // (Rows of this batch that Redis did take before a transient refusal go
    // out again later: at-least-once.)
    // Each row on its own: the ones Redis took are sent; the ones it refused
    // (an error reply: a stream key of another type, a full noeviction Redis)
    // count a refusal and, after too many, are set aside, so one bad row never
    // holds up its shard or makes its batch go out again.
    std::vector<std::size_t> ok, refused;
    for (std::size_t i = 0; i < order.size(); ++i) (replies[i].is_error() ? refused : ok).push_back(i);
    if (!ok.empty()) {
      pg::Params sent = pg::params(id_array(order, [&](const Row& r) { return !replies[index_in(order, r)].is_error(); }));
      co_await db.execute(c, sql::kMarkSent, sent);
      for (std::size_t i : ok) sent_upto = std::max(sent_upto, order[i].id);
      relayed->inc(ok.size());
    }
    if (!refused.empty()) {
      std::vector<std::string> errors;
      for (std::size_t i : refused) errors.push_back(replies[i].str);
      pg::Params bad = pg::params(id_array(order, [&](const Row& r) { return replies[index_in(order, r)].is_error(); }),
                                  text_array(errors), cfg.relay_id, cfg.max_attempts);
      co_await db.execute(c, sql::kRefused, bad);
      failures->inc();
      kLog.warn_limited("relay_refused", {{"outbox", cfg.name}, {"rows", std::to_string(refused.size())},
                                          {"error", errors.front()}});
    }
    // A batch of refusals only is "nothing more to do now" (they are held
    // back), so the relay waits instead of spinning on them.
    co_return ok.empty() ? 0 : order.size();
  }

  template <class Rows, class Keep>
  static std::string id_array(const Rows& rows, Keep keep) {
    std::string ids = "{";
    for (const auto& r : rows) {
      if (!keep(r)) continue;
      if (ids.size() > 1) ids.push_back(',');
      ids += std::to_string(r.id);
    }
    ids.push_back('}');
    return ids;
  }
  template <class Rows, class Row>
  static std::size_t index_in(const Rows& rows, const Row& r) {
    return static_cast<std::size_t>(&r - rows.data());
  }
  // A PostgreSQL text[] literal: every element quoted, " and \ escaped.
  static std::string text_array(const std::vector<std::string>& items) {
    std::string out = "{";
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i > 0) out.push_back(',');
      out.push_back('"');
      for (char ch : items[i]) {
        if (ch == '"' || ch == '\\') out.push_back('\\');
        out.push_back(ch);
      }
      out.push_back('"');
    }
    out.push_back('}');
    return out;
  }

  // Figures, trimming and pruning, each on its own clock; runs whether or not
  // the batches succeed (a stuck outbox is exactly when its gauges matter).
  Task<void> housekeeping() {
    auto now = Clock::now();
    if (now >= next_figures) {
      next_figures = now + cfg.figures_every;
      Context bc = ctx("backlog");
      pg::Params none;
      pg::Result r = co_await db.execute(bc, sql::kBacklog, none);
      backlog->set(static_cast<double>(r.int64(0, "n")));
      oldest->set(std::stod(std::string(r.text(0, "oldest_s"))));
      dead->set(static_cast<double>(r.int64(0, "dead")));
    }
    if (now >= next_trim) {
      next_trim = now + cfg.trim_every;
      for (auto& [name, fig] : streams) {
        std::optional<std::string> below = co_await redis::safe_trim_id(mq, name);
        if (below) fig.trimmed->inc(static_cast<uint64_t>(co_await redis::trim_below(mq, name, *below)));
        redis::Argv xlen{"XLEN", name};
        redis::Reply len = co_await mq.command(xlen);
        if (len.type == redis::Reply::Type::Integer) fig.length->set(static_cast<double>(len.integer));
        redis::Argv dead_len{"XLEN", name + ":dead"};
        redis::Reply dl = co_await mq.command(dead_len);
        if (dl.type == redis::Reply::Type::Integer) fig.dead_letters->set(static_cast<double>(dl.integer));
        std::string stream_name = name;
        co_await group_figures(stream_name);
      }
    }
    if (now >= next_prune) {
      next_prune = now + cfg.prune_every;
      // Bounded per period (a few batches, a fraction of a second), so the
      // relay never stalls its shard's events for long; the walk resumes next
      // period and starts over from the beginning once it reaches the end.
      const int retention_s = static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(cfg.retention).count());
      const Deadline stop = deadline_in(milliseconds(250));
      for (int round = 0; round < 4 && Clock::now() < stop; ++round) {
        Context pc = ctx("prune");
        pg::Params prune = pg::params(prune_after, retention_s, cfg.prune_batch);
        pg::Result r = co_await db.execute(pc, sql::kPrune, prune);
        int64_t deleted = r.int64(0, "deleted"), seen = r.int64(0, "seen"), upto = r.int64(0, "upto");
        const bool reached_young = r.text(0, "reached_young") == "t";
        pruned->inc(static_cast<uint64_t>(deleted));
        if (seen < cfg.prune_batch || reached_young) {
          prune_after = 0;  // the end, or rows too young yet: the next period starts over
          break;
        }
        prune_after = upto;
      }
    }
  }
};

Relay::Relay(asio::any_io_executor ex, RelayConfig cfg, pg::Pool& db, redis::Client& mq, metrics::Registry& metrics)
    : impl_(std::make_shared<Impl>(ex, std::move(cfg), db, mq, metrics)) {}

Relay::~Relay() = default;

const RelayConfig& Relay::config() const { return impl_->cfg; }

void Relay::wake() {
  if (impl_->wake_pending.exchange(true, std::memory_order_acq_rel)) return;
  asio::post(impl_->ex, [impl = impl_] {
    impl->wake_pending.store(false, std::memory_order_release);
    impl->woken = true;
    impl->timer.cancel();
  });
}

Task<void> Relay::run() {
  std::shared_ptr<Impl> s = impl_;
  milliseconds backoff{100};
  kLog.info("relaying", {{"outbox", s->cfg.name}, {"relay", s->cfg.relay_id}});
  for (;;) {
    bool failed = false;
    bool drained = false;
    try {
      s->woken = false;
      // Full batches go back to back (a backlog drains at full speed), for a
      // second at most, so housekeeping runs under a steady backlog too. A
      // batch that was not full took all there was: the relay then waits for
      // the next wake and lingers, so under a steady stream of payments each
      // cycle carries what gathered meanwhile (one claim and one mark for
      // many rows) instead of claiming a row or two back to back.
      const Deadline until = deadline_in(milliseconds(1000));
      while (!(drained = co_await s->relay_batch() < static_cast<std::size_t>(s->cfg.batch)) &&
             Clock::now() < until) {
      }
      backoff = milliseconds(100);
    } catch (const boost::system::system_error& e) {
      if (e.code() == asio::error::operation_aborted) throw;  // stopping
      failed = true;
      s->failures->inc();
      kLog.warn_limited("relay_failed", {{"outbox", s->cfg.name}, {"error", e.what()}});
    } catch (const std::exception& e) {
      failed = true;
      s->failures->inc();
      kLog.warn_limited("relay_failed", {{"outbox", s->cfg.name}, {"error", describe(e)}});
    }
    // Figures, trimming and pruning go on whether or not the batches did.
    try {
      co_await s->housekeeping();
    } catch (const boost::system::system_error& e) {
      if (e.code() == asio::error::operation_aborted) throw;  // stopping
      kLog.warn_limited("housekeeping_failed", {{"outbox", s->cfg.name}, {"error", e.what()}});
    } catch (const std::exception& e) {
      kLog.warn_limited("housekeeping_failed", {{"outbox", s->cfg.name}, {"error", describe(e)}});
    }
    if (!drained && !failed) continue;  // more waiting: straight on
    if (failed) {
      co_await sleep_for(backoff);
      backoff = std::min(s->cfg.max_backoff, backoff * 2);
      continue;
    }
    if (!s->woken) {
      s->timer.expires_after(s->cfg.poll);
      boost::system::error_code ec;
      co_await s->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    // Let a busy shard's writes gather into one batch: one claim, one
    // pipelined XADD round and one mark for many rows.
    co_await sleep_for(s->cfg.linger);
  }
}

}  // namespace dine::outbox
