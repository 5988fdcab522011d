#pragma once
// Reads an event stream's length (XLEN) from a Redis node; blocking, for CLIs.
#include <cstdint>
#include <string>

namespace dine::sim {

// Throws dine::Error(Unavailable) when the node does not answer.
int64_t stream_length(const std::string& host, int port, const std::string& stream);

}  // namespace dine::sim
