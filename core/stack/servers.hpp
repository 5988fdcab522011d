#pragma once
// Real PostgreSQL and Redis servers started from Debian's binaries in a
// directory of ours: used by `dine up` and by the test harness.
#include <string>
#include <vector>
#include <sys/types.h>

#include "core/async.hpp"

namespace dine::stack {

// Where PostgreSQL's server binaries live (pg_config --bindir, else /usr/lib/postgresql/*/bin).
std::string postgres_bindir();

struct PgInstance {
  std::string dir;   // data dir is dir/data, log dir/postgres.log
  std::string host = "127.0.0.1";
  int port = 0;
  std::string user = "dine";  // superuser created by initdb, trust auth on loopback
  pid_t pid = 0;
  bool die_with_parent = false;  // the test harness: never outlive a crashed test

  std::string dsn(const std::string& database) const;
};

// initdb (as the postgres user when root) if dir/data does not exist yet. A
// template data dir already initialised may be copied instead to save time.
void pg_init(const PgInstance& pg);
// Starts the server, returns its pid; waits until it accepts connections or throws.
pid_t pg_start(PgInstance& pg, milliseconds ready_timeout = milliseconds(30000));
void pg_stop(PgInstance& pg);  // fast shutdown; returns when gone

struct RedisInstance {
  std::string dir;  // working dir (aof, rdb), log dir/redis.log
  std::string host = "127.0.0.1";
  int port = 0;
  bool appendonly = false;
  std::string appendfsync = "always";  // appendonly only: "always", "everysec" or "no"
  int maxmemory_mb = 256;
  std::string eviction;  // maxmemory-policy; "": noeviction when appendonly, else allkeys-lru
  pid_t pid = 0;
  bool die_with_parent = false;

  // The redis-server arguments for the settings above (port, dir and log aside).
  std::vector<std::string> settings() const;
};

// True when redis at host:port answers PING with PONG (not LOADING) within `timeout`.
bool redis_ping(const std::string& host, int port, milliseconds timeout = milliseconds(1000));

pid_t redis_start(RedisInstance& r, milliseconds ready_timeout = milliseconds(10000));
void redis_stop(RedisInstance& r);

}  // namespace dine::stack
