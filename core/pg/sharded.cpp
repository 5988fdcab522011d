#include "core/pg/sharded.hpp"

#include <stdexcept>
#include <string>

namespace dine::pg {

ShardedCluster::ShardedCluster(std::vector<std::unique_ptr<Pool>> shards) : shards_(std::move(shards)) {
  // The shard must equal user_id mod N for order ids, whose low 4 bits are the
  // user gene (user_id mod 16): that holds only when N divides 16.
  if (shards_.empty() || 16 % shards_.size() != 0) {
    throw std::invalid_argument("a sharded cluster needs 1, 2, 4, 8 or 16 shards, not " +
                                std::to_string(shards_.size()));
  }
  for (std::size_t i = 0; i < shards_.size(); ++i) {
    if (!shards_[i]) throw std::invalid_argument("shard " + std::to_string(i) + " has no pool");
  }
}

}  // namespace dine::pg
