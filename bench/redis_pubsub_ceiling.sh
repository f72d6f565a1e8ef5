#!/usr/bin/env bash
# Redis's own pub/sub ceiling on this machine, for the cluster sizing in BENCHMARKS.md: PUBLISH
# rate (pipelined, 180-byte payloads like a small stompbox envelope) with 1, 2, 4 and 8
# subscribed connections standing in for nodes. A private redis-server on a free loopback port.
set -euo pipefail
P=$(python3 -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])")
redis-server --port "$P" --bind 127.0.0.1 --save '' --appendonly no \
    --client-output-buffer-limit "pubsub 0 0 0" >/dev/null &
RP=$!
trap 'kill $RP 2>/dev/null || true' EXIT
sleep 0.5
BODY=$(python3 -c "print('x'*180)")
for subs in 1 2 4 8; do
    pids=()
    for _ in $(seq 1 "$subs"); do
        redis-cli -p "$P" SUBSCRIBE stompbox:default:topic >/dev/null &
        pids+=($!)
    done
    sleep 0.5
    rate=$(redis-benchmark -p "$P" -n 1000000 -P 64 -c 4 -q PUBLISH stompbox:default:topic "$BODY" 2>&1 |
        tr '\r' '\n' | grep "requests per second" | sed 's/.*: //')
    echo "subscribers=$subs: $rate"
    kill "${pids[@]}"
    sleep 0.3
done
