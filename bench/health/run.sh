#!/usr/bin/env bash
# The cost of `dine health` (issue 8, item 7): a topology of NODES live dine
# nodes (one stub process listening on NODES loopback ports, each serving a
# realistic /metrics of tens of KB), `dine health --watch --json` probing all
# of them every second for SECONDS; prints the CPU dine used (goal < 10 % of
# one core) and the probe rounds' duration. Writes bench/out/health.json.
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
cleanup() { kill "${STUB:-0}" "${MON:-0}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

python3 - "$NODES" "$FIRST" >"$TMP/topology.json" <<'PY'
import json, sys
n, first = int(sys.argv[1]), int(sys.argv[2])
nodes = [{"id": f"stub-{i}", "kind": "dine", "role": "member", "port": first + i, "node_id": i % 256}
         for i in range(n)]
# node_id must be unique per role: spread the stubs over roles of the registry.
roles = ["member", "store", "menu", "coupon", "payment", "order", "app"]
for i, node in enumerate(nodes):
    node["role"] = roles[i // 256 % len(roles)]
print(json.dumps({"name": "bench-health", "secret": "bench-health-secret-0123456789abcdef", "nodes": nodes}))
PY

python3 "$ROOT/bench/health/stub.py" --first-port "$FIRST" --count "$NODES" --seconds $((SECS + 30)) >"$TMP/stub.log" 2>&1 &
STUB=$!
for _ in $(seq 1 100); do grep -q "^stub:" "$TMP/stub.log" 2>/dev/null && break; sleep 0.1; done
grep -q "^stub:" "$TMP/stub.log" || die "the stub did not start: $(cat "$TMP/stub.log")"
cat "$TMP/stub.log"

"$DINE" --topology "$TMP/topology.json" health --watch --json --interval 1000 --deadline 800 >"$TMP/rounds.jsonl" 2>"$TMP/health.err" &
MON=$!
sleep 3  # the first rounds (connections, first scrapes) before measuring
t0=$(awk '{print $14 + $15}' /proc/$MON/stat); w0=$(date +%s.%N)
sleep "$SECS"
t1=$(awk '{print $14 + $15}' /proc/$MON/stat); w1=$(date +%s.%N)
kill $MON; wait $MON 2>/dev/null || true
MON=0
python3 - "$t0" "$t1" "$w0" "$w1" "$TMP/rounds.jsonl" "$NODES" "$OUT" <<'PY'
import json, os, sys
t0, t1, w0, w1, rounds, nodes, out = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], int(sys.argv[6]), sys.argv[7]
hz = os.sysconf("SC_CLK_TCK")
cpu = 100.0 * (t1 - t0) / hz / (w1 - w0)
lines = [json.loads(l) for l in open(rounds) if l.strip()]
last = lines[-1] if lines else {}
probe_ms = sorted(n["probe_ms"] for n in last.get("nodes", []))
green = sum(1 for n in last.get("nodes", []) if n["state"] == "green")
from collections import Counter
states = Counter(n["state"] for n in last.get("nodes", []))
reasons = Counter(r for n in last.get("nodes", []) for r in n["reasons"][:1])
print("states in the last round:", dict(states), "; top reasons:", reasons.most_common(3))
p = lambda q: probe_ms[min(len(probe_ms) - 1, int(q * (len(probe_ms) - 1)))] if probe_ms else 0
print(f"dine health: {nodes} nodes, {len(lines)} rounds: {cpu:.1f} % of one core (goal < 10 %); "
      f"probe p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms, max {p(1.0):.1f} ms; {green}/{nodes} green in the last round")
os.makedirs(os.path.dirname(out), exist_ok=True)
json.dump({"nodes": nodes, "rounds": len(lines), "cpu_pct_of_one_core": round(cpu, 2),
           "probe_ms": {"p50": p(0.5), "p99": p(0.99), "max": p(1.0)}, "green": green}, open(out, "w"), indent=2)
PY
