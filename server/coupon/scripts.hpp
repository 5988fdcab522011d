#pragma once
// The coupon authority's Lua scripts on redis-mq (docs/serve-coupon.md). Each
// runs atomically: a claim checks the window, the user, the stock, takes one,
// records the user and appends the claim to the stream in one step; a
// reservation, a confirmation and a release move one coupon's state the same
// way. Every script first checks that this Redis process has been reconciled
// with the database (coupon:sync holds the run_id it was reconciled on): after
// any restart, whatever it lost, nothing is granted or used until the coupon
// role has rebuilt the state from the database.
//
// Keys:
//   coupon:sync                      run_id of the Redis process last reconciled
//   coupon:sync:lock                 one reconciler at a time (SET NX PX)
//   coupon:campaigns                 set of campaign ids
//   coupon:campaign:{cid}            hash: name product_id price_cents total starts_ms ends_ms stock
//   coupon:campaign:{cid}:users      hash: user_id -> coupon_id (one per user)
//   coupon:user:{uid}                set of the user's coupon ids
//   coupon:c:{coupon_id}             hash: campaign_id user_id state order_key seq claimed_ms
//   coupon:reserved                  sorted set: reserved coupon ids by when (ms) they were reserved
//   dine:coupons                     stream of every change (the coupon database follows it)
#include <string>

namespace dine::coupon::lua {

inline constexpr const char* kStream = "dine:coupons";
inline constexpr const char* kSyncKey = "coupon:sync";
inline constexpr const char* kSyncLock = "coupon:sync:lock";
inline constexpr const char* kCampaigns = "coupon:campaigns";
inline constexpr const char* kReserved = "coupon:reserved";

inline std::string campaign_key(const std::string& cid) { return "coupon:campaign:" + cid; }
inline std::string users_key(const std::string& cid) { return "coupon:campaign:" + cid + ":users"; }
inline std::string user_key(const std::string& uid) { return "coupon:user:" + uid; }
inline std::string coupon_key(const std::string& id) { return "coupon:c:" + id; }

// The prelude of every granting or using script.
#define DINE_COUPON_SYNCED                                                              \
  "local rid = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')\n"            \
  "if redis.call('GET', 'coupon:sync') ~= rid then return {'syncing'} end\n"

// KEYS campaign users user_set coupon stream; ARGV cid uid coupon_id now_ms.
// -> {'granted', id, ends_ms} | {'replayed', id, ends_ms} | {'sold_out'} | {'campaign_not_found'}
//    | {'campaign_not_started'} | {'campaign_ended'} | {'syncing'}
inline constexpr const char* kClaim = DINE_COUPON_SYNCED R"lua(
local c = redis.call('HMGET', KEYS[1], 'starts_ms', 'ends_ms', 'stock')
if not c[3] then return {'campaign_not_found'} end
local now = tonumber(ARGV[4])
if now < tonumber(c[1]) then return {'campaign_not_started'} end
if now >= tonumber(c[2]) then return {'campaign_ended'} end
local have = redis.call('HGET', KEYS[2], ARGV[2])
if have then return {'replayed', have, c[2]} end
if tonumber(c[3]) <= 0 then return {'sold_out'} end
redis.call('HINCRBY', KEYS[1], 'stock', -1)
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('HSET', KEYS[4], 'campaign_id', ARGV[1], 'user_id', ARGV[2], 'state', 'granted',
           'order_key', '', 'seq', 1, 'claimed_ms', ARGV[4])
redis.call('XADD', KEYS[5], '*', 'type', 'coupon.granted', 'coupon_id', ARGV[3], 'campaign_id', ARGV[1],
           'user_id', ARGV[2], 'state', 'granted', 'order_key', '', 'seq', '1', 'claimed_ms', ARGV[4])
return {'granted', ARGV[3], c[2]}
)lua";

// KEYS coupon stream; ARGV op user_id order_key now_ms coupon_id.
// op reserve: granted -> reserved (by order_key), unless the campaign ended.
// op confirm: reserved by order_key (or granted: a paid order's coupon is
//             used, whatever overtook it) -> used.
// op release: reserved by order_key -> granted.
// -> {'ok', state, campaign_id, product_id, price_cents} | {'replayed', state, ...}
//    | {'coupon_not_found'} | {'coupon_in_use', state} | {'coupon_expired'}
//    | {'noop', state} | {'syncing'}
inline constexpr const char* kTransition = DINE_COUPON_SYNCED R"lua(
local c = redis.call('HMGET', KEYS[1], 'campaign_id', 'user_id', 'state', 'order_key', 'seq', 'claimed_ms')
if not c[1] or (ARGV[2] ~= '' and c[2] ~= ARGV[2]) then return {'coupon_not_found'} end
local campaign = 'coupon:campaign:' .. c[1]
local k = redis.call('HMGET', campaign, 'product_id', 'price_cents', 'ends_ms')
local op, key, state, held = ARGV[1], ARGV[3], c[3], c[4]
local new
if op == 'reserve' then
  if held == key and (state == 'reserved' or state == 'used') then
    return {'replayed', state, c[1], k[1], k[2]}
  end
  if state ~= 'granted' then return {'coupon_in_use', state} end
  if tonumber(ARGV[4]) >= tonumber(k[3]) then return {'coupon_expired'} end
  new = 'reserved'
elseif op == 'confirm' then
  if state == 'used' and held == key then return {'replayed', state, c[1], k[1], k[2]} end
  if state == 'used' or (state == 'reserved' and held ~= key) then return {'coupon_in_use', state} end
  new = 'used'
elseif op == 'release' then
  if not (state == 'reserved' and held == key) then return {'noop', state} end
  new = 'granted'
  key = ''
else
  return redis.error_reply('unknown op ' .. op)
end
local seq = tonumber(c[5]) + 1
redis.call('HSET', KEYS[1], 'state', new, 'order_key', key, 'seq', seq)
if new == 'reserved' then
  redis.call('ZADD', 'coupon:reserved', ARGV[4], ARGV[5])
else
  redis.call('ZREM', 'coupon:reserved', ARGV[5])
end
redis.call('XADD', KEYS[2], '*', 'type', 'coupon.' .. new, 'coupon_id', ARGV[5], 'campaign_id', c[1],
           'user_id', c[2], 'state', new, 'order_key', key, 'seq', tostring(seq), 'claimed_ms', c[6])
return {'ok', new, c[1], k[1], k[2]}
)lua";

// Reconciliation, not gated by coupon:sync (it is what sets it).
// KEYS campaign users campaigns; ARGV cid name product_id price_cents total starts_ms ends_ms.
// The campaign's fixed fields are (re)written; its stock only when the
// campaign is new here: total - the users already granted. -> stock
inline constexpr const char* kLoadCampaign = R"lua(
local fresh = redis.call('EXISTS', KEYS[1]) == 0
redis.call('HSET', KEYS[1], 'name', ARGV[2], 'product_id', ARGV[3], 'price_cents', ARGV[4], 'total', ARGV[5],
           'starts_ms', ARGV[6], 'ends_ms', ARGV[7])
if fresh then
  redis.call('HSET', KEYS[1], 'stock', tonumber(ARGV[5]) - redis.call('HLEN', KEYS[2]))
end
redis.call('SADD', KEYS[3], ARGV[1])
return tonumber(redis.call('HGET', KEYS[1], 'stock'))
)lua";

// KEYS coupon users user_set; ARGV coupon_id campaign_id user_id state order_key seq claimed_ms now_ms.
// A coupon the database knows: written back when Redis lacks it or holds an
// older version of it. -> 'restored' | 'kept' | 'conflict' (the user holds
// another coupon of this campaign here: left as it is, reported)
inline constexpr const char* kRestore = R"lua(
local other = redis.call('HGET', KEYS[2], ARGV[3])
if other and other ~= ARGV[1] then return 'conflict' end
local seq = redis.call('HGET', KEYS[1], 'seq')
redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
if seq and tonumber(seq) >= tonumber(ARGV[6]) then return 'kept' end
redis.call('HSET', KEYS[1], 'campaign_id', ARGV[2], 'user_id', ARGV[3], 'state', ARGV[4], 'order_key', ARGV[5],
           'seq', ARGV[6], 'claimed_ms', ARGV[7])
if ARGV[4] == 'reserved' then
  redis.call('ZADD', 'coupon:reserved', 'NX', ARGV[8], ARGV[1])
else
  redis.call('ZREM', 'coupon:reserved', ARGV[1])
end
return 'restored'
)lua";

// KEYS campaign users; stock = total - granted. -> stock
inline constexpr const char* kFixStock = R"lua(
local total = redis.call('HGET', KEYS[1], 'total')
if not total then return -1 end
local stock = tonumber(total) - redis.call('HLEN', KEYS[2])
if stock < 0 then stock = 0 end
redis.call('HSET', KEYS[1], 'stock', stock)
return stock
)lua";

#undef DINE_COUPON_SYNCED

}  // namespace dine::coupon::lua
