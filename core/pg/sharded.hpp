#pragma once
// Routes an id to one of N shard pools: shard = id mod N (N divides 16, so for
// order ids it equals user_id mod N; see core/ids.hpp).
#include <cstdint>
#include <memory>
#include <vector>

#include "core/pg/pool.hpp"

namespace dine::pg {

class ShardedCluster {
 public:
  explicit ShardedCluster(std::vector<std::unique_ptr<Pool>> shards);
  std::size_t size() const { return shards_.size(); }
  std::size_t shard_of(uint64_t id) const { return id % shards_.size(); }
  Pool& for_id(uint64_t id) { return *shards_[shard_of(id)]; }
  Pool& shard(std::size_t i) { return *shards_.at(i); }
  const Pool& shard(std::size_t i) const { return *shards_.at(i); }

 private:
  std::vector<std::unique_ptr<Pool>> shards_;
};

}  // namespace dine::pg
