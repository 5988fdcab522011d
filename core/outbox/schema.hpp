#pragma once
// The outbox table every role that hands events on keeps in its own database
// (its migrations create it with exactly these columns; see docs/outbox.md):
//
//   CREATE TABLE outbox (
//     id            bigserial   PRIMARY KEY,
//     stream        text        NOT NULL,   -- the Redis stream it goes to
//     event_type    text        NOT NULL,   -- "order.paid"
//     key           text        NOT NULL,   -- what consumers dedupe by (an order id)
//     payload       jsonb       NOT NULL,
//     created_at    timestamptz NOT NULL DEFAULT now(),
//     claimed_by    text,                   -- the relay that is sending it
//     claimed_until timestamptz,            -- its claim lapses then: another relay takes over
//     sent_at       timestamptz,            -- on the stream; kept for the retention period
//     attempts      integer     NOT NULL DEFAULT 0,  -- sends Redis refused (an error reply)
//     last_error    text,                   -- the last such refusal
//     dead_at       timestamptz             -- set aside after too many refusals; redrive revives
//   );
//   CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
//
// A role writes a row in the same transaction as the state change it
// announces; the relay (relay.hpp) does the rest.
#include "core/pg/connection.hpp"

namespace dine::outbox::sql {

// $1 relay id, $2 claim seconds, $3 batch, $4 after id. Claims unsent, live
// rows above $4 nobody holds (or whose claim lapsed: a frozen relay's), oldest
// first, and commits at once: no lock is held while the relay talks to Redis.
// The relay passes the last id it sent as $4 (the fast path: the scan starts
// past the index entries of rows sent meanwhile) and 0 now and then, which
// finds everything: rows that committed late below it, lapsed claims.
inline constexpr pg::Statement kClaim{
    "outbox_claim",
    "UPDATE outbox SET claimed_by = $1, claimed_until = clock_timestamp() + make_interval(secs => $2::int)"
    " WHERE id IN (SELECT id FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL AND id > $4::bigint"
    "                AND (claimed_until IS NULL OR claimed_until < clock_timestamp())"
    "              ORDER BY id LIMIT $3::int FOR UPDATE SKIP LOCKED)"
    " RETURNING id, stream, event_type, key, payload::text AS payload"};

// $1 ids: on the stream now.
inline constexpr pg::Statement kMarkSent{
    "outbox_mark_sent",
    "UPDATE outbox SET sent_at = clock_timestamp(), claimed_by = NULL, claimed_until = NULL"
    " WHERE id = ANY($1::bigint[])"};

// $1 ids, $2 relay id: the send failed as a whole (Redis unreachable): free
// this relay's claims for the next attempt at once. Not an attempt of the row's.
inline constexpr pg::Statement kRelease{
    "outbox_release",
    "UPDATE outbox SET claimed_by = NULL, claimed_until = NULL"
    " WHERE id = ANY($1::bigint[]) AND claimed_by = $2 AND sent_at IS NULL"};

// $1 ids, $2 errors (text[], same order), $3 relay id, $4 max attempts: Redis
// refused these rows (an error reply to their XADD). Each refusal is counted
// and holds the row back for 2^attempts seconds (at most 5 minutes; through
// claimed_until, which the claim respects); a row refused $4 times is set
// aside (dead_at) instead of blocking its shard.
inline constexpr pg::Statement kRefused{
    "outbox_refused",
    "UPDATE outbox o SET claimed_by = NULL, attempts = o.attempts + 1,"
    " claimed_until = clock_timestamp() + make_interval(secs => LEAST(power(2, o.attempts)::int, 300)),"
    " last_error = f.err,"
    " dead_at = CASE WHEN o.attempts + 1 >= $4::int THEN clock_timestamp() END"
    " FROM unnest($1::bigint[], $2::text[]) AS f(id, err)"
    " WHERE o.id = f.id AND o.claimed_by = $3 AND o.sent_at IS NULL"};

// Backlog figures: live unsent rows, the age of the oldest, rows set aside.
inline constexpr pg::Statement kBacklog{
    "outbox_backlog",
    "SELECT count(*) FILTER (WHERE dead_at IS NULL) AS n,"
    " COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - min(created_at) FILTER (WHERE dead_at IS NULL)), 0)::float8"
    "   AS oldest_s,"
    " count(*) FILTER (WHERE dead_at IS NOT NULL) AS dead"
    " FROM outbox WHERE sent_at IS NULL"};

// $1 after id, $2 retention seconds, $3 batch. Looks at the next $3 rows by
// id and deletes those sent longer ago than the retention, up to the first
// row sent more recently (rows go out roughly in id order). Unsent rows are
// never deleted (the condition is checked again on the row deleted, so a row
// made unsent meanwhile by a redrive stays) and never block the walk. Returns
// how many it saw and deleted, and the id it may resume after.
inline constexpr pg::Statement kPrune{
    "outbox_prune",
    "WITH w AS (SELECT id, sent_at FROM outbox WHERE id > $1::bigint ORDER BY id LIMIT $3::int),"
    " young AS (SELECT min(id) AS id FROM w"
    "           WHERE sent_at >= clock_timestamp() - make_interval(secs => $2::int)),"
    " d AS (DELETE FROM outbox WHERE id IN (SELECT id FROM w"
    "        WHERE sent_at < clock_timestamp() - make_interval(secs => $2::int)"
    "          AND id < COALESCE((SELECT id FROM young), 9223372036854775807))"
    "        AND sent_at < clock_timestamp() - make_interval(secs => $2::int) RETURNING id)"
    " SELECT (SELECT count(*) FROM d) AS deleted, (SELECT count(*) FROM w) AS seen,"
    "        COALESCE((SELECT id - 1 FROM young), (SELECT max(id) FROM w), $1::bigint) AS upto,"
    "        (SELECT id FROM young) IS NOT NULL AS reached_young"};

// $1 since (timestamptz text): rows sent since then, and rows set aside that
// were written since then, are made unsent and live again; the relays send
// them once more (consumers are idempotent).
inline constexpr pg::Statement kRedrive{
    "outbox_redrive",
    "UPDATE outbox SET sent_at = NULL, claimed_by = NULL, claimed_until = NULL, dead_at = NULL, attempts = 0"
    " WHERE sent_at >= $1::timestamptz OR (dead_at IS NOT NULL AND created_at >= $1::timestamptz)"};

}  // namespace dine::outbox::sql
