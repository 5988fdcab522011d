#include "monitor/probes.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/topology.hpp"
#include "monitor/probe_support.hpp"

// One probe per kind of node, each in its own file (monitor/probe_dine.cpp,
// probe_postgres.cpp, probe_redis.cpp, probe_nginx.cpp); a new kind is one
// more such file and one more case below.
namespace dine::monitor {

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// A failed call as an observation: refused (down), no answer (hung), else red.
void failed(Observation& o, const Error& e, const char* what) {
  const bool refused = e.detail().find("refused") != std::string::npos ||
                       e.detail().find("Connection refused") != std::string::npos;
  // A connection the kernel accepted for a process that never answers ends in
  // a timeout, also while connecting (PostgreSQL's startup): hung.
  if (e.kind() == ErrorKind::Timeout || e.detail().find("timed out") != std::string::npos) {
    o.answered = false;
  } else if (refused || http::never_sent(e)) {
    o.reached = false;
  } else {
    o.failures.push_back(fmt::format("{}: {}", what, e.what()));
  }
}

std::string host_of(const Node& n) { return n.ip.empty() ? n.host : n.ip; }

Task<http::ClientResponse> get(http::Client& c, const Node& n, std::string target, Deadline deadline) {
  http::ClientRequest req;
  req.host = host_of(n);
  req.port = n.port;
  req.target = std::move(target);
  req.ctx = Context{"", deadline};
  http::ClientResponse r = co_await c.request(std::move(req));
  co_return r;
}

std::string error_of(const http::ClientResponse& r) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) return j["error"].get<std::string>();
  if (j.is_object() && j.contains("status") && j["status"].is_string()) return j["status"].get<std::string>();
  return "";
}

Task<Observation> probe(const Topology& topo, http::Client& client, const Node& n, ProbeMemory& memory,
                        ProbeOptions o) {
  switch (n.kind) {
    case NodeKind::Dine: co_return co_await probe_dine(client, n, memory, o);
    case NodeKind::Postgres: co_return co_await probe_postgres(topo, n, o);
    case NodeKind::Redis: co_return co_await probe_redis(n, o);
    case NodeKind::Nginx: co_return co_await probe_nginx(topo, client, n, o);
  }
  Observation unknown;
  unknown.at = Clock::now();
  unknown.failures.push_back("no probe for this kind of node");
  co_return unknown;
}

}  // namespace dine::monitor
