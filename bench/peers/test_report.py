"""Unit tests of the BENCHMARKS.md section (no servers): python3 -m unittest discover -s bench/peers"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import report  # noqa: E402
import run  # noqa: E402


def fanout_result(rate, cpu, p99_ms, lost=0, duration=10):
    """Shaped like crates/bench's FanoutReport (the fields bench-peers reads)."""
    delivered = int(rate * duration)
    return {"scenario": "fanout", "deliveries_per_s": rate, "delivered": delivered,
            "published": max(1, delivered // 1000), "lost": lost, "dropped": 0,
            "latency_ms": {"count": delivered, "p50": p99_ms / 4, "p99": p99_ms, "p999": p99_ms * 2, "max": p99_ms * 3},
            "server": {"probe": {"pid": 1}, "cpu_seconds": cpu, "deliveries_per_cpu_second": delivered / cpu,
                       "rss_before_bytes": 5 << 20, "rss_after_bytes": 50 << 20}}


def idle_result(sessions, before, after):
    """Shaped like crates/bench's IdleReport."""
    return {"scenario": "idle", "sessions_requested": sessions, "connected": sessions, "alive_at_end": sessions,
            "rss_before_bytes": before, "rss_connected_bytes": after, "rss_end_bytes": after,
            "rss_per_session_bytes": (after - before) // sessions, "connect_rate": 1000.0,
            "heartbeat": {"server_on_time_fraction": 0.995}}


def fake_run():
    opts = run.parse_args(["--quick"])
    scen = run.scenarios(opts)
    runs = []
    for s in scen:
        for t in s["targets"]:
            rec = {"scenario": s["id"], "target": t, "command": f"stompbox bench {s['kind']} {t}",
                   "error": None, "observed": {"cpu_s": 1.5}}
            if s["kind"] == "idle":
                rec["result"] = idle_result(2000, 10 << 20, (10 << 20) + 2000 * (11000 if t == "stompbox" else 33000))
            else:
                rate = {"stompbox": 2_000_000, "rabbitmq": 400_000, "floor": 4_000_000}[t]
                rec["result"] = fanout_result(rate, cpu=8.0 if t != "floor" else 5.0, p99_ms=2.0)
            runs.append(rec)
    runs[1] = dict(runs[1], result=None, error="exit 1: connection refused | by\nserver")
    runs[2]["result"]["generator"] = {"workers": 2, "notes": ["the drain ended 12 deliveries short"]}
    return {"date": "2026-11-25", "quick": True, "command": "scripts/bench-peers --quick",
            "json_path": "bench/results/peers-2026-11-25-quick.json", "elapsed_s": 600,
            "machine": {"cpus": 2, "cpu_model": "AMD EPYC", "kernel": "6.1", "nofile_hard": 20000,
                        "stompbox_rev": "abc1234", "rabbitmq": "3.10.8-1.1+deb12u1", "erlang": "25.2.3",
                        "rabbitmq_limits": ["Erlang process limit 1048576"]},
            "scenarios": scen, "runs": runs}


class RenderTest(unittest.TestCase):
    def setUp(self):
        self.text = report.render(fake_run())

    def test_states_the_shared_machine_and_commands(self):
        self.assertIn("shares these 2 cores", self.text)
        self.assertIn("limited to 20 000 per process", self.text)
        self.assertIn("scripts/bench-peers --quick", self.text)
        self.assertIn("stompbox bench idle rabbitmq", self.text)
        self.assertIn("Quick run", self.text)

    def test_a_table_per_scenario_with_ratios(self):
        self.assertEqual(self.text.count("### "), 5)
        # fanout-10k: stompbox 2 M/s vs RabbitMQ 400 k/s and the floor's 4 M/s
        section = self.text.split("### ")[2]
        self.assertIn("| stompbox | 2.00 M |", section)
        self.assertIn("| RabbitMQ Web-STOMP | 400 000 |", section)
        self.assertIn("| *stompbox / RabbitMQ* | 5.00× | 5.00× | 1.00×", section)
        self.assertIn("| *stompbox / floor* | 0.50× | 0.31×", section)
        self.assertIn("| 2.0 ms | 4.0 ms |", section)

    def test_idle_memory_per_session(self):
        idle = self.text.split("### ")[5]
        self.assertTrue(idle.startswith("Idle: 2 000 sessions with 10 s heart-beats, held 20 s\n"))
        self.assertIn("| stompbox | 2 000 | 1 000 | 2 000 | 99.5 % | 10.0 MiB | 31.0 MiB | 10.7 KiB | 1.5 |", idle)
        self.assertIn("| *stompbox / RabbitMQ* | 1.00× | 1.00× | 1.00× | 1.00× | 1.00× | 0.42× | 0.33× | 1.00× |", idle)

    def test_a_failed_run_is_a_row_not_a_crash(self):
        first = self.text.split("### ")[1]
        self.assertIn("| RabbitMQ Web-STOMP | failed: exit 1: connection refused / by server |", first)
        self.assertIn("stompbox / floor", first)
        self.assertNotIn("stompbox / RabbitMQ", first)
        self.assertIn("\n- raw floor: the drain ended 12 deliveries short\n", first)

    def test_observed_figures_fill_in_missing_rss(self):
        m = report.normalize({"result": {"connected": 100}, "observed": {"rss_kib_start": 1000, "rss_kib_peak": 2000}})
        self.assertEqual(m["rss_per_session"], 1000 * 1024 / 100)

    def test_latency_ms_become_us(self):
        self.assertEqual(report.normalize({"result": fanout_result(10, 1, 2.5)})["p99_us"], 2500)

    def test_no_sample_no_latency_and_a_note(self):
        r = dict(fanout_result(10, 1, 0.0), published=32)
        r["latency_ms"] = dict(r["latency_ms"], count=0)
        m = report.normalize({"result": r})
        self.assertIsNone(m["p50_us"])
        self.assertIn("none of the window's 32 messages", report.derived_notes({"result": r})[0])
        r["published"] = 0
        self.assertIsNone(report.normalize({"result": r})["lost"])
        self.assertIn("no message was published", report.derived_notes({"result": r})[0])

    def test_closed_subscribers_show_beside_lost(self):
        m = report.normalize({"result": dict(fanout_result(10, 1, 2.5), lost=7, dropped=3)})
        self.assertEqual(report.fmt_lost(m["lost_dropped"]), "7 (3 closed)")


class SpliceTest(unittest.TestCase):
    def test_appends_markers_once_then_replaces_between_them(self):
        doc = "# Benchmarks\n\nold text\n"
        once = report.splice(doc, "first\n")
        self.assertTrue(once.startswith(doc + "\n" + report.BEGIN + "\nfirst\n" + report.END))
        twice = report.splice(once + "\n## After\n", "second\n")
        self.assertEqual(twice.count(report.BEGIN), 1)
        self.assertIn("second\n" + report.END + "\n\n## After\n", twice)
        self.assertNotIn("first", twice)
        self.assertEqual(report.splice(twice, "second\n"), twice)


class OptionsTest(unittest.TestCase):
    def test_defaults_and_quick(self):
        full, quick = run.parse_args([]), run.parse_args(["--quick"])
        self.assertEqual((full.idle_sessions, full.hold, full.duration, full.paced_duration), (19000, 300, 10, 20))
        self.assertEqual((quick.idle_sessions, quick.hold), (2000, 20))

    def test_scenario_flags(self):
        scen = {s["id"]: s for s in run.scenarios(run.parse_args([]))}
        self.assertEqual(scen["paced-10k"]["args"][:4], ["--subscribers", "10000", "--rate", "1"])
        self.assertEqual(scen["idle"]["targets"], ["stompbox", "rabbitmq"])
        self.assertIn("--hold", scen["idle"]["args"])

    def test_unknown_names_are_usage_errors(self):
        with self.assertRaises(SystemExit):
            run.scenarios(run.parse_args(["--scenarios", "nope"]))
        with self.assertRaises(SystemExit):
            run.scenarios(run.parse_args(["--targets", "activemq"]))

    def test_shown_command_hides_ports_and_pids(self):
        text = run.shown(["stompbox", "bench", "fanout", "--url", "ws://127.0.0.1:41234/ws", "--server-pid", "777"],
                         "ws://127.0.0.1:41234/ws", 777)
        self.assertEqual(text, "stompbox bench fanout --url ws://127.0.0.1:$PORT/ws --server-pid $SERVER_PID")


if __name__ == "__main__":
    unittest.main()
