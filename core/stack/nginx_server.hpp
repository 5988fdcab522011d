#pragma once
// nginx from Debian's binary for one gateway node: its configuration written
// and checked with `nginx -t`, the master run in the foreground (daemon off)
// as a child we hold by pid, stopped gracefully. Used by `dine up`, `dine gen
// nginx --check` and the tests.
#include <string>
#include <sys/types.h>

#include "core/async.hpp"
#include "core/stack/nginx_conf.hpp"

namespace dine::stack {

// DINE_NGINX, else /usr/sbin/nginx when it exists, else "nginx" on PATH.
std::string nginx_binary();

// The `user` of nginx's workers: "nobody nogroup" when we are root (nginx
// would otherwise run them as root), "" otherwise (they run as we do).
std::string nginx_worker_user();

// Creates the node's dir and the static dir; as root, makes both reachable
// for the workers' user. Writes `conf_text` to paths.conf().
void nginx_write(const NginxPaths& paths, const std::string& conf_text);

struct NginxCheck {
  bool ok = false;
  std::string output;  // what `nginx -t` printed
};
// `nginx -t` on paths.conf(), with the node's dir as prefix and error log.
NginxCheck nginx_check(const NginxPaths& paths, milliseconds timeout = milliseconds(20000));

struct NginxInstance {
  NginxPaths paths;  // written by nginx_write first
  std::string host = "127.0.0.1";
  int port = 0;
  pid_t pid = 0;  // the master's
  bool die_with_parent = false;  // tests: the master never outlives a crashed test
};

// Starts the master; returns its pid once host:port accepts connections, or
// throws with the tail of the node's error log.
pid_t nginx_start(NginxInstance& n, milliseconds ready_timeout = milliseconds(10000));

// SIGQUIT (finish requests in flight, at most worker_shutdown_timeout), then,
// past `grace`, SIGKILL to the master's whole process group: a worker must
// not keep serving the port after its master is gone.
void nginx_stop(NginxInstance& n, milliseconds grace = milliseconds(10000));

// nginx's workers outlive a master killed with SIGKILL (or a crashed test
// whose master died with it) and keep serving its port. Kills every process
// named nginx whose process group leader is gone and which holds a file whose
// path starts with `path_prefix` (a node's dir); returns how many.
int kill_orphaned_workers(const std::string& path_prefix);

}  // namespace dine::stack
