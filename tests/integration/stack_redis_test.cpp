// Redis persistence and memory settings as `dine up` and the harness pass them
// to redis-server: a started server reports them in CONFIG GET, an append-only
// queue refuses writes when full (nothing is evicted), a cache evicts.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/stack/local_stack.hpp"
#include "core/stack/process.hpp"
#include "core/stack/servers.hpp"
#include "tests/integration/harness.hpp"

namespace dine::stack {
namespace {

using test::Harness;

// A blocking RESP2 exchange, just enough for CONFIG GET, SET and EXISTS (no
// client library in this test: it checks what the server was started with).
class Resp {
 public:
  Resp(const std::string& host, int port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, host.c_str(), &a.sin_addr);
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error(fmt::format("cannot connect to redis on port {}", port));
  }
  ~Resp() { close(fd_); }

  // Sends one command; the reply flattened: a status, error ("-..."), integer
  // or bulk string as one element, an array as its elements.
  std::vector<std::string> call(const std::vector<std::string>& argv) {
    std::string req = fmt::format("*{}\r\n", argv.size());
    for (const auto& a : argv) req += fmt::format("${}\r\n{}\r\n", a.size(), a);
    if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
      throw std::runtime_error("send failed");
    std::vector<std::string> out;
    read_reply(out);
    return out;
  }

  std::map<std::string, std::string> config(const std::string& pattern) {
    auto flat = call({"CONFIG", "GET", pattern});
    std::map<std::string, std::string> m;
    for (std::size_t i = 0; i + 1 < flat.size(); i += 2) m[flat[i]] = flat[i + 1];
    return m;
  }

 private:
  std::string line() {
    std::string s;
    while (s.size() < 2 || s.compare(s.size() - 2, 2, "\r\n") != 0) s.push_back(byte());
    s.resize(s.size() - 2);
    return s;
  }
  char byte() {
    if (pos_ == buf_.size()) {
      char tmp[65536];
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n <= 0) throw std::runtime_error("redis closed the connection or did not answer");
      buf_.assign(tmp, static_cast<std::size_t>(n));
      pos_ = 0;
    }
    return buf_[pos_++];
  }
  void read_reply(std::vector<std::string>& out) {
    std::string l = line();
    switch (l.at(0)) {
      case '+': case ':': out.push_back(l.substr(1)); break;
      case '-': out.push_back(l); break;
      case '$': {
        long n = std::stol(l.substr(1));
        if (n < 0) { out.emplace_back(); break; }
        std::string v;
        for (long i = 0; i < n + 2; ++i) v.push_back(byte());
        out.push_back(v.substr(0, static_cast<std::size_t>(n)));
        break;
      }
      case '*': {
        long n = std::stol(l.substr(1));
        for (long i = 0; i < n; ++i) read_reply(out);
        break;
      }
      default: throw std::runtime_error("unexpected RESP line: " + l);
    }
  }
  int fd_;
  std::string buf_;
  std::size_t pos_ = 0;
};

// A redis-server of our own (not the harness's shared one), stopped at scope end.
struct OwnRedis {
  RedisInstance r;
  explicit OwnRedis(const std::string& name) {
    static int n = 0;
    r.dir = fmt::format("{}/{}-{}", Harness::get().temp_dir(), name, ++n);
    r.port = free_port();
    r.die_with_parent = true;
  }
  ~OwnRedis() { redis_stop(r); }
};

TEST(StackRedis, HarnessRedisIsAQueueThatFsyncsEveryWrite) {
  auto& h = Harness::get().redis();
  auto cfg = Resp(h.host, h.port).config("*");
  EXPECT_EQ(cfg["appendonly"], "yes");
  EXPECT_EQ(cfg["appendfsync"], "always");
  EXPECT_EQ(cfg["maxmemory-policy"], "noeviction");
  EXPECT_EQ(cfg["maxmemory"], std::to_string(256ll << 20));
}

TEST(StackRedis, FullQueueRefusesWritesAndKeepsWhatItHas) {
  OwnRedis q("redis-queue");
  q.r.appendonly = true;
  q.r.maxmemory_mb = 4;
  redis_start(q.r);
  Resp c(q.r.host, q.r.port);
  auto cfg = c.config("*");
  EXPECT_EQ(cfg["appendonly"], "yes");
  EXPECT_EQ(cfg["appendfsync"], "always");
  EXPECT_EQ(cfg["maxmemory"], std::to_string(4 << 20));
  EXPECT_EQ(cfg["maxmemory-policy"], "noeviction");

  const std::string value(64 * 1024, 'x');
  int written = 0;
  std::string refusal;
  for (int i = 0; i < 200 && refusal.empty(); ++i) {
    auto r = c.call({"SET", fmt::format("q:{}", i), value});
    if (r.at(0) == "OK") ++written;
    else refusal = r.at(0);
  }
  EXPECT_GT(written, 0);
  EXPECT_EQ(refusal.rfind("-OOM", 0), 0u) << "a full queue must refuse the write, got: " << refusal;
  // Nothing acknowledged was evicted to make room.
  EXPECT_EQ(c.call({"EXISTS", "q:0"}).at(0), "1");
  EXPECT_EQ(c.call({"DBSIZE"}).at(0), std::to_string(written));
}

TEST(StackRedis, FullCacheEvictsTheLeastRecentlyUsed) {
  OwnRedis cache("redis-cache");
  cache.r.maxmemory_mb = 4;  // appendonly off: eviction defaults to allkeys-lru
  redis_start(cache.r);
  Resp c(cache.r.host, cache.r.port);
  auto cfg = c.config("*");
  EXPECT_EQ(cfg["appendonly"], "no");
  EXPECT_EQ(cfg["maxmemory-policy"], "allkeys-lru");
  const std::string value(64 * 1024, 'x');
  for (int i = 0; i < 200; ++i) ASSERT_EQ(c.call({"SET", fmt::format("c:{}", i), value}).at(0), "OK") << i;
  EXPECT_EQ(c.call({"EXISTS", "c:0"}).at(0), "0") << "the oldest entry must have been evicted";
  EXPECT_EQ(c.call({"EXISTS", "c:199"}).at(0), "1");
}

TEST(StackRedis, DineUpStartsEachRedisNodeWithItsTopologySettings) {
  int mq_port = free_port(), cache_port = free_port();
  Topology topo = parse_topology(fmt::format(R"({{"name": "t", "nodes": [
      {{"id": "mq", "kind": "redis", "port": {}, "appendonly": true, "appendfsync": "everysec", "maxmemory_mb": 48}},
      {{"id": "cache", "kind": "redis", "port": {}, "maxmemory_mb": 32, "eviction": "allkeys-lfu"}}]}})",
                                             mq_port, cache_port),
                                 "redis.json");
  std::string state = Harness::get().temp_dir() + "/stack-redis-state";
  struct Down {
    const Topology& topo;
    std::string state;
    ~Down() {
      try {
        LocalStack(topo, "", state).down();
      } catch (const std::exception&) {
      }
    }
  } down{topo, state};
  std::vector<std::string> events;
  LocalStack(topo, "", state).start_datastores([&](const StackEvent& e) { events.push_back(e.message); });

  auto mq = Resp("127.0.0.1", mq_port).config("*");
  EXPECT_EQ(mq["appendonly"], "yes");
  EXPECT_EQ(mq["appendfsync"], "everysec");
  EXPECT_EQ(mq["maxmemory"], std::to_string(48 << 20));
  EXPECT_EQ(mq["maxmemory-policy"], "noeviction");
  auto cache = Resp("127.0.0.1", cache_port).config("*");
  EXPECT_EQ(cache["appendonly"], "no");
  EXPECT_EQ(cache["maxmemory"], std::to_string(32 << 20));
  EXPECT_EQ(cache["maxmemory-policy"], "allkeys-lfu");
  // `dine up` says what it started each node with.
  ASSERT_EQ(events.size(), 2u);
  EXPECT_NE(events[0].find("fsync everysec, 48 MB, noeviction"), std::string::npos) << events[0];
  EXPECT_NE(events[1].find("no persistence, 32 MB, allkeys-lfu"), std::string::npos) << events[1];
}

}  // namespace
}  // namespace dine::stack
