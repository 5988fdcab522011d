#include "sim/prewarm.hpp"

#include <algorithm>
#include <memory>
#include <optional>
#include <random>
#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/http/client.hpp"

namespace dine::sim {
namespace {

using nlohmann::json;

constexpr int kPageSize = 100;  // the store role's largest page

// One call's result: an HTTP answer (error empty), or why none came.
struct Outcome {
  int status = 0;
  std::string body;
  std::string error;  // upstream_unavailable, upstream_timeout, ...

  bool ok() const { return error.empty() && status == 200; }
  // Worth another attempt, maybe elsewhere: no answer, the node's trouble or a rate limit.
  bool retryable() const { return !error.empty() || status >= 500 || status == 429; }
  std::string describe() const {
    if (!error.empty()) return error;
    auto j = json::parse(body, nullptr, false);
    if (j.is_object() && j.contains("error") && j["error"].is_string())
      return fmt::format("{} {}", status, j["error"].get<std::string>());
    return fmt::format("HTTP {}", status);
  }
};

// A page of the store role's list: {"stores": [{"store_id": N, ...}], "next_cursor": "N" | null}.
bool store_page(const json& j, std::vector<int64_t>& ids) {
  ids.clear();
  if (!j.is_object() || !j.contains("stores") || !j["stores"].is_array() || !j.contains("next_cursor")) return false;
  if (!j["next_cursor"].is_null() && !j["next_cursor"].is_string()) return false;
  for (const auto& s : j["stores"]) {
    if (!s.is_object() || !s.contains("store_id") || !s["store_id"].is_number_integer()) return false;
    ids.push_back(s["store_id"].get<int64_t>());
  }
  return true;
}

struct NodeHealth {
  int failures = 0;  // consecutive
  bool dropped = false;
};

std::vector<int64_t> cut(const std::vector<int64_t>& ids, std::size_t max) {
  return std::vector<int64_t>(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), max)));
}

// The walk's state; everything runs on one event loop, so nothing is locked.
class Walk {
 public:
  Walk(const PrewarmConfig& cfg, http::Client& client, PrewarmReport& rep, const PrewarmHooks& hooks)
      : cfg_(cfg), client_(client), rep_(rep), hooks_(hooks), health_(cfg.menu_nodes.size()) {}

  void export_to(MenuExport* e) { export_ = e; }
  const std::vector<int64_t>& ids() const { return ids_; }

  Task<void> list();
  Task<void> worker();

 private:
  Task<Outcome> send(http::ClientRequest req);
  http::ClientRequest request_to(const PrewarmNode& n, std::string method, std::string target, std::string id) const;
  std::optional<std::size_t> pick();
  void failed_on(std::size_t node, const std::string& what, bool counts_against_node);
  std::string label(std::size_t node) const;
  Task<void> refresh(std::size_t first, std::size_t count);
  Task<void> export_stores(std::size_t node, std::vector<int64_t> ids, std::set<int64_t> missing);
  Task<void> export_one(std::size_t node, int64_t store);
  milliseconds backoff(int attempt);

  const PrewarmConfig& cfg_;
  http::Client& client_;
  PrewarmReport& rep_;
  const PrewarmHooks& hooks_;
  MenuExport* export_ = nullptr;
  std::vector<int64_t> ids_;
  std::vector<NodeHealth> health_;
  std::size_t next_ = 0;   // first id of the next batch
  std::size_t turn_ = 0;   // round-robin over the menu nodes
  int64_t done_ = 0;
  std::minstd_rand rng_{std::random_device{}()};
};

std::string Walk::label(std::size_t node) const {
  const auto& n = cfg_.menu_nodes[node];
  return fmt::format("{} ({})", n.id, n.address());
}

http::ClientRequest Walk::request_to(const PrewarmNode& n, std::string method, std::string target,
                                     std::string id) const {
  http::ClientRequest req;
  req.method = std::move(method);
  req.host = n.host;
  req.port = n.port;
  req.target = std::move(target);
  req.timeout = cfg_.timeout;
  req.idempotent = true;  // a refresh rewrites the same keys again: safe to repeat
  req.ctx.request_id = fmt::format("prewarm-{}-{}", cfg_.run_id, id);
  return req;
}

Task<Outcome> Walk::send(http::ClientRequest req) {
  Outcome out;
  try {
    http::ClientResponse r = co_await client_.request(std::move(req));
    out.status = r.status;
    out.body = std::move(r.body);
  } catch (const Error& e) {
    out.error = e.code();
  } catch (const std::exception& e) {
    out.error = "transport_failed";
  }
  co_return out;
}

milliseconds Walk::backoff(int attempt) {
  const int base = 50 << std::min(attempt - 1, 5);  // 50 ms, doubling
  return milliseconds(base / 2 + static_cast<int>(rng_() % static_cast<unsigned>(base / 2 + 1)));
}

std::optional<std::size_t> Walk::pick() {
  for (std::size_t k = 0; k < health_.size(); ++k) {
    std::size_t i = turn_++ % health_.size();
    if (!health_[i].dropped) return i;
  }
  return std::nullopt;
}

void Walk::failed_on(std::size_t node, const std::string& what, bool counts_against_node) {
  ++rep_.errors[fmt::format("{}: {}", label(node), what)];
  if (!counts_against_node) return;
  auto& h = health_[node];
  if (++h.failures >= cfg_.drop_after && cfg_.drop_after > 0 && !h.dropped) {
    h.dropped = true;
    rep_.dropped.push_back(label(node));
  }
}

Task<void> Walk::list() {
  const std::size_t nodes = cfg_.store_nodes.size();
  const std::size_t tries = static_cast<std::size_t>(cfg_.retries + 1) * nodes;
  std::size_t node = 0;
  std::string cursor;
  std::vector<std::string> why;
  for (int page = 0;; ++page) {
    std::string target = fmt::format("/v1/stores?limit={}", kPageSize);
    if (!cursor.empty()) target += "&cursor=" + cursor;
    std::optional<json> answer;
    std::vector<int64_t> page_ids;
    why.clear();
    for (std::size_t attempt = 0; attempt < tries && !answer; ++attempt) {
      if (attempt > 0) {
        node = (node + 1) % nodes;
        milliseconds pause = backoff(static_cast<int>(attempt / nodes) + 1);
        if (attempt % nodes == 0) co_await sleep_for(pause);
      }
      const PrewarmNode& n = cfg_.store_nodes[node];
      http::ClientRequest req = request_to(n, "GET", target, fmt::format("list{}", page));
      Outcome o = co_await send(std::move(req));
      json j = o.ok() ? json::parse(o.body, nullptr, false) : json();
      if (store_page(j, page_ids)) {
        answer = std::move(j);
        rep_.store_node = n.id;
      } else {
        why.push_back(fmt::format("{} ({}): {}", n.id, n.address(), o.ok() ? "not a store list" : o.describe()));
      }
    }
    if (!answer) {
      std::sort(why.begin(), why.end());
      why.erase(std::unique(why.begin(), why.end()), why.end());
      std::string all;
      for (const auto& w : why) all += (all.empty() ? "" : "; ") + w;
      throw PrewarmError(fmt::format("cannot list the stores: {}; fix: start the store node(s) ('dine up', or "
                                     "check 'dine ps'), then run 'dine prewarm menu' again",
                                     all));
    }
    ids_.insert(ids_.end(), page_ids.begin(), page_ids.end());
    const json& next = (*answer)["next_cursor"];
    if (!next.is_string()) break;
    cursor = next.get<std::string>();
  }
  rep_.listed = static_cast<int64_t>(ids_.size());
}

Task<void> Walk::worker() {
  while (next_ < ids_.size()) {
    const std::size_t first = next_;
    const std::size_t count = std::min(static_cast<std::size_t>(cfg_.batch), ids_.size() - first);
    next_ += count;
    try {
      co_await refresh(first, count);
    } catch (const std::exception& e) {  // a bug of ours, not the node's: the batch counts as failed
      ++rep_.errors[fmt::format("internal: {}", e.what())];
      ++rep_.failed_batches;
      rep_.failed_stores.insert(rep_.failed_stores.end(), ids_.begin() + static_cast<std::ptrdiff_t>(first),
                                ids_.begin() + static_cast<std::ptrdiff_t>(first + count));
    }
    done_ += static_cast<int64_t>(count);
    if (hooks_.progress) hooks_.progress(done_, rep_.listed);
  }
}

Task<void> Walk::refresh(std::size_t first, std::size_t count) {
  std::vector<int64_t> batch(ids_.begin() + static_cast<std::ptrdiff_t>(first),
                             ids_.begin() + static_cast<std::ptrdiff_t>(first + count));
  ++rep_.batches;
  const std::string body = json{{"store_ids", batch}}.dump();
  std::optional<std::size_t> served;
  json answer;
  for (int attempt = 0; attempt <= cfg_.retries && !served; ++attempt) {
    std::optional<std::size_t> node = pick();
    if (!node) {
      ++rep_.errors["no menu node left to call"];
      break;
    }
    if (attempt > 0) {
      ++rep_.retried;
      milliseconds pause = backoff(attempt);
      co_await sleep_for(pause);
    }
    http::ClientRequest req =
        request_to(cfg_.menu_nodes[*node], "POST", "/v1/refresh", fmt::format("b{}-{}", first / cfg_.batch, attempt));
    req.body = body;
    Outcome o = co_await send(std::move(req));
    json j = o.ok() ? json::parse(o.body, nullptr, false) : json();
    const bool valid = j.is_object() && j.contains("stores") && j["stores"].is_number_integer() &&
                       j.contains("products") && j["products"].is_number_integer() && j.contains("keys") &&
                       j["keys"].is_number_integer() && j.contains("missing") && j["missing"].is_array() &&
                       std::all_of(j["missing"].begin(), j["missing"].end(),
                                   [](const json& m) { return m.is_number_integer(); });
    if (valid) {
      served = node;
      answer = std::move(j);
      health_[*node].failures = 0;
    } else if (o.ok()) {
      failed_on(*node, "not a refresh answer", true);
    } else {
      failed_on(*node, o.describe(), o.retryable());
      if (!o.retryable()) break;  // the request itself is wrong: no node will take it
    }
  }
  if (!served) {
    ++rep_.failed_batches;
    rep_.failed_stores.insert(rep_.failed_stores.end(), batch.begin(), batch.end());
    co_return;
  }
  rep_.stores += answer["stores"].get<int64_t>();
  rep_.products += answer["products"].get<int64_t>();
  rep_.keys += answer["keys"].get<int64_t>();
  std::set<int64_t> missing;
  for (const auto& m : answer["missing"]) {
    missing.insert(m.get<int64_t>());
    rep_.missing.push_back(m.get<int64_t>());
  }
  if (export_) co_await export_stores(*served, std::move(batch), std::move(missing));
}

Task<void> Walk::export_stores(std::size_t node, std::vector<int64_t> ids, std::set<int64_t> missing) {
  for (int64_t store : ids) {
    if (!export_) {  // stopped at a file it could not write
      ++rep_.export_errors;
      continue;
    }
    if (missing.count(store)) {
      try {
        export_->remove_store(store);
      } catch (const ExportError& e) {
        ++rep_.errors[fmt::format("export: {}", e.what())];
        ++rep_.export_errors;
        export_ = nullptr;
      }
      continue;
    }
    co_await export_one(node, store);
  }
}

// The menu as the node serves it, now that it is fresh in the cache; on
// failure, from the next menu node, at most `retries` more times.
Task<void> Walk::export_one(std::size_t node, int64_t store) {
  const std::string target = fmt::format("/v1/stores/{}/menu", store);
  for (int attempt = 0; attempt <= cfg_.retries; ++attempt) {
    if (attempt > 0) {
      std::optional<std::size_t> next = pick();
      if (!next) break;
      node = *next;
      milliseconds pause = backoff(attempt);
      co_await sleep_for(pause);
    }
    http::ClientRequest req = request_to(cfg_.menu_nodes[node], "GET", target, fmt::format("m{}-{}", store, attempt));
    Outcome o = co_await send(std::move(req));
    if (o.ok() || (o.error.empty() && o.status == 404)) {
      if (!export_) break;  // another store's file failed meanwhile
      try {
        if (o.ok()) export_->store(store, o.body);
        else export_->remove_store(store);  // its menu went away since the refresh
      } catch (const ExportError& e) {
        ++rep_.errors[fmt::format("export: {}", e.what())];
        ++rep_.export_errors;
        export_ = nullptr;  // the same would happen to every file: the refresh goes on without it
      }
      co_return;
    }
    failed_on(node, "export " + o.describe(), o.retryable());
    if (!o.retryable()) break;
  }
  ++rep_.export_errors;
}

}  // namespace

std::string PrewarmNode::address() const { return fmt::format("{}:{}", host, port); }

json PrewarmReport::to_json(std::size_t max_ids) const {
  json j = {{"store_node", store_node},
            {"listed", listed},
            {"stores", stores},
            {"products", products},
            {"keys", keys},
            {"missing", cut(missing, max_ids)},
            {"missing_count", missing.size()},
            {"batches", batches},
            {"failed_batches", failed_batches},
            {"failed_stores", cut(failed_stores, max_ids)},
            {"failed_store_count", failed_stores.size()},
            {"retried", retried},
            {"errors", errors},
            {"dropped_nodes", dropped},
            {"list_seconds", list_seconds},
            {"seconds", seconds},
            {"products_per_second", products_per_second()},
            {"keys_per_second", keys_per_second()},
            {"ok", ok()}};
  if (exported)
    j["export"] = {{"dir", export_dir},         {"menus", files.menus},       {"products", files.products},
                   {"written", files.written}, {"unchanged", files.unchanged}, {"removed", files.removed},
                   {"errors", export_errors}};
  return j;
}

PrewarmReport run_prewarm(const PrewarmConfig& cfg, const PrewarmHooks& hooks) {
  if (cfg.store_nodes.empty() || cfg.menu_nodes.empty())
    throw std::invalid_argument("prewarm needs at least one store node and one menu node");
  if (cfg.batch < 1 || cfg.concurrency < 1 || cfg.retries < 0)
    throw std::invalid_argument("batch and concurrency must be at least 1, retries at least 0");
  PrewarmReport rep;
  std::unique_ptr<MenuExport> exporter;
  if (!cfg.export_dir.empty()) {
    try {
      exporter = std::make_unique<MenuExport>(cfg.export_dir);
    } catch (const ExportError& e) {
      throw PrewarmError(e.what());
    }
    rep.exported = true;
    rep.export_dir = exporter->dir();
  }

  asio::io_context ioc{1};
  http::ClientOptions opts;
  opts.max_connections_per_host = static_cast<std::size_t>(cfg.concurrency);
  opts.timeout = cfg.timeout;
  opts.retries = 0;  // the walk retries, on another node
  http::Client client(ioc.get_executor(), opts);
  Walk walk(cfg, client, rep, hooks);
  walk.export_to(exporter.get());

  const auto start = Clock::now();
  auto listed = asio::co_spawn(ioc, walk.list(), asio::use_future);
  ioc.run();
  listed.get();  // PrewarmError: nothing was refreshed
  rep.list_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (hooks.listed) hooks.listed(rep.listed, rep.list_seconds);

  ioc.restart();
  for (int i = 0; i < cfg.concurrency; ++i) spawn_logged(ioc.get_executor(), walk.worker(), "prewarm_worker");
  ioc.run();
  if (exporter && rep.ok()) {
    // Every listed store was walked: files of stores no longer listed go.
    std::vector<int64_t> sorted = walk.ids();
    std::sort(sorted.begin(), sorted.end());
    try {
      exporter->remove_unlisted(sorted);
    } catch (const ExportError& e) {
      ++rep.errors[fmt::format("export: {}", e.what())];
      ++rep.export_errors;
    }
  }
  std::sort(rep.missing.begin(), rep.missing.end());  // batches end in any order
  std::sort(rep.failed_stores.begin(), rep.failed_stores.end());
  if (exporter) rep.files = exporter->counts();
  rep.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return rep;
}

}  // namespace dine::sim
