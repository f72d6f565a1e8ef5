"""The pure half of scripts/bench (bench/growth.py): from the saved runs to the table, the
least-squares line of server RSS against N, the 1-million-session estimate, the Markdown section
and the plot. No processes, no /proc: bench/test_growth.py tests it on made-up runs."""
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))

from report import fmt_bytes, fmt_num, one_line  # noqa: E402

MILLION = 1_000_000
BODY = 100
MIN_CPU_S = 0.05  # heart-beat CPU is reported only above 5 clock ticks (at 100 Hz) in the window


def parse_sizes(text):
    """'1000,5000,19000' -> [1000, 5000, 19000] (sorted, distinct, each 1..250 000, at most 100)."""
    try:
        sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise ValueError(f"--sizes {text!r}: expected a comma list of whole numbers, e.g. 1000,5000,19000") from None
    if not sizes or sizes[0] < 1 or sizes[-1] > 250_000 or len(sizes) > 100:
        raise ValueError(f"--sizes {text!r}: expected up to 100 numbers between 1 and 250000")
    return sizes


def linear_fit(points):
    """Least squares y = intercept + slope·x over (x, y) pairs; None with fewer than two distinct x."""
    pts = [(float(x), float(y)) for x, y in points if x is not None and y is not None]
    if len({x for x, _ in pts}) < 2:
        return None
    n = len(pts)
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    sxy = sum((x - mx) * (y - my) for x, y in pts)
    slope = sxy / sxx
    intercept = my - slope * mx
    ss_tot = sum((y - my) ** 2 for _, y in pts)
    ss_res = sum((y - intercept - slope * x) ** 2 for x, y in pts)
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return {"slope": slope, "intercept": intercept, "r2": r2, "points": n}


def cpu_rate(samples, lo, hi, min_cpu=0.0):
    """Server CPU-seconds per second between times lo and hi, from (t, cpu_s, rss_kib) samples:
    the first and last sample inside the window. None when fewer than two fall inside, or when
    less than `min_cpu` CPU-seconds were used (below /proc's clock-tick resolution to mean much)."""
    inside = [(t, c) for t, c, _ in samples if lo <= t <= hi and c is not None]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return None
    used = inside[-1][1] - inside[0][1]
    if used < min_cpu:
        return None
    return used / (inside[-1][0] - inside[0][0])


def hold_window(t_end, hold_s):
    """The part of an idle run's hold to read heart-beat CPU from: the hold ends shortly before the
    generator exits (t_end), so keep its middle 70 %, minus one more second for the close."""
    return t_end - 0.85 * hold_s, t_end - 0.15 * hold_s - 1.0


def _result(run, kind):
    return (run.get("result") or {}) if run.get("kind") == kind and not run.get("error") else {}


def spread(values):
    """(median, lowest, highest) of the values that are not None; Nones when there are none."""
    values = [v for v in values if v is not None]
    if not values:
        return None, None, None
    return statistics.median(values), min(values), max(values)


def _fanout_fields(fans):
    """The fan-out columns of one N from its repeated runs: medians with their ranges."""
    ok = [_result(r, "fanout") for r in fans if _result(r, "fanout")]
    rate = spread(f.get("deliveries_per_s") for f in ok)
    per_cpu = spread((f.get("server") or {}).get("deliveries_per_cpu_second") for f in ok)
    msgs = spread(f["published"] / f["window_s"] for f in ok if f.get("published") is not None and f.get("window_s"))
    failed = [r.get("error") or "no result" for r in fans if not _result(r, "fanout")]
    return {
        "fanout_runs": len(fans), "fanout_failed": len(failed),
        "fanout_error": failed[0] if failed and not ok else None,
        "deliveries_per_s": rate[0], "deliveries_range": rate[1:],
        "per_cpu_s": per_cpu[0], "per_cpu_range": per_cpu[1:], "messages_per_s": msgs[0],
        "lost": sum(f.get("lost") or 0 for f in ok) if ok else None,
        "fanout_dropped": sum(f.get("dropped") or 0 for f in ok),
    }


def rows(data):
    """One flat row per N from the runs: the table, the fit and the plot read only these."""
    out = []
    for n in data["sizes"]:
        fans = [r for r in data["runs"] if r["kind"] == "fanout" and r["n"] == n]
        idle = next((r for r in data["runs"] if r["kind"] == "idle" and r["n"] == n), {})
        i = _result(idle, "idle")
        hb = i.get("heartbeat") or {}
        alive = i.get("alive_at_end")
        before, end = i.get("rss_before_bytes"), i.get("rss_end_bytes")
        frames = None
        if alive and hb.get("server_interval_ms") and hb.get("client_interval_ms"):
            frames = alive * (1000 / hb["server_interval_ms"] + 1000 / hb["client_interval_ms"])
        row = {"n": n, **_fanout_fields(fans)}
        row.update({
            "dropped": row["fanout_dropped"] + (i.get("dropped") or 0),
            "idle_error": idle.get("error"),
            "connected": i.get("connected"),
            "alive": alive,
            "rss_before": before,
            "rss_connected": i.get("rss_connected_bytes"),
            "rss_end": end,
            "per_session": (end - before) / alive if alive and before is not None and end is not None else None,
            "connect_rate": i.get("connect_rate"),
            "connect_s": i.get("connect_seconds"),
            "overflows": (idle.get("observed") or {}).get("listen_overflows"),
            "hb_on_time": hb.get("server_on_time_fraction"),
            "hb_frames_per_s": frames,
            "hb_cpu": (idle.get("observed") or {}).get("hold_cpu_per_s"),
            "load": [max(((r.get("load_before") or [0])[0] for r in fans), default=None),
                     (idle.get("load_before") or [None])[0]],
        })
        out.append(row)
    return out


def rss_fit(table):
    """Server RSS at the end of the idle hold against N (bytes): slope = bytes per session."""
    return linear_fit([(r["n"], r["rss_end"]) for r in table if r["alive"] == r["n"]])


def million(table, fit, machine, target=MILLION):
    """What `target` sessions would take on one host, from the measured slope and largest run."""
    if fit is None:
        return None
    big = max((r for r in table if r["rss_end"] is not None), key=lambda r: r["n"], default=None)
    hb = max((r for r in table if r["hb_cpu"] is not None), key=lambda r: r["n"], default=None)
    fan = max((r for r in table if r["deliveries_per_s"]), key=lambda r: r["n"], default=None)
    low, high = machine.get("port_range") or (32768, 60999)
    ports = high - low + 1
    slab = machine.get("socket_slab_bytes")
    est = {
        "sessions": target,
        "rss_bytes": fit["intercept"] + fit["slope"] * target,
        "kernel_socket_bytes": slab * target if slab else None,
        "fds": target + 64,
        "nr_open": machine.get("nr_open"),
        "somaxconn": machine.get("somaxconn"),
        "file_max": machine.get("file_max"),
        "ports_per_source": ports,
        "source_addrs_needed": -(-target // ports),
        "hb_frames_per_s": None, "hb_cores": None, "connect_s": None, "fanout_s_per_message": None,
    }
    if big and big.get("hb_frames_per_s"):
        est["hb_frames_per_s"] = big["hb_frames_per_s"] * target / big["alive"]
    if hb and hb.get("hb_frames_per_s"):
        est["hb_cores"] = hb["hb_cpu"] * target / hb["alive"]
        est["hb_measured_at"] = hb["n"]
    if big and big.get("connect_rate"):
        est["connect_s"] = target / big["connect_rate"]
        est["connect_rate"] = big["connect_rate"]
        est["connect_overflows"] = big.get("overflows")
        est["connect_at"] = big["n"]
    if fan:
        est["fanout_s_per_message"] = target / fan["deliveries_per_s"]
        est["fanout_rate_at"] = fan["n"]
        if fan.get("per_cpu_s"):
            est["fanout_cpu_s_per_message"] = target / fan["per_cpu_s"]
    return est


def _mib(v):
    return "—" if v is None else f"{v / 1048576:.1f} MiB"


def _gib(v):
    return "—" if v is None else f"{v / 2 ** 30:.1f} GiB"


def _ranged(median, bounds):
    """'2.93 M (1.79 M–3.10 M)': a median and, when the runs differ, their range."""
    lo, hi = bounds
    if median is None or lo is None or lo == hi:
        return fmt_num(median)
    return f"{fmt_num(median)} ({fmt_num(lo)}–{fmt_num(hi)})"


def _int(v):
    return f"{v:,}".replace(",", " ")


def _cores(v):
    return "—" if v is None else f"{v * 100:.2f} %"


def render_md(data):
    """The ready-to-paste BENCHMARKS.md section."""
    table = rows(data)
    fit = rss_fit(table)
    est = million(table, fit, data["machine"])
    m, s = data["machine"], data["settings"]
    out = [f"## How cost grows with sessions — {data['date']}", "",
           f"Generated by `{data['command']}` (bench/growth.py; do not edit by hand, rerun it). "
           f"Raw JSON: `{data['json_path']}`; plot: `{data['png_path']}`.", "",
           f"Machine: {m['cpus']} cores ({m['cpu_model']}), Linux {m['kernel']}, open files limited to "
           f"{fmt_num(m['nofile_hard'])} per process (the server needs one per session). **The load "
           "generator shares these cores with the server**, and other work on the machine moves the "
           f"figures: load average {' / '.join(f'{x:.2f}' for x in data['load_start'])} (1/5/15 min) "
           f"at the start, {' / '.join(f'{x:.2f}' for x in data['load_end'])} at the end; the 1-minute "
           f"figure before each run is in the table. stompbox {m['stompbox_rev']}; every run starts a "
           "fresh `stompbox serve` (defaults) and reads its CPU and RSS from `/proc/<pid>` (`--server-pid`); "
           "its client sockets bind to loopback source addresses of its own (127.77.<run>.k, at most 12 000 "
           "sockets each), so no earlier run's TIME_WAIT and no other load generator shares their ports.", ""]
    if data["quick"]:
        out += ["*Quick run (`--quick`): small N and short runs, for trying the script, not for quoting.*", ""]
    out += [f"Fan-out: unthrottled, 1 topic, 1 publisher, {BODY}-byte bodies, N subscribers, "
            f"{s['duration']} s window after {s['warmup']} s warm-up, run {s.get('repeats', 1)} times "
            "per N (median, and the range in brackets). Idle: N sessions with "
            f"{s['heartbeat']} s heart-beats both ways, held {s['hold']} s; RSS per session = (RSS at the "
            "end of the hold − RSS before connecting) / sessions alive; heart-beat CPU = the server's "
            "CPU-seconds per second in the middle of the hold, when only heart-beats flow (— when "
            f"under {MIN_CPU_S} CPU-s, too few clock ticks to mean anything). Connects/s = sessions / (last − first CONNECTED) "
            "seen by the generator; accept-queue overflows = the machine's TcpExt ListenOverflows counter "
            "across the idle run (a dropped SYN is retried by the client after 1 s, which then dominates "
            "the connect time; other work on the machine counts too).", "",
            "| sessions N | deliveries/s | messages/s published | deliveries per server CPU-s | lost | server RSS, N idle sessions "
            "| RSS per idle session | connects/s | accept-queue overflows | heart-beats/s (both ways) | heart-beat CPU (of one core) "
            "| highest load before fan-out / idle |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in table:
        lost = fmt_num(r["lost"]) + (f" ({fmt_num(r['dropped'])} closed)" if r["dropped"] else "")
        fan = [_ranged(r["deliveries_per_s"], r["deliveries_range"]), fmt_num(r["messages_per_s"]),
               _ranged(r["per_cpu_s"], r["per_cpu_range"]), lost]
        if r["fanout_error"]:
            fan = [f"failed: {one_line(r['fanout_error'])}", "", "", ""]
        elif r["fanout_failed"]:
            fan[0] += f" ({r['fanout_failed']} of {r['fanout_runs']} runs failed)"
        idle = [_mib(r["rss_end"]), fmt_bytes(r["per_session"]), fmt_num(r["connect_rate"]),
                fmt_num(r["overflows"]), fmt_num(r["hb_frames_per_s"]), _cores(r["hb_cpu"])]
        if r["idle_error"]:
            idle = [f"failed: {one_line(r['idle_error'])}", "", "", "", "", ""]
        load = " / ".join("—" if x is None else f"{x:.2f}" for x in r["load"])
        out.append(f"| {fmt_num(r['n'])} | " + " | ".join(fan + idle + [load]) + " |")
    out.append("")
    if fit is None:
        out += ["No line fitted: fewer than two sizes have every idle session alive at the end.", ""]
    else:
        out += [f"**Fit** (least squares over {fit['points']} sizes): server RSS ≈ "
                f"{_mib(fit['intercept'])} + **{fmt_num(round(fit['slope']))} bytes** × N "
                f"(R² = {fit['r2']:.4f}).", ""]
    if est:
        out += million_md(est, fit)
    notes = sorted({n for run in data["runs"] for n in (((run.get("result") or {}).get("generator") or {}).get("notes") or [])})
    if notes:
        out += ["Generator notes: " + "; ".join(notes), ""]
    out += ["```sh"] + [r["command"] for r in data["runs"]] + ["```", "",
            f"Whole run: {data['elapsed_s'] / 60:.1f} min.", ""]
    return "\n".join(out)


def million_md(est, fit):
    per = fit["slope"]
    lines = [f"**1 million sessions on one host** (open-file limit raised), from the measured slope "
             f"of {fmt_num(round(per))} bytes per session:", "",
             f"- memory: {_mib(fit['intercept'])} + 1 000 000 × {fmt_num(round(per))} B ≈ "
             f"**{_gib(est['rss_bytes'])} of server RSS**"]
    if est["kernel_socket_bytes"]:
        lines[-1] += (f", plus ≈ {_gib(est['kernel_socket_bytes'])} of kernel memory outside RSS for "
                      f"the sockets themselves ({fmt_num(est['kernel_socket_bytes'] / est['sessions'])} B "
                      "each in /proc/slabinfo: TCP, socket inode, file, dentry, epoll entry; more while "
                      "data sits in socket buffers)")
    lines[-1] += ";"
    fds = f"- file descriptors: one per session, so `ulimit -n` (RLIMIT_NOFILE) of at least {_int(est['fds'])}"
    if est["nr_open"] is not None:
        fits = est["nr_open"] >= est["fds"]
        fds += (f"; fs.nr_open = {_int(est['nr_open'])} caps that limit here"
                + (" and still allows it" if fits else ", so raise fs.nr_open first"))
    if est["file_max"] is not None:
        fds += f"; fs.file-max = {_int(est['file_max'])} " + (
            "covers it" if est["file_max"] >= est["fds"] else "must be raised too")
    lines.append(fds + ";")
    lines.append(f"- ephemeral ports: one client address reaches one server address:port with at most "
                 f"{fmt_num(est['ports_per_source'])} connections (the local port range), so a million "
                 f"needs ≥ {est['source_addrs_needed']} client source addresses (or as many server "
                 "addresses/ports) — no limit for real clients spread over many addresses, but a "
                 "load generator or a proxy in front needs them;")
    if est["hb_frames_per_s"]:
        hb = (f"- heart-beats: 2 × 1 000 000 / 10 s = **{fmt_num(est['hb_frames_per_s'])} frames/s** "
              "(each a 1-byte WebSocket frame in its own TCP segment, so about as many ACKs again)")
        if est["hb_cores"] is not None:
            hb += (f"; at the CPU measured with {fmt_num(est['hb_measured_at'])} idle sessions that is "
                   f"≈ **{est['hb_cores']:.2f} cores** for heart-beats alone")
        else:
            hb += "; the server's CPU during the holds was below what /proc resolves, so no CPU figure"
        lines.append(hb + ";")
    if est["connect_s"]:
        lines.append(f"- connect rate: at the measured {fmt_num(est['connect_rate'])} sessions/s "
                     f"(generator on the same 2 cores) a million (re)connects take "
                     f"**{est['connect_s'] / 60:.1f} min** — the reconnect storm after a restart")
        if est.get("connect_overflows"):
            lines[-1] += (f"; with {fmt_num(est['connect_at'])} sessions the accept queue overflowed "
                          f"{fmt_num(est['connect_overflows'])} times (the listener's backlog; "
                          f"net.core.somaxconn = {fmt_num(est.get('somaxconn'))}), and each dropped SYN waits "
                          "1 s for its retry, so a deeper backlog would raise this rate")
        lines[-1] += ";"
    if est["fanout_s_per_message"]:
        fan = (f"- fan-out: one message to a million subscribers of one topic takes "
               f"≈ {est['fanout_s_per_message']:.1f} s at the median deliveries/s measured with "
               f"{fmt_num(est['fanout_rate_at'])} subscribers")
        if est.get("fanout_cpu_s_per_message"):
            fan += (f", and ≈ {est['fanout_cpu_s_per_message']:.1f} server CPU-seconds at its deliveries per "
                    "CPU-second (the steadier figure on a shared machine)")
        lines.append(fan + ".")
    return lines + [""]


def plot(data, path):
    """Two panels: deliveries/s against N; total RSS with the fit line and RSS per session against N."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = rows(data)
    fit = rss_fit(table)
    m = data["machine"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2), dpi=110)
    fan = [r for r in table if r["deliveries_per_s"]]
    cpu = [r for r in fan if r["per_cpu_s"]]
    dodge = max([r["n"] for r in fan], default=0) * 0.012  # the two series' range bars side by side
    for rs, key, style, color, label, dx in (
            (fan, "deliveries", "o-", "tab:blue", "deliveries/s (wall clock)", -dodge),
            (cpu, "per_cpu", "s--", "tab:green", "deliveries per server CPU-second", dodge)):
        med = [r["deliveries_per_s" if key == "deliveries" else "per_cpu_s"] for r in rs]
        lo = [v - (r[f"{key}_range"][0] or v) for v, r in zip(med, rs)]
        hi = [(r[f"{key}_range"][1] or v) - v for v, r in zip(med, rs)]
        left.errorbar([r["n"] + dx for r in rs], med, yerr=[lo, hi], fmt=style, color=color, capsize=4,
                      label=label + (" — median, bars: range" if any(lo) or any(hi) else ""))
    for r in fan:
        left.annotate(fmt_num(r["deliveries_per_s"]), (r["n"], r["deliveries_per_s"]),
                      textcoords="offset points", xytext=(0, -15), ha="center", fontsize=8, color="tab:blue")
    for r in cpu:
        left.annotate(fmt_num(r["per_cpu_s"]), (r["n"], r["per_cpu_s"]),
                      textcoords="offset points", xytext=(0, 8), ha="center", fontsize=8, color="tab:green")
    values = [v for r in fan for v in (r["deliveries_per_s"], *r["deliveries_range"], r["per_cpu_s"],
                                        *r["per_cpu_range"]) if v]
    left.set_yscale("log")
    if values:
        left.set_ylim(min(values) / 2.5, max(values) * 4)
    left.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    left.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: fmt_num(v)))
    left.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    left.set(title="Fan-out, unthrottled: 1 topic, 100-byte bodies", xlabel="subscribers N",
             ylabel="deliveries per second (log scale)",
             xlim=(0, max([r["n"] for r in fan], default=1) * 1.08))
    left.legend(loc="upper right", fontsize=9)
    left.grid(alpha=0.3)

    idle = [r for r in table if r["rss_end"] is not None]
    xs = [r["n"] for r in idle]
    right.plot(xs, [r["rss_end"] / 1048576 for r in idle], "o", color="tab:red", label="server RSS, N idle sessions")
    if fit:
        x_hi = max(xs) * 1.05
        right.plot([0, x_hi], [fit["intercept"] / 1048576, (fit["intercept"] + fit["slope"] * x_hi) / 1048576],
                   "-", color="tab:red", alpha=0.5,
                   label=f"fit: {fit['intercept'] / 1048576:.1f} MiB + {fit['slope']:.0f} B × N")
    right.set(title=f"Idle sessions, {data['settings']['heartbeat']} s heart-beats", xlabel="sessions N",
              ylabel="server RSS (MiB)", xlim=(0, None))
    right.set_ylim(0, max([r["rss_end"] / 1048576 for r in idle], default=1) * 1.45)
    right.grid(alpha=0.3)
    per = right.twinx()
    ps = [r for r in idle if r["per_session"] is not None]
    per.plot([r["n"] for r in ps], [r["per_session"] / 1024 for r in ps], "^:", color="tab:purple",
             label="RSS per idle session (KiB, right axis)")
    for r in ps:
        per.annotate(fmt_bytes(r["per_session"]), (r["n"], r["per_session"] / 1024), textcoords="offset points",
                     xytext=(0, -14), ha="center", fontsize=8, color="tab:purple")
    per.set_ylabel("RSS per idle session (KiB)")
    per.set_ylim(0, max([r["per_session"] / 1024 for r in ps], default=1) * 1.6)
    handles = right.get_legend_handles_labels()
    extra = per.get_legend_handles_labels()
    right.legend(handles[0] + extra[0], handles[1] + extra[1], loc="upper left", fontsize=9)
    loads = [x for r in table for x in r["load"] if x is not None] or data["load_start"][:1]
    fig.suptitle(f"stompbox cost vs sessions — {m['cpus']} cores ({m['cpu_model']}) shared by server and load "
                 f"generator, 1-min load average {min(loads):.1f}–{max(loads):.1f} before the runs — "
                 f"{data['date']}{' (quick)' if data['quick'] else ''}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
