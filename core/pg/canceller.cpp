#include "core/pg/canceller.hpp"

#include <vector>

#include <fmt/format.h>

#include "core/errors.hpp"
#include "core/log.hpp"
#include "core/pg/connection.hpp"

namespace dine::pg {

namespace {
const log::Logger kLog("pg");
constexpr Statement kCancel{"dine_cancel_backends",
                            "SELECT count(*) FILTER (WHERE pg_cancel_backend(p)) AS n FROM unnest($1::int[]) AS p"};
}  // namespace

struct Canceller::State {
  asio::any_io_executor ex;
  std::string dsn;
  std::string pool;
  milliseconds deadline;
  metrics::Counter* sent;
  metrics::Counter* failed;
  std::vector<int> pending;
  bool running = false;
  bool closed = false;
};

namespace {

Task<void> run_cancels(std::shared_ptr<Canceller::State> s) {
  while (!s->closed && !s->pending.empty()) {
    std::vector<int> pids;
    pids.swap(s->pending);
    std::string list = "{";
    for (std::size_t i = 0; i < pids.size(); ++i) {
      if (i > 0) list.push_back(',');
      list += std::to_string(pids[i]);
    }
    list += "}";
    try {
      Deadline d = deadline_in(s->deadline);
      auto conn = co_await Connection::connect(s->ex, s->dsn, d);
      Params pids_param = params(list);
      Result r = co_await conn->execute(kCancel, pids_param, d);
      if (s->sent) s->sent->inc(pids.size());
      kLog.debug("cancelled", {{"pool", s->pool}, {"pids", list}, {"signalled", std::to_string(r.int64(0, "n"))}});
    } catch (const std::exception& e) {
      if (s->failed) s->failed->inc(pids.size());
      const auto* err = dynamic_cast<const Error*>(&e);
      kLog.warn_limited("cancel_failed", {{"pool", s->pool}, {"pids", list},
                                          {"error", err && !err->detail().empty() ? err->detail() : std::string(e.what())}});
    }
  }
  s->running = false;
}

}  // namespace

Canceller::Canceller(asio::any_io_executor ex, std::string dsn, std::string pool_name, milliseconds deadline,
                     metrics::Counter* sent, metrics::Counter* failed)
    : state_(std::make_shared<State>(
          State{std::move(ex), std::move(dsn), std::move(pool_name), deadline, sent, failed, {}, false, false})) {}

Canceller::~Canceller() { state_->closed = true; }

void Canceller::cancel(int backend_pid) {
  if (backend_pid <= 0 || state_->closed) return;
  state_->pending.push_back(backend_pid);
  if (state_->running) return;
  state_->running = true;
  spawn_logged(state_->ex, run_cancels(state_), "pg cancel " + state_->pool);
}

}  // namespace dine::pg
