#!/usr/bin/env python3
"""A short smoke run of every `stompbox bench` scenario against the release binary (the `bench`
step of scripts/test): small N, a few seconds each, so the tool keeps working. The long runs are
scripts/bench and scripts/bench-peers.

Usage: python3 bench/smoke.py [path/to/stompbox]
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "peers"))

from run import run_tool  # noqa: E402
from servers import Stompbox  # noqa: E402

ROOT = os.path.dirname(HERE)


def bench(binary, *args):
    argv = [binary, "bench", *args, "--json"]
    print("+", " ".join(argv), flush=True)
    report, error = run_tool(argv, 120)
    if error:
        raise SystemExit(f"bench smoke: {' '.join(argv[1:3])} failed: {error}")
    return report


def expect(cond, what, report):
    if not cond:
        raise SystemExit(f"bench smoke: {what}\n{json.dumps(report, indent=2)}")


def fanout_ok(r, label):
    expect(r["published"] > 0 and r["delivered"] == r["expected"] and r["lost"] == 0,
           f"{label}: every published message must reach every subscriber", r)
    expect(r["deliveries_per_s"] > 0 and r["latency_ms"]["count"] > 0, f"{label}: figures missing", r)
    print(f"  {label}: {r['deliveries_per_s']:.0f} deliveries/s, p99 {r['latency_ms']['p99']:.1f} ms, lost 0")


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/release/stompbox")
    common = ["--subscribers", "200", "--warmup", "1s", "--duration", "2s", "--source-addr-count", "2"]
    with Stompbox(binary) as server:
        pid = ["--server-pid", str(server.pid)]
        fanout_ok(bench(binary, "fanout", "--url", server.url, *common, *pid), "fanout unthrottled")
        fanout_ok(bench(binary, "fanout", "--url", server.url, *common, "--rate", "50", "--topics", "2",
                        "--publishers", "2", *pid), "fanout paced, 2 topics")
        r = bench(binary, "idle", "--url", server.url, "--sessions", "300", "--heartbeat", "1s", "--hold", "3s",
                  *pid)
        expect(r["connected"] == 300 and r["alive_at_end"] == 300 and r["dropped"] == 0,
               "idle: every session must stay alive", r)
        # The server's default heart-beat (10 s) is longer than the hold; crates/bench/tests covers
        # heart-beat timing against a server configured for 1 s.
        expect(r["rss_per_session_bytes"] is not None and r["connect_rate"], "idle: figures missing", r)
        print(f"  idle: 300 sessions alive, {r['connect_rate']:.0f} connects/s")
    fanout_ok(bench(binary, "raw-floor", *common), "raw-floor")
    print("bench smoke: every scenario ran")


if __name__ == "__main__":
    main()
