#pragma once
// A bare /healthz server on dine's HTTP stack, for bench/http/run.sh: N worker
// threads, each with its own io_context and Server sharing the port
// (SO_REUSEPORT). Wired to the CLI as the hidden `dine bench-http-server`.
#include <string>

namespace dine::http {

// Serves GET /healthz -> {"status":"ok"} (and GET /metrics) on host:port until
// SIGINT/SIGTERM or `seconds` have passed (0: until a signal). Prints
// "listening on HOST:PORT" once every worker listens. Returns the exit code.
int run_healthz_server(const std::string& host, int port, int threads, int seconds);

}  // namespace dine::http
