#include "server/order/relay.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "core/errors.hpp"
#include "core/log.hpp"
#include "core/pg/connection.hpp"
#include "server/order/events.hpp"
#include "server/order/queries.hpp"

namespace dine::order {

namespace {
const log::Logger kLog("relay");
}

// The relay's own connection, apart from the request pools.
class RelaySession {
 public:
  std::unique_ptr<pg::Connection> conn;
};

OutboxRelay::OutboxRelay(asio::any_io_executor ex, RelayConfig cfg, redis::Client& mq,
                         metrics::Registry& metrics)
    : ex_(ex),
      timer_(ex),
      cfg_(std::move(cfg)),
      mq_(mq),
      relayed_(metrics.counter("dine_outbox_relayed_total", "Outbox rows moved to the event stream",
                               {{"shard", cfg_.shard_name}})),
      failures_(metrics.counter("dine_outbox_relay_failures_total",
                                "Relay attempts that failed (the rows stay and are retried)",
                                {{"shard", cfg_.shard_name}})) {}

void OutboxRelay::wake() {
  asio::post(ex_, [this] {
    woken_ = true;
    timer_.cancel();
  });
}

Task<std::size_t> OutboxRelay::relay_batch(RelaySession& s) {
  auto deadline = deadline_in(cfg_.query_timeout);
  co_await s.conn->simple("BEGIN", deadline);
  pg::Params batch{std::to_string(cfg_.batch)};
  auto rows = co_await s.conn->execute(sql::kClaimOutbox, batch, deadline);
  if (rows.rows() == 0) {
    co_await s.conn->simple("COMMIT", deadline);
    co_return 0;
  }
  std::vector<redis::Argv> cmds;
  std::string ids = "{";
  for (int i = 0; i < rows.rows(); ++i) {
    cmds.push_back({"XADD", events::kStream, "*", "type", std::string(rows.text(i, "event_type")), "order_id",
                    std::string(rows.text(i, "order_id")), "data", std::string(rows.text(i, "payload"))});
    if (i > 0) ids.push_back(',');
    ids.append(rows.text(i, "id"));
  }
  ids += "}";
  // If Redis fails here the transaction is abandoned (the connection is dropped
  // by the caller), the locks go, and the rows are claimed again later.
  auto replies = co_await mq_.pipeline(std::move(cmds));
  for (const auto& r : replies)
    if (r.is_error()) throw Error(ErrorKind::Unavailable, "redis_error", "a Redis server refused a write", "XADD failed: " + r.str);
  pg::Params sent{ids};
  co_await s.conn->execute(sql::kMarkSent, sent, deadline);
  co_await s.conn->simple("COMMIT", deadline);
  relayed_.inc(static_cast<uint64_t>(rows.rows()));
  co_return static_cast<std::size_t>(rows.rows());
}

Task<void> OutboxRelay::run() {
  auto ex = co_await asio::this_coro::executor;
  RelaySession s;
  milliseconds backoff{100};
  for (;;) {
    bool failed = false;
    try {
      if (!s.conn || s.conn->broken()) {
        s.conn = co_await pg::Connection::connect(ex, cfg_.dsn, deadline_in(cfg_.query_timeout));
        kLog.info("relaying", {{"shard", cfg_.shard_name}});
      }
      // Drain everything waiting (rows paid meanwhile join the next batch),
      // then sleep until a wake or the poll.
      woken_ = false;
      while (co_await relay_batch(s) > 0) {
      }
      backoff = milliseconds(100);
      if (!woken_) {
        timer_.expires_after(cfg_.poll);
        boost::system::error_code ec;
        co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
      // Let a busy shard's payments gather into one batch: one transaction
      // and one pipelined XADD round for many rows instead of one each.
      co_await sleep_for(cfg_.linger);
    } catch (const std::exception& e) {
      failed = true;
      failures_.inc();
      kLog.warn_limited("relay_failed", {{"shard", cfg_.shard_name}, {"error", e.what()}});
    }
    if (failed) {
      s.conn.reset();  // drops any open transaction: the server rolls it back, rows stay unsent
      co_await sleep_for(backoff);
      backoff = std::min(cfg_.max_backoff, backoff * 2);
    }
  }
}

}  // namespace dine::order
