#!/usr/bin/env bash
# Paid orders per second through dine, against the ceiling of the same
# PostgreSQL servers: pgbench doing one durable single-row INSERT per
# transaction on each of the 4 order shards. Prints figures (no pass/fail)
# and writes bench/out/order.json.
#
# One run starts a throwaway stack (the structure of deploy/local.json on free
# ports, state in a temp dir, so a running `dine up` is left alone), runs
# pgbench on its 4 shard servers, then `dine sim orders` through its 2 order
# nodes, then stops the stack.
#
#   bench/order/run.sh
#   DINE=/path/to/dine CONCURRENCY=32 DURATION=20 bench/order/run.sh
#
# Knobs (env): CONCURRENCY=64 (clients in flight, spread over the shards for
#              pgbench), DURATION=10 (seconds of pgbench; the dine run is sized
#              to last about as long), ORDERS= (fixed order count instead of
#              one sized from a warm-up), USERS=1000, PGBENCH_MODE=prepared,
#              OUT=bench/out/order.json, KEEP=1 (keep the temp dir and logs),
#              ORDER_CONFIG='{"relay_linger_ms": 20}' (the order role's section),
#              NODE_THREADS=1 (worker threads of each order node),
#              DB_POOL_SIZE=8 (connections per order node and shard),
#              PROFILE=1 (perf record -e cpu-clock of the whole machine during
#              the dine run; prints the top processes and symbols)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DINE=${DINE:-$ROOT/build/dine}
CONCURRENCY=${CONCURRENCY:-64}
DURATION=${DURATION:-10}
ORDERS=${ORDERS:-}
USERS=${USERS:-1000}
PGBENCH_MODE=${PGBENCH_MODE:-prepared}
OUT=${OUT:-$ROOT/bench/out/order.json}
KEEP=${KEEP:-0}

die() { echo "bench/order: $*" >&2; exit 2; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

is_uint "$CONCURRENCY" && ((CONCURRENCY >= 4)) || die "CONCURRENCY must be an integer >= 4, got '$CONCURRENCY'"
is_uint "$DURATION" && ((DURATION >= 1)) || die "DURATION must be a number of seconds >= 1, got '$DURATION'"
[[ -z $ORDERS ]] || { is_uint "$ORDERS" && ((ORDERS >= 1)); } || die "ORDERS must be a positive integer, got '$ORDERS'"
[[ $DINE == */* ]] || DINE=$(command -v "$DINE" || true)
[[ -n $DINE && -x $DINE ]] ||
  die "the dine binary is missing (${DINE:-dine}): cmake --build build --target dine, or set DINE=/path/to/dine"
PGBENCH=${PGBENCH:-}
if [[ -z $PGBENCH ]]; then
  for p in /usr/bin/pgbench /usr/lib/postgresql/15/bin/pgbench; do
    [[ -x $p ]] && { PGBENCH=$p; break; }
  done
fi
[[ -n $PGBENCH && -x $PGBENCH ]] || die "pgbench not found (apt-get install postgresql-client-15, or set PGBENCH)"
PSQL=${PSQL:-$(command -v psql || echo /usr/lib/postgresql/15/bin/psql)}
[[ -x $PSQL ]] || die "psql not found (apt-get install postgresql-client-15, or set PSQL)"
command -v python3 >/dev/null || die "python3 not found"

TMP=$(mktemp -d /tmp/dine-bench-order.XXXXXX)
chmod 755 "$TMP"
TOPO=$TMP/topology.json
export DINE_STATE_DIR=$TMP/state
STACK_STARTED=0
PGB_PIDS=()
cleanup() {
  local rc=$?
  local pid
  for pid in "${PGB_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PGB_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if ((STACK_STARTED)); then
    "$DINE" --topology "$TOPO" down >"$TMP/down.log" 2>&1 ||
      { echo "bench/order: 'dine down' failed:" >&2; cat "$TMP/down.log" >&2; }
  fi
  if [[ $KEEP == 1 ]] || ((rc != 0 && rc != 130)); then
    echo "bench/order: logs and data kept in $TMP" >&2
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- a throwaway topology: deploy/local.json's nodes on free ports -------------
python3 - "$ROOT/deploy/local.json" "$TOPO" <<'PY'
import json, socket, sys

def strip_comments(text):  # // and /* */ outside strings, like core/topology.cpp
    out, i, in_str = [], 0, False
    while i < len(text):
        c = text[i]
        if in_str:
            out.append(c)
            if c == '\\' and i + 1 < len(text):
                out.append(text[i + 1]); i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True; out.append(c)
        elif text.startswith('//', i):
            while i < len(text) and text[i] != '\n':
                i += 1
            continue
        elif text.startswith('/*', i):
            end = text.find('*/', i + 2)
            i = len(text) if end < 0 else end + 2
            continue
        else:
            out.append(c)
        i += 1
    return ''.join(out)

topo = json.loads(strip_comments(open(sys.argv[1]).read()))
# Hold every socket until all ports are chosen, so no two nodes get the same one.
socks, ports = [], set()
for node in topo["nodes"]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
    node["host"] = "127.0.0.1"
    node["port"] = s.getsockname()[1]
    ports.add(node["port"])
assert len(ports) == len(topo["nodes"])
for s in socks:
    s.close()
topo["name"] = "bench-order"
pool = __import__("os").environ.get("DB_POOL_SIZE", "")
if pool:  # connections per order node and shard (limits.db_pool_size)
    topo.setdefault("limits", {})["db_pool_size"] = int(pool)
threads = __import__("os").environ.get("NODE_THREADS", "")
if threads:  # worker threads of each order node (default: the cores)
    for node in topo["nodes"]:
        if node.get("role") == "order":
            node["threads"] = int(threads)
extra = __import__("os").environ.get("ORDER_CONFIG", "")
if extra:  # e.g. ORDER_CONFIG='{"relay_linger_ms": 20}': the order role's section
    topo.setdefault("roles", {}).setdefault("order", {}).update(json.loads(extra))
json.dump(topo, open(sys.argv[2], "w"), indent=2)
PY

# "id port" of every postgres node holding the order database, in shard order.
mapfile -t SHARDS < <(python3 - "$TOPO" <<'PY'
import json, sys
topo = json.load(open(sys.argv[1]))
by_id = {n["id"]: n for n in topo["nodes"]}
order_nodes = [n for n in topo["nodes"] if n.get("role") == "order"]
for shard in order_nodes[0]["uses"]["shards"]:
    print(shard, by_id[shard]["port"])
PY
)
NSHARDS=${#SHARDS[@]}
((NSHARDS > 0)) || die "the topology has no order shards"
NORDER=$(python3 -c 'import json,sys; print(sum(1 for n in json.load(open(sys.argv[1]))["nodes"] if n.get("role") == "order"))' "$TOPO")

LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench/order: starting a throwaway stack ($NSHARDS order shards, $NORDER order nodes; state in $TMP)"
STACK_STARTED=1
"$DINE" --topology "$TOPO" up >"$TMP/up.log" 2>&1 || { cat "$TMP/up.log" >&2; die "'dine up' failed"; }

# ---- pgbench: single-row durable INSERTs, one pgbench per shard ---------------
PER_SHARD=$((CONCURRENCY / NSHARDS))
((PER_SHARD >= 1)) || PER_SHARD=1
PGB_THREADS=$((PER_SHARD < 2 ? PER_SHARD : 2))
cat >"$TMP/insert.sql" <<'SQL'
\set uid random(1, 1000000)
INSERT INTO bench_insert (user_id, payload) VALUES (:uid, '[{"product_id":"1001","qty":2,"price_cents":450},{"product_id":"1002","qty":1,"price_cents":1200}]');
SQL
for s in "${SHARDS[@]}"; do
  read -r id port <<<"$s"
  "$PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U dine -d order >>"$TMP/psql.log" 2>&1 <<'SQL' ||
DROP TABLE IF EXISTS bench_insert;
CREATE TABLE bench_insert (id bigserial PRIMARY KEY, user_id bigint, payload text,
                           created_at timestamptz DEFAULT now());
SQL
    { cat "$TMP/psql.log" >&2; die "cannot create bench_insert on $id (port $port)"; }
done

echo "pgbench: 1 single-row INSERT per transaction, $NSHARDS shards x $PER_SHARD clients (-j $PGB_THREADS -M $PGBENCH_MODE), ${DURATION} s"
i=0
for s in "${SHARDS[@]}"; do
  read -r id port <<<"$s"
  "$PGBENCH" -n -h 127.0.0.1 -p "$port" -U dine -M "$PGBENCH_MODE" -c "$PER_SHARD" -j "$PGB_THREADS" \
    -T "$DURATION" -f "$TMP/insert.sql" order >"$TMP/pgbench.$i.log" 2>&1 &
  PGB_PIDS+=($!)
  i=$((i + 1))
done
PGB_FAILED=0
for pid in "${PGB_PIDS[@]}"; do wait "$pid" || PGB_FAILED=1; done
PGB_PIDS=()
PGB_TPS=0
PGB_LAT=()
for ((i = 0; i < NSHARDS; i++)); do
  log=$TMP/pgbench.$i.log
  tps=$(awk '/^tps = / {print $3; exit}' "$log")
  lat=$(awk '/^latency average = / {print $4; exit}' "$log")
  [[ $PGB_FAILED == 0 && -n $tps ]] || { cat "$log" >&2; die "pgbench on ${SHARDS[$i]%% *} failed"; }
  printf '  %-12s %10.0f tps   latency avg %7.3f ms\n' "${SHARDS[$i]%% *}" "$tps" "$lat"
  PGB_TPS=$(awk -v a="$PGB_TPS" -v b="$tps" 'BEGIN {printf "%.1f", a + b}')
  PGB_LAT+=("$lat")
done
PGB_ROWS=0
for s in "${SHARDS[@]}"; do
  read -r id port <<<"$s"
  n=$("$PSQL" -X -At -h 127.0.0.1 -p "$port" -U dine -d order -c "SELECT count(*) FROM bench_insert")
  PGB_ROWS=$((PGB_ROWS + n))
  "$PSQL" -X -q -h 127.0.0.1 -p "$port" -U dine -d order -c "DROP TABLE bench_insert" >/dev/null
done
printf '  total        %10.0f tps   (%d rows written)\n' "$PGB_TPS" "$PGB_ROWS"

# ---- dine: create + pay through the order nodes --------------------------------
sim() {  # sim ORDERS OUTFILE
  "$DINE" --topology "$TOPO" sim orders --orders "$1" --users "$USERS" -c "$CONCURRENCY" \
    --max-failed "$1" --json >"$2" 2>"$2.err" || { cat "$2.err" >&2; die "dine sim orders failed"; }
}

if [[ -z $ORDERS ]]; then
  WARM=$((CONCURRENCY * 20 > 1000 ? CONCURRENCY * 20 : 1000))
  sim "$WARM" "$TMP/warmup.json"
  WARM_RATE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["orders_per_second"])' "$TMP/warmup.json")
  ORDERS=$(awk -v r="$WARM_RATE" -v d="$DURATION" -v c="$CONCURRENCY" \
    'BEGIN {n = int(r * d); if (n < c * 10) n = c * 10; print n}')
  printf 'dine: warm-up %d orders at %.0f paid orders/s -> %d orders for ~%d s\n' "$WARM" "$WARM_RATE" "$ORDERS" "$DURATION"
fi
SIZED=0
[[ -n ${WARM_RATE:-} ]] && SIZED=1
# What each order costs the database: pg_stat_database over every shard,
# before and after the measured run (commits, rows written, buffers touched).
db_stats() {  # prints "commits inserted updated deleted hit read"
  local s id port line tot=(0 0 0 0 0 0)
  for s in "${SHARDS[@]}"; do
    read -r id port <<<"$s"
    line=$("$PSQL" -X -At -F' ' -h 127.0.0.1 -p "$port" -U dine -d order -c \
      "SELECT xact_commit, tup_inserted, tup_updated, tup_deleted, blks_hit, blks_read
         FROM pg_stat_database WHERE datname = 'order'")
    read -r -a v <<<"$line"
    for i in 0 1 2 3 4 5; do tot[$i]=$((tot[$i] + v[$i])); done
  done
  echo "${tot[*]}"
}
# Buffer hits by relation (tables with their indexes, and the catalogs), summed
# over the shards: where the buffer hits per order go.
rel_stats() {  # prints "relation hits" lines
  local s id port
  for s in "${SHARDS[@]}"; do
    read -r id port <<<"$s"
    "$PSQL" -X -At -F' ' -h 127.0.0.1 -p "$port" -U dine -d order -c \
      "SELECT relname, coalesce(heap_blks_hit,0) + coalesce(idx_blks_hit,0) + coalesce(toast_blks_hit,0)
         FROM pg_statio_user_tables
       UNION ALL SELECT 'catalogs', sum(coalesce(heap_blks_hit,0) + coalesce(idx_blks_hit,0)) FROM pg_statio_sys_tables"
  done | awk '{t[$1] += $2} END {for (k in t) print k, t[k]}'
}
cpu_ticks() { awk '/^cpu / {print $2+$3+$4+$6+$7+$8, $5}' /proc/stat; }  # busy idle

echo "dine sim orders: $ORDERS orders, $USERS users, -c $CONCURRENCY, through $NORDER order nodes"
sleep 11  # the warm-up's counters: an idle backend reports them after 10 s
read -r -a DB0 <<<"$(db_stats)"
rel_stats >"$TMP/rel0"
read -r BUSY0 IDLE0 <<<"$(cpu_ticks)"
PERF_PID=
if [[ ${PROFILE:-0} == 1 ]]; then
  # perf record of the whole machine (cpu-clock: no hardware counters here).
  command -v perf >/dev/null || die "PROFILE=1 needs perf (apt-get install linux-perf)"
  perf record -q -a -g -e cpu-clock -F 499 -o "$TMP/perf.data" 2>"$TMP/perf.err" &
  PERF_PID=$!
fi
sim "$ORDERS" "$TMP/sim.json"
if [[ -n $PERF_PID ]]; then
  kill -INT "$PERF_PID" 2>/dev/null || true
  wait "$PERF_PID" 2>/dev/null || true
fi
read -r BUSY1 IDLE1 <<<"$(cpu_ticks)"
# Group commit (core/pg/batcher.hpp): how many calls each write statement carried.
BATCHING=$(python3 - "$TOPO" <<'PY'
import json, re, sys, urllib.request
topo = json.load(open(sys.argv[1]))
tot = {"statements": 0.0, "items": 0.0, "alone": 0.0, "fallbacks": 0.0}
for n in topo["nodes"]:
    if n.get("role") != "order":
        continue
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{n['port']}/metrics", timeout=5).read().decode()
    except Exception:
        continue
    for line in text.splitlines():
        m = re.match(r'dine_pg_batch_(statements|items|alone|fallbacks)_total\{[^}]*\} ([0-9.e+]+)', line)
        if m:
            tot[m.group(1)] += float(m.group(2))
calls = tot["items"] + tot["alone"]
if calls:
    print(f"{tot['items'] / max(tot['statements'], 1):.1f} calls per batched statement, "
          f"{100 * tot['alone'] / calls:.0f} % of writes alone, {int(tot['fallbacks'])} fallbacks")
else:
    print("no figures (write_batch = 1, or /metrics unreachable)")
PY
)
# Backends report their counters when they end: stop the order nodes (their
# pools' backends end with them) before reading. Nothing runs after this.
mapfile -t ORDER_PIDS < <("$DINE" --topology "$TOPO" ps --json 2>/dev/null |
  python3 -c 'import json,sys; [print(n["pid"]) for n in json.load(sys.stdin) if n.get("role") == "order" and n.get("pid")]')
for pid in "${ORDER_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
for pid in "${ORDER_PIDS[@]}"; do
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
done
sleep 1  # the servers' backends notice the closed connections
read -r -a DB1 <<<"$(db_stats)"
rel_stats >"$TMP/rel1"
# A warm-up pays for the pools' first connections, so it underestimates: when
# the run was much shorter than DURATION, size it again from its own rate.
read -r SECS RATE < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["seconds"], r["orders_per_second"])' "$TMP/sim.json")
if ((SIZED)) && awk -v s="$SECS" -v d="$DURATION" 'BEGIN {exit !(s < 0.6 * d)}'; then
  ORDERS=$(awk -v r="$RATE" -v d="$DURATION" -v c="$CONCURRENCY" 'BEGIN {n = int(r * d); if (n < c * 10) n = c * 10; print n}')
  printf 'dine: that took %.1f s; again with %d orders\n' "$SECS" "$ORDERS"
  sim "$ORDERS" "$TMP/sim.json"
fi

read -r CREATED PAID FAILED SECS DINE_OPS C50 C99 P50 P99 < <(python3 - "$TMP/sim.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(r["created"], r["paid"], r["failed"], r["seconds"], r["orders_per_second"],
      r["create_ms"]["p50"], r["create_ms"]["p99"], r["pay_ms"]["p50"], r["pay_ms"]["p99"])
PY
)
RATIO=$(awk -v d="$DINE_OPS" -v p="$PGB_TPS" 'BEGIN {printf "%.1f", (p > 0 ? 100 * d / p : 0)}')

echo
echo "== order throughput vs. the servers' ceiling =="
printf '  pgbench single-row INSERT   %10.0f tps        (%d shards, %d clients, %d s)\n' \
  "$PGB_TPS" "$NSHARDS" "$((PER_SHARD * NSHARDS))" "$DURATION"
printf '  dine paid orders            %10.0f orders/s   (%d paid, %d created, %d failed in %.2f s)\n' \
  "$DINE_OPS" "$PAID" "$CREATED" "$FAILED" "$SECS"
printf '  ratio dine / pgbench        %9s %%\n' "$RATIO"
echo "  target: >= 30 %, aim 40 % (docs/ARCHITECTURE.md, \"The hot path\")"
printf '  create  p50 %8.2f ms   p99 %8.2f ms\n' "$C50" "$C99"
printf '  pay     p50 %8.2f ms   p99 %8.2f ms\n' "$P50" "$P99"
((FAILED == 0)) || echo "  warning: $FAILED orders failed: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["errors"])' "$TMP/sim.json")"
PAIDN=$((PAID > 0 ? PAID : 1))
per() { awk -v a="$1" -v b="$2" -v n="$PAIDN" 'BEGIN {printf "%.2f", (b - a) / n}'; }
CPU_BUSY=$(awk -v b0="$BUSY0" -v b1="$BUSY1" -v i0="$IDLE0" -v i1="$IDLE1" 'BEGIN {t = (b1-b0)+(i1-i0); printf "%.0f", (t > 0 ? 100*(b1-b0)/t : 0)}')
echo "  per paid order (pg_stat_database over the shards, the last run):"
printf '    commits %s   rows inserted %s   updated %s   deleted %s   buffer hits %s   reads %s\n' \
  "$(per "${DB0[0]}" "${DB1[0]}")" "$(per "${DB0[1]}" "${DB1[1]}")" "$(per "${DB0[2]}" "${DB1[2]}")" \
  "$(per "${DB0[3]}" "${DB1[3]}")" "$(per "${DB0[4]}" "${DB1[4]}")" "$(per "${DB0[5]}" "${DB1[5]}")"
printf '    buffer hits by relation:'
awk -v n="$PAIDN" 'NR == FNR {a[$1] = $2; next} {printf " %s %.1f", $1, ($2 - a[$1]) / n}' "$TMP/rel0" "$TMP/rel1"
echo
echo "  group commit (order nodes' /metrics, warm-up included): $BATCHING"
echo "  machine busy during the run: ${CPU_BUSY} % of $(nproc) cores"
if [[ ${PROFILE:-0} == 1 ]]; then
  echo "  perf (cpu-clock, whole machine): share of samples by process"
  perf report -i "$TMP/perf.data" --no-children --sort comm --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -8 | sed 's/^/   /'
  echo "  top symbols:"
  perf report -i "$TMP/perf.data" --no-children --sort comm,dso,sym --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -25 | sed 's/^/   /'
  cp "$TMP/perf.data" "$(dirname "$OUT")/order.perf.data" 2>/dev/null || true
fi

mkdir -p "$(dirname "$OUT")"
python3 - "$OUT" "$TMP/sim.json" <<PY
import json, sys
sim = json.load(open(sys.argv[2]))
out = {
    "bench": "order_paid_vs_pgbench_insert",
    "concurrency": $CONCURRENCY,
    "duration_s": $DURATION,
    "shards": $NSHARDS,
    "order_nodes": $NORDER,
    "cores": $(nproc),
    "loadavg_before": "$LOADAVG",
    "pgbench": {
        "tps": $PGB_TPS,
        "clients_per_shard": $PER_SHARD,
        "threads_per_shard": $PGB_THREADS,
        "mode": "$PGBENCH_MODE",
        "latency_avg_ms_per_shard": [$(IFS=,; echo "${PGB_LAT[*]}")],
        "rows": $PGB_ROWS,
        "script": "1 single-row INSERT per transaction",
    },
    "dine": {
        "orders": $ORDERS,
        "users": $USERS,
        "paid_orders_per_second": sim["orders_per_second"],
        "report": sim,
    },
    "ratio_percent": $RATIO,
    "note": "a paid order is 2 transactions + relay: 50% is the ceiling, aim >= 40%",
}
json.dump(out, open(sys.argv[1], "w"), indent=2)
PY
echo "  (load average before the run: $LOADAVG on $(nproc) cores; the machine is shared)"
echo "  wrote $OUT"
