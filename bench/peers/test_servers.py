"""Each server is one process tree per `run.started`, gone afterwards (needs target/release/stompbox and
Debian's rabbitmq-server; skipped without them): python3 -m unittest discover -s bench/peers"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import rabbit  # noqa: E402
import run  # noqa: E402
from procs import comm, descendants  # noqa: E402

BIN = os.path.join(run.ROOT, "target/release/stompbox")


def ours(name):
    return [p for p in descendants(os.getpid()) if comm(p).startswith(name)]


class StartedTest(unittest.TestCase):
    @unittest.skipUnless(os.path.exists(BIN), "target/release/stompbox is not built")
    def test_stompbox_once(self):
        with run.started("stompbox", BIN) as server:
            self.assertEqual(ours("stompbox"), [server.pid])
        self.assertEqual(ours("stompbox"), [])

    @unittest.skipUnless(rabbit.installed(), "rabbitmq-server is not installed")
    def test_rabbitmq_once(self):
        with run.started("rabbitmq", BIN) as server:
            self.assertEqual(ours("beam"), [server.pid])
            self.assertEqual(len(ours("epmd")), 1)
            workdir = server.dir
        self.assertEqual(ours("beam") + ours("epmd"), [])
        self.assertFalse(os.path.exists(workdir))


if __name__ == "__main__":
    unittest.main()
