#pragma once
// `dine prewarm menu`: walks every store's menu and every product through the
// menu nodes' refresh read, so every key is reloaded from the database with a
// fresh jittered expiry (docs/prewarm.md).
//
//   1. the store ids: GET /v1/stores pages (keyset, 100 a page) from the store
//      role, the first store node that answers (the walk's input; the store
//      role owns its table);
//   2. batches of `batch` ids, POST /v1/refresh to the menu nodes in turn,
//      `concurrency` in flight over one keep-alive client; each menu node
//      reads its batch in one query and writes it in one Redis pipeline;
//   3. with an export directory, each refreshed store's menu (GET, from the
//      node that refreshed it) into the static files (sim/menu_export.hpp).
//
// A failed refresh (no connection, a timeout, a 5xx or 429) is tried again on
// the next menu node, at most `retries` times, then its stores count as
// failed. A menu node whose last `drop_after` calls all failed is left out for
// the rest of the walk; with none left, the stores not yet refreshed fail at once.
#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/async.hpp"
#include "sim/menu_export.hpp"

namespace dine::sim {

struct PrewarmNode {
  std::string id;  // "menu-1"
  std::string host;
  int port = 0;
  std::string address() const;  // "127.0.0.1:18131"
};

struct PrewarmConfig {
  std::vector<PrewarmNode> store_nodes;  // the first that answers lists the stores
  std::vector<PrewarmNode> menu_nodes;   // refreshes go to these in turn
  int batch = 100;                       // store ids per refresh: at most every menu node's max_refresh
  int concurrency = 4;                   // refreshes in flight
  int retries = 2;                       // further attempts of a failed refresh (or page), each on the next node
  int drop_after = 3;                    // a menu node whose last this many calls failed is left out
  milliseconds timeout{15000};           // one call
  std::string export_dir;                // "": no files
  std::string run_id;                    // in every request id: prewarm-<run_id>-<what>
};

struct PrewarmReport {
  std::string store_node;              // the node that listed the stores
  int64_t listed = 0;                  // store ids listed
  int64_t stores = 0;                  // menus refreshed
  int64_t products = 0;                // product keys rewritten
  int64_t keys = 0;                    // keys rewritten (menus + products)
  std::vector<int64_t> missing;        // listed stores without a menu
  int64_t batches = 0;
  int64_t failed_batches = 0;
  std::vector<int64_t> failed_stores;  // in failed batches: not refreshed
  int64_t retried = 0;                 // attempts made again on another node
  std::map<std::string, int64_t> errors;  // "menu-1 (127.0.0.1:18131): upstream_unavailable" -> attempts
  std::vector<std::string> dropped;    // menu nodes left out, "menu-1 (127.0.0.1:18131)"
  bool exported = false;
  std::string export_dir;
  MenuExport::Counts files;
  int64_t export_errors = 0;           // stores whose files could not be fetched or written
  double list_seconds = 0;
  double seconds = 0;                  // the whole walk, listing and export included

  bool ok() const { return failed_batches == 0 && export_errors == 0; }
  double products_per_second() const { return seconds > 0 ? static_cast<double>(products) / seconds : 0; }
  double keys_per_second() const { return seconds > 0 ? static_cast<double>(keys) / seconds : 0; }
  // Id lists are cut at `max_ids` (their counts are always whole).
  nlohmann::json to_json(std::size_t max_ids = 1000) const;
};

// The walk cannot start: no store node lists the stores, or the export
// directory cannot be made. The message names the node or path and the fix.
class PrewarmError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct PrewarmHooks {
  std::function<void(int64_t listed, double seconds)> listed;  // once, before the first refresh
  std::function<void(int64_t done, int64_t total)> progress;   // after each batch: stores done of listed
};

// Blocking; runs its own event loop on the calling thread.
PrewarmReport run_prewarm(const PrewarmConfig& cfg, const PrewarmHooks& hooks = {});

}  // namespace dine::sim
