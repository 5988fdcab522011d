#include <algorithm>
#include <cctype>

#include <hiredis/hiredis.h>

#include "core/redis/connection.hpp"

namespace dine::redis::detail {

Reply copy_reply(const redisReply& r) {
  Reply out;
  switch (r.type) {
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::String;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::Status;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::Error;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::Integer;
      out.integer = r.integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::Array;
      out.elements.reserve(r.elements);
      for (size_t i = 0; i < r.elements; ++i) out.elements.push_back(copy_reply(*r.element[i]));
      break;
    case REDIS_REPLY_NIL:
    default:
      out.type = Reply::Type::Nil;
      break;
  }
  return out;
}

namespace {
std::string lower(std::string n) {
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return n;
}
}  // namespace

bool is_push_mode_command(const std::string& name) {
  std::string n = lower(name);
  const std::string suffix = "subscribe";
  bool subscribe_family =
      n.size() >= suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0;
  return subscribe_family || n == "monitor";
}

bool is_subscribe_command(const std::string& name) {
  std::string n = lower(name);
  return n == "subscribe" || n == "psubscribe" || n == "unsubscribe" || n == "punsubscribe";
}

}  // namespace dine::redis::detail
