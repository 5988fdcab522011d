#!/usr/bin/env bash
# The cost of `dine health` (issue 8, item 7): a topology of NODES live dine
# nodes (one process, bench/health/fleet.cpp built here with g++ in a
# second, listening on NODES loopback ports, each serving a realistic
# /metrics of ~48 KB), `dine health --watch --json` probing all of them every
# second for SECONDS_; prints the CPU dine used (goal < 10 % of one core), the
# fleet's, the probes' and the rounds' durations and the last round's states.
# Writes bench/out/health.json.
#   NODES=500 SECONDS_=20 bash bench/health/run.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DINE=${DINE:-$ROOT/build/dine}
NODES=${NODES:-500}
SECS=${SECONDS_:-20}
FIRST=${FIRST_PORT:-21000}  # below the ephemeral range: free for listening
OUT=${OUT:-$ROOT/bench/out/health.json}
die() { echo "bench/health: $*" >&2; exit 2; }
[[ -x $DINE ]] || die "no dine binary at $DINE (make build)"
TMP=$(mktemp -d /tmp/dine-bench-health.XXXXXX)
FLEET=; MON=
# (Never `kill 0`: that is the whole process group, the caller's shell included.)
cleanup() { for p in $FLEET $MON; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

python3 - "$NODES" "$FIRST" >"$TMP/topology.json" <<'PY'
import json, sys
n, first = int(sys.argv[1]), int(sys.argv[2])
nodes = [{"id": f"fleet-{i}", "kind": "dine", "role": "member", "port": first + i, "node_id": i % 256}
         for i in range(n)]
# node_id must be unique per role: spread the nodes over roles of the registry.
roles = ["member", "store", "menu", "coupon", "payment", "order", "app"]
for i, node in enumerate(nodes):
    node["role"] = roles[i // 256 % len(roles)]
print(json.dumps({"name": "bench-health", "secret": "bench-health-secret-0123456789abcdef", "nodes": nodes}))
PY

${CXX:-g++} -O2 -std=c++20 -o "$TMP/fleet" "$ROOT/bench/health/fleet.cpp" || die "could not build the fleet"
"$TMP/fleet" --first-port "$FIRST" --count "$NODES" --seconds $((SECS + 30)) >"$TMP/fleet.log" 2>&1 &
FLEET=$!
for _ in $(seq 1 100); do grep -q "^fleet:" "$TMP/fleet.log" 2>/dev/null && break; sleep 0.1; done
grep -q "^fleet:" "$TMP/fleet.log" || die "the fleet did not start: $(cat "$TMP/fleet.log")"
cat "$TMP/fleet.log"

"$DINE" --topology "$TMP/topology.json" health --watch --json --interval 1000 --deadline 800 >"$TMP/rounds.jsonl" 2>"$TMP/health.err" &
MON=$!
sleep 3  # the first rounds (connections, first scrapes) before measuring
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # user + system, in clock ticks
t0=$(ticks $MON); s0=$(ticks $FLEET); r0=$(wc -l <"$TMP/rounds.jsonl"); w0=$(date +%s.%N)
sleep "$SECS"
t1=$(ticks $MON); s1=$(ticks $FLEET); w1=$(date +%s.%N)
kill $MON; wait $MON 2>/dev/null || true
MON=
python3 - "$t0" "$t1" "$s0" "$s1" "$w0" "$w1" "$r0" "$TMP/rounds.jsonl" "$NODES" "$OUT" <<'PY'
import json, os, sys
from collections import Counter
t0, t1, s0, s1 = (int(x) for x in sys.argv[1:5])
w0, w1 = float(sys.argv[5]), float(sys.argv[6])
r0, rounds, nodes, out = int(sys.argv[7]), sys.argv[8], int(sys.argv[9]), sys.argv[10]
hz = os.sysconf("SC_CLK_TCK")
cpu = 100.0 * (t1 - t0) / hz / (w1 - w0)
fleet_cpu = 100.0 * (s1 - s0) / hz / (w1 - w0)
lines = [json.loads(l) for l in open(rounds) if l.strip()]
measured = lines[r0:] or lines  # the rounds of the measured window
def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * (len(xs) - 1)))] if xs else 0
# Every probe of the window; a round lasts as long as its slowest probe.
probe_ms = [n["probe_ms"] for r in measured for n in r["nodes"]]
round_ms = [max(n["probe_ms"] for n in r["nodes"]) for r in measured if r["nodes"]]
last = lines[-1] if lines else {"nodes": []}
green = sum(1 for n in last["nodes"] if n["state"] == "green")
states = Counter(n["state"] for n in last["nodes"])
reasons = Counter(r for n in last["nodes"] for r in n["reasons"][:1])
print("states in the last round:", dict(states), "; top reasons:", reasons.most_common(3))
print(f"dine health: {nodes} nodes, {len(measured)} rounds in {w1 - w0:.0f} s: {cpu:.1f} % of one core "
      f"(goal < 10 %); the fleet {fleet_cpu:.1f} %")
print(f"  probes: p50 {pct(probe_ms, .5):.1f} ms, p99 {pct(probe_ms, .99):.1f} ms, max {pct(probe_ms, 1):.1f} ms; "
      f"rounds: p50 {pct(round_ms, .5):.1f} ms, max {pct(round_ms, 1):.1f} ms; {green}/{nodes} green in the last round")
os.makedirs(os.path.dirname(out), exist_ok=True)
json.dump({"nodes": nodes, "rounds": len(measured), "seconds": round(w1 - w0, 1),
           "cpu_pct_of_one_core": round(cpu, 2), "fleet_cpu_pct_of_one_core": round(fleet_cpu, 2),
           "probe_ms": {"p50": pct(probe_ms, .5), "p99": pct(probe_ms, .99), "max": pct(probe_ms, 1)},
           "round_ms": {"p50": pct(round_ms, .5), "max": pct(round_ms, 1)},
           "states_last_round": dict(states), "green": green}, open(out, "w"), indent=2)
PY
