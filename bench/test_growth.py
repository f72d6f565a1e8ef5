"""Unit tests of scripts/bench's pure half (no servers, no matplotlib):
python3 -m unittest discover -s bench -p 'test_growth.py'"""
import importlib.util
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import growth  # noqa: E402
import growth_report as g  # noqa: E402

MACHINE = {"cpus": 2, "cpu_model": "Test CPU", "kernel": "6.0", "nofile_hard": 20000, "nr_open": 1048576,
           "file_max": 2000000, "somaxconn": 4096, "port_range": [32768, 60999], "socket_slab_bytes": 3712, "stompbox_rev": "abc"}


def fanout(n, rate):
    """Shaped like crates/bench's FanoutReport (the fields growth reads)."""
    return {"kind": "fanout", "n": n, "load_before": [1.5, 1, 1], "command": f"fanout {n}", "error": None,
            "observed": {}, "result": {"scenario": "fanout", "deliveries_per_s": rate, "lost": 0, "dropped": 0,
                                       "published": int(rate * 10 / n), "window_s": 10.0,
                                       "server": {"deliveries_per_cpu_second": rate * 2}}}


def idle(n, base, per, hb_cpu=0.01, alive=None, rate=2000.0):
    """Shaped like crates/bench's IdleReport, with what growth observed itself."""
    alive = n if alive is None else alive
    return {"kind": "idle", "n": n, "load_before": [2.5, 1, 1], "command": f"idle {n}", "error": None,
            "observed": {"hold_cpu_per_s": hb_cpu, "listen_overflows": n // 10},
            "result": {"scenario": "idle", "connected": n, "alive_at_end": alive, "dropped": n - alive,
                       "rss_before_bytes": base, "rss_connected_bytes": base + per * n,
                       "rss_end_bytes": base + per * n, "connect_rate": rate,
                       "heartbeat": {"server_interval_ms": 10000, "client_interval_ms": 10000,
                                     "server_on_time_fraction": 1.0}}}


def data(runs, sizes=(1000, 5000, 19000)):
    return {"date": "2026-01-01", "quick": False, "command": "scripts/bench", "machine": MACHINE,
            "sizes": list(sizes), "settings": {"duration": 10, "warmup": 2, "hold": 30, "heartbeat": 10},
            "load_start": [1.0, 2.0, 3.0], "load_end": [1.0, 2.0, 3.0], "runs": runs, "elapsed_s": 300,
            "json_path": "bench/results/growth-2026-01-01.json", "png_path": "bench/results/growth.png"}


def full_run(per=3000, base=8 << 20):
    runs = []
    for n, rate in [(1000, 2e6), (5000, 1e6), (19000, 5e5)]:
        runs += [fanout(n, rate), idle(n, base, per)]
    return data(runs)


class Sizes(unittest.TestCase):
    def test_sorted_distinct(self):
        self.assertEqual(g.parse_sizes("19000,1000, 5000,1000"), [1000, 5000, 19000])

    def test_bad_input_is_a_clear_error(self):
        for bad in ("", "a,b", "0,10", "1000,300000", ",", ",".join(str(i) for i in range(1, 102))):
            with self.assertRaises(ValueError, msg=bad) as cm:
                g.parse_sizes(bad)
            self.assertIn("--sizes", str(cm.exception))


class Sources(unittest.TestCase):
    def test_own_block_per_run_at_most_12000_each(self):
        self.assertEqual(growth.source_addrs(1, 1000), ["127.77.1.1"])
        self.assertEqual(growth.source_addrs(6, 19000), ["127.77.6.1", "127.77.6.2"])
        self.assertEqual(len(growth.source_addrs(2, 12000)), 2)  # + the fan-out publisher
        self.assertEqual(len(growth.source_addrs(2, 11999)), 1)

    def test_run_number_is_bounded(self):
        for bad in (0, 256):
            with self.assertRaises(ValueError):
                growth.source_addrs(bad, 10)


class Netstat(unittest.TestCase):
    TEXT = ("TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 0 16010 16010\n"
            "IpExt: InNoRoutes\nIpExt: 0\n")

    def test_counter_by_name(self):
        self.assertEqual(growth.netstat_counter(self.TEXT, "ListenOverflows"), 16010)
        self.assertIsNone(growth.netstat_counter(self.TEXT, "Nope"))
        self.assertIsNone(growth.netstat_counter("", "ListenOverflows"))


class Fit(unittest.TestCase):
    def test_exact_line(self):
        fit = g.linear_fit([(1000, 5000 + 3 * 1000), (5000, 5000 + 3 * 5000), (19000, 5000 + 3 * 19000)])
        self.assertAlmostEqual(fit["slope"], 3.0)
        self.assertAlmostEqual(fit["intercept"], 5000.0)
        self.assertAlmostEqual(fit["r2"], 1.0)
        self.assertEqual(fit["points"], 3)

    def test_noisy_line_r2_below_one(self):
        fit = g.linear_fit([(0, 0), (1, 2), (2, 1), (3, 3)])
        self.assertAlmostEqual(fit["slope"], 0.8)
        self.assertAlmostEqual(fit["intercept"], 0.3)
        self.assertLess(fit["r2"], 1.0)

    def test_needs_two_distinct_x(self):
        self.assertIsNone(g.linear_fit([(1000, 5)]))
        self.assertIsNone(g.linear_fit([(1000, 5), (1000, 6)]))
        self.assertIsNone(g.linear_fit([(1000, None), (5000, 6)]))


class Cpu(unittest.TestCase):
    SAMPLES = [(t, 1.0 + 0.02 * t, 100) for t in range(0, 40)]

    def test_rate_inside_window(self):
        self.assertAlmostEqual(g.cpu_rate(self.SAMPLES, 10, 30), 0.02)

    def test_too_few_samples_or_ticks(self):
        self.assertIsNone(g.cpu_rate(self.SAMPLES, 10.5, 10.9))
        self.assertIsNone(g.cpu_rate(self.SAMPLES, 10, 12, min_cpu=0.05))
        self.assertIsNone(g.cpu_rate([(0, None, 1), (5, None, 1)], 0, 5))

    def test_hold_window_is_inside_the_hold(self):
        lo, hi = g.hold_window(100.0, 30)
        self.assertGreater(lo, 70.0)
        self.assertLess(hi, 100.0)
        self.assertLess(lo, hi)


class Table(unittest.TestCase):
    def test_rows_join_fanout_and_idle(self):
        rows = g.rows(full_run(per=3000))
        self.assertEqual([r["n"] for r in rows], [1000, 5000, 19000])
        r = rows[2]
        self.assertEqual(r["deliveries_per_s"], 5e5)
        self.assertEqual(r["per_cpu_s"], 1e6)
        self.assertEqual(r["per_session"], 3000)
        self.assertEqual(r["hb_frames_per_s"], 19000 * 0.2)
        self.assertEqual(r["load"], [1.5, 2.5])

    def test_fit_gives_bytes_per_session(self):
        fit = g.rss_fit(g.rows(full_run(per=3000, base=8 << 20)))
        self.assertAlmostEqual(fit["slope"], 3000)
        self.assertAlmostEqual(fit["intercept"], 8 << 20)

    def test_sizes_with_dead_sessions_are_left_out_of_the_fit(self):
        d = full_run()
        d["runs"][5] = idle(19000, 8 << 20, 9000, alive=18000)
        self.assertEqual(g.rss_fit(g.rows(d))["points"], 2)

    def test_repeated_fanouts_give_median_and_range(self):
        d = full_run()
        d["runs"] += [fanout(19000, 3e5), fanout(19000, 9e5)]
        d["runs"][-1]["load_before"] = [4.25, 1, 1]
        r = g.rows(d)[2]
        self.assertEqual(r["deliveries_per_s"], 5e5)
        self.assertEqual(r["deliveries_range"], (3e5, 9e5))
        self.assertEqual(r["per_cpu_range"], (6e5, 1.8e6))
        self.assertEqual(r["load"], [4.25, 2.5])
        self.assertIn("| 19 000 | 500 000 (300 000–900 000) |", g.render_md(d))

    def test_one_failed_repeat_is_counted_not_hidden(self):
        d = full_run()
        bad = fanout(1000, 1e6)
        bad["error"] = "exit 1"
        d["runs"].append(bad)
        r = g.rows(d)[0]
        self.assertEqual((r["fanout_failed"], r["fanout_runs"], r["fanout_error"]), (1, 2, None))
        self.assertIn("| 1 000 | 2.00 M (1 of 2 runs failed) |", g.render_md(d))

    def test_spread(self):
        self.assertEqual(g.spread([3, None, 1, 2]), (2, 1, 3))
        self.assertEqual(g.spread([None]), (None, None, None))

    def test_failed_run_shows_in_the_table(self):
        d = full_run()
        d["runs"][2]["error"] = "exit 1: error: could not | subscribe"
        md = g.render_md(d)
        self.assertIn("| 5 000 | failed: exit 1: error: could not / subscribe |  |  |  |", md)


class Million(unittest.TestCase):
    def test_estimate_from_slope(self):
        rows = g.rows(full_run(per=3000, base=8 << 20))
        est = g.million(rows, g.rss_fit(rows), MACHINE)
        self.assertAlmostEqual(est["rss_bytes"], (8 << 20) + 3000 * 1_000_000)
        self.assertEqual(est["kernel_socket_bytes"], 3712 * 1_000_000)
        self.assertEqual(est["ports_per_source"], 28232)
        self.assertEqual(est["source_addrs_needed"], 36)
        self.assertAlmostEqual(est["hb_frames_per_s"], 200_000)
        self.assertAlmostEqual(est["hb_cores"], 0.01 * 1_000_000 / 19000)
        self.assertAlmostEqual(est["connect_s"], 500)
        self.assertAlmostEqual(est["fanout_s_per_message"], 2.0)
        self.assertAlmostEqual(est["fanout_cpu_s_per_message"], 1.0)

    def test_no_fit_no_estimate(self):
        self.assertIsNone(g.million([], None, MACHINE))

    def test_markdown_states_the_slope_and_the_bounds(self):
        md = g.render_md(full_run(per=3000))
        self.assertIn("**3 000 bytes** × N", md)
        self.assertIn("(R² = 1.0000)", md)
        self.assertIn("**2.8 GiB of server RSS**", md)
        self.assertIn("≥ 36 client source addresses", md)
        self.assertIn("**200 000 frames/s**", md)
        self.assertIn("fs.nr_open = 1 048 576 caps that limit here and still allows it", md)
        self.assertIn("| 19 000 | 500 000 | 26.3 | 1.00 M | 0 | 62.4 MiB | 2.9 KiB | 2 000 | 1 900 | 3 800 | 1.00 % "
                      "| 1.50 / 2.50 |", md)
        self.assertIn("the accept queue overflowed 1 900 times (the listener's backlog; net.core.somaxconn = 4 096)", md)

    def test_heartbeat_cpu_below_resolution_is_said(self):
        d = full_run()
        for r in d["runs"]:
            if r["kind"] == "idle":
                r["observed"]["hold_cpu_per_s"] = None
        self.assertIn("below what /proc resolves", g.render_md(d))


@unittest.skipUnless(importlib.util.find_spec("matplotlib"), "matplotlib is not installed (scripts/bench's venv has it)")
class Plot(unittest.TestCase):
    def test_png_is_written(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "growth.png")
            g.plot(full_run(), path)
            with open(path, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")


if __name__ == "__main__":
    unittest.main()
