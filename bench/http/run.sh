#!/usr/bin/env bash
# dine's HTTP server beside nginx on the same trivial endpoint, same wrk load.
# Prints both req/s and the ratio dine/nginx; writes bench/out/http.json.
#
#   bench/http/run.sh                      # uses build/dine bench-http-server
#   DINE=/path/to/dine bench/http/run.sh   # another binary
#   DINE_URL=http://127.0.0.1:8080/healthz bench/http/run.sh  # an already running node
#
# Knobs (env): WRK_THREADS=2 CONNECTIONS=64 DURATION=10s WARMUP=2s WORKERS=2
#              MIN_RATIO=0.7 STRICT=0 (1: exit 1 when the ratio is below MIN_RATIO)
#              OUT=bench/out/http.json
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DINE=${DINE:-$ROOT/build/dine}
NGINX=${NGINX:-/usr/sbin/nginx}
WRK=${WRK:-wrk}
WRK_THREADS=${WRK_THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
WORKERS=${WORKERS:-2}
MIN_RATIO=${MIN_RATIO:-0.7}
STRICT=${STRICT:-0}
OUT=${OUT:-$ROOT/bench/out/http.json}

die() { echo "bench/http: $*" >&2; exit 2; }
command -v "$WRK" >/dev/null || die "wrk not found (apt-get install wrk)"
[[ -x $NGINX ]] || die "nginx not found at $NGINX (apt-get install nginx-light)"

TMP=$(mktemp -d /tmp/dine-bench-http.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Polls until something answers on 127.0.0.1:$1 (at most ~10 s).
wait_port() {
  local i
  for ((i = 0; i < 200; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  return 1
}

# Runs wrk against $1; prints "rps p99_ms".
measure() {
  local url=$1 out
  "$WRK" -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$url" >/dev/null
  out=$("$WRK" -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url")
  echo "$out" >>"$TMP/wrk.log"
  local rps p99
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; print v}' <<<"$out")
  local errors
  errors=$(awk '/Non-2xx or 3xx responses|Socket errors/ {print}' <<<"$out")
  [[ -z $errors ]] || echo "bench/http: warning for $url: $errors" >&2
  [[ -n $rps ]] || die "wrk gave no result for $url: $out"
  echo "$rps ${p99:-0}"
}

# ---- nginx -------------------------------------------------------------------
NGINX_PORT=$(free_port)
mkdir -p "$TMP/nginx/logs"
USER_LINE=""
[[ $(id -u) -eq 0 ]] && USER_LINE="user root;"
cat >"$TMP/nginx/nginx.conf" <<CONF
$USER_LINE
daemon off;
master_process on;
worker_processes $WORKERS;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { return 200 "ok\n"; }
  }
}
CONF
"$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/logs/error.log" &
PIDS+=($!)
wait_port "$NGINX_PORT" || die "nginx did not start: $(cat "$TMP/nginx/logs/error.log" 2>/dev/null)"

# ---- dine --------------------------------------------------------------------
if [[ -n ${DINE_URL:-} ]]; then
  DINE_TARGET=$DINE_URL
else
  [[ -x $DINE ]] || die "$DINE not found: cmake --build build --target dine (or set DINE / DINE_URL)"
  "$DINE" bench-http-server --help >/dev/null 2>&1 ||
    die "$DINE has no bench-http-server subcommand (set DINE_URL to a running node)"
  DINE_PORT=$(free_port)
  "$DINE" bench-http-server --host 127.0.0.1 --port "$DINE_PORT" --threads "$WORKERS" \
    >"$TMP/dine.log" 2>&1 &
  PIDS+=($!)
  wait_port "$DINE_PORT" || die "dine did not start: $(cat "$TMP/dine.log")"
  DINE_TARGET=http://127.0.0.1:$DINE_PORT/healthz
fi
curl -fsS "$DINE_TARGET" >/dev/null || die "$DINE_TARGET does not answer 2xx"

echo "wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION (after $WARMUP warm-up), $WORKERS workers each"
read -r NGINX_RPS NGINX_P99 < <(measure "http://127.0.0.1:$NGINX_PORT/healthz")
printf '  nginx  %12.0f req/s   p99 %8.3f ms\n' "$NGINX_RPS" "$NGINX_P99"
read -r DINE_RPS DINE_P99 < <(measure "$DINE_TARGET")
printf '  dine   %12.0f req/s   p99 %8.3f ms\n' "$DINE_RPS" "$DINE_P99"

RATIO=$(awk -v d="$DINE_RPS" -v n="$NGINX_RPS" 'BEGIN {printf "%.3f", (n > 0 ? d / n : 0)}')
PASS=$(awk -v r="$RATIO" -v m="$MIN_RATIO" 'BEGIN {print (r >= m ? "true" : "false")}')
echo "  ratio dine/nginx = $RATIO (target >= $MIN_RATIO: $PASS)"

mkdir -p "$(dirname "$OUT")"
cat >"$OUT" <<JSON
{
  "bench": "http_healthz",
  "tool": "wrk",
  "wrk_threads": $WRK_THREADS,
  "connections": $CONNECTIONS,
  "duration": "$DURATION",
  "workers": $WORKERS,
  "nginx": {"rps": $NGINX_RPS, "p99_ms": $NGINX_P99},
  "dine": {"rps": $DINE_RPS, "p99_ms": $DINE_P99, "url": "$DINE_TARGET"},
  "ratio": $RATIO,
  "min_ratio": $MIN_RATIO,
  "pass": $PASS
}
JSON
echo "  wrote $OUT"
if [[ $STRICT == 1 && $PASS != true ]]; then exit 1; fi
