#!/usr/bin/env python3
"""scripts/bench-peers: the same `stompbox bench` scenarios against stompbox, RabbitMQ Web-STOMP and
the raw floor in one run; raw JSON to bench/results/, a generated section into BENCHMARKS.md.

Run it through scripts/bench-peers (which installs RabbitMQ, builds stompbox and sets up the venv).
Every server is started fresh per scenario, on loopback, on ports chosen at run time, and stopped on
every exit path. `--check` only proves that both servers speak STOMP over WebSocket.
"""
import argparse
import contextlib
import datetime
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import rabbit  # noqa: E402
import report  # noqa: E402
from procs import rss_kib, settle  # noqa: E402
from servers import ServerError, open_server  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SERVERS = ["stompbox", "rabbitmq"]
ALL_TARGETS = SERVERS + ["floor"]


def scenarios(opts):
    """The scenario list for these options: id, kind, title, generator flags, targets, rough seconds."""
    d, pd, w = opts.duration, opts.paced_duration, opts.warmup
    common = ["--topics", "1", "--publishers", "1", "--size", "100", "--warmup", f"{w}s"]
    fan = [
        ("fanout-1k", 1000, 0, d, "Fan-out, unthrottled: 1 topic, 1 000 subscribers"),
        ("fanout-10k", 10000, 0, d, "Fan-out, unthrottled: 1 topic, 10 000 subscribers"),
        ("paced-1k", 1000, 15, pd, "Paced latency: 1 000 subscribers, 15 messages/s"),
        ("paced-10k", 10000, 1, pd, "Paced latency: 10 000 subscribers, 1 message/s"),
    ]
    out = []
    for sid, subs, rate, dur, title in fan:
        out.append({
            "id": sid, "kind": "fanout", "targets": ALL_TARGETS, "seconds": dur + w,
            "title": f"{title}, 100-byte bodies, 1 publisher ({dur} s after {w} s warm-up)",
            "args": ["--subscribers", str(subs), "--rate", str(rate), *common, "--duration", f"{dur}s"],
        })
    out.append({
        "id": "idle", "kind": "idle", "targets": SERVERS, "seconds": opts.hold,
        "title": f"Idle: {opts.idle_sessions:,} sessions".replace(",", " ")
                 + f" with 10 s heart-beats, held {opts.hold} s",
        "args": ["--sessions", str(opts.idle_sessions), "--heartbeat", "10s", "--hold", f"{opts.hold}s"],
    })
    if opts.scenarios:
        wanted = opts.scenarios.split(",")
        unknown = set(wanted) - {s["id"] for s in out}
        if unknown:
            raise SystemExit(f"bench-peers: unknown --scenarios {','.join(sorted(unknown))} "
                             f"(known: {','.join(s['id'] for s in out)})")
        out = [s for s in out if s["id"] in wanted]
    targets = opts.targets.split(",")
    unknown = set(targets) - set(ALL_TARGETS)
    if unknown:
        raise SystemExit(f"bench-peers: unknown --targets {','.join(sorted(unknown))} (known: {','.join(ALL_TARGETS)})")
    for s in out:
        s["targets"] = [t for t in s["targets"] if t in targets]
    return out


class Sampler:
    """Samples a server's RSS every 0.5 s while a scenario runs, and its CPU-seconds at both ends."""

    def __init__(self, pid):
        self.pid = pid
        self.start_kib = rss_kib(pid)
        self.peak_kib = self.start_kib
        self.cpu0 = cpu_seconds(pid)
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        while not self._stop.wait(0.5):
            kib = rss_kib(self.pid)
            if kib is not None and (self.peak_kib is None or kib > self.peak_kib):
                self.peak_kib = kib

    def finish(self):
        self._stop.set()
        self._thread.join()
        cpu1 = cpu_seconds(self.pid)
        return {"rss_kib_start": self.start_kib, "rss_kib_peak": self.peak_kib,
                "cpu_s": None if cpu1 is None or self.cpu0 is None else round(cpu1 - self.cpu0, 3),
                "wall_s": round(time.monotonic() - self.t0, 3)}


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def last_json_object(text):
    for line in reversed(text.strip().splitlines()):
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj
    try:
        obj = json.loads(text)
        return obj if isinstance(obj, dict) else None
    except ValueError:
        return None


def run_tool(argv, timeout):
    """Run one `stompbox bench … --json` in its own process group; (json object, error text)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True, cwd=ROOT)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return None, f"timed out after {timeout:.0f} s; {err.strip()[-300:]}"
    except BaseException:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        raise
    if err.strip():
        sys.stderr.write("".join(f"    | {line}\n" for line in err.strip().splitlines()[-20:]))
    obj = last_json_object(out)
    if proc.returncode != 0:
        return obj, f"exit {proc.returncode}: {err.strip()[-300:] or out.strip()[-300:]}"
    if obj is None:
        return None, f"no JSON object on stdout: {out.strip()[-300:]}"
    return obj, None


def shown(argv, url=None, pid=None):
    """The command as printed in BENCHMARKS.md: the binary relative, port and pid as placeholders."""
    text = " ".join(argv).replace(os.path.join(ROOT, ""), "")
    if url:
        port = url.split(":")[2].split("/")[0]
        text = text.replace(url, url.replace(f":{port}/", ":$PORT/"))
    if pid is not None:
        text = text.replace(f"--server-pid {pid}", "--server-pid $SERVER_PID")
    return text


@contextlib.contextmanager
def started(target, binary):
    """A started server, stopped on leaving; RabbitMQ gets a second try with new ports (a port can
    still be taken between choosing it and the node's bind on a busy machine). Each server object
    is entered exactly once: entering starts a process."""
    try:
        server = open_server(target, binary).__enter__()
    except (ServerError, rabbit.RabbitError) as e:
        print(f"bench-peers: {target} did not start ({str(e).splitlines()[0]}); trying again", file=sys.stderr)
        server = open_server(target, binary).__enter__()
    try:
        yield server
    finally:
        server.__exit__(None, None, None)


def one_run(opts, scenario, target):
    kind = scenario["kind"]
    t_settle = time.monotonic()
    left = settle(opts.max_time_wait, 75)
    settled = {"time_wait_at_start": left, "settle_s": round(time.monotonic() - t_settle, 1)}
    if left >= opts.max_time_wait:
        print(f"bench-peers: {left} sockets still in TIME_WAIT; starting anyway", file=sys.stderr)
    timeout = scenario["seconds"] + opts.setup_timeout
    record = {"scenario": scenario["id"], "target": target, "result": None, "observed": None, "error": None,
              **settled}
    t0 = time.monotonic()
    if target == "floor":
        argv = [opts.bin, "bench", "raw-floor", *scenario["args"], "--json"]
        record["command"] = shown(argv)
        record["result"], record["error"] = run_tool(argv, timeout)
    else:
        try:
            with started(target, opts.bin) as server:
                argv = [opts.bin, "bench", kind, "--url", server.url, *server.client_args,
                        *scenario["args"], "--server-pid", str(server.pid), "--json"]
                record["command"] = shown(argv, server.url, server.pid)
                sampler = Sampler(server.pid)
                try:
                    record["result"], record["error"] = run_tool(argv, timeout)
                finally:
                    record["observed"] = sampler.finish()
        except (ServerError, rabbit.RabbitError, OSError, subprocess.SubprocessError) as e:
            record["error"] = f"{type(e).__name__}: {e}"
            record.setdefault("command", f"(server {target} did not start)")
    record["elapsed_s"] = round(time.monotonic() - t0, 1)
    return record


def machine_info(opts):
    def sh(*argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=20, cwd=ROOT).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "?"
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        with open(next(f"/usr/lib/erlang/releases/{d}/OTP_VERSION" for d in os.listdir("/usr/lib/erlang/releases")
                       if d.isdigit())) as f:
            otp = f.read().strip()
    except (OSError, StopIteration):
        otp = "?"
    return {"cpus": os.cpu_count(), "cpu_model": model, "kernel": os.uname().release,
            "nofile_soft": soft, "nofile_hard": hard, "rabbitmq": rabbit.version(), "erlang": otp,
            "stompbox_rev": sh("git", "describe", "--always", "--dirty")}


def spaced(number_text):
    try:
        return f"{int(number_text.strip()):,}".replace(",", " ")
    except ValueError:
        return number_text.strip()


def rabbit_limits():
    """RabbitMQ's own view of its limits (socket limit from file descriptors, Erlang processes)."""
    with rabbit.Rabbit() as r:
        lines = r.fd_limits()
    out = []
    for line in lines:
        if line.startswith("Sockets:"):
            out.append("socket limit " + spaced(line.split("limit:")[-1]) + " in `rabbitmq-diagnostics status`")
        elif line.startswith("Erlang processes:"):
            out.append("Erlang process limit " + spaced(line.split("used,")[-1].replace("limit", "")))
    return out


def do_check(opts):
    import check  # needs websocket-client, which only --check uses

    ok = True
    for name in [t for t in opts.targets.split(",") if t in SERVERS]:
        try:
            with open_server(name, opts.bin) as server:
                creds = {"login": "guest", "passcode": "guest", "vhost": "/"} if name == "rabbitmq" else {}
                print(f"{name}: {check.check(server.url, **creds)}")
        except Exception as e:  # noqa: BLE001 - every failure is reported, and the other server still runs
            ok = False
            print(f"{name}: FAILED: {type(e).__name__}: {e}", file=sys.stderr)
    return 0 if ok else 1


def tool_present(binary):
    try:
        out = subprocess.run([binary, "bench", "--help"], capture_output=True, text=True, timeout=30)
    except OSError as e:
        return f"cannot run {binary}: {e}"
    if out.returncode != 0:
        return f"`{binary} bench` is not available: {(out.stderr or out.stdout).strip()[:300]}"
    return None


def write_outputs(opts, data):
    os.makedirs(opts.results_dir, exist_ok=True)
    with open(data["json_abs"], "w") as f:
        json.dump({k: v for k, v in data.items() if k != "json_abs"}, f, indent=1)
        f.write("\n")
    section = report.render(data)
    if opts.benchmarks:
        try:
            with open(opts.benchmarks) as f:
                doc = f.read()
        except FileNotFoundError:
            doc = "# Benchmarks\n"
        with open(opts.benchmarks, "w") as f:
            f.write(report.splice(doc, section))
    return section


def parse_args(argv):
    p = argparse.ArgumentParser(prog="scripts/bench-peers", description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="only prove both servers do CONNECT/SUBSCRIBE/SEND/MESSAGE")
    p.add_argument("--quick", action="store_true", help="2 000 idle sessions held 20 s, 5 s fan-outs, 8 s paced runs")
    p.add_argument("--bin", default=os.path.join(ROOT, "target/release/stompbox"))
    p.add_argument("--targets", default=",".join(ALL_TARGETS), help="comma list of stompbox,rabbitmq,floor")
    p.add_argument("--scenarios", default="", help="comma list (default all): fanout-1k,fanout-10k,paced-1k,paced-10k,idle")
    p.add_argument("--idle-sessions", type=int, help="idle sessions per server (default 19000; --quick 2000)")
    p.add_argument("--hold", type=int, help="seconds the idle sessions are held (default 300; --quick 20)")
    p.add_argument("--duration", type=int, help="unthrottled fan-out seconds (default 10; --quick 5)")
    p.add_argument("--paced-duration", type=int, help="paced fan-out seconds (default 20; --quick 8)")
    p.add_argument("--warmup", type=int, help="warm-up seconds (default 2)")
    p.add_argument("--setup-timeout", type=int, default=300, help="seconds allowed per run beyond its own duration")
    p.add_argument("--max-time-wait", type=int, default=8000,
                   help="before each run, wait (up to 75 s) until fewer sockets than this are in TIME_WAIT")
    p.add_argument("--results-dir", default=os.path.join(ROOT, "bench/results"))
    p.add_argument("--benchmarks", default=os.path.join(ROOT, "BENCHMARKS.md"), help="'' to skip writing it")
    p.add_argument("--render-only", metavar="JSON", help="rewrite the BENCHMARKS.md section from a saved run")
    opts = p.parse_args(argv)
    q = opts.quick
    for name, full, quick in [("idle_sessions", 19000, 2000), ("hold", 300, 20), ("duration", 10, 5),
                              ("paced_duration", 20, 8), ("warmup", 2, 2)]:
        if getattr(opts, name) is None:
            setattr(opts, name, quick if q else full)
        if getattr(opts, name) < (1 if name != "warmup" else 0):
            p.error(f"--{name.replace('_', '-')} must be positive")
    return opts


def interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv):
    opts = parse_args(argv)
    # SIGTERM/SIGHUP unwind like Ctrl-C, so every `with` stops its server.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)
    if opts.check:
        return do_check(opts)
    if opts.render_only:
        with open(opts.render_only) as f:
            data = json.load(f)
        data["json_abs"] = opts.render_only
        sys.stdout.write(write_outputs(opts, data))
        return 0
    scen = scenarios(opts)
    missing = tool_present(opts.bin)
    if missing:
        print(f"bench-peers: {missing}", file=sys.stderr)
        return 2
    t_start = time.monotonic()
    now = datetime.datetime.now(datetime.timezone.utc)
    name = f"peers-{now:%Y-%m-%d}{'-quick' if opts.quick else ''}.json"
    data = {"date": f"{now:%Y-%m-%d}", "started": now.isoformat(timespec="seconds"), "quick": opts.quick,
            "command": " ".join(filter(None, [os.environ.get("BENCH_PEERS_NAME", "bench/peers/run.py"), shlex.join(argv)])),
            "machine": machine_info(opts), "scenarios": scen, "runs": [],
            "json_path": os.path.relpath(os.path.join(opts.results_dir, name), ROOT),
            "json_abs": os.path.join(opts.results_dir, name)}
    if "rabbitmq" in opts.targets:
        try:
            data["machine"]["rabbitmq_limits"] = rabbit_limits()
        except (rabbit.RabbitError, OSError, subprocess.SubprocessError) as e:
            print(f"bench-peers: RabbitMQ does not start: {e}", file=sys.stderr)
            return 1
    for s in scen:
        for target in s["targets"]:
            print(f"bench-peers: {s['id']} on {target} …", file=sys.stderr, flush=True)
            rec = one_run(opts, s, target)
            status = f"failed: {rec['error']}" if rec["error"] else "ok"
            print(f"bench-peers: {s['id']} on {target}: {status} ({rec['elapsed_s']} s)", file=sys.stderr, flush=True)
            data["runs"].append(rec)
    data["elapsed_s"] = round(time.monotonic() - t_start, 1)
    sys.stdout.write(write_outputs(opts, data))
    return 1 if any(r["error"] for r in data["runs"]) else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("bench-peers: interrupted; servers stopped", file=sys.stderr)
        sys.exit(130)
