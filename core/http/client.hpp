#pragma once
// HTTP/1.1 client with keep-alive connection pools per host:port. Belongs to one
// executor (one worker thread). Every call carries a Context: its request id
// goes out as X-Request-Id and into the client's log lines, and the call ends by
// min(ctx.deadline, now + timeout), telling the server what is left of it in
// X-Request-Budget-Ms.
//
// A non-idempotent request is never sent twice: once any byte of it went out,
// a broken connection is an error, not a retry. Only idempotent calls are
// retried (bounded, jittered, inside the deadline). An HTTP answer, whatever
// its status, is returned, never retried. See docs/http-client.md.
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/async.hpp"
#include "core/context.hpp"
#include "core/http/message.hpp"

namespace dine::metrics {
class Registry;
}

namespace dine::http {

// Trivially copyable on purpose: GCC 12 copies a non-trivial default argument
// bitwise when the same full-expression has a co_await, as in
// `Client c(co_await asio::this_coro::executor);` (a std::string member here
// once made that free an SSO buffer inside the coroutine frame).
struct ClientOptions {
  std::size_t max_connections_per_host = 64;
  milliseconds timeout{5000};          // whole call: waiting for a slot, connect, write, read
  int retries = 1;                     // extra attempts, idempotent calls only
  milliseconds idle_timeout{15000};    // an idle keep-alive connection older than this is closed,
                                       // not reused; keep it below every server's idle timeout
  milliseconds retry_backoff{25};      // first retry waits 1/2..1 of this, doubling each retry
  metrics::Registry* metrics = nullptr;  // when set: per-upstream figures (outlives the Client)
  int worker = 0;                      // the `worker` label of those figures
};

struct ClientResponse {
  int status = 0;
  Headers headers;  // names lower-cased
  std::string body;
  std::string_view header(std::string_view name) const;
};

// True for a failure of Client::request that sent none of the request (the
// connection could not be made): another node may take the call, whatever
// its method.
bool never_sent(const std::exception& e);

// GET, HEAD, PUT, DELETE and OPTIONS; POST, PATCH and anything else are not.
bool idempotent_by_default(std::string_view method);

struct ClientRequest {
  std::string method = "GET";
  std::string host = "127.0.0.1";
  int port = 80;
  std::string target = "/";
  Headers headers;
  std::string body;  // sent as application/json when not empty
  // Unset: the method decides. A state-guarded call (POST .../paid) or one with
  // an Idempotency-Key may declare itself idempotent (true), which allows retries.
  std::optional<bool> idempotent;
  std::optional<milliseconds> timeout;  // overrides ClientOptions::timeout
  // The request this call is made for: its id (a fresh one when empty, or the
  // X-Request-Id in `headers`) and its deadline (none by default).
  Context ctx;

  bool is_idempotent() const { return idempotent.value_or(idempotent_by_default(method)); }
};

class Client {
 public:
  Client(asio::any_io_executor ex, ClientOptions opts = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Returns every HTTP answer, 4xx and 5xx included. Throws
  //   dine::Error(Unavailable, "upstream_unavailable") when the peer cannot be
  //     reached or the connection broke (after retries, for idempotent calls);
  //   dine::Error(Timeout, "upstream_timeout") when the deadline passed;
  //   boost::system::system_error(operation_aborted) when the calling coroutine
  //     was cancelled: the call stops at once and its connection is closed.
  // The messages are plain; host:port and socket errors are in Error::detail().
  Task<ClientResponse> request(ClientRequest req);

  std::size_t idle_connections() const;
  std::size_t open_connections() const;  // idle, in use and connecting

  // Sent as X-Dine-Service on every call from now on (core/service_auth.hpp);
  // "" for none. (Not an option: ClientOptions stays trivially copyable.)
  void present_service_credential(std::string credential);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace dine::http
