#pragma once
// Group commit for one statement on one pool: concurrent calls of a
// single-row statement are coalesced into one set-based statement, so N
// requests cost the database one round trip, one transaction and one WAL
// flush instead of N. Durability is unchanged: a call returns only after the
// commit that holds its row.
//
// A call that finds a free runner goes at once, alone, as the single-row
// statement: an idle system pays no added latency. Calls that arrive while
// `concurrency` batches are in flight queue up, and the next free runner takes
// up to `max_batch` of them as one statement. Within a batch every item has a
// distinct key (the order id): an item whose key is already in the batch waits
// for the next one, so rows returned for a key belong to exactly one item.
//
// The set-based statement takes, for each parameter of the single one, an
// array of the items' values ($1 = every item's first parameter, ...) and must
// return the key in `key_column` on each row it returns. When it fails with a
// SQL error of class 22 or 23 (a value or a constraint one item broke), every
// item runs alone, so each gets its own answer; any other failure (the
// database down, overloaded or cancelling, its deadline) is every item's
// answer. Items go in key order, so two batches lock rows in one order.
// max_batch = 1 turns batching off: every call runs alone, at once, on the
// pool, with no lane.
//
// Like the pool, a batcher lives on the pool's executor (one worker thread):
// no locks.
#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "core/async.hpp"
#include "core/context.hpp"
#include "core/pg/pool.hpp"

namespace dine::pg {

struct BatchStatement {
  Statement one;    // $1..$n: one item's parameters
  Statement many;   // $1..$n: arrays of the items' parameters, in the same order
  std::size_t key_param = 0;        // the parameter that identifies an item...
  std::string_view key_column;      // ...and the result column that carries it back
};

struct BatcherConfig {
  std::size_t max_batch = 32;   // items per statement
  std::size_t concurrency = 1;  // statements in flight at once (on as many connections)
  std::chrono::microseconds linger{0};  // see BatchLane
};

class Batcher;

// Batchers of one pool that share one budget of statements in flight (say the
// creates and the pays of one shard): while one kind's statement runs, the
// other kind's calls gather too, and a freed slot goes to the next batcher
// with calls waiting, in turn. Lives on the pool's executor, like them.
class BatchLane {
 public:
  // linger: before each statement that carries queued calls, wait this long
  // for more to join (0: none). Calls that find the lane free never wait.
  explicit BatchLane(std::size_t concurrency, std::chrono::microseconds linger = {})
      : concurrency_(concurrency == 0 ? 1 : concurrency), linger_(linger) {}
  BatchLane(const BatchLane&) = delete;
  BatchLane& operator=(const BatchLane&) = delete;

 private:
  friend class Batcher;
  bool has_slot() const { return running_ < concurrency_; }
  Batcher* next_waiting();  // the next member, in turn, with calls queued
  bool any_waiting() const;
  void start_runner();      // takes a slot and runs batches while calls wait
  void release();           // a lone call is done with its slot
  Task<void> run(std::shared_ptr<bool> alive);
  std::size_t concurrency_;
  std::chrono::microseconds linger_;
  std::size_t running_ = 0;
  std::vector<Batcher*> members_;
  std::size_t turn_ = 0;
  asio::any_io_executor ex_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // false once every member is gone
};

class Batcher {
 public:
  // With no lane, the batcher has its own, of cfg.concurrency slots.
  Batcher(Pool& pool, BatchStatement st, BatcherConfig cfg, std::shared_ptr<BatchLane> lane = nullptr);
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // The rows the statement returned for this item's key, after its commit.
  // Errors as Pool::execute; a caller whose deadline passes (or who is
  // cancelled) while its batch runs gets db_timeout: its row may or may not
  // be committed, exactly as when a lone statement is cut short.
  Task<Result> execute(Context ctx, Params params);

  struct Figures {
    uint64_t statements = 0;  // set-based statements run
    uint64_t items = 0;       // items they carried
    uint64_t alone = 0;       // items run as the single-row statement
    uint64_t fallbacks = 0;   // batches that failed and ran item by item
  };
  const Figures& figures() const { return figures_; }

  // Text-format array literal of PostgreSQL ({"a","b",NULL}) from text values.
  static std::string array_literal(const std::vector<const std::optional<std::string>*>& values);

 private:
  friend class BatchLane;
  struct Item;
  struct Instruments;
  std::vector<std::shared_ptr<Item>> take();
  Task<void> run_batch(std::vector<std::shared_ptr<Item>> batch);
  Pool& pool_;
  BatchStatement st_;
  BatcherConfig cfg_;
  std::deque<std::shared_ptr<Item>> queue_;
  std::shared_ptr<BatchLane> lane_;
  std::size_t params_ = 0;  // parameters per call, from the first call
  Figures figures_;
  std::unique_ptr<Instruments> in_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace dine::pg
