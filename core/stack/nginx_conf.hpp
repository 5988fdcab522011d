#pragma once
// The nginx configuration of one gateway node (docs/gateway.md), rendered
// from the topology alone: `dine gen nginx` and `dine up` write the same
// file, and tests read it without running nginx.
//
// What it does: the app nodes as a keepalive upstream with passive health
// checks; the topology's global QPS cap split over the gateway nodes (429 at
// once above it, never queued); only /api/v1/, /ws/v1/user and /static/
// reachable; every answer nginx makes itself is JSON; a JSON access log by
// route pattern without tokens or query strings.
#include <span>
#include <string>
#include <string_view>

#include "core/topology.hpp"

namespace dine::stack {

// Where one gateway node keeps what nginx writes, and what it serves.
struct NginxPaths {
  std::string dir;         // absolute: <state dir>/<node id>: config, pid, logs, temp dirs
  std::string static_dir;  // absolute: gateway.static_dir, else <state dir>/static

  std::string conf() const { return dir + "/nginx.conf"; }
  std::string pid_file() const { return dir + "/nginx.pid"; }
  std::string error_log() const { return dir + "/nginx.log"; }
  std::string access_log() const { return dir + "/access.log"; }
};

// Paths of `gateway` under `state_dir` (made absolute against the current
// directory). Throws TopologyError when a path could not be written into an
// nginx configuration as it is (a quote, `$`, `;`, braces, a backslash).
NginxPaths nginx_paths(const Topology& topo, const Node& gateway, const std::string& state_dir);

// A public route as the access log names it: a request whose normalised path
// matches `regex` (PCRE, as nginx's map reads it) is logged as `pattern`.
// Paths under /api/v1/ that match none are "/api/v1/*", /static/ files are
// "/static/*", anything the gateway does not route is "other", and a request
// refused before its URI was read (400, 414) is "-".
struct RoutePattern {
  std::string_view regex;
  std::string_view pattern;
};
std::span<const RoutePattern> public_routes();

// What a gateway node answers by itself, always as JSON
// {"error": code, "message": ..., "request_id": ...}.
struct GatewayError {
  std::span<const int> from;  // the statuses nginx produces
  int status;                 // the status the client gets
  std::string_view code;
  std::string_view message;
};
std::span<const GatewayError> gateway_errors();

// The burst a node is given: the topology's, but at least rate / 1000.
// nginx accounts in whole milliseconds, so requests that arrive within one
// millisecond all count as "at once": a node capped at 20,000 r/s must admit
// 20 of them, or it could never reach its rate.
int effective_burst(const Gateway& g, int rate_per_node);

// The whole nginx.conf of `gateway` (an nginx node of `topo`). `worker_user`
// is the `user` directive's argument ("nobody nogroup") when the master runs
// as root, "" otherwise. Pure: reads nothing, writes nothing.
std::string render_nginx_conf(const Topology& topo, const Node& gateway, const NginxPaths& paths,
                              const std::string& worker_user);

}  // namespace dine::stack
