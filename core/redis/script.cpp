#include "core/redis/script.hpp"

#include <openssl/sha.h>

#include "core/log.hpp"

namespace dine::redis {

namespace {

const log::Logger kLog("redis");

bool is_noscript(const Reply& r) { return r.is_error() && r.str.rfind("NOSCRIPT", 0) == 0; }

Argv eval_argv(std::string verb, std::string body, const std::vector<std::string>& keys,
               const std::vector<std::string>& args) {
  Argv argv{std::move(verb), std::move(body), std::to_string(keys.size())};
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

Task<Reply> run_script(Client& client, Context ctx, std::string source, std::string sha,
                       std::vector<std::string> keys, std::vector<std::string> args) {
  Reply first = co_await client.command(ctx, eval_argv("EVALSHA", sha, keys, args));
  if (!is_noscript(first)) co_return first;

  // Not in the server's cache (a restart, SCRIPT FLUSH, another server behind
  // the address): load it and run it again, one round trip for both.
  kLog.info("redis_script_load", {{"sha", sha}, {"request_id", ctx.request_id}});
  Argv load{"SCRIPT", "LOAD", source};
  std::vector<Argv> cmds{std::move(load), eval_argv("EVALSHA", sha, keys, args)};
  std::vector<Reply> replies = co_await client.pipeline(ctx, std::move(cmds));
  if (!replies[0].is_error()) co_return std::move(replies[1]);

  // SCRIPT LOAD refused (a proxy or ACL that forbids it): send the source.
  kLog.warn_limited("redis_script_load_refused",
                    {{"sha", sha}, {"request_id", ctx.request_id}, {"detail", replies[0].str}});
  co_return co_await client.command(ctx, eval_argv("EVAL", std::move(source), keys, args));
}

}  // namespace

std::string sha1_hex(const std::string& data) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * SHA_DIGEST_LENGTH, '0');
  for (int i = 0; i < SHA_DIGEST_LENGTH; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 15];
  }
  return out;
}

Script::Script(std::string source) : source_(std::move(source)), sha_(sha1_hex(source_)) {}

Task<Reply> Script::run(Client& client, Context ctx, std::vector<std::string> keys,
                        std::vector<std::string> args) const {
  return run_script(client, std::move(ctx), source_, sha_, std::move(keys), std::move(args));
}

}  // namespace dine::redis
