#include "monitor/probes.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/http/client.hpp"
#include "core/topology.hpp"

#include "monitor/probe_support.hpp"

namespace dine::monitor {

Task<Observation> probe_dine(http::Client& client, const Node& n, ProbeMemory& memory, ProbeOptions opt) {
  Observation o;
  const auto start = Clock::now();
  const Deadline deadline = start + opt.deadline;
  try {
    http::ClientResponse h = co_await get(client, n, "/healthz", deadline);
    if (h.status != 200) {
      // A wedged worker thread: the node is hung even if another worker answers.
      auto j = nlohmann::json::parse(h.body, nullptr, false);
      if (j.is_object() && j.value("status", "") == "wedged" && j.contains("wedged")) {
        for (const auto& w : j["wedged"])
          o.hung.push_back(fmt::format("worker {} stalled {} ms", w.value("worker", -1), w.value("stalled_ms", 0)));
      } else {
        o.failures.push_back(fmt::format("/healthz {} {}", h.status, error_of(h)));
      }
    }
    http::ClientResponse r = co_await get(client, n, "/readyz", deadline);
    const std::string status = error_of(r);
    if (r.status != 200) o.failures.push_back(fmt::format("/readyz {} {}", r.status, status));
    else if (status == "degraded") o.warnings.push_back("degraded: a degradable dependency is down");
    http::ClientResponse m = co_await get(client, n, "/metrics", deadline);
    if (m.status == 200) {
      Scrape now = scrape_of(m.body);
      o.figures = figures_of(now, memory.last_scrape ? &*memory.last_scrape : nullptr);
      for (const auto& [server, p] : now.pools)
        o.pools[server] = PoolUse{p.connections - p.idle, std::max(p.connections, p.max_connections), p.waiting};
      if (!now.outbox_oldest_of.empty()) o.where["outbox_oldest_s"] = now.outbox_oldest_of;
      memory.last_scrape = std::move(now);
      auto waiting = o.figures.find("pool_waiting");
      if (waiting != o.figures.end() && waiting->second > 0)
        o.warnings.push_back(fmt::format("{:.0f} waiting for a database connection", waiting->second));
    }
  } catch (const Error& e) {
    failed(o, e, "probe");
  }
  o.took_ms = ms_since(start);
  o.at = Clock::now();
  co_return o;
}

}  // namespace dine::monitor
