#pragma once
// Redis through hiredis's async API on an asio adapter. A Client belongs to one
// executor (one worker thread) and holds one connection, reconnecting on demand
// with backoff. Commands are argument vectors, never concatenated strings;
// several commands in flight pipeline on the one connection.
#include <memory>
#include <string>
#include <vector>

#include "core/async.hpp"
#include "core/redis/reply.hpp"

namespace dine::redis {

using Argv = std::vector<std::string>;

struct ClientConfig {
  std::string name;  // for metrics and logs, e.g. "redis-mq"
  std::string host = "127.0.0.1";
  int port = 6379;
  milliseconds connect_timeout{1000};
  milliseconds command_timeout{2000};
};

struct ClientFigures {
  bool connected = false;
  uint64_t commands = 0;
  uint64_t errors = 0;       // connection failures and timeouts (not Redis error replies)
  uint64_t reconnects = 0;
  std::size_t in_flight = 0;
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
  // reached or the connection drops (every pending command fails), and
  // dine::Error(Timeout, "redis_timeout") when the command deadline passes.
  Task<Reply> command(Argv argv);

  // Sends all commands back to back on the connection and waits for every
  // reply; replies are in the order of the commands.
  Task<std::vector<Reply>> pipeline(std::vector<Argv> commands);

  // XADD stream * field value ... ; returns the entry id.
  Task<std::string> xadd(std::string stream, std::vector<std::pair<std::string, std::string>> fields);

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
