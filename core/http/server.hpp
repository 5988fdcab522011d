#pragma once
// HTTP/1.1 server on Beast coroutines. One Server per worker io_context; with
// reuse_port several workers listen on the same port and the kernel spreads
// connections. Keep-alive, body/header limits, idle and request timeouts,
// per-route metrics, X-Request-Id, graceful stop.
#include <cstddef>
#include <memory>
#include <string>

#include "core/async.hpp"
#include "core/http/router.hpp"
#include "core/metrics.hpp"

namespace dine::http {

struct ServerLimits {
  std::size_t body_bytes = 64 * 1024;
  std::size_t header_bytes = 8 * 1024;
  milliseconds idle_timeout{30000};     // keep-alive connection with no request
  milliseconds request_timeout{10000};  // reading one request, handling it and writing the answer
};

struct ServerFigures {
  std::size_t connections = 0;
  std::size_t in_flight = 0;  // requests being handled
  std::size_t accepted = 0;   // connections accepted since start
};

class Server {
 public:
  Server(asio::any_io_executor ex, const Router& router, metrics::Registry& metrics,
         ServerLimits limits);
  ~Server();

  // Binds and listens; throws std::system_error naming the address when it cannot.
  void listen(const std::string& host, int port, bool reuse_port);
  int port() const;  // actual port (useful with port 0)

  // Starts the accept loop on the executor.
  void start();

  // Stops accepting; idle keep-alive connections are closed; requests in flight
  // finish and their connections close after answering.
  void stop();

  // Completes when no request is in flight and no connection is open, or at the deadline.
  Task<void> drained(Deadline deadline);

  ServerFigures figures() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace dine::http
