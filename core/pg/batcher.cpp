#include "core/pg/batcher.hpp"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/errors.hpp"
#include "core/metrics.hpp"
#include "core/pg/errors.hpp"

namespace dine::pg {

struct Batcher::Item {
  Item(const asio::any_io_executor& ex, Context c, Params p) : timer(ex), ctx(std::move(c)), params(std::move(p)) {}
  asio::steady_timer timer;  // the caller waits on it; completion cancels it
  Context ctx;
  Params params;
  Result result;
  std::exception_ptr error;
  bool done = false;
  bool gone = false;  // the caller stopped waiting: a runner that has not taken it skips it

  void complete(Result r) {
    result = std::move(r);
    done = true;
    timer.cancel();
  }
  void fail(std::exception_ptr e) {
    error = std::move(e);
    done = true;
    timer.cancel();
  }
};

struct Batcher::Instruments {
  metrics::Counter* statements = nullptr;
  metrics::Counter* items = nullptr;
  metrics::Counter* alone = nullptr;
  metrics::Counter* fallbacks = nullptr;
};

namespace {

Error caller_out_of_time(const std::string& pool, const char* where) {
  return Error(ErrorKind::Timeout, "db_timeout", "the database did not answer in time",
               std::string("request deadline passed ") + where + " a batch of " + pool);
}

}  // namespace

namespace {

// The caller's slot: a call that ran alone hands its runner slot on to the
// queue that formed meanwhile (or frees it).
class SlotGuard {
 public:
  explicit SlotGuard(std::function<void()> release) : release_(std::move(release)) {}
  ~SlotGuard() { release_(); }
  SlotGuard(const SlotGuard&) = delete;
  SlotGuard& operator=(const SlotGuard&) = delete;

 private:
  std::function<void()> release_;
};

}  // namespace

// ---- BatchLane -----------------------------------------------------------------

Batcher* BatchLane::next_waiting() {
  for (std::size_t i = 0; i < members_.size(); ++i) {
    Batcher* b = members_[(turn_ + i) % members_.size()];
    if (!b->queue_.empty()) {
      turn_ = (turn_ + i + 1) % members_.size();
      return b;
    }
  }
  return nullptr;
}

void BatchLane::start_runner() {
  ++running_;
  spawn_logged(ex_, run(alive_), "pg batch lane");
}

bool BatchLane::any_waiting() const {
  for (const Batcher* b : members_)
    if (!b->queue_.empty()) return true;
  return false;
}

void BatchLane::release() {
  --running_;
  if (any_waiting()) start_runner();  // the calls that gathered meanwhile take the slot on
}

Task<void> BatchLane::run(std::shared_ptr<bool> alive) {
  bool linger = linger_.count() > 0;
  while (*alive) {
    // Wait for more calls to join, unless a full batch waits already.
    if (linger) {
      std::size_t queued = 0, full = 0;
      for (const Batcher* b : members_) {
        queued = std::max(queued, b->queue_.size());
        full = std::max(full, b->cfg_.max_batch);
      }
      if (queued < full) {
        asio::steady_timer t(ex_, linger_);
        boost::system::error_code ec;
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (!*alive) break;
      }
    }
    Batcher* b = next_waiting();
    if (!b) break;
    std::vector<std::shared_ptr<Batcher::Item>> batch = b->take();
    if (batch.empty()) {  // only callers that gave up: look again, without lingering again
      linger = false;
      continue;
    }
    linger = linger_.count() > 0;
    std::vector<std::shared_ptr<Batcher::Item>> held = batch;
    try {
      co_await b->run_batch(std::move(batch));  // b may be gone after it: not touched again
    } catch (...) {
      // A bug, not the database: no caller waits out its deadline for it.
      for (auto& item : held)
        if (!item->done) item->fail(std::current_exception());
    }
  }
  if (*alive) --running_;
}

// ---- Batcher -------------------------------------------------------------------

Batcher::Batcher(Pool& pool, BatchStatement st, BatcherConfig cfg, std::shared_ptr<BatchLane> lane)
    : pool_(pool), st_(st), cfg_(cfg), lane_(std::move(lane)), in_(std::make_unique<Instruments>()) {
  if (cfg_.max_batch == 0) cfg_.max_batch = 1;
  if (!lane_) lane_ = std::make_shared<BatchLane>(cfg_.concurrency, cfg_.linger);
  if (!lane_->ex_) lane_->ex_ = pool.executor();
  lane_->members_.push_back(this);
  if (auto* m = pool.config().metrics) {
    metrics::Labels l{{"pool", pool.config().name()},
                      {"statement", std::string(st.many.name)},
                      {"worker", std::to_string(pool.config().worker)}};
    in_->statements = &m->counter("dine_pg_batch_statements_total", "Set-based statements that carried a batch", l);
    in_->items = &m->counter("dine_pg_batch_items_total", "Calls carried by set-based statements", l);
    in_->alone = &m->counter("dine_pg_batch_alone_total", "Calls that ran as their single-row statement", l);
    in_->fallbacks =
        &m->counter("dine_pg_batch_fallbacks_total", "Batches whose statement failed and ran call by call", l);
  }
}

Batcher::~Batcher() {
  *alive_ = false;
  std::erase(lane_->members_, this);
  if (lane_->members_.empty()) *lane_->alive_ = false;
  for (auto& item : queue_) item->timer.cancel();  // each wakes, sees the flag, fails
  queue_.clear();
}

std::string Batcher::array_literal(const std::vector<const std::optional<std::string>*>& values) {
  std::size_t size = 2;
  for (const auto* v : values) size += (*v ? (*v)->size() + 3 : 5);
  std::string out;
  out.reserve(size);
  out += '{';
  bool first = true;
  for (const auto* v : values) {
    if (!first) out += ',';
    first = false;
    if (!*v) {
      out += "NULL";
      continue;
    }
    out += '"';
    for (char c : **v) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

Task<Result> Batcher::execute(Context ctx, Params params) {
  asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
  if (ctx.expired() || cs.cancelled() != asio::cancellation_type::none)
    throw caller_out_of_time(pool_.config().name(), "before joining");
  if (st_.key_param >= params.size() || !params[st_.key_param])
    throw std::invalid_argument("pg::Batcher: the key parameter of " + std::string(st_.one.name) + " is missing");
  if (params_ == 0) params_ = params.size();
  if (params.size() != params_)
    throw std::invalid_argument("pg::Batcher: " + std::string(st_.one.name) + " takes " + std::to_string(params_) +
                                " parameters, not " + std::to_string(params.size()));

  if (cfg_.max_batch == 1) {  // batching off
    ++figures_.alone;
    if (in_->alone) in_->alone->inc();
    const Statement one = st_.one;
    co_return co_await pool_.execute(std::move(ctx), one, std::move(params));
  }

  // Nothing waiting on the lane and a slot free: go now, alone (no added latency).
  if (lane_->has_slot() && !lane_->any_waiting()) {
    ++lane_->running_;
    ++figures_.alone;
    if (in_->alone) in_->alone->inc();
    const Statement one = st_.one;  // the call must not refer into a batcher that may go away
    SlotGuard slot([lane = lane_] {
      if (*lane->alive_) lane->release();
    });
    co_return co_await pool_.execute(std::move(ctx), one, std::move(params));
  }

  std::shared_ptr<bool> alive = alive_;
  const std::string pool_name = pool_.config().name();
  auto item = std::make_shared<Item>(pool_.executor(), ctx, std::move(params));
  item->timer.expires_at(ctx.deadline);
  queue_.push_back(item);
  if (lane_->has_slot()) lane_->start_runner();
  // (A runner started just now may have run to the end already: an item
  // failed fast, say with the circuit open, before this waits.)
  if (!item->done) {
    boost::system::error_code ec;
    co_await item->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (item->done) {
    if (item->error) std::rethrow_exception(item->error);
    co_return std::move(item->result);
  }
  item->gone = true;  // if a batch holds it already, it runs on: like a lone statement cut short
  if (!*alive)
    throw Error(ErrorKind::Unavailable, "db_unavailable", "the database is unavailable", "batcher shut down");
  throw caller_out_of_time(pool_name, "waiting for");
}

std::vector<std::shared_ptr<Batcher::Item>> Batcher::take() {
  std::vector<std::shared_ptr<Item>> out;
  std::unordered_set<std::string_view> keys;
  for (auto it = queue_.begin(); it != queue_.end() && out.size() < cfg_.max_batch;) {
    Item& item = **it;
    if (item.gone || item.done) {
      it = queue_.erase(it);
      continue;
    }
    // One item per key in a batch: the rows of a key are then that item's.
    if (!keys.insert(*item.params[st_.key_param]).second) {
      ++it;
      continue;
    }
    out.push_back(std::move(*it));
    it = queue_.erase(it);
  }
  return out;
}

Task<void> Batcher::run_batch(std::vector<std::shared_ptr<Item>> batch) {
  // Everything this needs after a suspension is copied: the batcher may be
  // destroyed (shutdown) while the statement runs.
  std::shared_ptr<bool> alive = alive_;
  Pool& pool = pool_;
  const BatchStatement st = st_;
  const Instruments in = *in_;  // the counters live in the registry, which outlives the batcher

  if (batch.size() == 1) {
    Item& item = *batch.front();
    ++figures_.alone;
    if (in.alone) in.alone->inc();
    try {
      item.complete(co_await pool.execute(item.ctx, st.one, item.params));
    } catch (...) {
      item.fail(std::current_exception());
    }
    co_return;
  }

  // Key order: two batches that touch the same rows lock them in one order.
  std::sort(batch.begin(), batch.end(), [&st](const auto& a, const auto& b) {
    const std::string& ka = *a->params[st.key_param];
    const std::string& kb = *b->params[st.key_param];
    return ka.size() != kb.size() ? ka.size() < kb.size() : ka < kb;  // numeric order for decimal keys
  });
  Context bctx;
  bctx.request_id = batch.front()->ctx.request_id;  // the logs name one caller of the batch
  bctx.deadline = batch.front()->ctx.deadline;
  for (const auto& item : batch) bctx.deadline = std::max(bctx.deadline, item->ctx.deadline);
  const std::size_t n = batch.front()->params.size();  // every call has as many (execute checks)
  Params arrays;
  arrays.reserve(n);
  std::vector<const std::optional<std::string>*> column(batch.size());
  for (std::size_t j = 0; j < n; ++j) {
    for (std::size_t i = 0; i < batch.size(); ++i) column[i] = &batch[i]->params[j];
    arrays.emplace_back(array_literal(column));
  }
  ++figures_.statements;
  figures_.items += batch.size();
  if (in.statements) {
    in.statements->inc();
    in.items->inc(batch.size());
  }

  Result r;
  bool fall_back = false;
  try {
    r = co_await pool.execute(bctx, st.many, std::move(arrays));
  } catch (const SqlError& e) {
    // A value or a constraint one call broke (nothing was committed): each
    // runs alone for its own answer. Anything else (the server shutting
    // down, out of resources, cancelling, conflicts past their retries) is
    // every call's answer: running them one by one would only add load.
    const std::string_view cls = std::string_view(e.sqlstate()).substr(0, 2);
    if (cls == "22" || cls == "23") {
      fall_back = true;
    } else {
      for (auto& item : batch) item->fail(std::current_exception());
      co_return;
    }
  } catch (...) {
    for (auto& item : batch) item->fail(std::current_exception());
    co_return;
  }

  if (!fall_back) {  // committed: each call gets the rows of its key
    int kc = -1;
    try {
      kc = r.column(st.key_column);
    } catch (const std::exception&) {
      auto bug = std::make_exception_ptr(Error(ErrorKind::Internal, "db_error", "internal error",
                                               "statement " + std::string(st.many.name) + " returns no column " +
                                                   std::string(st.key_column)));
      for (auto& item : batch) item->fail(bug);
      co_return;
    }
    std::unordered_map<std::string_view, std::vector<int>> rows;
    for (int row = 0; row < r.rows(); ++row) rows[r.text(row, kc)].push_back(row);
    for (auto& item : batch) {
      auto found = rows.find(*item->params[st.key_param]);
      item->complete(r.subset(found == rows.end() ? std::vector<int>{} : std::move(found->second)));
    }
    co_return;
  }

  if (*alive) ++figures_.fallbacks;
  if (in.fallbacks) in.fallbacks->inc();
  for (auto& item : batch) {
    if (item->gone) continue;
    if (!*alive) {  // shut down meanwhile: the pool may be gone too
      item->fail(std::make_exception_ptr(
          Error(ErrorKind::Unavailable, "db_unavailable", "the database is unavailable", "batcher shut down")));
      continue;
    }
    try {
      item->complete(co_await pool.execute(item->ctx, st.one, item->params));
    } catch (...) {
      item->fail(std::current_exception());
    }
  }
}

}  // namespace dine::pg
