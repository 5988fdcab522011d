#include "core/redis/connection.hpp"

#include <csignal>
#include <mutex>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

namespace dine::redis::detail {

namespace {

// hiredis 0.14 writes with write(2): a peer that went away would raise SIGPIPE
// and kill the process. A server wants EPIPE instead.
void ignore_sigpipe_once() {
  static std::once_flag once;
  std::call_once(once, [] { std::signal(SIGPIPE, SIG_IGN); });
}

Connection* owner_of(const redisAsyncContext* ac) { return static_cast<Connection*>(ac->data); }

// A peer that vanished without a FIN (host down, cable out) is noticed in
// about 30 s even on a connection that only listens (a subscriber). Best
// effort: a socket that refuses the options works without them.
void enable_keepalive(int fd) {
  int on = 1, idle = 15, interval = 5, count = 3;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

}  // namespace

// hiredis's C callbacks. They only forward to the Connection; none of them
// calls back into hiredis.
struct Connection::Hooks {
  static void add_read(void* p) {
    auto* c = static_cast<Connection*>(p);
    c->want_read_ = true;
    c->arm_read();
  }
  static void del_read(void* p) { static_cast<Connection*>(p)->want_read_ = false; }
  static void add_write(void* p) {
    auto* c = static_cast<Connection*>(p);
    c->want_write_ = true;
    c->arm_write();
  }
  static void del_write(void* p) { static_cast<Connection*>(p)->want_write_ = false; }
  // Called by hiredis while it frees the context, before it closes the fd.
  static void cleanup(void* p) { static_cast<Connection*>(p)->on_context_gone(); }

  static void on_connect(const redisAsyncContext* ac, int status) {
    Connection* c = owner_of(ac);
    if (status != REDIS_OK) {
      c->close_reason_ = ac->errstr ? ac->errstr : "connect failed";
      return;  // hiredis frees the context right after; cleanup reports it
    }
    c->connected_ = true;
    c->connect_timer_.cancel();
    if (c->events_.on_connected) c->events_.on_connected();
  }
  static void on_disconnect(const redisAsyncContext* ac, int status) {
    // cleanup() already reported the loss; keep hiredis's reason if we lack one.
    if (status != REDIS_OK && ac->errstr && owner_of(ac)->close_reason_.empty())
      owner_of(ac)->close_reason_ = ac->errstr;
  }

  // Push mode: hiredis calls this for every subscribe confirmation and
  // message, and once per channel with nullptr when the context is freed
  // (the loss itself is reported by cleanup()). Nothing to free here.
  static void on_push(redisAsyncContext* ac, void* reply, void*) {
    if (!reply) return;
    Connection* c = owner_of(ac);
    if (!c->events_.on_push) return;
    try {
      c->events_.on_push(copy_reply(*static_cast<redisReply*>(reply)));
    } catch (...) {
      // Never unwind through C; a message that cannot be copied is dropped.
    }
  }

  static void on_reply(redisAsyncContext* ac, void* reply, void* privdata) {
    std::unique_ptr<ReplyFn> done(static_cast<ReplyFn*>(privdata));
    try {
      if (reply) {
        Reply copy = copy_reply(*static_cast<redisReply*>(reply));
        (*done)(&copy);
      } else {
        (*done)(nullptr);
      }
    } catch (...) {
      // Never unwind through C. The only candidate is bad_alloc while copying:
      // report the command as lost rather than leave its waiter hanging.
      try {
        (*done)(nullptr);
      } catch (...) {
      }
    }
  }
};

Connection::Connection(asio::any_io_executor ex) : ex_(ex), sd_(ex), connect_timer_(ex) {}

Connection::~Connection() {
  if (ac_) {
    events_ = {};  // the owner is gone or going: tell nobody
    ++in_hiredis_;
    redisAsyncFree(ac_);  // runs pending callbacks (nullptr) and cleanup()
    --in_hiredis_;
  }
}

std::shared_ptr<Connection> Connection::open(asio::any_io_executor ex, const std::string& host,
                                             int port, milliseconds connect_timeout,
                                             Events events, std::string& error) {
  ignore_sigpipe_once();
  redisAsyncContext* ac = redisAsyncConnect(host.c_str(), port);
  if (!ac) {
    error = "cannot allocate hiredis context";
    return nullptr;
  }
  if (ac->err) {
    error = ac->errstr ? ac->errstr : "connect failed";
    redisAsyncFree(ac);  // no hooks or callbacks attached yet
    return nullptr;
  }
  enable_keepalive(ac->c.fd);
  std::shared_ptr<Connection> c(new Connection(ex));
  boost::system::error_code ec;
  c->sd_.assign(ac->c.fd, ec);
  if (ec) {
    error = "cannot watch socket: " + ec.message();
    redisAsyncFree(ac);
    return nullptr;
  }
  c->ac_ = ac;
  c->events_ = std::move(events);
  ac->data = c.get();
  ac->ev.data = c.get();
  ac->ev.addRead = &Hooks::add_read;
  ac->ev.delRead = &Hooks::del_read;
  ac->ev.addWrite = &Hooks::add_write;
  ac->ev.delWrite = &Hooks::del_write;
  ac->ev.cleanup = &Hooks::cleanup;
  redisAsyncSetConnectCallback(ac, &Hooks::on_connect);
  redisAsyncSetDisconnectCallback(ac, &Hooks::on_disconnect);

  // The connect completes when the socket turns writable: watch for it even
  // before any command asks to write.
  Hooks::add_write(c.get());
  c->connect_timer_.expires_after(connect_timeout);
  c->connect_timer_.async_wait([weak = std::weak_ptr<Connection>(c)](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || !self->alive() || self->connected_) return;
    self->close_reason_ = "connect timeout";
    self->close();
  });
  return c;
}

namespace {

// hiredis wants parallel arrays of pointers and lengths.
struct ArgvView {
  explicit ArgvView(const std::vector<std::string>& argv) {
    ptrs.reserve(argv.size());
    lens.reserve(argv.size());
    for (const auto& a : argv) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
  }
  int argc() const { return static_cast<int>(ptrs.size()); }
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
};

}  // namespace

bool Connection::send(const std::vector<std::string>& argv, ReplyFn done) {
  if (!ac_ || argv.empty() || is_push_mode_command(argv[0])) return false;
  ArgvView v(argv);
  auto* fn = new ReplyFn(std::move(done));
  ++in_hiredis_;
  int rc = redisAsyncCommandArgv(ac_, &Hooks::on_reply, fn, v.argc(), v.ptrs.data(), v.lens.data());
  --in_hiredis_;
  if (rc != REDIS_OK) {
    delete fn;
    return false;
  }
  return true;
}

bool Connection::send_push(const std::vector<std::string>& argv) {
  if (!ac_ || argv.size() < 2 || !is_subscribe_command(argv[0])) return false;
  ArgvView v(argv);
  ++in_hiredis_;
  int rc = redisAsyncCommandArgv(ac_, &Hooks::on_push, nullptr, v.argc(), v.ptrs.data(), v.lens.data());
  --in_hiredis_;
  return rc == REDIS_OK;
}

void Connection::close() {
  if (!ac_) return;
  if (in_hiredis_ > 0) {
    // Freeing the context under hiredis's own feet is a use-after-free: do it
    // once the current call has returned.
    asio::post(ex_, [self = shared_from_this()] { self->close(); });
    return;
  }
  if (close_reason_.empty()) close_reason_ = "closed by client";
  auto keep = shared_from_this();  // callbacks may drop the owner's reference
  ++in_hiredis_;
  redisAsyncFree(ac_);
  --in_hiredis_;
}

void Connection::arm_read() {
  if (read_armed_ || !ac_) return;
  read_armed_ = true;
  sd_.async_wait(asio::posix::stream_descriptor::wait_read,
                 [self = shared_from_this()](boost::system::error_code ec) {
                   self->on_ready(true, ec);
                 });
}

void Connection::arm_write() {
  if (write_armed_ || !ac_) return;
  write_armed_ = true;
  sd_.async_wait(asio::posix::stream_descriptor::wait_write,
                 [self = shared_from_this()](boost::system::error_code ec) {
                   self->on_ready(false, ec);
                 });
}

void Connection::on_ready(bool read, boost::system::error_code ec) {
  (read ? read_armed_ : write_armed_) = false;
  if (ec || !ac_) return;  // released or cancelled: the context is gone
  ++in_hiredis_;
  if (read && want_read_) redisAsyncHandleRead(ac_);
  if (!read && want_write_) redisAsyncHandleWrite(ac_);
  --in_hiredis_;
  // hiredis's add/del hooks are level-like ("keep watching"): re-arm while
  // wanted. The context may have been freed inside the call above.
  if (!ac_) return;
  if (want_read_) arm_read();
  if (want_write_) arm_write();
}

void Connection::on_context_gone() {
  bool was_connected = connected_;
  if (close_reason_.empty() && ac_ && ac_->err && ac_->errstr) close_reason_ = ac_->errstr;
  ac_ = nullptr;
  connected_ = false;
  want_read_ = want_write_ = false;
  if (sd_.is_open()) sd_.release();  // hiredis closes the fd itself
  connect_timer_.cancel();
  if (close_reason_.empty()) close_reason_ = "connection lost";
  auto on_closed = std::move(events_.on_closed);
  events_ = {};
  if (on_closed) on_closed(was_connected, close_reason_);
}

}  // namespace dine::redis::detail
