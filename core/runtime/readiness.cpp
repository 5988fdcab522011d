#include "core/runtime/readiness.hpp"

#include <cmath>
#include <map>
#include <mutex>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include "core/context.hpp"
#include "core/errors.hpp"
#include "core/http/client.hpp"
#include "core/log.hpp"
#include "core/pg/connection.hpp"
#include "core/redis/client.hpp"

namespace dine::runtime {

namespace {

const log::Logger kLog("ready");
constexpr milliseconds kProbeDeadline{800};
constexpr milliseconds kPeriod{1000};
constexpr milliseconds kStale{3000};  // a result older than this counts as down

const char* need_name(Need n) { return n == Need::Required ? "required" : "degradable"; }
const char* kind_name(Dependency::Kind k) {
  switch (k) {
    case Dependency::Kind::Postgres:
    case Dependency::Kind::ShardedPostgres: return "postgres";
    case Dependency::Kind::Redis: return "redis";
    case Dependency::Kind::Http: return "http";
  }
  return "?";
}

// One dependency node as seen by the probes.
struct Target {
  std::string node;
  std::string purpose;
  Dependency::Kind kind;
  Need need;
  std::string dsn;   // postgres
  std::string host;  // redis, http
  int port = 0;
  // Last result (under Impl::mu).
  bool seen = false;
  bool up = false;
  double ms = 0;
  std::string error;  // an error code
  Clock::time_point at{};
};

}  // namespace

struct Readiness::Impl {
  asio::any_io_executor ex;
  std::string self;
  std::string role;
  mutable std::mutex mu;
  std::vector<Target> targets;
  std::vector<std::shared_ptr<asio::cancellation_signal>> signals;
  std::function<void(const std::string&)> recovered;
  bool stopped = false;

  void record(std::size_t i, bool up, double ms, std::string error) {
    std::string back;
    {
      std::lock_guard lock(mu);
      Target& t = targets[i];
      if (t.seen && t.up != up)
        kLog.info(up ? "dependency_up" : "dependency_down", {{"dependency", t.node}, {"error", error}});
      if (t.seen && !t.up && up) back = t.node;
      t.seen = true;
      t.up = up;
      t.ms = ms;
      t.error = std::move(error);
      t.at = Clock::now();
    }
    if (!back.empty() && recovered) recovered(back);
  }
};

namespace {

std::string code_of(const std::exception& e) {
  if (const auto* err = dynamic_cast<const Error*>(&e)) return err->code();
  return "probe_failed";
}

// The probe loop of one dependency node: its own connection, reopened after
// any failure; one check a second.
Task<void> probe_loop(std::shared_ptr<Readiness::Impl> impl, std::size_t i) {
  const Target t = [&] {
    std::lock_guard lock(impl->mu);
    return impl->targets[i];
  }();
  auto ex = impl->ex;
  std::unique_ptr<pg::Connection> pg;
  std::unique_ptr<redis::Client> rc;
  std::unique_ptr<http::Client> hc;
  if (t.kind == Dependency::Kind::Redis) {
    redis::ClientConfig cfg;
    cfg.name = t.node;
    cfg.host = t.host;
    cfg.port = t.port;
    cfg.connect_timeout = kProbeDeadline;
    cfg.command_timeout = kProbeDeadline;
    rc = std::make_unique<redis::Client>(ex, cfg);
  } else if (t.kind == Dependency::Kind::Http) {
    hc = std::make_unique<http::Client>(ex, http::ClientOptions{.max_connections_per_host = 2, .timeout = kProbeDeadline});
  }
  for (;;) {
    const auto start = Clock::now();
    const Deadline deadline = start + kProbeDeadline;
    bool up = false;
    std::string error;
    try {
      switch (t.kind) {
        case Dependency::Kind::Postgres:
        case Dependency::Kind::ShardedPostgres: {
          if (!pg || pg->broken()) pg = co_await pg::Connection::connect(ex, t.dsn, deadline);
          co_await pg->simple("SELECT 1", deadline);
          up = true;
          break;
        }
        case Dependency::Kind::Redis: {
          Context probe{"", deadline};
          co_await rc->ping(probe);
          up = true;
          break;
        }
        case Dependency::Kind::Http: {
          http::ClientRequest req;
          req.host = t.host;
          req.port = t.port;
          req.target = "/healthz";
          req.idempotent = true;
          http::ClientResponse r = co_await hc->request(req);
          up = r.status == 200;
          if (!up) error = "status_" + std::to_string(r.status);
          break;
        }
      }
    } catch (const std::exception& e) {
      error = code_of(e);
      if (pg && pg->broken()) pg.reset();
    }
    impl->record(i, up, std::chrono::duration<double, std::milli>(Clock::now() - start).count(), error);
    auto next = start + kPeriod;
    if (next > Clock::now()) co_await sleep_for(std::chrono::duration_cast<milliseconds>(next - Clock::now()));
  }
}

}  // namespace

Readiness::Readiness(asio::any_io_executor control, const Topology& topo, const Node& self,
                     const RoleDescriptor& role, std::function<void(const std::string&)> recovered)
    : impl_(std::make_shared<Impl>()) {
  impl_->ex = std::move(control);
  impl_->recovered = std::move(recovered);
  impl_->self = self.id;
  impl_->role = role.name;
  for (const Dependency& d : role.dependencies) {
    for (const Node* n : topo.uses(self, d.purpose)) {
      Target t;
      t.node = n->id;
      t.purpose = d.purpose;
      t.kind = d.kind;
      t.need = d.need;
      t.host = n->ip.empty() ? n->host : n->ip;
      t.port = n->port;
      if (!d.database.empty()) {
        DsnOptions o;
        o.application_name = self.id + "/ready";
        o.statement_timeout_ms = static_cast<int>(kProbeDeadline.count());
        t.dsn = topo.dsn(*n, d.database, o);
      }
      impl_->targets.push_back(std::move(t));
    }
  }
}

Readiness::~Readiness() { stop(); }

void Readiness::start() {
  for (std::size_t i = 0; i < impl_->targets.size(); ++i) {
    auto sig = std::make_shared<asio::cancellation_signal>();
    impl_->signals.push_back(sig);
    asio::co_spawn(impl_->ex, probe_loop(impl_, i), asio::bind_cancellation_slot(sig->slot(), [sig](std::exception_ptr) {}));
  }
}

void Readiness::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  for (auto& s : impl_->signals) s->emit(asio::cancellation_type::terminal);
}

std::pair<int, nlohmann::json> Readiness::report() const {
  std::lock_guard lock(impl_->mu);
  const auto now = Clock::now();
  nlohmann::json deps = nlohmann::json::array();
  nlohmann::json degraded = nlohmann::json::array();
  bool ready = true;
  // A degradable dependency leaves the node ready while it is down: the role
  // declared it serves without it. Sharded ones are the exception: the need
  // is per shard, and with every shard down there is nothing left to serve.
  std::map<std::string, std::pair<int, int>> shards;  // purpose -> (down, all)
  for (const Target& t : impl_->targets) {
    bool fresh = t.seen && now - t.at < kStale;
    bool up = fresh && t.up;
    nlohmann::json d = {{"node", t.node}, {"purpose", t.purpose}, {"kind", kind_name(t.kind)},
                        {"need", need_name(t.need)}, {"state", !t.seen ? "unknown" : !fresh ? "stale" : up ? "up" : "down"}};
    if (t.seen) d["ms"] = std::round(t.ms * 10) / 10;
    if (t.seen && !up) d["error"] = fresh ? t.error : "stale";
    deps.push_back(std::move(d));
    if (t.need == Need::Required) {
      if (!up) ready = false;
    } else {
      if (!up) degraded.push_back(t.node);
      if (t.kind == Dependency::Kind::ShardedPostgres) {
        auto& [down, all] = shards[t.purpose];
        ++all;
        if (!up) ++down;
      }
    }
  }
  for (const auto& [purpose, counts] : shards)
    if (counts.first == counts.second) ready = false;
  const char* status = !ready ? "not_ready" : degraded.empty() ? "ready" : "degraded";
  nlohmann::json body = {{"status", status}, {"node", impl_->self}, {"role", impl_->role}, {"dependencies", deps}};
  if (!degraded.empty()) body["degraded"] = degraded;
  return {ready ? 200 : 503, std::move(body)};
}

}  // namespace dine::runtime
