#pragma once
// A closed-loop driver of the order role's internal API: virtual clients that
// create an order for one of --users users and pay it, over keep-alive HTTP,
// spread over every order node. Used by `dine sim orders`, `dine demo` and
// bench/order.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "sim/latency.hpp"

namespace dine::sim {

struct Target {
  std::string host;
  int port = 0;
};

struct OrderLoadConfig {
  std::vector<Target> targets;  // order nodes, used round-robin
  int users = 300;
  int orders = 3000;
  int concurrency = 64;         // virtual clients in flight
  int threads = 2;              // driver threads, each with its own loop and connection pool
  uint64_t first_user = 1;
  int shards = 4;               // to report the spread of order ids
  bool pay = true;
  std::string run_id;           // prefix of Idempotency-Keys and payment ids
  int timeout_ms = 5000;
  std::string service_credential;  // X-Dine-Service: the order role's writes take dine services only
};

struct OrderLoadReport {
  int created = 0;
  int paid = 0;
  int failed = 0;
  std::map<std::string, int> errors;  // "create 503 db_unavailable" -> count
  double seconds = 0;
  Latencies create_ms, pay_ms;
  std::vector<int> per_shard;         // orders by order_id mod shards
  int users_seen = 0;
  int users_on_one_shard = 0;         // users all of whose orders sit on one shard
  int gene_mismatches = 0;            // orders whose shard differs from user_id mod shards
  std::vector<std::string> paid_order_ids;

  double orders_per_second() const { return seconds > 0 ? paid_or_created() / seconds : 0; }
  int paid_or_created() const { return paid > 0 ? paid : created; }
  nlohmann::json to_json();
};

// Progress: called about once a second with orders done so far.
OrderLoadReport run_order_load(const OrderLoadConfig& cfg, const std::function<void(int done, int failed)>& progress = {});

}  // namespace dine::sim
