#!/usr/bin/env python3
"""scripts/bench: how stompbox's cost grows with the number of sessions N.

For each N (default 1 000, 5 000, 19 000) two runs, each against a fresh `stompbox serve`
(bench/peers/servers.py) measured through `--server-pid`:
  fan-out  unthrottled, 1 topic, 1 publisher, 100-byte bodies, N subscribers: deliveries/s and
           deliveries per server CPU-second;
  idle     N sessions with 10 s heart-beats held a short while: server RSS, RSS per session,
           connect rate, and the server's CPU while only heart-beats flow (sampled from /proc).
Then a least-squares line of server RSS against N (slope = bytes per session), the extrapolation
to 1 million sessions, a PNG (two panels) and a Markdown section printed on stdout.
Raw JSON, the Markdown and the PNG go to bench/results/growth-<date>.{json,md} and
bench/results/growth.png (`-quick` in every name for --quick runs). Fan-out runs are repeated
(--repeats, median and range); every run binds its client sockets to loopback source addresses of
its own. This file measures; bench/growth_report.py turns the saved runs into table, fit and plot.
"""
import argparse
import datetime
import json
import os
import resource
import shlex
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "peers"))

from procs import rss_kib  # noqa: E402
from run import cpu_seconds, interrupt, run_tool, shown  # noqa: E402
from servers import ServerError, Stompbox  # noqa: E402

sys.path.insert(0, HERE)
from growth_report import BODY, MIN_CPU_S, cpu_rate, hold_window, parse_sizes, plot, render_md  # noqa: E402

# Kernel objects one server-side TCP socket holds (outside the process's RSS), from /proc/slabinfo.
SOCKET_SLABS = ("TCP", "sock_inode_cache", "filp", "dentry", "eventpoll_epi")
# Client sockets per loopback source address, as the generator's own default (crates/bench target.rs).
SOCKETS_PER_SOURCE = 12000


# ---- measuring ---------------------------------------------------------------------------------

class Series:
    """Samples a server's CPU-seconds and RSS every 0.5 s: (monotonic t, cpu_s, rss_kib)."""

    def __init__(self, pid):
        self.pid, self.samples = pid, []
        self._stop = threading.Event()
        self._sample()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _sample(self):
        self.samples.append((time.monotonic(), cpu_seconds(self.pid), rss_kib(self.pid)))

    def _loop(self):
        while not self._stop.wait(0.5):
            self._sample()

    def finish(self):
        self._stop.set()
        self._thread.join()
        self._sample()
        return self.samples


def run_args(kind, n, s):
    if kind == "fanout":
        return ["--subscribers", str(n), "--publishers", "1", "--topics", "1", "--size", str(BODY),
                "--rate", "0", "--warmup", f"{s['warmup']}s", "--duration", f"{s['duration']}s"]
    return ["--sessions", str(n), "--heartbeat", f"{s['heartbeat']}s", "--hold", f"{s['hold']}s"]


def source_addrs(run_no, sockets):
    """Loopback source addresses of their own for run `run_no` (1..255): 127.77.<run_no>.1, .2, …, at
    most SOCKETS_PER_SOURCE sockets each. Every run gets fresh local port ranges: no TIME_WAIT left
    by the previous run, and no other load generator on the machine (they take 127.0.0.K) slows
    its binds or steals its ports."""
    if not 1 <= run_no <= 255:
        raise ValueError(f"run number {run_no}: expected 1..255")
    count = max(1, -(-(sockets + 1) // SOCKETS_PER_SOURCE))
    return [f"127.77.{run_no}.{k}" for k in range(1, count + 1)]


def netstat_counter(text, name):
    """A TcpExt counter (e.g. ListenOverflows) from the text of /proc/net/netstat, or None."""
    lines = text.splitlines()
    for head, values in zip(lines, lines[1:]):
        if head.startswith("TcpExt:") and values.startswith("TcpExt:"):
            pairs = dict(zip(head.split()[1:], values.split()[1:]))
            return int(pairs[name]) if name in pairs else None
    return None


def listen_overflows():
    """The machine's count of connections dropped because a listen (accept) queue was full."""
    try:
        with open("/proc/net/netstat") as f:
            return netstat_counter(f.read(), "ListenOverflows")
    except (OSError, ValueError):
        return None


def one_run(opts, kind, n, run_no):
    time.sleep(opts.pause)  # the previous server's and generator's sockets close meanwhile
    s = opts.settings
    record = {"kind": kind, "n": n, "load_before": list(os.getloadavg()), "result": None,
              "observed": None, "error": None}
    seconds = s["warmup"] + s["duration"] if kind == "fanout" else s["hold"]
    t0 = time.monotonic()
    overflows = listen_overflows()
    try:
        with Stompbox(opts.bin) as server:
            argv = [opts.bin, "bench", kind, "--url", server.url, *run_args(kind, n, s),
                    "--source-addrs", ",".join(source_addrs(run_no, n)), "--server-pid", str(server.pid), "--json"]
            record["command"] = shown(argv, server.url, server.pid)
            series = Series(server.pid)
            try:
                record["result"], record["error"] = run_tool(argv, seconds + opts.setup_timeout)
            finally:
                t_end = time.monotonic()
                samples = series.finish()
                rss = [k for _, _, k in samples if k is not None]
                cpu = [c for _, c, _ in samples if c is not None]
                record["observed"] = {
                    "rss_kib_peak": max(rss, default=None),
                    "cpu_s": round(cpu[-1] - cpu[0], 3) if len(cpu) > 1 else None,
                    "hold_cpu_per_s": cpu_rate(samples, *hold_window(t_end, s["hold"]), min_cpu=MIN_CPU_S)
                    if kind == "idle" else None,
                }
                after = listen_overflows()
                if overflows is not None and after is not None:
                    record["observed"]["listen_overflows"] = after - overflows
    except (ServerError, OSError, subprocess.SubprocessError) as e:
        record["error"] = f"{type(e).__name__}: {e}"
        record.setdefault("command", "(stompbox serve did not start)")
    record["elapsed_s"] = round(time.monotonic() - t0, 1)
    return record


def slab_bytes_per_socket():
    """Sum of the object sizes in SOCKET_SLABS from /proc/slabinfo (root only), or None."""
    sizes = {}
    try:
        with open("/proc/slabinfo") as f:
            for line in f:
                parts = line.split()
                if parts and parts[0] in SOCKET_SLABS:
                    sizes[parts[0]] = int(parts[3])
    except (OSError, ValueError, IndexError):
        return None
    return sum(sizes.values()) if len(sizes) == len(SOCKET_SLABS) else None


def read_ints(path):
    try:
        with open(path) as f:
            return [int(x) for x in f.read().split()]
    except (OSError, ValueError):
        return None


def machine_info():
    model = "?"
    with open("/proc/cpuinfo") as f:
        model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    rev = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                         cwd=ROOT).stdout.strip() or "?"
    return {"cpus": os.cpu_count(), "cpu_model": model, "kernel": os.uname().release,
            "nofile_soft": soft, "nofile_hard": hard, "nr_open": (read_ints("/proc/sys/fs/nr_open") or [None])[0],
            "file_max": (read_ints("/proc/sys/fs/file-max") or [None])[0],
            "somaxconn": (read_ints("/proc/sys/net/core/somaxconn") or [None])[0],
            "port_range": read_ints("/proc/sys/net/ipv4/ip_local_port_range"),
            "socket_slab_bytes": slab_bytes_per_socket(), "stompbox_rev": rev}


def write_outputs(data):
    os.makedirs(os.path.dirname(data["json_abs"]), exist_ok=True)
    with open(data["json_abs"], "w") as f:
        json.dump({k: v for k, v in data.items() if not k.endswith("_abs")}, f, indent=1)
        f.write("\n")
    plot(data, os.path.join(ROOT, data["png_path"]))
    section = render_md(data)
    with open(data["json_abs"][:-len(".json")] + ".md", "w") as f:
        f.write(section)
    return section


def parse_args(argv):
    p = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="sizes 200,500,1000; 3 s fan-outs, 10 s holds")
    p.add_argument("--sizes", help="comma list of N (default 1000,5000,19000; --quick 200,500,1000)")
    p.add_argument("--duration", type=int, help="fan-out window, s (default 10; --quick 3)")
    p.add_argument("--warmup", type=int, help="fan-out warm-up, s (default 2; --quick 1)")
    p.add_argument("--hold", type=int, help="idle hold, s (default 30; --quick 10)")
    p.add_argument("--repeats", type=int, help="fan-out runs per N (default 3; --quick 2): median and range")
    p.add_argument("--bin", default=os.path.join(ROOT, "target/release/stompbox"))
    p.add_argument("--setup-timeout", type=int, default=240, help="seconds allowed per run beyond its own duration")
    p.add_argument("--pause", type=float, default=3.0, help="seconds of rest before each run")
    p.add_argument("--results-dir", default=os.path.join(ROOT, "bench/results"))
    p.add_argument("--render-only", metavar="JSON", help="redo the PNG and Markdown from a saved run")
    opts = p.parse_args(argv)
    try:
        opts.sizes = parse_sizes(opts.sizes or ("200,500,1000" if opts.quick else "1000,5000,19000"))
    except ValueError as e:
        p.error(str(e))
    for name, full, quick in [("duration", 10, 3), ("warmup", 2, 1), ("hold", 30, 10), ("repeats", 3, 2)]:
        if getattr(opts, name) is None:
            setattr(opts, name, quick if opts.quick else full)
        if getattr(opts, name) < (0 if name == "warmup" else 1):
            p.error(f"--{name} must be positive")
    if len(opts.sizes) * (opts.repeats + 1) > 255:
        p.error("--sizes × (--repeats + 1) must stay within 255 runs (each takes its own source addresses)")
    opts.settings = {"duration": opts.duration, "warmup": opts.warmup, "hold": opts.hold, "heartbeat": 10,
                     "repeats": opts.repeats}
    return opts


def main(argv):
    opts = parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)
    if opts.render_only:
        with open(opts.render_only) as f:
            data = json.load(f)
        data["json_abs"] = os.path.abspath(opts.render_only)
        sys.stdout.write(write_outputs(data))
        return 0
    if not os.access(opts.bin, os.X_OK):
        print(f"bench: {opts.bin} is missing; build it with `cargo build --release -p stompbox`", file=sys.stderr)
        return 2
    now = datetime.datetime.now(datetime.timezone.utc)
    stem = f"growth-{now:%Y-%m-%d}{'-quick' if opts.quick else ''}"
    json_abs = os.path.join(os.path.abspath(opts.results_dir), stem + ".json")
    data = {"date": f"{now:%Y-%m-%d}", "started": now.isoformat(timespec="seconds"), "quick": opts.quick,
            "command": " ".join(filter(None, [os.environ.get("BENCH_NAME", "bench/growth.py"), shlex.join(argv)])),
            "machine": machine_info(), "sizes": opts.sizes, "settings": opts.settings,
            "load_start": list(os.getloadavg()), "runs": [],
            "json_path": os.path.relpath(json_abs, ROOT),
            "png_path": os.path.relpath(os.path.join(os.path.dirname(json_abs),
                                                     f"growth{'-quick' if opts.quick else ''}.png"), ROOT),
            "json_abs": json_abs}
    started = time.monotonic()
    for n in opts.sizes:
        for kind in ["fanout"] * opts.repeats + ["idle"]:
            print(f"bench: {kind} N={n} … (load {os.getloadavg()[0]:.2f})", file=sys.stderr, flush=True)
            rec = one_run(opts, kind, n, len(data["runs"]) + 1)
            status = f"failed: {rec['error']}" if rec["error"] else "ok"
            print(f"bench: {kind} N={n}: {status} ({rec['elapsed_s']} s)", file=sys.stderr, flush=True)
            data["runs"].append(rec)
    data["load_end"] = list(os.getloadavg())
    data["elapsed_s"] = round(time.monotonic() - started, 1)
    sys.stdout.write(write_outputs(data))
    return 1 if any(r["error"] for r in data["runs"]) else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("bench: interrupted; servers stopped", file=sys.stderr)
        sys.exit(130)
