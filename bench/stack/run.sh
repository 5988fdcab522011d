#!/usr/bin/env bash
# The local stack's footprint (issue 7, item 10): how long `dine up` takes,
# the CPU the whole stack burns while idle (every process of every node:
# PostgreSQL backends and nginx workers included), and its memory (PSS: shared
# pages counted once, split among the processes that share them). Starts the
# stack if it is down and stops it again at the end; a stack already up is
# measured as it is (without the up time) and left up.
#   IDLE_S=20 bash bench/stack/run.sh        # writes bench/out/stack.json
set -euo pipefail
DINE=${DINE:-build/dine}
IDLE_S=${IDLE_S:-20}
OUT=${OUT:-bench/out/stack.json}
die() { echo "bench/stack: $*" >&2; exit 1; }
[[ -x $DINE ]] || die "no dine binary at $DINE (make build)"

started=0
up_s=null
if ! "$DINE" ps --json | python3 -c 'import json,sys; sys.exit(0 if all(n["state"]=="running" for n in json.load(sys.stdin)) else 1)'; then
  t0=$(date +%s.%N)
  "$DINE" up >/dev/null
  t1=$(date +%s.%N)
  up_s=$(python3 -c "print(round($t1 - $t0, 2))")
  started=1
  trap '"$DINE" down >/dev/null 2>&1 || true' EXIT
fi
sleep 3  # let start-up work (migrations, first probes) settle before measuring idle

python3 - "$DINE" "$IDLE_S" "$up_s" "$OUT" <<'PY'
import json, os, subprocess, sys, time
dine, idle_s, up_s, out = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
nodes = json.loads(subprocess.check_output([dine, "ps", "--json"]))
roots = {n["pid"]: n["id"] for n in nodes if n.get("pid")}
hz = os.sysconf("SC_CLK_TCK")

def procs():
    """pid -> (node id, utime+stime ticks) for every process under a node's pid."""
    parent, ticks = {}, {}
    for d in os.listdir("/proc"):
        if not d.isdigit(): continue
        try:
            s = open(f"/proc/{d}/stat").read()
        except OSError:
            continue
        rest = s[s.rfind(")") + 2:].split()
        parent[int(d)] = int(rest[1])
        ticks[int(d)] = int(rest[11]) + int(rest[12])
    owner = {}
    for pid in parent:
        p, seen = pid, 0
        while p and p not in roots and seen < 64:
            p, seen = parent.get(p, 0), seen + 1
        if p in roots: owner[pid] = roots[p]
    return {pid: (owner[pid], ticks[pid]) for pid in owner}

def pss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith("Pss:"): return int(line.split()[1])
    except OSError:
        pass
    return 0

a = procs(); t0 = time.time()
time.sleep(idle_s)
b = procs(); t1 = time.time()
per_node = {}
for pid, (node, t) in b.items():
    before = a.get(pid, (node, t))[1] if pid in a else 0
    per_node.setdefault(node, [0, 0, 0])
    per_node[node][0] += t - before
    per_node[node][1] += pss_kib(pid)
    per_node[node][2] += 1
wall = t1 - t0
cpu_pct = 100.0 * sum(v[0] for v in per_node.values()) / hz / wall
pss_mib = sum(v[1] for v in per_node.values()) / 1024
print(f"{'NODE':<14} {'PROCS':>5} {'CPU %':>7} {'PSS MiB':>8}")
for node, (t, k, n) in sorted(per_node.items(), key=lambda kv: -kv[1][0]):
    print(f"{node:<14} {n:>5} {100.0 * t / hz / wall:>7.2f} {k / 1024:>8.1f}")
print(f"idle stack: {cpu_pct:.2f} % of one core over {wall:.0f} s (goal < 5 %), {pss_mib:.0f} MiB PSS in all "
      f"(goal < 2048), {sum(v[2] for v in per_node.values())} processes")
if up_s != "null": print(f"dine up: {up_s} s (goal < 60)")
os.makedirs(os.path.dirname(out), exist_ok=True)
json.dump({"up_s": None if up_s == "null" else float(up_s), "idle_cpu_pct_of_one_core": round(cpu_pct, 2),
           "pss_mib": round(pss_mib), "window_s": round(wall),
           "nodes": {k: {"cpu_pct": round(100.0 * v[0] / hz / wall, 2), "pss_mib": round(v[1] / 1024, 1),
                         "processes": v[2]} for k, v in per_node.items()}}, open(out, "w"), indent=2)
PY
