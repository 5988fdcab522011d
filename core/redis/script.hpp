#pragma once
// A Lua script run by its SHA1 (EVALSHA), loaded into the server on demand:
// after a restart or SCRIPT FLUSH the server answers NOSCRIPT, and run()
// loads the source and retries once, in the same round trip.
#include <string>
#include <vector>

#include "core/async.hpp"
#include "core/context.hpp"
#include "core/redis/client.hpp"
#include "core/redis/reply.hpp"

namespace dine::redis {

class Script {
 public:
  explicit Script(std::string source);

  const std::string& source() const { return source_; }
  const std::string& sha() const { return sha_; }  // 40 lower-case hex digits

  // EVALSHA sha numkeys keys... args... . A Lua error is returned as a Reply
  // of Type::Error, as Client::command does; connection failures throw as
  // they do there. `client` must outlive the call.
  Task<Reply> run(Client& client, Context ctx, std::vector<std::string> keys,
                  std::vector<std::string> args) const;

 private:
  std::string source_;
  std::string sha_;
};

// SHA1 of `data` in lower-case hex, as Redis names scripts.
std::string sha1_hex(const std::string& data);

}  // namespace dine::redis
