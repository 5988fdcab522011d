#pragma once
// HTTP/1.1 client with keep-alive connection pools per host:port and a deadline
// on every call. Belongs to one executor (one worker thread). Retries only when
// told the call is idempotent, and only on connection failures.
#include <cstddef>
#include <memory>
#include <string>

#include "core/async.hpp"
#include "core/http/message.hpp"

namespace dine::http {

struct ClientOptions {
  std::size_t max_connections_per_host = 64;
  milliseconds timeout{5000};  // whole call: connect, write, read
  int retries = 1;             // extra attempts for idempotent calls on connection failure
};

struct ClientResponse {
  int status = 0;
  Headers headers;  // names lower-cased
  std::string body;
  std::string_view header(std::string_view name) const;
};

struct ClientRequest {
  std::string method = "GET";
  std::string host = "127.0.0.1";
  int port = 80;
  std::string target = "/";
  Headers headers;
  std::string body;              // sent as application/json when not empty
  bool idempotent = false;
  std::optional<milliseconds> timeout;  // overrides ClientOptions::timeout
};

class Client {
 public:
  Client(asio::any_io_executor ex, ClientOptions opts = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Throws dine::Error(Unavailable, "upstream_unavailable") when the peer cannot
  // be reached, dine::Error(Timeout, "upstream_timeout") past the deadline.
  Task<ClientResponse> request(ClientRequest req);

  std::size_t idle_connections() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace dine::http
