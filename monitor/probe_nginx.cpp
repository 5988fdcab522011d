#include "monitor/probes.hpp"

#include <fmt/format.h>

#include "core/errors.hpp"
#include "core/http/client.hpp"
#include "core/http/middleware_auth.hpp"
#include "core/stack/access_log.hpp"
#include "core/stack/local_stack.hpp"
#include "core/stack/nginx_conf.hpp"
#include "core/topology.hpp"

#include "monitor/probe_support.hpp"

namespace dine::monitor {

Task<Observation> probe_nginx(const Topology& topo, http::Client& client, const Node& n, ProbeOptions opt) {
  Observation o;
  const auto start = Clock::now();
  try {
    // The gateway's own answer (not logged, not proxied): nginx itself is up.
    http::ClientResponse r = co_await get(client, n, "/gateway/health", start + opt.deadline);
    if (r.status >= 500) o.failures.push_back(fmt::format("GET /gateway/health {}", r.status));
    else if (r.status != 200)
      o.warnings.push_back(fmt::format("GET /gateway/health {}: a config older than this dine; fix: dine gen nginx",
                                       r.status));
  } catch (const Error& e) {
    failed(o, e, "GET /gateway/health");
  }
  if (o.reached && o.answered) {
    if (!http::is_loopback_host(n.host)) {
      o.warnings.push_back("its access log is on another host: request figures unknown");
    } else {
      const std::string dir = opt.state_dir.empty() ? stack::LocalStack::default_state_dir(topo) : opt.state_dir;
      const double to = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
      const double from = to - std::chrono::duration<double>(opt.access_window).count();
      stack::AccessStats acc(from, to);
      if (stack::read_access_log(stack::nginx_paths(topo, n, dir).access_log(), from, acc)) {
        const auto s = acc.summary().total;
        const double secs = to - from;
        o.figures["requests_per_s"] = s.per_second;
        o.figures["bytes_out_per_s"] = s.bytes_out_per_second;
        o.figures["status_5xx_per_s"] = static_cast<double>(s.status_5xx) / secs;
        o.figures["rate_limited_per_s"] = static_cast<double>(s.rate_limited) / secs;
        if (s.requests >= 20) o.figures["error_rate"] = static_cast<double>(s.status_5xx) / static_cast<double>(s.requests);
        if (s.requests >= 20) o.figures["p99_ms"] = s.p99_ms;
        for (const auto& r : acc.summary().routes)
          o.interfaces.push_back({r.route, r.per_second, r.bytes_out_per_second,
                                  static_cast<double>(r.status_5xx) / secs, static_cast<double>(r.rate_limited) / secs,
                                  r.p99_ms});
        if (s.rate_limited > 0) o.warnings.push_back(fmt::format("{:.0f} requests/s over the cap (429)",
                                                                 static_cast<double>(s.rate_limited) / secs));
      }
    }
  }
  o.took_ms = ms_since(start);
  o.at = Clock::now();
  co_return o;
}

}  // namespace dine::monitor
