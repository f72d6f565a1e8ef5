"""Markdown for BENCHMARKS.md from one bench-peers run (the JSON saved in bench/results/).

`normalize` is the only place that knows the field names of `stompbox bench --json`; everything
else works on its flat dict of metrics.
"""
import re

BEGIN = "<!-- bench-peers:begin -->"
END = "<!-- bench-peers:end -->"
TARGET_NAMES = {"stompbox": "stompbox", "rabbitmq": "RabbitMQ Web-STOMP", "floor": "raw floor"}


def _get(obj, *paths):
    """The first present value among dotted paths, e.g. _get(r, "latency_us.p99", "p99_us")."""
    for path in paths:
        cur = obj
        for part in path.split("."):
            if isinstance(cur, dict) and part in cur:
                cur = cur[part]
            else:
                cur = None
                break
        if cur is not None:
            return cur
    return None


def normalize(run):
    """Flat metrics of one run: the generator's JSON (crates/bench/src/report.rs: FanoutReport,
    IdleReport), completed by what bench-peers observed itself (RSS peak, CPU over the whole run)."""
    r = run.get("result") or {}
    obs = run.get("observed") or {}
    sampled = _get(r, "latency_ms.count") != 0  # no sample: the percentiles are not figures
    ms = lambda v: None if v is None or not sampled else v * 1000.0  # noqa: E731 - latency_ms -> µs
    m = {
        "deliveries_per_sec": _get(r, "deliveries_per_s"),
        "delivered": _get(r, "delivered"),
        "published": _get(r, "published"),
        "lost": _get(r, "lost"),
        "dropped": _get(r, "dropped"),
        "p50_us": ms(_get(r, "latency_ms.p50")),
        "p99_us": ms(_get(r, "latency_ms.p99")),
        "p999_us": ms(_get(r, "latency_ms.p999")),
        "max_us": ms(_get(r, "latency_ms.max")),
        "server_cpu_s": _get(r, "server.cpu_seconds"),
        "per_cpu_s": _get(r, "server.deliveries_per_cpu_second"),
        "server_rss_bytes": _get(r, "server.rss_after_bytes", "rss_end_bytes"),
        "sessions": _get(r, "sessions_requested"),
        "connected": _get(r, "connected"),
        "alive": _get(r, "alive_at_end"),
        "rss_before_bytes": _get(r, "rss_before_bytes", "server.rss_before_bytes"),
        "rss_after_bytes": _get(r, "rss_connected_bytes"),
        "rss_per_session": _get(r, "rss_per_session_bytes"),
        "run_cpu_s": obs.get("cpu_s"),
        "connect_rate": _get(r, "connect_rate"),
        "hb_on_time": _get(r, "heartbeat.server_on_time_fraction"),
    }
    if r.get("scenario") in ("fanout", "raw-floor") and not m["published"]:
        m["lost"] = None  # nothing was published in the window, so nothing could be lost
    m["lost_dropped"] = (m["lost"], m["dropped"])
    if m["per_cpu_s"] is None and m["delivered"] and m["server_cpu_s"]:
        m["per_cpu_s"] = m["delivered"] / m["server_cpu_s"]
    if m["rss_before_bytes"] is None and obs.get("rss_kib_start") is not None:
        m["rss_before_bytes"] = obs["rss_kib_start"] * 1024
    if m["rss_after_bytes"] is None and obs.get("rss_kib_peak") is not None:
        m["rss_after_bytes"] = obs["rss_kib_peak"] * 1024
    if m["server_rss_bytes"] is None and obs.get("rss_kib_peak") is not None:
        m["server_rss_bytes"] = obs["rss_kib_peak"] * 1024
    n = m["connected"]
    if m["rss_per_session"] is None and n and m["rss_before_bytes"] is not None and m["rss_after_bytes"] is not None:
        m["rss_per_session"] = (m["rss_after_bytes"] - m["rss_before_bytes"]) / n
    return m


def derived_notes(run):
    """What the figures themselves say needs saying (beside the generator's own notes)."""
    r = run.get("result") or {}
    if r.get("scenario") not in ("fanout", "raw-floor"):
        return []
    if not r.get("published"):
        return ["no message was published inside the window (the publisher was held back by the "
                "backlog bound the whole time): deliveries/s is the server working off the warm-up "
                "backlog; no latency"]
    if _get(r, "latency_ms.count") == 0:
        return [f"none of the window's {r['published']} messages arrived before the drain ended: no latency"]
    return []


def fmt_num(v, digits=3):
    """Engineering-ish: 1 234 567 -> '1.23 M', 12 345 -> '12 345', 1.5 -> '1.5'."""
    if v is None:
        return "—"
    if abs(v) >= 1e6:
        return f"{v / 1e6:.{digits - 1}f} M"
    if abs(v) >= 1000:
        return f"{v:,.0f}".replace(",", " ")
    if isinstance(v, int) or float(v).is_integer():
        return f"{int(v)}"
    return f"{v:.{digits}g}"


def fmt_us(v):
    if v is None:
        return "—"
    if v >= 1e6:
        return f"{v / 1e6:.2f} s"
    if v >= 1000:
        return f"{v / 1000:.1f} ms"
    return f"{v:.0f} µs"


def fmt_bytes(v):
    if v is None:
        return "—"
    if abs(v) >= 1024 * 1024:
        return f"{v / 1048576:.1f} MiB"
    if abs(v) >= 1024:
        return f"{v / 1024:.1f} KiB"
    return f"{v:.0f} B"


def fmt_pct(v):
    return "—" if v is None else f"{v * 100:.1f} %"


def fmt_lost(pair):
    """Lost deliveries, and the subscribers the server closed during the run when there were any."""
    lost, dropped = pair if pair else (None, None)
    text = fmt_num(lost)
    return f"{text} ({fmt_num(dropped)} closed)" if dropped else text


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.2f}×"


FANOUT_COLS = [  # (heading, metric, formatter)
    ("deliveries/s", "deliveries_per_sec", fmt_num),
    ("deliveries per server CPU-s", "per_cpu_s", fmt_num),
    ("p50", "p50_us", fmt_us),
    ("p99", "p99_us", fmt_us),
    ("p99.9", "p999_us", fmt_us),
    ("lost", "lost_dropped", fmt_lost),
    ("server RSS", "server_rss_bytes", fmt_bytes),
]
IDLE_COLS = [
    ("connected", "connected", fmt_num),
    ("connects/s", "connect_rate", fmt_num),
    ("alive at end", "alive", fmt_num),
    ("server heart-beats on time", "hb_on_time", fmt_pct),
    ("RSS before", "rss_before_bytes", fmt_bytes),
    ("RSS with sessions", "rss_after_bytes", fmt_bytes),
    ("RSS per idle session", "rss_per_session", fmt_bytes),
    ("server CPU-s, whole run", "run_cpu_s", fmt_num),
]


def table(cols, rows, ratios):
    """rows: [(label, metrics or error string)]; ratios: [(label, metrics a, metrics b)]."""
    out = ["| | " + " | ".join(h for h, _, _ in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for label, m in rows:
        if isinstance(m, str):
            out.append(f"| {label} | failed: {m} |" + " |" * (len(cols) - 1))
        else:
            out.append(f"| {label} | " + " | ".join(f(m.get(k)) for _, k, f in cols) + " |")
    for label, a, b in ratios:
        cells = ["—" if k == "lost_dropped" else ratio(a.get(k), b.get(k)) for _, k, _ in cols]
        out.append(f"| *{label}* | " + " | ".join(cells) + " |")
    return out


def one_line(text, limit=120):
    text = re.sub(r"\s+", " ", str(text)).replace("|", "/").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def scenario_section(scenario, runs):
    """Markdown lines for one scenario; runs: {target: run dict}."""
    lines = [f"### {scenario['title']}", ""]
    metrics = {}
    rows = []
    for target in scenario["targets"]:
        run = runs.get(target)
        if run is None:
            continue
        if run.get("error"):
            rows.append((TARGET_NAMES[target], one_line(run["error"])))
        else:
            metrics[target] = normalize(run)
            rows.append((TARGET_NAMES[target], metrics[target]))
    ratios = []
    if "stompbox" in metrics and "rabbitmq" in metrics:
        ratios.append(("stompbox / RabbitMQ", metrics["stompbox"], metrics["rabbitmq"]))
    if "stompbox" in metrics and "floor" in metrics:
        ratios.append(("stompbox / floor", metrics["stompbox"], metrics["floor"]))
    cols = IDLE_COLS if scenario["kind"] == "idle" else FANOUT_COLS
    lines += table(cols, rows, ratios)
    notes = [(target, note) for target in scenario["targets"] if target in runs
             for note in derived_notes(runs[target])
             + (((runs[target].get("result") or {}).get("generator") or {}).get("notes") or [])]
    if notes:
        lines.append("")
        lines += [f"- {TARGET_NAMES[target]}: {one_line(note, 200)}" for target, note in notes]
    lines += ["", "```sh"]
    for target in scenario["targets"]:
        if target in runs:
            lines.append(runs[target]["command"])
    lines += ["```", ""]
    return lines


def render(data):
    """The whole generated section (without the markers)."""
    mach = data["machine"]
    lines = [
        f"## Side by side: stompbox, RabbitMQ Web-STOMP and the raw floor — {data['date']}",
        "",
        "Generated by `scripts/bench-peers` (do not edit by hand; rerun it). Raw JSON: "
        f"`{data['json_path']}`.",
        "",
        "```sh",
        data["command"],
        "```",
        "",
        f"Machine: {mach['cpus']} cores ({mach['cpu_model']}), Linux {mach['kernel']}; open files "
        f"limited to {fmt_num(mach['nofile_hard'])} per process (hard). **The load generator shares these "
        f"{mach['cpus']} cores with the server under test**, so absolute figures are the pair's, not "
        "the server's alone, and move with whatever else runs on the machine; the ratios (stompbox / "
        "RabbitMQ, stompbox / floor) come from runs minutes apart in one invocation and hold better. "
        "Each scenario starts a fresh server process; server CPU-seconds and RSS are read from "
        "`/proc/<pid>` of that process (`--server-pid`).",
        "",
        f"Servers: stompbox {mach['stompbox_rev']} (`stompbox serve`, defaults); RabbitMQ "
        f"{mach['rabbitmq']} on Erlang/OTP {mach['erlang']} with `rabbitmq_web_stomp` (private node "
        "on loopback, guest/guest, WebSocket compression off, WebSocket idle timeout 1 h instead of "
        "cowboy's 60 s, which closes fan-out subscribers (no heart-beats) that wait for the others to "
        "connect; other limits default"
        + (f"; {'; '.join(mach['rabbitmq_limits'])}" if mach.get("rabbitmq_limits") else "")
        + "). The raw floor (`stompbox bench raw-floor`) is a broker-less broadcaster sending one "
        "pre-encoded frame to every socket: what fan-out costs without a broker.",
        "",
        "Latency is publish-to-receive (both ends on this machine's clock); lost = published × "
        "subscribers − delivered after a short drain. Unthrottled runs keep the publisher a bounded "
        "backlog ahead of the subscribers, so their latency is mostly that backlog; the paced runs "
        "are the latency comparison. In a ratio row, above 1× means stompbox has "
        "more of it: better for deliveries, worse for latency and memory.",
        "",
    ]
    if data.get("quick"):
        lines += ["*Quick run (`--quick`): shorter durations and fewer idle sessions; for trying "
                  "the script, not for quoting.*", ""]
    by_scenario = {}
    for run in data["runs"]:
        by_scenario.setdefault(run["scenario"], {})[run["target"]] = run
    for scenario in data["scenarios"]:
        if scenario["id"] in by_scenario:
            lines += scenario_section(scenario, by_scenario[scenario["id"]])
    lines.append(f"Whole run: {data.get('elapsed_s', 0) / 60:.1f} min.")
    return "\n".join(lines).rstrip() + "\n"


def splice(document, section):
    """`document` with the text between the markers replaced (markers appended if absent)."""
    block = f"{BEGIN}\n{section}{END}"
    start, end = document.find(BEGIN), document.find(END)
    if start != -1 and end > start:
        return document[:start] + block + document[end + len(END):]
    if document and not document.endswith("\n"):
        document += "\n"
    if document and not document.endswith("\n\n"):
        document += "\n"
    return document + block + "\n"
