#pragma once
// Small pieces of the HTTP/1.1 wire format that need no Beast: the response
// head the server writes, reason phrases and request ids.
#include <string>
#include <string_view>

#include "core/context.hpp"
#include "core/http/message.hpp"

namespace dine::http::wire {

std::string_view reason(int status);  // "OK", "Not Found", ...; "Unknown" otherwise

using dine::new_request_id;  // core/context.hpp

struct Head {
  int status = 200;
  std::string_view content_type;
  std::size_t content_length = 0;
  std::string_view request_id;  // X-Request-Id, omitted when empty
  const Headers* extra = nullptr;
  bool keep_alive = true;
  bool http10 = false;  // HTTP/1.0 peers need "Connection: keep-alive" spelled out
};

// Serializes the status line and headers (ending in the blank line) into `out`,
// reusing its capacity. Extra headers holding CR or LF are dropped.
void write_head(std::string& out, const Head& head);

}  // namespace dine::http::wire
