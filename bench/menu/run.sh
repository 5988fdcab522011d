#!/usr/bin/env bash
# A store's menu through the whole public path (nginx gateway -> app -> menu,
# a redis-cache hit) against the same nginx serving the same JSON as a static
# file, same wrk load. Prints both req/s and the ratio (goal >= 0.25); writes
# bench/out/menu.json.
#
# It runs its own copy of the local topology (every port + 1000, its own state
# dir, the gateway cap raised out of the way), so a local stack that is up is
# not disturbed; the copy is stopped at the end, whatever happens.
#
# Knobs (env): WRK_THREADS=2 CONNECTIONS=64 DURATION=10s WARMUP=2s MIN_RATIO=0.25
#              STRICT=0 (1: exit 1 below MIN_RATIO) OUT=bench/out/menu.json
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DINE=${DINE:-$ROOT/build/dine}
WRK=${WRK:-wrk}
WRK_THREADS=${WRK_THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
MIN_RATIO=${MIN_RATIO:-0.25}
STRICT=${STRICT:-0}
OUT=${OUT:-$ROOT/bench/out/menu.json}

die() { echo "bench/menu: $*" >&2; exit 2; }
command -v "$WRK" >/dev/null || die "wrk not found (apt-get install wrk)"
[[ -x $DINE ]] || die "no dine binary at $DINE (make build)"

TMP=$(mktemp -d /tmp/dine-bench-menu.XXXXXX)
export DINE_STATE_DIR=$TMP/state
TOPO=$TMP/topology.json
cleanup() {
  "$DINE" --topology "$TOPO" down >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The local topology, ports + 1000, no cap in the way.
python3 - "$ROOT/deploy/local.json" "$TOPO" <<'PY'
import json, re, sys
text = re.sub(r"^\s*//.*$", "", open(sys.argv[1]).read(), flags=re.M)
t = json.loads(text)
t["name"] = "bench-menu"
for n in t["nodes"]:
    n["port"] += 1000
t["gateway"] = {"qps_cap": 10_000_000, "burst": 100_000}
json.dump(t, open(sys.argv[2], "w"), indent=2)
PY

echo "bench/menu: starting a copy of the local stack (ports + 1000) in $DINE_STATE_DIR"
"$DINE" --topology "$TOPO" up >/dev/null
"$DINE" --topology "$TOPO" db seed --stores 50 --products 20 >/dev/null
GW=$(python3 -c "import json; print([n['port'] for n in json.load(open('$TOPO'))['nodes'] if n['id']=='gw-1'][0])")
API="http://127.0.0.1:$GW/api/v1/stores/1/menu"
curl -sf "$API" >"$TMP/menu.json" || die "the menu did not come through the gateway"
# The same bytes as a static file, served by the same nginx from its static dir.
mkdir -p "$DINE_STATE_DIR/static/bench"
cp "$TMP/menu.json" "$DINE_STATE_DIR/static/bench/menu-1.json"
chmod -R a+rX "$DINE_STATE_DIR/static"
STATIC="http://127.0.0.1:$GW/static/bench/menu-1.json"
curl -sf "$STATIC" >/dev/null || die "nginx does not serve $STATIC"

measure() {
  local url=$1 out
  "$WRK" -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$url" >/dev/null
  out=$("$WRK" -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url")
  local errors
  errors=$(awk '/Non-2xx or 3xx responses|Socket errors/ {print}' <<<"$out")
  [[ -z $errors ]] || echo "bench/menu: warning for $url: $errors" >&2
  local rps p99
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; print v}' <<<"$out")
  [[ -n $rps ]] || die "wrk gave no result for $url"
  echo "$rps ${p99:-0}"
}

BYTES=$(wc -c <"$TMP/menu.json")
echo "bench/menu: wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION, a $BYTES-byte menu"
read -r API_RPS API_P99 < <(measure "$API")
read -r STATIC_RPS STATIC_P99 < <(measure "$STATIC")
HITS=$(curl -s "http://127.0.0.1:$((18131 + 1000))/metrics" | awk '/^dine_menu_cache_hits_total/ {print $2}')
RATIO=$(python3 -c "print(round($API_RPS / $STATIC_RPS, 3))")
PASS=$(python3 -c "print('yes' if $RATIO >= $MIN_RATIO else 'no')")
printf '  gateway -> app -> menu  %10.0f req/s   p99 %7.2f ms\n' "$API_RPS" "$API_P99"
printf '  gateway static file     %10.0f req/s   p99 %7.2f ms\n' "$STATIC_RPS" "$STATIC_P99"
echo "  ratio api/static = $RATIO (target >= $MIN_RATIO: $PASS); menu cache hits on menu-1: ${HITS:-?}"
mkdir -p "$(dirname "$OUT")"
cat >"$OUT" <<JSON
{"bytes": $BYTES, "api": {"rps": $API_RPS, "p99_ms": $API_P99}, "static": {"rps": $STATIC_RPS, "p99_ms": $STATIC_P99},
 "ratio": $RATIO, "target": $MIN_RATIO, "pass": "$PASS", "wrk": "-t$WRK_THREADS -c$CONNECTIONS -d$DURATION"}
JSON
[[ $STRICT != 1 || $PASS == yes ]] || exit 1
