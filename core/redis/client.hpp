#pragma once
// Redis through hiredis's async API on an asio adapter. A Client belongs to one
// executor (one worker thread) and holds one connection, reconnecting on demand
// with backoff. Commands are argument vectors, never concatenated strings;
// several commands in flight pipeline on the one connection.
//
// Deadlines and cancellation (see docs/redis.md):
// - a command ends by ctx.cap(command_timeout);
// - when the awaiting coroutine is cancelled (asio cancellation, e.g. the HTTP
//   server's sweep), the command is abandoned at once: the caller gets
//   boost::system::system_error(operation_aborted), the late reply is dropped
//   when it comes and the connection is kept (replies match commands by order);
// - when a deadline passes and the server has left a command unanswered for
//   the whole command_timeout, the connection is dropped (the server is not
//   answering); a shorter request deadline alone abandons its command only.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/async.hpp"
#include "core/context.hpp"
#include "core/redis/reply.hpp"

namespace dine::metrics {
class Registry;
}

namespace dine::redis {

using Argv = std::vector<std::string>;
using Fields = std::vector<std::pair<std::string, std::string>>;

struct ClientConfig {
  std::string name;  // for metrics and logs, e.g. "redis-mq"
  std::string host = "127.0.0.1";
  int port = 6379;
  milliseconds connect_timeout{1000};
  milliseconds command_timeout{2000};
  // When set, the client registers its own instruments there and updates them
  // as things happen, labelled {redis=name, worker=worker}:
  // dine_redis_connected, dine_redis_in_flight (gauges),
  // dine_redis_commands_total, dine_redis_errors_total,
  // dine_redis_reconnects_total (counters). The registry must outlive the client.
  metrics::Registry* metrics = nullptr;
  int worker = 0;
};

struct ClientFigures {
  bool connected = false;
  uint64_t commands = 0;
  uint64_t errors = 0;       // connection failures and timeouts (not Redis error replies)
  uint64_t reconnects = 0;
  std::size_t in_flight = 0;  // sent, reply not yet read (abandoned ones included)
};

class Client {
 public:
  Client(asio::any_io_executor ex, ClientConfig cfg);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends one command. Connects first if needed. A Redis error reply is
  // returned as a Reply of Type::Error (not thrown). Throws
  // dine::Error(Unavailable, "redis_unavailable") when the server cannot be
  // reached or the connection drops (every pending command fails),
  // dine::Error(Timeout, "redis_timeout") when the deadline passes, and
  // system_error(operation_aborted) when the caller is cancelled. Failures are
  // logged with ctx.request_id.
  Task<Reply> command(Context ctx, Argv argv);
  // Sends all commands back to back on the connection and waits for every
  // reply; replies are in the order of the commands. One deadline for all.
  Task<std::vector<Reply>> pipeline(Context ctx, std::vector<Argv> commands);

  // Without a request: a background context with the command timeout.
  Task<Reply> command(Argv argv);
  Task<std::vector<Reply>> pipeline(std::vector<Argv> commands);

  // XADD stream * field value ... ; returns the entry id.
  Task<std::string> xadd(Context ctx, std::string stream, Fields fields);
  Task<std::string> xadd(std::string stream, Fields fields);

  // A ready check: throws dine::Error (Unavailable, or Timeout) unless the
  // server answers PING with PONG (a server still loading its data does not).
  Task<void> ping(Context ctx);

  ClientFigures figures() const;
  const ClientConfig& config() const { return cfg_; }

  // Closes the connection now (pending commands fail); the next command reconnects.
  void disconnect();

  struct Impl;

 private:
  ClientConfig cfg_;
  std::shared_ptr<Impl> impl_;
};

}  // namespace dine::redis
