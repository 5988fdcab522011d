#pragma once
// What the probes of monitor/probe_*.cpp share: timing, turning a failed call
// into a finding (refused: DOWN; no answer in time: HUNG; else a red reason),
// and one GET under the probe's deadline.
#include <string>

#include "core/async.hpp"
#include "core/http/client.hpp"
#include "monitor/health.hpp"

namespace dine {
class Error;
struct Node;
}  // namespace dine

namespace dine::monitor {

double ms_since(Clock::time_point t);
void failed(Observation& o, const Error& e, const char* what);
std::string host_of(const Node& n);
Task<http::ClientResponse> get(http::Client& c, const Node& n, std::string target, Deadline deadline);
// The "error" (else "status") field of a JSON answer, "" when none.
std::string error_of(const http::ClientResponse& r);

}  // namespace dine::monitor
