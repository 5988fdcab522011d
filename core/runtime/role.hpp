#pragma once
// A role is a small, complete room: it declares what it is (a descriptor) and
// the runtime does the wiring every role shares. The descriptor names
//   - its typed config section (the topology's "roles": {"<role>": {...}},
//     overridden key by key by a node's own "config"), parsed and validated
//     with errors that name the file, the key and the fix;
//   - its dependencies, each a purpose under the node's "uses", of a kind
//     (PostgreSQL, sharded PostgreSQL, Redis, HTTP) and a need (required, or
//     degradable: the node stays ready, degraded, while it is down);
//   - its setup, run once per worker: routes and background components.
// From the dependencies the runtime makes, per worker, the clients (pools,
// Redis clients, HTTP clients, each publishing its own metrics), and, per
// node, the readiness probes behind /readyz. See docs/writing-a-role.md.
#include <any>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/async.hpp"
#include "core/config.hpp"
#include "core/topology.hpp"

namespace dine::metrics {
class Registry;
}
namespace dine::http {
class Router;
class Client;
}  // namespace dine::http
namespace dine::pg {
class Pool;
class ShardedCluster;
}  // namespace dine::pg
namespace dine::redis {
class Client;
}

namespace dine::runtime {

enum class Need { Required, Degradable };

struct Dependency {
  enum class Kind { Postgres, ShardedPostgres, Redis, Http };
  Kind kind = Kind::Postgres;
  std::string purpose;   // the key under the node's "uses", e.g. "shards", "mq"
  std::string database;  // PostgreSQL kinds: the database on each server
  Need need = Need::Required;
};

inline Dependency postgres(std::string purpose, std::string database, Need need = Need::Required) {
  return {Dependency::Kind::Postgres, std::move(purpose), std::move(database), need};
}
// Shards routed by id mod N (N divides 16); each shard is probed on its own.
inline Dependency sharded_postgres(std::string purpose, std::string database, Need need = Need::Degradable) {
  return {Dependency::Kind::ShardedPostgres, std::move(purpose), std::move(database), need};
}
inline Dependency redis(std::string purpose, Need need = Need::Required) {
  return {Dependency::Kind::Redis, std::move(purpose), {}, need};
}
inline Dependency http(std::string purpose, Need need = Need::Required) {
  return {Dependency::Kind::Http, std::move(purpose), {}, need};
}

class WorkerContext;

// The typed config of a role: `C` has
//   static C parse(config::Reader& r, const C& defaults);
// which reads every key it knows (r.integer(...), ...) and must end with
// r.reject_unknown().
using ConfigParser = std::function<std::any(config::Reader&, const std::any& defaults)>;
template <class C>
ConfigParser typed_config() {
  return [](config::Reader& r, const std::any& defaults) -> std::any {
    return C::parse(r, defaults.has_value() ? std::any_cast<const C&>(defaults) : C{});
  };
}

// A consumer group the role reads a stream with. `dine db migrate` creates
// it (from id 0), so a consumer that starts late misses nothing.
struct StreamGroup {
  std::string purpose;  // the Redis dependency holding the stream, e.g. "mq"
  std::string stream;   // "dine:orders"
  std::string group;    // "oms"
};

// A database of the role that holds an outbox table (core/outbox/schema.hpp):
// `dine outbox redrive` walks these.
struct OutboxSite {
  std::string purpose;  // a PostgreSQL dependency, e.g. "shards"
};

struct RoleDescriptor {
  std::string name;     // "order": `dine serve order`
  std::string summary;  // one line for `dine serve --help`
  std::vector<Dependency> dependencies;
  std::vector<StreamGroup> consumes;
  std::vector<OutboxSite> outboxes;
  ConfigParser config;  // empty: the role takes no section
  // Once per node, on the main thread, before any worker: state the workers
  // share (an id generator...). Optional.
  std::function<std::shared_ptr<void>(const Topology&, const Node&, const std::any& config)> node_state;
  // Once per worker, on the main thread, before the worker runs.
  std::function<void(WorkerContext&)> setup;
  bool hidden = false;  // left out of --help (test roles)
};

// The role's config for `node`: roles.<role> over the defaults, then the
// node's own "config" over that. Throws TopologyError naming file and key.
std::any load_config(const RoleDescriptor& role, const Topology& topo, const Node& node);

// Checks, without starting anything, that `node` can run `role`: its config
// parses and every dependency's purpose is listed under "uses" with nodes of
// the right kind. Throws TopologyError naming the file, the key and the fix.
void check_node(const RoleDescriptor& role, const Topology& topo, const Node& node);

// A background component: a coroutine that runs until cancelled (asio
// cancellation). If it throws or returns, the runtime restarts it with
// backoff; on stop it is cancelled and awaited, in reverse order of start.
using ComponentFn = std::function<Task<void>()>;

// What setup gets, per worker. Clients belong to this worker's loop.
class WorkerContext {
 public:
  virtual ~WorkerContext() = default;

  virtual int index() const = 0;
  virtual int count() const = 0;
  virtual asio::any_io_executor executor() const = 0;
  virtual const Topology& topology() const = 0;
  virtual const Node& node() const = 0;
  virtual metrics::Registry& metrics() const = 0;
  virtual http::Router& router() = 0;

  // The clients of the declared dependencies, by purpose. Throws
  // std::logic_error when the role did not declare that purpose and kind.
  virtual pg::Pool& postgres(std::string_view purpose) = 0;
  virtual pg::ShardedCluster& shards(std::string_view purpose) = 0;
  virtual redis::Client& redis(std::string_view purpose) = 0;
  virtual http::Client& http(std::string_view purpose) = 0;
  // The topology nodes behind a purpose (HTTP targets, shard nodes).
  std::vector<const Node*> nodes(std::string_view purpose) const {
    return topology().uses(node(), std::string(purpose));
  }

  // Runs `fn` on this worker as a managed background component named `name`.
  virtual void background(std::string name, ComponentFn fn) = 0;
  // Keeps `object` alive as long as the worker (the role's services).
  virtual void keep(std::shared_ptr<void> object) = 0;

  template <class C>
  const C& config() const {
    return std::any_cast<const C&>(config_any());
  }
  template <class T>
  T& node_state() const {
    return *static_cast<T*>(node_state_ptr());
  }
  // A share of a node-wide budget: ceil(total / count), at least 1.
  std::size_t share(std::size_t total) const {
    std::size_t n = static_cast<std::size_t>(count());
    return std::max<std::size_t>(1, (total + n - 1) / n);
  }

 protected:
  virtual const std::any& config_any() const = 0;
  virtual void* node_state_ptr() const = 0;
};

}  // namespace dine::runtime
