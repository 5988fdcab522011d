#pragma once
// Every SQL statement of the order role, named, parameterised, prepared once
// per connection. Each is one statement, so each is one round trip and atomic.
#include "core/pg/connection.hpp"

namespace dine::order::sql {

// The columns every read returns, with timestamps as ISO-8601 UTC text.
#define DINE_ORDER_COLUMNS                                                                       \
  "order_id, user_id, store_id, items::text AS items, amount_cents, coupon_id, status, "        \
  "pickup_code, payment_id, version, "                                                           \
  "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS created_at, " \
  "to_char(paid_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS paid_at, "       \
  "to_char(accepted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS accepted_at"

// $1 order_id $2 user_id $3 store_id $4 items $5 amount $6 coupon $7 key $8 request_hash.
// Inserts; returns no row when an earlier call with the same key made the order
// (then kByKey finds it: the second round trip is paid only by replays).
inline constexpr pg::Statement kCreate{
    "order_create",
    "INSERT INTO orders (order_id, user_id, store_id, items, amount_cents, coupon_id,"
    "                    idempotency_key, request_hash)"
    " VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8)"
    " ON CONFLICT (user_id, idempotency_key) DO NOTHING"
    " RETURNING order_id, status, amount_cents, request_hash, true AS created"};

// kCreate for many orders at once (core/pg/batcher.hpp): each parameter is an
// array of the orders' values. The key column is order_id.
inline constexpr pg::Statement kCreateMany{
    "order_create_many",
    "INSERT INTO orders (order_id, user_id, store_id, items, amount_cents, coupon_id,"
    "                    idempotency_key, request_hash)"
    " SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::jsonb[], $5::bigint[], $6::bigint[],"
    "                      $7::text[], $8::text[])"
    " ON CONFLICT (user_id, idempotency_key) DO NOTHING"
    " RETURNING order_id, status, amount_cents, request_hash, true AS created"};

// $1 user_id $2 key: the order an earlier call with this key created.
inline constexpr pg::Statement kByKey{
    "order_by_key",
    "SELECT order_id, status, amount_cents, request_hash, false AS created FROM orders"
    " WHERE user_id = $1 AND idempotency_key = $2"};

inline constexpr pg::Statement kGet{"order_get",
                                    "SELECT " DINE_ORDER_COLUMNS " FROM orders WHERE order_id = $1"};

// $1 user_id $2 limit. "orders.created_at": a bare created_at would sort by the
// millisecond text column of the same name in the select list.
inline constexpr pg::Statement kListByUser{
    "order_list_by_user",
    "SELECT " DINE_ORDER_COLUMNS " FROM orders WHERE user_id = $1 ORDER BY orders.created_at DESC, order_id DESC"
    " LIMIT $2"};

// $1 user_id $2 idempotency_key: the one order a user made with that key, whole.
inline constexpr pg::Statement kFindByKey{
    "order_find_by_key",
    "SELECT " DINE_ORDER_COLUMNS " FROM orders WHERE user_id = $1 AND idempotency_key = $2"};

// $1 order_id $2 payment_id. CREATED -> PAID and the order.paid outbox row in
// one statement (one transaction, one round trip). No row: the order was not
// CREATED (or does not exist); the caller reads it to tell which.
inline constexpr pg::Statement kPay{
    "order_pay",
    "WITH u AS ("
    "  UPDATE orders SET status = 'PAID', payment_id = $2, paid_at = now(), updated_at = now(),"
    "                    version = version + 1"
    "  WHERE order_id = $1 AND status = 'CREATED'"
    "  RETURNING order_id, user_id, store_id, amount_cents, coupon_id, idempotency_key, paid_at),"
    " o AS ("
    "  INSERT INTO outbox (stream, event_type, key, payload)"
    "  SELECT 'dine:orders', 'order.paid', order_id::text, jsonb_build_object("
    "      'type', 'order.paid', 'order_id', order_id::text, 'user_id', user_id,"
    "      'store_id', store_id, 'amount_cents', amount_cents, 'coupon_id', coupon_id::text,"
    "      'idempotency_key', idempotency_key,"
    "      'at', to_char(paid_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))"
    "  FROM u RETURNING key)"
    " SELECT key AS order_id FROM o"};

// kPay for many orders at once: $1 bigint[] order ids, $2 text[] payment ids.
// The key column is order_id: one row per order moved to PAID. The
// "order_id = ANY($1)" makes the primary key drive the update whatever the
// table's statistics say: a plan made while the table was small (a join with
// a sequential scan of orders) would otherwise be kept by the connection.
inline constexpr pg::Statement kPayMany{
    "order_pay_many",
    "WITH v AS MATERIALIZED (SELECT * FROM unnest($1::bigint[], $2::text[]) AS v(order_id, payment_id)),"
    " u AS ("
    "  UPDATE orders o SET status = 'PAID', payment_id = v.payment_id, paid_at = now(), updated_at = now(),"
    "                      version = o.version + 1"
    "  FROM v WHERE o.order_id = ANY($1::bigint[]) AND o.order_id = v.order_id AND o.status = 'CREATED'"
    "  RETURNING o.order_id, o.user_id, o.store_id, o.amount_cents, o.coupon_id, o.idempotency_key, o.paid_at),"
    " ob AS ("
    "  INSERT INTO outbox (stream, event_type, key, payload)"
    "  SELECT 'dine:orders', 'order.paid', order_id::text, jsonb_build_object("
    "      'type', 'order.paid', 'order_id', order_id::text, 'user_id', user_id,"
    "      'store_id', store_id, 'amount_cents', amount_cents, 'coupon_id', coupon_id::text,"
    "      'idempotency_key', idempotency_key,"
    "      'at', to_char(paid_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))"
    "  FROM u RETURNING key)"
    " SELECT key AS order_id FROM ob"};

// $1 order_id $2 reason ("user", "expired"). CREATED -> CANCELLED and the
// order.cancelled outbox row (its coupon, if any, goes back: the coupon role
// consumes it) in one statement. No row: not CREATED (the caller reads it).
inline constexpr pg::Statement kCancel{
    "order_cancel",
    "WITH u AS ("
    "  UPDATE orders SET status = 'CANCELLED', updated_at = now(), version = version + 1"
    "  WHERE order_id = $1 AND status = 'CREATED'"
    "  RETURNING order_id, user_id, store_id, amount_cents, coupon_id, idempotency_key, updated_at),"
    " o AS ("
    "  INSERT INTO outbox (stream, event_type, key, payload)"
    "  SELECT 'dine:orders', 'order.cancelled', order_id::text, jsonb_build_object("
    "      'type', 'order.cancelled', 'order_id', order_id::text, 'user_id', user_id,"
    "      'store_id', store_id, 'amount_cents', amount_cents, 'coupon_id', coupon_id::text,"
    "      'idempotency_key', idempotency_key, 'reason', $2::text,"
    "      'at', to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))"
    "  FROM u RETURNING key)"
    " SELECT key AS order_id FROM o"};

// Expiry of unpaid orders, a window at a time along the primary key: $1 after
// id, $2 cutoff id (ids below it were made before now - TTL: the id's high
// bits are its creation time), $3 window. The window's CREATED orders become
// CANCELLED with order.cancelled (reason "expired"); one locked by a payment
// in flight is skipped (and the walker stays, to look again). A payment that
// committed meanwhile wins: the update re-checks the status.
inline constexpr pg::Statement kExpire{
    "order_expire",
    "WITH w AS (SELECT order_id, status FROM orders WHERE order_id > $1::bigint AND order_id < $2::bigint"
    "           ORDER BY order_id LIMIT $3::int),"
    " c AS (SELECT order_id FROM orders WHERE order_id IN (SELECT order_id FROM w WHERE status = 'CREATED')"
    "       FOR UPDATE SKIP LOCKED),"
    " u AS ("
    "  UPDATE orders o SET status = 'CANCELLED', updated_at = now(), version = o.version + 1"
    "  FROM c WHERE o.order_id = c.order_id AND o.status = 'CREATED'"
    "  RETURNING o.order_id, o.user_id, o.store_id, o.amount_cents, o.coupon_id, o.idempotency_key, o.updated_at),"
    " ob AS ("
    "  INSERT INTO outbox (stream, event_type, key, payload)"
    "  SELECT 'dine:orders', 'order.cancelled', order_id::text, jsonb_build_object("
    "      'type', 'order.cancelled', 'order_id', order_id::text, 'user_id', user_id,"
    "      'store_id', store_id, 'amount_cents', amount_cents, 'coupon_id', coupon_id::text,"
    "      'idempotency_key', idempotency_key, 'reason', 'expired',"
    "      'at', to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))"
    "  FROM u RETURNING key)"
    " SELECT (SELECT count(*) FROM w) AS seen, COALESCE((SELECT max(order_id) FROM w), $1::bigint) AS upto,"
    "        (SELECT count(*) FROM ob) AS expired,"
    "        (SELECT count(*) FROM w WHERE status = 'CREATED') - (SELECT count(*) FROM c) AS skipped"};

// $1 order_id $2 pickup_code. PAID -> ACCEPTED; no row: not PAID (the caller reads it).
inline constexpr pg::Statement kAccept{
    "order_accept",
    "UPDATE orders SET status = 'ACCEPTED', pickup_code = $2, accepted_at = now(), updated_at = now(),"
    "                  version = version + 1"
    " WHERE order_id = $1 AND status = 'PAID'"
    " RETURNING order_id"};

#undef DINE_ORDER_COLUMNS

}  // namespace dine::order::sql
