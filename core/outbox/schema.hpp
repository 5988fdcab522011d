#pragma once
// The outbox table every role that hands events on keeps in its own database
// (its migration creates it with exactly these columns; see docs/outbox.md):
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
//     sent_at       timestamptz             -- on the stream; kept for the retention period
//   );
//   CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
//
// A role writes a row in the same transaction as the state change it
// announces; the relay (relay.hpp) does the rest.
#include "core/pg/connection.hpp"

namespace dine::outbox::sql {

// $1 relay id, $2 claim seconds, $3 batch, $4 after id. Claims unsent rows
// above $4 nobody holds (or whose claim lapsed: a frozen relay's), oldest
// first, and commits at once: no lock is held while the relay talks to Redis.
// The relay passes the last id it sent as $4 (the fast path: the scan starts
// past the index entries of rows sent meanwhile) and 0 now and then, which
// finds everything: rows that committed late below it, lapsed claims.
inline constexpr pg::Statement kClaim{
    "outbox_claim",
    "UPDATE outbox SET claimed_by = $1, claimed_until = clock_timestamp() + make_interval(secs => $2::int)"
    " WHERE id IN (SELECT id FROM outbox WHERE sent_at IS NULL AND id > $4::bigint"
    "                AND (claimed_until IS NULL OR claimed_until < clock_timestamp())"
    "              ORDER BY id LIMIT $3::int FOR UPDATE SKIP LOCKED)"
    " RETURNING id, stream, event_type, key, payload::text AS payload"};

// $1 ids: on the stream now.
inline constexpr pg::Statement kMarkSent{
    "outbox_mark_sent",
    "UPDATE outbox SET sent_at = clock_timestamp(), claimed_by = NULL, claimed_until = NULL"
    " WHERE id = ANY($1::bigint[])"};

// $1 ids: the send failed; free them for the next attempt at once.
inline constexpr pg::Statement kRelease{
    "outbox_release", "UPDATE outbox SET claimed_by = NULL, claimed_until = NULL WHERE id = ANY($1::bigint[])"
                      " AND sent_at IS NULL"};

// Backlog figures: unsent rows and the age of the oldest.
inline constexpr pg::Statement kBacklog{
    "outbox_backlog",
    "SELECT count(*) AS n,"
    " COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - min(created_at)), 0)::float8 AS oldest_s"
    " FROM outbox WHERE sent_at IS NULL"};

// $1 after id, $2 retention seconds, $3 batch. Looks at the next $3 rows by
// id and deletes those sent longer ago than the retention, up to the first
// row sent more recently (rows go out roughly in id order). Unsent rows are
// never deleted and never block the walk. Returns how many it saw and
// deleted, and the id it may resume after.
inline constexpr pg::Statement kPrune{
    "outbox_prune",
    "WITH w AS (SELECT id, sent_at FROM outbox WHERE id > $1::bigint ORDER BY id LIMIT $3::int),"
    " young AS (SELECT min(id) AS id FROM w"
    "           WHERE sent_at >= clock_timestamp() - make_interval(secs => $2::int)),"
    " d AS (DELETE FROM outbox WHERE id IN (SELECT id FROM w"
    "        WHERE sent_at < clock_timestamp() - make_interval(secs => $2::int)"
    "          AND id < COALESCE((SELECT id FROM young), 9223372036854775807)) RETURNING id)"
    " SELECT (SELECT count(*) FROM d) AS deleted, (SELECT count(*) FROM w) AS seen,"
    "        COALESCE((SELECT id - 1 FROM young), (SELECT max(id) FROM w), $1::bigint) AS upto"};

// $1 since (timestamptz text): rows sent since then are made unsent again; the
// relays send them once more (consumers are idempotent).
inline constexpr pg::Statement kRedrive{
    "outbox_redrive",
    "UPDATE outbox SET sent_at = NULL, claimed_by = NULL, claimed_until = NULL"
    " WHERE sent_at >= $1::timestamptz"};

}  // namespace dine::outbox::sql
