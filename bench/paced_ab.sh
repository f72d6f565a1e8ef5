#!/usr/bin/env bash
# Paced fan-out, stompbox and the raw floor alternately, N rounds (default 3): on a shared 2-core
# machine one run of each can differ by 3x from noise alone; alternating rounds and comparing the
# medians of the p99s is what BENCHMARKS.md reports for the paced 10 000-subscriber target.
#
#   bench/paced_ab.sh                      10 000 subscribers, 1 message/s, 20 s windows, 3 rounds
#   SUBS=1000 RATE=15 N=5 bench/paced_ab.sh
#
# Prints one line per run (target, p50, p99, p99.9 in ms, deliveries) and the medians; the JSON of
# each run stays in $OUT (default a temporary directory).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SUBS=${SUBS:-10000} RATE=${RATE:-1} DUR=${DUR:-20s} N=${N:-3}
OUT=${OUT:-$(mktemp -d /tmp/paced-ab.XXXXXX)}
cargo build --release -q -p stompbox
B=target/release/stompbox
FLAGS=(--subscribers "$SUBS" --rate "$RATE" --topics 1 --publishers 1 --size 100 --warmup 2s --duration "$DUR" --json)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null || true' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
for i in $(seq 1 "$N"); do
    port=$(free_port)
    "$B" serve --listen "127.0.0.1:$port" --log warn 2>"$OUT/serve-$i.log" &
    server=$!
    for _ in $(seq 50); do (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
    "$B" bench fanout --url "ws://127.0.0.1:$port/test-ws" --server-pid "$server" "${FLAGS[@]}" >"$OUT/stompbox-$i.json"
    kill "$server"; wait "$server" 2>/dev/null || true; server=""
    "$B" bench raw-floor "${FLAGS[@]}" >"$OUT/floor-$i.json"
done
python3 - "$OUT" "$N" <<'PY'
import json, statistics, sys
out, n = sys.argv[1], int(sys.argv[2])
p99 = {}
for t in ("stompbox", "floor"):
    for i in range(1, n + 1):
        d = json.load(open(f"{out}/{t}-{i}.json"))
        l = d["latency_ms"]
        p99.setdefault(t, []).append(l["p99"])
        print(f"{t:9} round {i}: p50 {l['p50']:.1f}  p99 {l['p99']:.1f}  p99.9 {l['p999']:.1f} ms  delivered {d['delivered']} lost {d['lost']}")
s, f = statistics.median(p99["stompbox"]), statistics.median(p99["floor"])
print(f"median p99: stompbox {s:.1f} ms, floor {f:.1f} ms, ratio {s / f:.2f}x  (runs in {out})")
PY
