#!/usr/bin/env bash
# What one paid order costs PostgreSQL alone, next to its anchor, in one run:
# pgbench runs dine's own statements (create, pay, and the outbox relay's
# claim + mark-sent in batches) against a throwaway server, then pgbench's
# single-row INSERT, and prints both rates and their ratio. No HTTP, no dine
# process: this isolates the schema and SQL from the rest of the path, so a
# schema change can be judged in seconds (bench/order/run.sh measures it all).
#
#   bench/db/run.sh                      # the schema of schemas/order/*.sql
#   SCHEMA_EXTRA='ALTER TABLE ...' bench/db/run.sh   # try a variant on top
#
# Knobs (env): CLIENTS=16, DURATION=10, RELAY_BATCH=200
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CLIENTS=${CLIENTS:-16}
DURATION=${DURATION:-10}
RELAY_BATCH=${RELAY_BATCH:-200}
die() { echo "bench/db: $*" >&2; exit 2; }
BIN=$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin | tail -1)
[[ -x $BIN/initdb ]] || die "PostgreSQL server binaries not found"
PGBENCH=$(command -v pgbench || echo "$BIN/pgbench")
TMP=$(mktemp -d /tmp/dine-bench-db.XXXXXX)
chmod 755 "$TMP"
AS=()
[[ $(id -u) == 0 ]] && { chown postgres "$TMP"; AS=(runuser -u postgres --); }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { "${AS[@]}" "$BIN/pg_ctl" -D "$TMP/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$TMP"; }
trap cleanup EXIT
[[ ${KEEP:-0} == 1 ]] && trap - EXIT
"${AS[@]}" "$BIN/initdb" -D "$TMP/data" -U dine --auth=trust >"$TMP/initdb.log" 2>&1 || { cat "$TMP/initdb.log"; die "initdb failed"; }
# The same settings as `dine up`'s servers (core/stack/servers.cpp).
"${AS[@]}" "$BIN/pg_ctl" -D "$TMP/data" -l "$TMP/pg.log" -w -o "-p $PORT -c listen_addresses=127.0.0.1 \
  -c unix_socket_directories=$TMP -c fsync=on -c max_connections=200 -c shared_buffers=64MB ${PG_EXTRA:-}" start >/dev/null
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U dine)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE \"order\""
for f in "$ROOT"/schemas/order/*.sql; do "${PSQL[@]}" -d order -f "$f" >/dev/null; done
[[ -z ${SCHEMA_EXTRA:-} ]] || "${PSQL[@]}" -d order -c "$SCHEMA_EXTRA"
"${PSQL[@]}" -d order -c "CREATE TABLE bench_insert (id bigserial PRIMARY KEY, user_id bigint, payload text,
                          created_at timestamptz DEFAULT now())"

# The statements of server/order/queries.hpp and core/outbox/schema.hpp, with
# random ids (63-bit: no clashes in a run).
python3 - "$ROOT" "$TMP" <<'PY'
import re, sys
root, tmp = sys.argv[1], sys.argv[2]
def stmts(path):
    text = open(path).read()
    out = {}
    for m in re.finditer(r'inline constexpr pg::Statement (\w+)\{\s*"(\w+)",\s*((?:"(?:[^"\\]|\\.)*"\s*)+)\}', text):
        parts = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(3))
        out[m.group(1)] = "".join(p.replace('\\"', '"') for p in parts)
    return out
order = stmts(f"{root}/server/order/queries.hpp")
cols = re.search(r'#define DINE_ORDER_COLUMNS((?:.*\\\n)*.*)', open(f"{root}/server/order/queries.hpp").read())
outbox = stmts(f"{root}/core/outbox/schema.hpp")
one = lambda s: " ".join(s.split())
create = one(order["kCreate"]).replace("$1", ":oid").replace("$2", ":uid").replace("$3", "7") \
    .replace("$4::jsonb", "'[{\"product_id\":1001,\"qty\":2,\"price_cents\":350}]'::jsonb").replace("$5", "700") \
    .replace("$6", "NULL").replace("$7", "'k' || :oid").replace("$8", "'0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'")
# pgbench reads ":MI" (a to_char format) and ":orders" (the stream's name) as
# variables; the same text with "-" costs the same.
pay = one(order["kPay"]).replace("HH24:MI:SS", "HH24-MI-SS").replace("dine:orders", "dine-orders").replace("$1", ":oid").replace("$2", "'pay-' || :oid")
open(f"{tmp}/order.sql", "w").write(
    "\\set oid random(1, 9000000000000000000)\n\\set uid random(1, 100000)\n"
    f"{create};\n{pay};\n")
claim = one(outbox["kClaim"]).replace("$1", "'bench'").replace("$2::int", "10").replace("$3::int", ":batch")
mark = "UPDATE outbox SET sent_at = clock_timestamp(), claimed_by = NULL, claimed_until = NULL" \
       " WHERE claimed_by = 'bench' AND sent_at IS NULL"
open(f"{tmp}/relay.sql", "w").write(f"\\set batch {__import__('os').environ.get('RELAY_BATCH', '200')}\n{claim};\n{mark};\n")
open(f"{tmp}/insert.sql", "w").write(
    "\\set uid random(1, 1000000)\n"
    "INSERT INTO bench_insert (user_id, payload) VALUES (:uid, '[{\"product_id\":\"1001\",\"qty\":2,\"price_cents\":450}]');\n")
PY

run() {  # run SCRIPT CLIENTS -> tps
  "$PGBENCH" -n -h 127.0.0.1 -p "$PORT" -U dine -M prepared -c "$2" -j 2 -T "$DURATION" -f "$1" order 2>&1 |
    awk '/^tps = / {print $3}'
}
echo "bench/db: PostgreSQL alone, $CLIENTS clients, ${DURATION} s each (port $PORT)"
# Orders and the relay together: the relay is one client draining in batches.
[[ ${NO_RELAY:-0} == 1 ]] && echo "SELECT 1;" > "$TMP/relay.sql"
"$PGBENCH" -n -h 127.0.0.1 -p "$PORT" -U dine -M prepared -c 1 -T "$DURATION" -f "$TMP/relay.sql" order \
  >"$TMP/relay.log" 2>&1 &
RELAY=$!
ORDERS=$(run "$TMP/order.sql" "$CLIENTS")
wait "$RELAY" || true
LEFT=$("${PSQL[@]}" -d order -At -c "SELECT count(*) FROM outbox WHERE sent_at IS NULL")
INSERTS=$(run "$TMP/insert.sql" "$CLIENTS")
printf '  dine create + pay (+ relay)   %9.0f paid orders/s   (outbox rows left unsent: %s)\n' "$ORDERS" "$LEFT"
printf '  pgbench single-row INSERT     %9.0f tps\n' "$INSERTS"
awk -v a="$ORDERS" -v b="$INSERTS" 'BEGIN {printf "  ratio                         %9.3f   (2 transactions per order: 0.5 is the ceiling)\n", a / b}'
