#pragma once
// Private to core/redis: one hiredis async context driven by an asio
// stream_descriptor on one executor. No policy here (no reconnects, no
// deadlines on commands): the Client builds those on top.
//
// Safety rules this layer keeps:
// - hiredis owns the socket: the descriptor is release()d, never closed.
// - hiredis may free the context inside our calls into it (EOF, error); every
//   asio handler holds a shared_ptr to the Connection and checks alive().
// - Callbacks handed to send() run exactly once, inside hiredis's call stack:
//   they must only record the outcome and wake the waiter (e.g. cancel a
//   timer, which asio never completes inline), never call back into hiredis.
// - Push mode (SUBSCRIBE family) goes through send_push(): hiredis keeps its
//   callback per channel and calls it for every message, so no per-command
//   state is attached; every push reply goes to Events::on_push, which obeys
//   the same rule as the callbacks above. A connection in push mode carries
//   nothing else (hiredis 0.14 mismatches ordinary replies there).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/async.hpp"
#include "core/redis/reply.hpp"

struct redisAsyncContext;
struct redisReply;

namespace dine::redis::detail {

// Copies a hiredis reply (freed when its callback returns) into a Reply.
Reply copy_reply(const redisReply& r);

// True for commands that put a hiredis connection into a push mode whose
// callbacks fire more than once (SUBSCRIBE family, MONITOR): send() refuses
// them; the SUBSCRIBE family goes through send_push().
bool is_push_mode_command(const std::string& name);
// The four commands hiredis 0.14 tracks in push mode: (P)(UN)SUBSCRIBE. Not
// SSUBSCRIBE, whose messages hiredis 0.14 does not know.
bool is_subscribe_command(const std::string& name);

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  struct Events {
    std::function<void()> on_connected;
    // The context is gone (connect failed, connection lost or closed by us).
    // Runs inside hiredis: record state only.
    std::function<void(bool was_connected, const std::string& why)> on_closed;
    // Every reply to a send_push() command: subscribe confirmations and
    // messages. Runs inside hiredis: record state and wake waiters only.
    std::function<void(const Reply&)> on_push;
  };
  // nullptr reply: the connection was lost before the reply came.
  using ReplyFn = std::function<void(Reply*)>;

  // Starts a non-blocking connect. Returns nullptr (and sets `error`) when it
  // fails at once. Commands may be sent before the connect completes; they
  // are written once it does, or fail if it does not within connect_timeout.
  static std::shared_ptr<Connection> open(asio::any_io_executor ex, const std::string& host,
                                          int port, milliseconds connect_timeout, Events events,
                                          std::string& error);

  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  bool alive() const { return ac_ != nullptr; }
  bool connected() const { return connected_; }

  // Queues one command. Returns false (and `done` is not called) when the
  // connection is gone; otherwise `done` is called exactly once.
  bool send(const std::vector<std::string>& argv, ReplyFn done);

  // Queues a (P)SUBSCRIBE or (P)UNSUBSCRIBE naming at least one channel; its
  // replies, and every message after, go to Events::on_push. Returns false
  // when the connection is gone, for any other command, or for UNSUBSCRIBE
  // while nothing is subscribed.
  bool send_push(const std::vector<std::string>& argv);

  // Frees the context now: pending callbacks get nullptr. Safe to call
  // anywhere, any number of times; deferred when inside hiredis.
  void close();

  struct Hooks;  // hiredis's C callbacks, in connection.cpp

 private:
  explicit Connection(asio::any_io_executor ex);
  void arm_read();
  void arm_write();
  void on_ready(bool read, boost::system::error_code ec);
  void on_context_gone();

  asio::any_io_executor ex_;
  asio::posix::stream_descriptor sd_;
  asio::steady_timer connect_timer_;
  redisAsyncContext* ac_ = nullptr;
  Events events_;
  bool connected_ = false;
  bool want_read_ = false, want_write_ = false;
  bool read_armed_ = false, write_armed_ = false;
  int in_hiredis_ = 0;  // > 0 while we are inside a call into hiredis
  std::string close_reason_;
};

}  // namespace dine::redis::detail
