#!/usr/bin/env bash
# `dine prewarm menu` against its anchor on the same Redis: keys rewritten per
# second by the walk (PostgreSQL read, JSON, one Redis pipeline per batch, per
# menu node) beside `redis-benchmark -P 32 -t set`, the ceiling of plain SETs
# of the same size on that Redis. Prints products/s and keys/s for the walk,
# SET/s for redis-benchmark and the ratio keys/s / SET/s (goal >= 0.3); writes
# bench/out/prewarm.json.
#
# One run starts a private stack (PostgreSQL with store, menu and coupon,
# redis-cache, one store node, one menu node) on free ports, its state in a
# temp dir (so a running `dine up` is left alone), seeds it, warms up, then
# measures each side RUNS times (median), then stops the stack, always.
#
#   bench/prewarm/run.sh
#   DINE=/path/to/dine STORES=5000 PRODUCTS=20 bench/prewarm/run.sh
#
# Knobs (env): STORES=10000 PRODUCTS=20 (the seed: 210,000 keys a walk), RUNS=5 (median of each side),
#              BATCH=100 CONCURRENCY=4 (the walk), MENU_THREADS=2 (worker
#              threads of the menu node), PIPELINE=32 CLIENTS=50 (redis-benchmark),
#              EXPORT=1 (also time one walk with --export into the temp dir),
#              MIN_RATIO=0.3 STRICT=0 (1: exit 1 below MIN_RATIO),
#              OUT=bench/out/prewarm.json, KEEP=1 (keep the temp dir and logs)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DINE=${DINE:-$ROOT/build/dine}
STORES=${STORES:-10000}
PRODUCTS=${PRODUCTS:-20}
RUNS=${RUNS:-5}
BATCH=${BATCH:-100}
CONCURRENCY=${CONCURRENCY:-4}
MENU_THREADS=${MENU_THREADS:-2}
PIPELINE=${PIPELINE:-32}
CLIENTS=${CLIENTS:-50}
EXPORT=${EXPORT:-0}
MIN_RATIO=${MIN_RATIO:-0.3}
STRICT=${STRICT:-0}
OUT=${OUT:-$ROOT/bench/out/prewarm.json}
KEEP=${KEEP:-0}

die() { echo "bench/prewarm: $*" >&2; exit 2; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
for v in STORES PRODUCTS RUNS BATCH CONCURRENCY MENU_THREADS PIPELINE CLIENTS; do
  is_uint "${!v}" && ((${!v} >= 1)) || die "$v must be a positive integer, got '${!v}'"
done
[[ $DINE == */* ]] || DINE=$(command -v "$DINE" || true)
[[ -n $DINE && -x $DINE ]] ||
  die "the dine binary is missing (${DINE:-dine}): cmake --build build --target dine, or set DINE=/path/to/dine"
REDIS_BENCHMARK=${REDIS_BENCHMARK:-$(command -v redis-benchmark || true)}
REDIS_CLI=${REDIS_CLI:-$(command -v redis-cli || true)}
[[ -n $REDIS_BENCHMARK && -n $REDIS_CLI ]] || die "redis-benchmark and redis-cli not found (apt-get install redis-tools)"
command -v python3 >/dev/null || die "python3 not found"

TMP=$(mktemp -d /tmp/dine-bench-prewarm.XXXXXX)
chmod 755 "$TMP"
TOPO=$TMP/topology.json
export DINE_STATE_DIR=$TMP/state
STACK_STARTED=0
cleanup() {
  local rc=$?
  if ((STACK_STARTED)); then
    "$DINE" --topology "$TOPO" down >"$TMP/down.log" 2>&1 ||
      { echo "bench/prewarm: 'dine down' failed:" >&2; cat "$TMP/down.log" >&2; }
  fi
  if [[ $KEEP == 1 ]] || ((rc != 0 && rc != 130)); then
    echo "bench/prewarm: logs and data kept in $TMP" >&2
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- a private stack on free ports ---------------------------------------------
python3 - "$TOPO" "$MENU_THREADS" <<'PY'
import json, socket, sys
socks = []
def port():  # held until every port is chosen, so no two nodes share one
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
    return s.getsockname()[1]
topo = {
  "name": "bench-prewarm",
  "secret": "bench-prewarm-secret-0123456789abcdef",
  "nodes": [
    {"id": "pg-main", "kind": "postgres", "host": "127.0.0.1", "port": port(),
     "databases": ["store", "menu", "coupon"]},
    {"id": "redis-cache", "kind": "redis", "host": "127.0.0.1", "port": port(),
     "maxmemory_mb": 1024, "eviction": "allkeys-lru"},
    {"id": "store-1", "kind": "dine", "role": "store", "host": "127.0.0.1", "port": port(), "node_id": 21,
     "threads": 1, "uses": {"db": ["pg-main"]}},
    {"id": "menu-1", "kind": "dine", "role": "menu", "host": "127.0.0.1", "port": port(), "node_id": 31,
     "threads": int(sys.argv[2]), "uses": {"db": ["pg-main"], "cache": ["redis-cache"]}},
  ],
}
json.dump(topo, open(sys.argv[1], "w"), indent=2)
PY
REDIS_PORT=$(python3 -c 'import json,sys; print([n for n in json.load(open(sys.argv[1]))["nodes"] if n["id"] == "redis-cache"][0]["port"])' "$TOPO")

LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench/prewarm: starting a private stack (PostgreSQL, Redis, store-1, menu-1 with $MENU_THREADS thread(s)); state in $TMP"
STACK_STARTED=1
"$DINE" --topology "$TOPO" up >"$TMP/up.log" 2>&1 || { cat "$TMP/up.log" >&2; die "'dine up' failed"; }
"$DINE" --topology "$TOPO" db seed --stores "$STORES" --products "$PRODUCTS" --campaigns 0 \
  --tokens-file "$TMP/tokens.json" --json >"$TMP/seed.json" 2>"$TMP/seed.err" ||
  { cat "$TMP/seed.err" >&2; die "'dine db seed' failed"; }
KEYS=$((STORES * (PRODUCTS + 1)))

prewarm() {  # prewarm OUTFILE [flags...]: one walk, its JSON summary in OUTFILE
  local out=$1
  shift
  "$DINE" --topology "$TOPO" prewarm menu --batch "$BATCH" -c "$CONCURRENCY" --json "$@" >"$out" 2>"$out.err" ||
    { cat "$out" "$out.err" >&2; die "'dine prewarm menu' failed"; }
}
field() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {"r": r}))' "$1" "$2"; }
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }

prewarm "$TMP/warmup.json"  # fills the caches of PostgreSQL and the nodes' pools
[[ $(field "$TMP/warmup.json" 'r["keys"]') == "$KEYS" ]] ||
  die "the warm-up wrote $(field "$TMP/warmup.json" 'r["keys"]') keys, expected $KEYS"
# The value size redis-benchmark writes: the mean size of the keys the walk wrote.
VALUE_BYTES=$(python3 - "$REDIS_CLI" "$REDIS_PORT" "$PRODUCTS" <<'PY'
import subprocess, sys
cli, port, products = sys.argv[1], sys.argv[2], int(sys.argv[3])
def strlen(key):
    return int(subprocess.check_output([cli, "-p", port, "STRLEN", key]).strip())
sizes = [strlen("menu:1")] + [strlen(f"product:1:{sku}") for sku in range(1, products + 1)]
print(round(sum(sizes) / len(sizes)))
PY
)
# Over a whole store the value sizes are a menu (all its products) and each product.
echo "seeded $STORES stores x $PRODUCTS products: $KEYS keys a walk, mean value $VALUE_BYTES bytes"

echo "dine prewarm menu --batch $BATCH -c $CONCURRENCY: $RUNS runs"
: >"$TMP/keys_per_s" >"$TMP/products_per_s"
for ((i = 1; i <= RUNS; i++)); do
  prewarm "$TMP/run.$i.json"
  k=$(field "$TMP/run.$i.json" 'r["keys_per_second"]')
  p=$(field "$TMP/run.$i.json" 'r["products_per_second"]')
  s=$(field "$TMP/run.$i.json" 'r["seconds"]')
  printf '  run %d  %10.0f keys/s  %10.0f products/s  (%.3f s)\n' "$i" "$k" "$p" "$s"
  echo "$k" >>"$TMP/keys_per_s"
  echo "$p" >>"$TMP/products_per_s"
done
KEYS_PER_S=$(median <"$TMP/keys_per_s")
PRODUCTS_PER_S=$(median <"$TMP/products_per_s")

echo "redis-benchmark -P $PIPELINE -c $CLIENTS -t set -n $KEYS -d $VALUE_BYTES -r $KEYS (database 1): $RUNS runs"
: >"$TMP/set_per_s"
for ((i = 1; i <= RUNS; i++)); do
  "$REDIS_BENCHMARK" -p "$REDIS_PORT" --dbnum 1 -P "$PIPELINE" -c "$CLIENTS" -t set -n "$KEYS" -d "$VALUE_BYTES" \
    -r "$KEYS" --csv >"$TMP/rb.$i.csv" 2>"$TMP/rb.$i.err" || { cat "$TMP/rb.$i.err" >&2; die "redis-benchmark failed"; }
  r=$(python3 -c 'import csv,sys; rows=list(csv.reader(open(sys.argv[1]))); print([x for x in rows if x and x[0] == "SET"][0][1])' "$TMP/rb.$i.csv")
  printf '  run %d  %10.0f SET/s\n' "$i" "$r"
  echo "$r" >>"$TMP/set_per_s"
done
SET_PER_S=$(median <"$TMP/set_per_s")
"$REDIS_CLI" -p "$REDIS_PORT" -n 1 FLUSHDB >/dev/null

EXPORT_JSON=None
if [[ $EXPORT == 1 ]]; then
  prewarm "$TMP/export.json" --export "$TMP/static"
  prewarm "$TMP/export2.json" --export "$TMP/static"
  EXPORT_JSON=$(python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]));
print(json.dumps({"first": {"seconds": a["seconds"], "keys_per_second": a["keys_per_second"], "files": a["export"]},
                  "again": {"seconds": b["seconds"], "keys_per_second": b["keys_per_second"], "files": b["export"]}}))' \
    "$TMP/export.json" "$TMP/export2.json")
  printf '  with --export: %.2f s the first time (%s files written), %.2f s again (unchanged files left alone)\n' \
    "$(field "$TMP/export.json" 'r["seconds"]')" "$(field "$TMP/export.json" 'r["export"]["written"]')" \
    "$(field "$TMP/export2.json" 'r["seconds"]')"
fi

RATIO=$(awk -v k="$KEYS_PER_S" -v s="$SET_PER_S" 'BEGIN {printf "%.3f", (s > 0 ? k / s : 0)}')
PASS=$(awk -v r="$RATIO" -v m="$MIN_RATIO" 'BEGIN {print (r >= m ? "true" : "false")}')
echo
echo "== prewarm vs. redis-benchmark SET on the same Redis (medians of $RUNS) =="
printf '  dine prewarm menu   %10.0f keys/s   %10.0f products/s\n' "$KEYS_PER_S" "$PRODUCTS_PER_S"
printf '  redis-benchmark     %10.0f SET/s    (-P %d, -c %d, %d bytes)\n' "$SET_PER_S" "$PIPELINE" "$CLIENTS" "$VALUE_BYTES"
echo "  ratio keys/s / SET/s = $RATIO (goal >= $MIN_RATIO: $PASS)"
echo "  (load average before the run: $LOADAVG on $(nproc) cores; the machine is shared)"

mkdir -p "$(dirname "$OUT")"
python3 - "$OUT" "$TMP/run.1.json" <<PY
import json, sys
out = {
    "bench": "prewarm_keys_vs_redis_benchmark_set",
    "stores": $STORES, "products": $PRODUCTS, "keys": $KEYS, "value_bytes": $VALUE_BYTES,
    "runs": $RUNS, "cores": $(nproc), "loadavg_before": "$LOADAVG",
    "prewarm": {"batch": $BATCH, "concurrency": $CONCURRENCY, "menu_threads": $MENU_THREADS,
                "keys_per_second": $KEYS_PER_S, "products_per_second": $PRODUCTS_PER_S,
                "runs_keys_per_second": [float(x) for x in open("$TMP/keys_per_s").read().split()],
                "first_report": json.load(open(sys.argv[2]))},
    "redis_benchmark": {"pipeline": $PIPELINE, "clients": $CLIENTS, "set_per_second": $SET_PER_S,
                        "runs_set_per_second": [float(x) for x in open("$TMP/set_per_s").read().split()]},
    "export": $EXPORT_JSON,
    "ratio": $RATIO, "min_ratio": $MIN_RATIO, "pass": $( [[ $PASS == true ]] && echo True || echo False ),
}
json.dump(out, open(sys.argv[1], "w"), indent=2)
PY
echo "  wrote $OUT"
if [[ $STRICT == 1 && $PASS != true ]]; then exit 1; fi
