#pragma once
// A Redis reply copied out of hiredis's redisReply (which is freed when the
// callback returns).
#include <cstdint>
#include <string>
#include <vector>

namespace dine::redis {

struct Reply {
  enum class Type { Nil, Status, Error, Integer, String, Array };
  Type type = Type::Nil;
  std::string str;  // Status, Error, String
  int64_t integer = 0;
  std::vector<Reply> elements;

  bool is_error() const { return type == Type::Error; }
  bool is_nil() const { return type == Type::Nil; }
};

}  // namespace dine::redis
