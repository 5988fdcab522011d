#include "sim/stream_probe.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "core/errors.hpp"
#include "core/redis/client.hpp"

namespace dine::sim {

int64_t stream_length(const std::string& host, int port, const std::string& stream) {
  asio::io_context ioc{1};
  redis::ClientConfig cfg;
  cfg.name = "probe";
  cfg.host = host;
  cfg.port = port;
  redis::Client client(ioc.get_executor(), cfg);
  int64_t len = 0;
  std::exception_ptr failure;
  asio::co_spawn(
      ioc,
      [&]() -> Task<void> {
        redis::Argv xlen{"XLEN", stream};
        auto r = co_await client.command(xlen);
        if (r.is_error()) throw Error(ErrorKind::Unavailable, "redis_error", "XLEN " + stream + ": " + r.str);
        len = r.integer;
      },
      [&](std::exception_ptr e) {
        failure = e;
        ioc.stop();  // the client's open connection would keep run() going
      });
  ioc.run();
  if (failure) std::rethrow_exception(failure);
  return len;
}

}  // namespace dine::sim
